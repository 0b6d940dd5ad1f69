"""gridwall.identity: persons, personal accounts, terminals and the credential lifecycle.

* :func:`load_reference` loads the dataset's ``persons``, ``accounts`` and ``devices``.
* :class:`IdentityService` issues accounts (個人IDのみ), passwords (Argon2id) and TOTP,
  enrols terminals (端末) with Ed25519 keys, logs people in and out, locks out
  guessers, detects shared credentials (C③) and refuses other organisations'
  terminals (C②).
* :class:`IdentityAuthenticator` is the gateway's :class:`~gridwall.interfaces.Authenticator`:
  a session token (or a retailer API client's signed token) plus a terminal token in,
  ``(Principal, Terminal)`` with facts decided at request time out.
* HR changes (人事異動), access reviews (権限棚卸し), training attestation and
  change control (二人承認) live in :mod:`gridwall.identity.lifecycle`.
"""

from gridwall.identity._authenticator import IdentityAuthenticator
from gridwall.identity._reference import load_reference
from gridwall.identity._service import IdentityConfig, IdentityService, LoginRefused, LoginResult

__all__ = [
    "IdentityAuthenticator",
    "IdentityConfig",
    "IdentityService",
    "LoginRefused",
    "LoginResult",
    "load_reference",
]
