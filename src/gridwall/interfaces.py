"""Seams between capabilities, so each package can be built and tested on its own.

The gateway (the only reader of customer data) asks three collaborators per request:

* an :class:`Authenticator` (``gridwall.identity``) who the caller is and on which terminal,
* a :class:`GrantResolver` (``gridwall.grants``) which purpose-bound grants apply at this instant,
* an :class:`AuditSink` (``gridwall.audit``) to record the decision durably *before* answering.

Each raises on failure, and the gateway then denies (nothing fails open).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from gridwall.policy.model import Action, DeviceFacts, GrantFacts, PrincipalFacts, Purpose


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: one personal account (or a retailer system's API client)."""

    account_id: str
    person_id: str | None
    #: ``nw`` | ``retail:<retailer_code>`` | ``contractor:<id>`` | ``regulator``
    org: str
    facts: PrincipalFacts
    session_id: str | None = None

    @property
    def retailer_code(self) -> str | None:
        return self.org.split(":", 1)[1] if self.org.startswith("retail:") else None


@dataclass(frozen=True, slots=True)
class Terminal:
    """The enrolled terminal (端末) a request comes from, relative to the principal."""

    device_id: str
    owner_org: str
    facts: DeviceFacts


@dataclass(frozen=True, slots=True)
class PointContext:
    """What grant resolution needs to know about a supply point (no personal data)."""

    supply_point_id: str
    pref: str
    city: str
    is_lrs: bool


class AuthenticationError(Exception):
    """Authentication failed; ``status`` is 401 (who?) or 403 (known but refused)."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


class Authenticator(Protocol):
    def authenticate(
        self, credential: str, terminal_credential: str, now: datetime
    ) -> tuple[Principal, Terminal]:
        """Resolve a bearer credential and a terminal credential, or raise AuthenticationError."""
        ...


class GrantResolver(Protocol):
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
        """The grant facts in force at ``now`` for this request (expiry decided here)."""
        ...


class AuditSink(Protocol):
    def record(self, event: Mapping[str, Any]) -> None:
        """Durably append one event (``events`` columns + ``policy_ids``, ``person_id``,
        ``org``); returns only once it is durable; raises if it cannot be written."""
        ...
