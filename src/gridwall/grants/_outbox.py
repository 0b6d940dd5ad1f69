"""Grant management's audited changes: the change counter, the audit event of a grant step,
and the transactional outbox that delivers those events to the audit log in order."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, func, insert, select, text, update

from gridwall.grants._errors import AuditPending, GrantRefused
from gridwall.grants._models import GrantAuditEvent, GrantState
from gridwall.interfaces import AuditSink, Parties
from gridwall.interfaces.clock import Clock, as_utc, system_clock
from gridwall.interfaces.events import AuditEvent, audit_event, record_as_written

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


#: One delivery at a time in this process (every desk of every engine): events leave the
#: outbox in ``seq`` order and each once. Other processes on PostgreSQL wait on the rows'
#: locks (see :func:`deliver_audit`).
_delivery = threading.Lock()


#: PostgreSQL advisory lock that orders writers of grants' outbox (see :func:`enqueue`)
OUTBOX_LOCK = 0x6772_616E_7473  # "grants"


def enqueue(conn: Connection, event: Mapping[str, Any]) -> None:
    """Write ``event`` to grants' audit outbox inside the caller's transaction.

    On PostgreSQL the writers of the outbox take turns (a transaction-scoped advisory lock,
    held to the commit), so ``seq`` order is commit order: a delivery can never see a later
    event committed while an earlier ``seq`` is still uncommitted and send it first. SQLite
    has one writer at a time anyway."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": OUTBOX_LOCK})
    record = dict(event)
    conn.execute(
        insert(GrantAuditEvent).values(
            event_id=str(record["event_id"]),
            ts=datetime.fromisoformat(str(record["ts"])),
            event_json=json.dumps(record, ensure_ascii=False, sort_keys=True),
            delivered=False,
        )
    )


def deliver_audit(
    engine: Engine, audit: AuditSink, *, batch: int = 1000, current: frozenset[str] = frozenset()
) -> int:
    """Send every undelivered event of grants' outbox to ``audit``, oldest first; return how
    many were sent. Raises :class:`AuditPending` if the sink fails (what it took stays
    marked sent; the rest waits for the next delivery).

    Called after every grant step and once when a server starts, so a backlog left by an
    audit-log outage reaches the log before anything else. Each event is sent once: in this
    process deliveries take turns; on PostgreSQL the pending rows are locked ``FOR UPDATE``
    while they are sent, so another server waits and then skips what was sent, keeping the
    order across servers. The one exception is a crash (or a failed mark) between the log's
    acknowledgement and the outbox's mark: that event is sent again under the same
    ``event_id``. No database transaction is open on SQLite while the sink writes: the audit
    log may be this very file, which admits one writer at a time. ``current`` names the
    event of the step that is delivering; every other event is an earlier step's backlog and
    is sent marked so (:func:`gridwall.interfaces.events.delivering_backlog`)."""
    if batch < 1:
        raise ValueError(f"batch: {batch} must be at least 1")
    sent = 0
    with _delivery:
        while True:
            n, failure = _deliver_batch(engine, audit, batch, current)
            sent += n
            if failure is not None:
                raise AuditPending(_pending_or_none(engine), failure) from failure
            if n < batch:
                return sent


def _deliver_batch(
    engine: Engine, audit: AuditSink, batch: int, current: frozenset[str]
) -> tuple[int, Exception | None]:
    """Send up to ``batch`` pending events; (how many the sink took, its error if any)."""
    pg = engine.dialect.name == "postgresql"
    t = GrantAuditEvent.__table__
    q = (
        select(t.c.seq, t.c.event_json)
        .where(t.c.delivered.is_(False))
        .order_by(t.c.seq)
        .limit(batch)
    )
    if pg:
        q = q.with_for_update()
    with engine.connect() as conn:
        rows = conn.execute(q).all()
        if not pg:
            # End SQLite's read transaction before the audit log (possibly this very
            # file) takes its write lock.
            conn.rollback()
        done: list[int] = []
        failure: Exception | None = None
        try:
            for seq, payload in rows:
                try:
                    record_as_written(audit, json.loads(payload), current)
                except Exception as e:  # the sink's own error, whatever it is
                    failure = e
                    break
                done.append(seq)
        finally:  # what the log took is marked, even if this thread is interrupted
            if done:
                conn.execute(
                    update(GrantAuditEvent)
                    .where(GrantAuditEvent.seq.in_(done))
                    .values(delivered=True)
                )
            conn.commit()
    return len(done), failure


def pending_audit(engine: Engine) -> int:
    """How many events of grants' outbox the audit log does not have yet (0 when healthy)."""
    t = GrantAuditEvent.__table__
    with engine.connect() as conn:
        n = conn.scalar(select(func.count()).select_from(t).where(t.c.delivered.is_(False)))
    return int(n or 0)


def _pending_or_none(engine: Engine) -> int | None:
    try:
        return pending_audit(engine)
    except Exception:  # the store may be what failed; the count is only informative
        return None


def audited_change(
    engine: Engine,
    audit: AuditSink,
    event: Callable[[str, str], Mapping[str, Any]],
    plan: Callable[[Connection], tuple[str, Callable[[Connection], T]]],
    *,
    bump: bool = True,
) -> T:
    """Run one audited grant change: the change and its event commit together, then the
    event is delivered to the audit log before this returns (transactional outbox).

    ``plan(conn)`` validates (raising :class:`GrantRefused`) and returns a detail for the
    audit event and an ``apply(conn)`` that writes. Order: validate on a read connection →
    in one write transaction bump the version, validate again (a concurrent change may have
    intervened), apply and write the allow event to grants' outbox → commit → deliver the
    outbox (older undelivered events first) to ``audit``. So no change stands without its
    event and no event exists for a change that rolled back (a failed commit leaves
    neither). A refusal at either validation is a deny event, committed to the outbox on
    its own and delivered the same way, then :class:`GrantRefused` is raised. If the audit
    log fails, :class:`AuditPending` is raised: the step stands with its event, which is
    delivered first at the next step or when the server starts.
    """
    try:
        with engine.connect() as conn:
            detail, _ = plan(conn)
    except GrantRefused as e:
        record_refusal(engine, audit, event("deny", f"refused: {e.message}"))
        raise
    try:
        with engine.begin() as conn:
            if bump:
                bump_version(conn)
            _, apply = plan(conn)
            allow = event("allow", detail)
            result = apply(conn)
            enqueue(conn, allow)
    except GrantRefused as e:
        record_refusal(engine, audit, event("deny", f"refused at commit: {e.message}"))
        raise
    deliver_audit(engine, audit, current=frozenset({str(allow["event_id"])}))
    return result


def record_refusal(engine: Engine, audit: AuditSink, deny: Mapping[str, Any]) -> None:
    """Record a refusal (no change) through the outbox too, so the log keeps one order: a
    step refused before it reached grants (e.g. by the management policy at the app's door)
    is written here as well, never straight to the log ahead of an older backlog."""
    with engine.begin() as conn:
        enqueue(conn, deny)
    deliver_audit(engine, audit, current=frozenset({str(deny["event_id"])}))


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
