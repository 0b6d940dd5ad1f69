"""Case entries in the database: appended, never changed (triggers refuse UPDATE/DELETE)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gridwall.cases._core import CaseState, Entry, fold

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
