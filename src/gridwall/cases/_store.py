"""Case entries in the database: appended, never changed (triggers refuse UPDATE/DELETE)."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gridwall.cases._core import CaseError, CaseState, Entry, fold

_META = sa.MetaData()
CASE_ENTRIES = sa.Table(
    "case_entries",
    _META,
    sa.Column("case_id", sa.String(40), primary_key=True),
    sa.Column("seq", sa.Integer(), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("data", sa.Text(), nullable=False),
)


def load_entries(conn: Connection, case_id: str | None = None) -> dict[str, list[Entry]]:
    """Every case's entries in order (or one case's)."""
    q = sa.select(CASE_ENTRIES).order_by(CASE_ENTRIES.c.case_id, CASE_ENTRIES.c.seq)
    if case_id is not None:
        q = q.where(CASE_ENTRIES.c.case_id == case_id)
    out: dict[str, list[Entry]] = {}
    for r in conn.execute(q):
        e = Entry(
            r.case_id, r.seq, r.kind, r.actor, datetime.fromisoformat(r.at), json.loads(r.data)
        )
        out.setdefault(r.case_id, []).append(e)
    return out


def load_cases(conn: Connection) -> list[CaseState]:
    """Every case's state, folded from its entries."""
    return [fold(es) for es in load_entries(conn).values()]


def append_entries(conn: Connection, entries: Sequence[Entry]) -> None:
    """Append new entries after checking each case still folds with them (in the caller's
    transaction, so a refused entry writes nothing; the primary key refuses a lost race)."""
    touched = {e.case_id for e in entries}
    current = {cid: es for cid, es in load_entries(conn).items() if cid in touched}
    for cid in touched:
        fold([*current.get(cid, []), *(e for e in entries if e.case_id == cid)])
    conn.execute(
        sa.insert(CASE_ENTRIES),
        [
            {
                "case_id": e.case_id,
                "seq": e.seq,
                "kind": e.kind,
                "actor": e.actor,
                "at": e.at.isoformat(),
                "data": json.dumps(dict(e.data), sort_keys=True, ensure_ascii=False),
            }
            for e in entries
        ],
    )


CASE_NOTIFICATIONS = sa.Table(
    "case_notifications",
    _META,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("recipient", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("case_id", sa.String(40), nullable=False),
    sa.Column("created", sa.String(40), nullable=False),
    sa.Column("delivered_at", sa.String(40), nullable=True),
)


@dataclass(frozen=True)
class Notification:
    """One message for a mail or chat integration to deliver."""

    id: int
    recipient: str
    kind: str
    case_id: str
    created: datetime
    delivered_at: datetime | None


def notify(conn: Connection, recipient: str, kind: str, case_id: str, at: datetime) -> None:
    """Queue a notification (in the caller's transaction, with the case entry it is about)."""
    if not recipient.strip():
        raise CaseError(f"case {case_id}: a notification ({kind}) needs a recipient")
    conn.execute(
        sa.insert(CASE_NOTIFICATIONS).values(
            recipient=recipient, kind=kind, case_id=case_id, created=at.isoformat()
        )
    )


def notifications(
    conn: Connection,
    *,
    pending_only: bool = True,
    recipients: Collection[str] | None = None,
    after: int = 0,
    limit: int | None = None,
) -> list[Notification]:
    """The queued notifications, oldest first (only the undelivered ones by default);
    ``recipients`` keeps those addressed to one of them, ``after`` those with a larger id
    (a consumer's cursor), ``limit`` the first so many."""
    t = CASE_NOTIFICATIONS
    q = sa.select(t).where(t.c.id > after).order_by(t.c.id)
    if pending_only:
        q = q.where(t.c.delivered_at.is_(None))
    if recipients is not None:
        q = q.where(t.c.recipient.in_(sorted(set(recipients))))
    if limit is not None:
        q = q.limit(limit)
    return [
        Notification(
            r.id,
            r.recipient,
            r.kind,
            r.case_id,
            datetime.fromisoformat(r.created),
            datetime.fromisoformat(r.delivered_at) if r.delivered_at else None,
        )
        for r in conn.execute(q)
    ]


def ack(conn: Connection, ids: Sequence[int], at: datetime) -> None:
    """Mark notifications delivered; an unknown or already delivered id is an error and
    nothing is marked."""
    t = CASE_NOTIFICATIONS
    wanted = set(ids)
    pending = set(
        conn.scalars(sa.select(t.c.id).where(t.c.id.in_(wanted), t.c.delivered_at.is_(None)))
    )
    missing = sorted(wanted - pending)
    if missing:
        raise CaseError(f"notification(s) {missing} unknown or already delivered; none marked")
    conn.execute(sa.update(t).where(t.c.id.in_(wanted)).values(delivered_at=at.isoformat()))
