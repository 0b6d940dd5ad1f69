"""Feeds for the equal-footing lookup (供給地点特定番号の照会): no personal data leaves here.

:func:`lookup_feed` streams what the lookup may index (ID, address parts,
equipment, status — never 契約名義 or phone), :func:`lookup_records` the same for a few
given points (the lookup's incremental refresh after a load); :func:`holder_name_matches`
answers the match/no-match name verification without revealing the name;
:func:`retailer_kinds` gives the public retailer registry (code → kind) that
identity reports in a retail principal's facts; :func:`lrs_points` tells which of a
few points are under last-resort supply today, so the lookup can ask the policy with
the point's real facts (I3).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Date, Engine, String, column, func, or_, select, table, text

from gridwall.interfaces.clock import JST
from gridwall.store import rls
from gridwall.store.customer import Retailer, SupplyContract, SupplyPoint


@dataclass(frozen=True, slots=True)
class LookupRecord:
    """One supply point as the lookup may see it (no 契約名義, no phone)."""

    supply_point_id: str
    pref: str
    city: str
    town: str | None
    banchi: str | None
    building: str | None
    room: str | None
    voltage: str
    meter_id: str | None
    status: str


_FEED_NAMES = (
    "supply_point_id", "pref", "city", "town", "banchi", "building", "room", "voltage",
    "meter_id", "status",
)  # fmt: skip

# On PostgreSQL the feeds read the owner's narrow view (these columns only: no 契約名義, no
# phone), which the second wall does not filter: the lookup is the same for every caller.
_LOOKUP_VIEW = table(rls.LOOKUP_VIEW, *(column(n, String()) for n in _FEED_NAMES))
_SUPPLY_VIEW = table(
    rls.SUPPLY_VIEW,
    column("supply_point_id", String()),
    column("kind", String()),
    column("start_date", Date()),
    column("end_date", Date()),
)


def _points(conn: Connection) -> Any:
    """The table the feeds read: the lookup view on PostgreSQL, the table elsewhere."""
    return _LOOKUP_VIEW if conn.dialect.name == "postgresql" else SupplyPoint.__table__


def _feed_stmt(conn: Connection) -> Any:
    t = _points(conn)
    return select(*(t.c[n] for n in _FEED_NAMES))


def lookup_feed(source: Engine | Connection, *, batch_size: int = 10_000) -> Iterator[LookupRecord]:
    """Stream every supply point's lookup record, ordered by ID (bounded memory). Given a
    connection, read inside its transaction (a load's own, uncommitted rows included)."""
    if isinstance(source, Connection):
        stmt = _feed_stmt(source).order_by(_points(source).c.supply_point_id)
        yield from _records(source, stmt, batch_size)
        return
    with source.connect() as conn:
        stmt = _feed_stmt(conn).order_by(_points(conn).c.supply_point_id)
        yield from _records(conn, stmt, batch_size)


def _records(conn: Connection, stmt: Any, batch_size: int) -> Iterator[LookupRecord]:
    # per statement: Connection.execution_options would change the caller's connection
    result = conn.execute(stmt.execution_options(stream_results=True, yield_per=batch_size))
    for row in result:
        m = row._mapping
        yield LookupRecord(**{k: m[k] for k in _FEED_NAMES})


def lookup_records(conn: Connection, supply_point_ids: Sequence[str]) -> list[LookupRecord]:
    """The lookup records of the given points that exist (any order; unknown IDs absent)."""
    out: list[LookupRecord] = []
    ids = list(dict.fromkeys(supply_point_ids))
    for i in range(0, len(ids), 500):
        t = _points(conn)
        stmt = _feed_stmt(conn).where(t.c.supply_point_id.in_(ids[i : i + 500]))
        out.extend(
            LookupRecord(**{k: r._mapping[k] for k in _FEED_NAMES}) for r in conn.execute(stmt)
        )
    return out


def supply_point_count(source: Engine | Connection) -> int:
    """How many supply points the store holds (the size of :func:`lookup_feed`)."""
    if isinstance(source, Connection):
        stmt = select(func.count()).select_from(_points(source))
        return int(source.execute(stmt).scalar_one())
    with source.connect() as conn:
        stmt = select(func.count()).select_from(_points(conn))
        return int(conn.execute(stmt).scalar_one())


def normalize_name(name: str) -> str:
    """Normalise a 契約名義 for comparison: NFKC (full/half width), no spaces, casefolded."""
    text = unicodedata.normalize("NFKC", name)
    return "".join(ch for ch in text if not ch.isspace()).casefold()


def holder_name_matches(engine: Engine, supply_point_id: str, name: str) -> bool:
    """True when ``name`` is the point's 契約名義 after normalisation; False otherwise
    (also for an unknown point or an empty name). Never returns the name itself."""
    wanted = normalize_name(name)
    if not wanted:
        return False
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # the owner's match-only function: the name never reaches this process, and the
            # second wall stays closed to the application role (the same normalisation:
            # NFKC, no white space, lower case; a name whose case folding differs from its
            # lower case does not match: fail closed)
            fn = text(f"SELECT {rls.HOLDER_FUNCTION}(:pid, :wanted)")
            return bool(conn.execute(fn, {"pid": supply_point_id, "wanted": wanted}).scalar())
        stmt = select(SupplyPoint.contract_name).where(
            SupplyPoint.supply_point_id == supply_point_id
        )
        actual = conn.execute(stmt).scalar_one_or_none()
    return actual is not None and normalize_name(actual) == wanted


def retailer_kinds(engine: Engine) -> dict[str, str]:
    """The retailer registry (小売電気事業者): ``retailer_code -> 'affiliated' | 'independent'``.

    Public facts only (no customer data); identity uses it to fill a retail principal's
    ``retailer_kind``, which never changes a decision (I7)."""
    with engine.connect() as conn:
        rows = conn.execute(select(Retailer.retailer_code, Retailer.kind)).all()
    return {str(code): str(kind) for code, kind in rows}


def supply_point_exists(engine: Engine, supply_point_id: str) -> bool:
    """Is ``supply_point_id`` a supply point of this operator? (Existence only: for the
    grant desks, which refuse a consent for a point that does not exist.)"""
    with engine.connect() as conn:
        t = _points(conn)
        q = select(t.c.supply_point_id).where(t.c.supply_point_id == supply_point_id.strip())
        return conn.execute(q).first() is not None


def lrs_points(
    engine: Engine, supply_point_ids: Sequence[str], today: date | None = None
) -> set[str]:
    """Which of ``supply_point_ids`` are under last-resort supply (最終保障供給) on ``today``
    (default: the operator's calendar day, JST). Reveals a flag, never a value."""
    if not supply_point_ids:
        return set()
    day = today or datetime.now(JST).date()
    with engine.connect() as conn:
        sc = _SUPPLY_VIEW if conn.dialect.name == "postgresql" else SupplyContract.__table__
        stmt = (
            select(sc.c.supply_point_id)
            .where(
                sc.c.supply_point_id.in_(list(supply_point_ids)),
                sc.c.kind == "lrs",
                sc.c.start_date <= day,
                or_(sc.c.end_date.is_(None), sc.c.end_date > day),
            )
            .distinct()
        )
        return {r[0] for r in conn.execute(stmt)}


def retailer_supply(
    engine: Engine, retailer_code: str, first_day: date, last_day: date
) -> list[tuple[str, date, date | None]]:
    """The retailer's own supply periods (``retail`` contracts of ``retailer_code``) that
    overlap ``first_day`` … ``last_day``: ``(supply_point_id, start, end or None)``, end
    exclusive. For the retailer's transparency statement: which points were its customers
    on the day of an access. Names only that retailer's points, no other value."""
    sc = SupplyContract.__table__
    stmt = (
        select(sc.c.supply_point_id, sc.c.start_date, sc.c.end_date)
        .where(
            sc.c.retailer_code == retailer_code,
            sc.c.kind == "retail",
            sc.c.start_date <= last_day,
            or_(sc.c.end_date.is_(None), sc.c.end_date > first_day),
        )
        .order_by(sc.c.supply_point_id, sc.c.start_date)
    )
    with engine.connect() as conn:
        return [(str(p), s, e) for p, s, e in conn.execute(stmt)]
