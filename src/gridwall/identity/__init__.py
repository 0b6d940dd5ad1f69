"""gridwall.identity: persons, personal accounts, terminals and the credential lifecycle.

* :func:`load_reference` loads the dataset's ``persons``, ``accounts`` and ``devices``.
* :class:`IdentityService` issues accounts (個人IDのみ), passwords (Argon2id) and TOTP,
  enrols terminals (端末) with Ed25519 keys, logs people in and out, locks out
  guessers, detects shared credentials (C③) and refuses other organisations'
  terminals (C②).
* :class:`IdentityAuthenticator` is the gateway's :class:`~gridwall.interfaces.Authenticator`:
  a session token (or a retailer API client's signed token) plus a terminal token in,
  ``(Principal, Terminal)`` with facts decided at request time out.
* HR changes (人事異動: :func:`read_hr_file`, :func:`apply_hr_changes`, :func:`watchlist`),
  access reviews (権限棚卸し), training attestation and change control (二人承認).
"""

from gridwall.identity._authenticator import IdentityAuthenticator
from gridwall.identity._governance import (
    add_entitlement,
    attest_training,
    close_review,
    current_value,
    decide_change,
    decide_review,
    enrolment_statement,
    list_changes,
    request_change,
    request_terminal_enrolment,
    review_report,
    set_owner,
    start_review,
)
from gridwall.identity._hr import HrReport, apply_hr_changes, read_hr_file, watchlist
from gridwall.identity._keys import terminal_token
from gridwall.identity._reference import load_reference
from gridwall.identity._service import IdentityConfig, IdentityService, LoginRefused, LoginResult
from gridwall.identity._state import assigned_orgs

__all__ = [
    "HrReport",
    "IdentityAuthenticator",
    "IdentityConfig",
    "IdentityService",
    "LoginRefused",
    "LoginResult",
    "add_entitlement",
    "apply_hr_changes",
    "assigned_orgs",
    "attest_training",
    "close_review",
    "current_value",
    "decide_change",
    "decide_review",
    "enrolment_statement",
    "list_changes",
    "load_reference",
    "read_hr_file",
    "request_change",
    "request_terminal_enrolment",
    "review_report",
    "set_owner",
    "start_review",
    "terminal_token",
    "watchlist",
]
