"""The identity service: accounts, credentials, terminals, login, sessions, lockout.

Every decision takes ``now`` from the caller (an injectable clock) and is made
from stored facts at that instant. Every login, failure, lockout and logout is
an audit event (``events`` format, system ``gridwall``) written to identity's own
journal in the same transaction as the state change and then handed to the
:class:`~gridwall.interfaces.AuditSink`; an event that cannot be recorded makes
the operation fail (nothing fails open).
"""

from __future__ import annotations

from gridwall.identity._authentication import AuthenticationOperations
from gridwall.identity._config import IdentityConfig, RetailerKinds
from gridwall.identity._results import SESSION_PREFIX, LoginRefused, LoginResult, hash_token
from gridwall.identity._terminals import DeviceKindOrg

__all__ = [
    "SESSION_PREFIX",
    "DeviceKindOrg",
    "IdentityConfig",
    "IdentityService",
    "LoginRefused",
    "LoginResult",
    "RetailerKinds",
    "hash_token",
]


class IdentityService(AuthenticationOperations):
    """Identity and terminal operations over one store.

    ``disaster_active(now)`` says whether disaster mode (非常災害) is declared at
    ``now``; disaster terminals work only then. ``retailer_kinds`` maps a
    retailer code to ``affiliated`` / ``independent`` (a mapping or a callable);
    a retail principal whose retailer is unknown is refused.

    Its operations are grouped by subject, one module each: accounts (``_accounts``),
    terminals and API clients (``_terminals``), login and logout (``_login``),
    request-time authentication (``_authentication``), over the shared unit of work and
    audit journal (``_ledger``).
    """
