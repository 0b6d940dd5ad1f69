"""Shared bits: organisation codes, the change counter, audit events of grant management."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, update

from gridwall.grants._errors import GrantRefused
from gridwall.grants._models import GrantState
from gridwall.interfaces import AuditSink, Parties
from gridwall.interfaces.clock import Clock, as_utc, system_clock
from gridwall.interfaces.events import AuditEvent, audit_event

T = TypeVar("T")


class AuditedDesk:
    """What every grant desk holds: the store, the audit sink, the clock, the acting
    person's organisation (recorded as each audit event's ``org``) and, from the app
    layer, which points and organisations exist (``parties``: a consent for an unknown
    point or retailer, an attestation by an unknown organisation is then refused; without
    it, as in unit tests of a desk alone, only the form of an ID is checked)."""

    def __init__(
        self, engine: Engine, audit: AuditSink, clock: Clock = system_clock, *,
        actor_org: str = "nw", parties: Parties | None = None,
    ) -> None:  # fmt: skip
        self.engine = engine
        self.audit = audit
        self.clock = clock
        #: the organisation of the person acting (recorded as the audit event's ``org``)
        self.actor_org = actor_org
        self.parties = parties

    def _now(self) -> datetime:
        return as_utc(self.clock(), "clock")


_ORG_RE = re.compile(r"^(nw|regulator|retail:[A-Za-z0-9_\-]+|contractor:[A-Za-z0-9_\-.]+)$")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-.:]{0,63}$")


def check_org(org: str) -> str:
    """Validate an organisation code (``nw | retail:<code> | contractor:<id> | regulator``)."""
    org = org.strip()
    if not _ORG_RE.match(org):
        raise ValueError(
            f"organisation {org!r}: expected nw | retail:<retailer_code> | "
            "contractor:<id> | regulator"
        )
    return org


def check_id(value: str, what: str) -> str:
    value = value.strip()
    if not _ID_RE.match(value):
        raise ValueError(f"{what} {value!r}: use 1-64 letters, digits, '_', '-', '.', ':'")
    return value


def is_retailer(org: str) -> bool:
    return org.strip().startswith("retail:")


def bump_version(conn: Connection) -> None:
    """Mark a grant change, so every resolver reloads its snapshot (same transaction)."""
    stmt = update(GrantState).where(GrantState.id == 1)
    conn.execute(stmt.values(version=GrantState.version + 1))


def grant_event(
    *,
    now: datetime,
    actor: str,
    actor_org: str,
    screen: str,
    purpose: str,
    decision: str,
    query: str,
    recipient_org: str | None = None,
    supply_point_ids: list[str] | None = None,
    fields: Iterable[str] = (),
    result_count: int | None = None,
    person_id: str | None = None,
    device_id: str | None = None,
    source_ip: str | None = None,
    session_id: str | None = None,
    extra: Mapping[str, str | None] | None = None,
) -> AuditEvent:
    """The audit event of a grant-management step; ``action`` is ``update`` (``export`` for
    export registration)."""
    return audit_event(
        source="grants",
        ts=now,
        account_id=actor,
        action="export" if screen.startswith("grants.export") else "update",
        screen=screen,
        purpose=purpose,
        supply_point_ids=supply_point_ids or [],
        query=query,
        fields=fields,
        result_count=result_count,
        recipient_org=recipient_org,
        decision=decision,
        org=actor_org,
        person_id=person_id,
        device_id=device_id,
        source_ip=source_ip,
        session_id=session_id,
        extra=extra,
    )


def audited_change(
    engine: Engine,
    audit: AuditSink,
    event: Callable[[str, str], Mapping[str, Any]],
    plan: Callable[[Connection], tuple[str, Callable[[Connection], T]]],
    *,
    bump: bool = True,
) -> T:
    """Run one audited grant change, audit first and fail closed.

    ``plan(conn)`` validates (raising :class:`GrantRefused`) and returns a detail
    for the audit event and an ``apply(conn)`` that writes. Order: validate on a
    read connection → record the allow event durably → in one write transaction
    bump the version, validate again (a concurrent change may have intervened) and
    apply. A refusal at either validation is recorded as a deny event. The audit is
    written *before* the change and outside the write transaction, because the
    audit log may share the (SQLite) database, which allows one writer at a time.
    """
    try:
        with engine.connect() as conn:
            detail, _ = plan(conn)
    except GrantRefused as e:
        audit.record(event("deny", f"refused: {e.message}"))
        raise
    audit.record(event("allow", detail))
    try:
        with engine.begin() as conn:
            if bump:
                bump_version(conn)
            _, apply = plan(conn)
            return apply(conn)
    except GrantRefused as e:
        audit.record(event("deny", f"refused at commit: {e.message}"))
        raise
    except Exception as e:
        with contextlib.suppress(Exception):
            audit.record(event("deny", f"failed, nothing written: {type(e).__name__}"))
        raise


def audit_log_events(log: Any) -> Iterator[dict[str, Any]]:
    """Every event of a :class:`gridwall.audit.AuditLog`, oldest first, through its public
    API (``size()``, ``entry(i)``); entries already archived out of the database are skipped."""
    from gridwall.errors import GridwallError

    for i in range(log.size()):
        try:
            raw = log.entry(i)
        except GridwallError:
            continue
        ev = json.loads(raw).get("event")
        if isinstance(ev, dict):
            yield ev
