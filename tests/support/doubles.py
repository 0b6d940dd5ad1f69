"""Test doubles of the seams (never shipped): a token authenticator, no grants, memory sinks.

* :class:`TokenAuthenticator` — HMAC-SHA256-signed opaque bearer tokens and
  terminal credentials over an in-memory registry. It is NOT the identity system
  (no passwords, MFA, HR lifecycle or revocation store): ``gridwall.identity``
  provides that, and the gateway takes either through the same ``auth`` argument.
* :class:`NoGrants` — no disaster, agreement or consent is ever in force; exports
  to a retailer are marked as such, to anyone else as ``other`` (so never allowed).
* :class:`MemoryAuditSink` — keeps events in a list (tests, benchmarks);
  :class:`FlakyAuditSink` — one that fails on demand (fault injection).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gridwall.interfaces import AuthenticationError, PointContext, Principal, Terminal
from gridwall.interfaces.facts import (
    Action,
    DeviceFacts,
    DeviceKind,
    DeviceOwner,
    GrantFacts,
    Purpose,
    Recipient,
)

_TOKEN_PREFIX = "gw1"
_TERMINAL_PREFIX = "gwt1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenAuthenticator:
    """Interim :class:`gridwall.interfaces.Authenticator` (see the module docstring).

    A bearer token is ``gw1.<account_id b64>.<HMAC(secret, "account:"+id) b64>``, a
    terminal credential ``gwt1.<device_id b64>.<HMAC(secret, "terminal:"+id) b64>``.
    Both are checked in constant time and must name a registered account / terminal.
    """

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self._principals: dict[str, Principal] = {}
        self._terminals: dict[str, tuple[str, DeviceKind, bool]] = {}
        self._lock = threading.Lock()

    def _mac(self, kind: str, ident: str) -> str:
        return _b64(hmac.new(self._secret, f"{kind}:{ident}".encode(), hashlib.sha256).digest())

    def register(self, principal: Principal) -> str:
        """Register an account; returns its bearer token."""
        with self._lock:
            self._principals[principal.account_id] = principal
        ident = _b64(principal.account_id.encode())
        return f"{_TOKEN_PREFIX}.{ident}.{self._mac('account', principal.account_id)}"

    def enroll_terminal(
        self, device_id: str, owner_org: str, kind: DeviceKind, *, valid: bool = True
    ) -> str:
        """Enroll a terminal (端末) of ``owner_org``; returns its terminal credential."""
        with self._lock:
            self._terminals[device_id] = (owner_org, kind, valid)
        ident = _b64(device_id.encode())
        return f"{_TERMINAL_PREFIX}.{ident}.{self._mac('terminal', device_id)}"

    def _verify(self, text: str, prefix: str, kind: str) -> str | None:
        parts = text.split(".")
        if len(parts) != 3 or parts[0] != prefix:
            return None
        try:
            ident = _unb64(parts[1]).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        if not hmac.compare_digest(parts[2], self._mac(kind, ident)):
            return None
        return ident

    def authenticate(
        self, credential: str, terminal_credential: str, now: datetime
    ) -> tuple[Principal, Terminal]:
        account_id = self._verify(credential, _TOKEN_PREFIX, "account")
        principal = self._principals.get(account_id) if account_id is not None else None
        if principal is None:
            raise AuthenticationError("unknown or invalid bearer token", 401)
        device_id = self._verify(terminal_credential, _TERMINAL_PREFIX, "terminal")
        entry = self._terminals.get(device_id) if device_id is not None else None
        if device_id is None or entry is None:
            raise AuthenticationError("unknown or invalid terminal credential", 401)
        owner_org, kind, valid = entry
        owner = DeviceOwner.SAME_ORG if owner_org == principal.org else DeviceOwner.OTHER_ORG
        return principal, Terminal(device_id, owner_org, DeviceFacts(kind, owner, valid))


class NoGrants:
    """Interim :class:`gridwall.interfaces.GrantResolver`: nothing purpose-bound is in force."""

    def resolve(
        self,
        principal: Principal,
        terminal: Terminal,
        purpose: Purpose,
        action: Action,
        point: PointContext | None,
        now: datetime,
        *,
        consent_token: str | None = None,
        recipient_org: str | None = None,
    ) -> GrantFacts:
        if action is Action.EXPORT:
            to_retailer = (recipient_org or "").strip().startswith("retail:")
            return GrantFacts(recipient=Recipient.RETAILER if to_retailer else Recipient.OTHER)
        return GrantFacts()


class MemoryAuditSink:
    """Keeps events in memory (tests and benchmarks; not durable)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def record(self, event: Mapping[str, Any]) -> None:
        self.events.append(dict(event))


class FlakyAuditSink(MemoryAuditSink):
    """A memory sink whose writes fail on demand (fault injection for audit-ordering tests).

    ``fail``: raise before keeping the event (the log is down). ``lose_ack``: keep the
    event, then raise (the log wrote it but its answer was lost). ``budget``: when not None,
    how many more events are kept before it behaves as ``fail``. ``calls`` counts writes."""

    def __init__(self) -> None:
        super().__init__()
        self.fail = False
        self.lose_ack = False
        self.budget: int | None = None
        self.calls = 0

    def record(self, event: Mapping[str, Any]) -> None:
        self.calls += 1
        if self.fail or self.budget == 0:
            raise OSError("injected: the audit log is down")
        if self.budget is not None:
            self.budget -= 1
        super().record(event)
        if self.lose_ack:
            raise OSError("injected: the audit log's acknowledgement was lost")
