"""The seams between capabilities: the only things two capability packages share.

Capability packages (policy, audit, identity, grants, gateway, lookup, monitor, synth) never
import each other (an import-linter contract in CI); they meet here, and the app layer
(:mod:`gridwall.app`) plugs one into another. This package holds:

* :mod:`gridwall.interfaces.facts` — the policy's finite request model (field groups,
  enumerations, :class:`AccessRequest`, :class:`Decision`);
* :mod:`gridwall.interfaces.clock` — aware UTC instants and the operator's JST calendar;
* the caller (:class:`Principal`, :class:`Terminal`, :class:`RequestContext`) and the
  protocols each capability implements for another: :class:`Authenticator` (identity),
  :class:`GrantResolver` (grants), :class:`AuditSink` (audit), :class:`PolicyEngine`
  (policy), :class:`ReferenceLoader` (identity, grants: their tables of a dataset),
  :class:`Parties` (which points and organisations exist, for the grant desks),
  :class:`PointsChanged` (the gateway's loader tells which supply points a load wrote),
  :class:`AuditReader` (audit: the log's entries by index, for the periodic analysis).

Each collaborator raises on failure, and the caller then denies (nothing fails open).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import Connection

from gridwall.interfaces.clock import JST
from gridwall.interfaces.facts import (
    AccessRequest,
    Action,
    Decision,
    DeviceFacts,
    GrantFacts,
    PrincipalFacts,
    Purpose,
)


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


@dataclass(frozen=True, slots=True)
class RequestContext:
    """An authenticated request: who, on which terminal, for which declared purpose, when,
    and from which client address (resolved by the app layer from the socket or a trusted
    proxy)."""

    principal: Principal
    terminal: Terminal
    purpose: Purpose
    now: datetime
    source_ip: str | None = None

    @property
    def today(self) -> date:
        """The operator's calendar day (JST) at decision time."""
        return self.now.astimezone(JST).date()


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


class PolicyEngine(Protocol):
    """The one decision point (Cedar, :mod:`gridwall.policy`)."""

    def decide(self, request: AccessRequest) -> Decision:
        """The decision per field group for one request class; raises if it cannot decide."""
        ...


class LookupDecider(Protocol):
    """The gateway's decision for the equal-footing lookup (the lookup never builds an
    :class:`AccessRequest` itself)."""

    def decide_lookup(
        self, principal: Principal, terminal: Terminal, purpose: Purpose, *, is_lrs: bool
    ) -> Decision:
        """May this caller use the lookup for a point under last-resort supply or not."""
        ...


class Parties(Protocol):
    """Which supply points and organisations exist (for the grant desks; the app layer
    answers from the gateway's, identity's and grants' tables). Unknown when unsure."""

    def point_exists(self, supply_point_id: str) -> bool: ...

    def org_exists(self, org: str) -> bool: ...


class ReferenceLoader(Protocol):
    """Loads one dataset table a capability owns, inside the caller's transaction; raises
    :class:`gridwall.errors.InputErrors` naming file, line and column for bad rows."""

    def __call__(
        self,
        conn: Connection,
        table_name: str,
        file_name: str,
        rows: Iterable[tuple[int, dict[str, Any]]],
    ) -> object: ...


class PointsChanged(Protocol):
    """Told by the gateway's loader, inside the load's transaction and before it commits,
    which supply points the load inserted or updated (sorted IDs; empty when none). The app
    layer refreshes the lookup's index for exactly those; raising rolls the whole load back."""

    def __call__(self, conn: Connection, supply_point_ids: Sequence[str]) -> object: ...


class AuditReader(Protocol):
    """Reads the audit log by index (the monitor's periodic analysis; the app layer hands it
    the audit log's reader). Entries are the log's canonical bytes
    (``{"event":…,"recorded_at":…,"seq":…}``); raises when the log cannot be read."""

    def size(self) -> int:
        """One past the highest index in the log."""
        ...

    def entries(self, lo: int, hi: int) -> list[tuple[int, bytes]]:
        """Entries ``lo`` … ``hi - 1`` present in the database, in index order."""
        ...


@dataclass(frozen=True, slots=True)
class HrPosition:
    """Where a person sits at an instant (an HR assignment): organisation, department
    (a path, ``部/課`` separated by ``/``) and role."""

    person_id: str
    org: str
    department: str | None
    role: str | None


class HrDirectory(Protocol):
    """HR data for the case workflow (identity implements it, the app wires it): routing
    a case to the subject's line manager as of the alert's date, and the relations that
    separation of duties forbids. Raises when it cannot answer (the caller then denies)."""

    def position(self, person_id: str, at: datetime) -> HrPosition | None:
        """The person's assignment valid at ``at`` (None: none then)."""
        ...

    def positions(self, org: str, at: datetime) -> Sequence[HrPosition]:
        """Everyone assigned to ``org`` at ``at``."""
        ...

    def person_of(self, account_id: str) -> str | None:
        """The person holding an account (None: unknown account)."""
        ...

    def approvals_by(self, person_id: str) -> Mapping[str, str]:
        """Subject person → what the given person approved for them (an applied change:
        a reactivation of their account, a role …), one line each."""
        ...
