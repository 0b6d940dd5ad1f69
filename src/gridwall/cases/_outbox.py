"""Case actions' audit events: a transactional outbox written with the case entry, and its
delivery to the audit log in order (as grants and identity do).

A case step writes its entries and its audit event in one transaction
(:func:`enqueue` in the caller's transaction), so an entry never exists without its event
and a refused entry writes no event for it; :func:`deliver_audit` then hands the pending
events to the audit log, oldest first, and the step succeeds only once its own event is
in the log. A backlog left by an audit-log outage reaches the log before anything else.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine, text

from gridwall.cases._core import CaseError
from gridwall.cases._store import _META
from gridwall.interfaces import AuditSink
from gridwall.interfaces.events import record_as_written

CASE_AUDIT_OUTBOX = sa.Table(
    "case_audit_outbox",
    _META,
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("event_id", sa.String(64), nullable=False, unique=True),
    sa.Column("ts", sa.String(40), nullable=False),
    sa.Column("event_json", sa.Text(), nullable=False),
    sa.Column("delivered", sa.Boolean(), nullable=False, server_default=sa.false()),
)
CASE_SECRET = sa.Table(
    "case_secret",
    _META,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("value", sa.String(128), nullable=False),
)

#: PostgreSQL advisory lock ordering the writers of the outbox ("cases")
OUTBOX_LOCK = 0x6361_7365_7321


class AuditPending(CaseError):
    """The case step is recorded but its audit event is not in the log yet (it waits in
    the outbox for the next delivery); the step's answer is withheld."""

    exit_code = 1

    def __init__(self, pending: int, cause: BaseException) -> None:
        super().__init__(
            f"the audit log did not take the event ({type(cause).__name__}: {cause}); "
            f"{pending} event(s) wait in the case outbox"
        )
        self.pending = pending


def enqueue(conn: Connection, event: Mapping[str, Any]) -> None:
    """Write ``event`` to the outbox inside the caller's transaction (on PostgreSQL the
    writers take turns, so ``seq`` order is commit order)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": OUTBOX_LOCK})
    record = dict(event)
    conn.execute(
        sa.insert(CASE_AUDIT_OUTBOX).values(
            event_id=str(record["event_id"]),
            ts=str(record["ts"]),
            event_json=json.dumps(record, ensure_ascii=False, sort_keys=True),
            delivered=False,
        )
    )


_delivery = threading.Lock()


def deliver_audit(engine: Engine, audit: AuditSink, current: frozenset[str] = frozenset()) -> int:
    """Send every undelivered event to ``audit``, oldest first; how many were sent. Raises
    :class:`AuditPending` when the sink fails (what it took stays marked sent)."""
    t = CASE_AUDIT_OUTBOX
    pg = engine.dialect.name == "postgresql"
    sent = 0
    with _delivery:
        q = sa.select(t.c.seq, t.c.event_json).where(t.c.delivered.is_(False)).order_by(t.c.seq)
        if pg:
            q = q.with_for_update()
        with engine.connect() as conn:
            rows = conn.execute(q).all()
            if not pg:
                conn.rollback()  # no open read transaction while the log (maybe this file) writes
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
            finally:
                if done:
                    conn.execute(sa.update(t).where(t.c.seq.in_(done)).values(delivered=True))
                conn.commit()
            sent = len(done)
    if failure is not None:
        raise AuditPending(pending_audit(engine), failure) from failure
    return sent


def pending_audit(engine: Engine) -> int:
    """How many case events the audit log does not have yet (0 when healthy)."""
    t = CASE_AUDIT_OUTBOX
    with engine.connect() as conn:
        n = conn.scalar(sa.select(sa.func.count()).select_from(t).where(t.c.delivered.is_(False)))
    return int(n or 0)


def pseudonym_key(engine: Engine) -> bytes:
    """The store's pseudonym key (32 random bytes, made once, kept in ``case_secret``)."""
    t = CASE_SECRET
    with engine.begin() as conn:
        value = conn.scalar(sa.select(t.c.value).where(t.c.name == "pseudonym"))
        if value is None:
            value = secrets.token_hex(32)
            try:
                with conn.begin_nested():
                    conn.execute(sa.insert(t).values(name="pseudonym", value=value))
            except sa.exc.IntegrityError:  # another process made it first
                value = conn.scalar(sa.select(t.c.value).where(t.c.name == "pseudonym"))
    return bytes.fromhex(str(value))
