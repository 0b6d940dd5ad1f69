"""Queries on the customer tables, built once and reused on every request.

Nothing here decides anything: these functions fetch rows for the gateway, which
decides per field group and masks. Searches take only criteria the gateway has
already checked against the decision (a masked field is never a filter, a sort
key or a count).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    String,
    and_,
    column,
    exists,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    true,
)

from gridwall.interfaces.clock import JST
from gridwall.store import rls
from gridwall.store.customer import (
    FitContract,
    MonthlyUsage,
    SupplyContract,
    SupplyPoint,
    SwitchingApplication,
)

SP = SupplyPoint.__table__
SC = SupplyContract.__table__
FC = FitContract.__table__
SW = SwitchingApplication.__table__
MU = MonthlyUsage.__table__

#: address parts as kept by the operator (the ``address`` field group)
ADDRESS_PARTS = ("pref", "city", "town", "banchi", "building", "room")


def _current_contract(today: Any) -> ColumnElement[bool]:
    return and_(
        SC.c.supply_point_id == SP.c.supply_point_id,
        SC.c.start_date <= today,
        or_(SC.c.end_date.is_(None), SC.c.end_date > today),
    )


def _bp(name: str) -> Any:
    from sqlalchemy import bindparam

    return bindparam(name)


_TODAY = _bp("today")
_CUR = (
    select(SC.c.retailer_code, SC.c.kind, SC.c.start_date, SC.c.end_date)
    .where(_current_contract(_TODAY))
    .order_by(SC.c.start_date.desc())
    .limit(1)
)
_CUR_RETAILER = _CUR.with_only_columns(SC.c.retailer_code).scalar_subquery()
_CUR_KIND = _CUR.with_only_columns(SC.c.kind).scalar_subquery()
_CUR_START = _CUR.with_only_columns(SC.c.start_date).scalar_subquery()
_CUR_END = _CUR.with_only_columns(SC.c.end_date).scalar_subquery()
_HAS_FIT = exists().where(
    FC.c.supply_point_id == SP.c.supply_point_id,
    FC.c.start_date <= _TODAY,
    or_(FC.c.end_date.is_(None), FC.c.end_date > _TODAY),
)
_IS_LRS = exists().where(_current_contract(_TODAY), SC.c.kind == "lrs")

POINT_COLUMNS = (
    SP.c.supply_point_id,
    SP.c.pref,
    SP.c.city,
    SP.c.town,
    SP.c.banchi,
    SP.c.building,
    SP.c.room,
    SP.c.contract_name,
    SP.c.phone,
    SP.c.voltage,
    SP.c.meter_id,
    SP.c.status,
    _CUR_RETAILER.label("retailer_code"),
    _CUR_KIND.label("contract_kind"),
    _CUR_START.label("contract_start"),
    _CUR_END.label("contract_end"),
    _HAS_FIT.label("has_fit"),
)

_POINT_BY_ID = select(*POINT_COLUMNS).where(SP.c.supply_point_id == _bp("pid"))


@dataclass(frozen=True, slots=True)
class PointRow:
    """A supply point with its current contract and FIT flag, as read at ``today``."""

    supply_point_id: str
    pref: str
    city: str
    town: str | None
    banchi: str | None
    building: str | None
    room: str | None
    contract_name: str | None
    phone: str | None
    voltage: str
    meter_id: str | None
    status: str
    retailer_code: str | None
    contract_kind: str | None
    contract_start: date | None
    contract_end: date | None
    has_fit: bool

    @property
    def is_lrs(self) -> bool:
        return self.contract_kind == "lrs"


def _row(r: Sequence[Any]) -> PointRow:
    return PointRow(
        r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11],
        r[12], r[13], r[14], r[15], bool(r[16]),
    )  # fmt: skip


def fetch_point(conn: Connection, supply_point_id: str, today: date) -> PointRow | None:
    r = conn.execute(_POINT_BY_ID, {"pid": supply_point_id, "today": today}).first()
    return None if r is None else _row(r)


def fetch_points(conn: Connection, ids: Sequence[str], today: date) -> list[PointRow]:
    if not ids:
        return []
    stmt = select(*POINT_COLUMNS).where(SP.c.supply_point_id.in_(list(ids)))
    return [_row(r) for r in conn.execute(stmt, {"today": today})]


@dataclass(frozen=True, slots=True)
class SearchCriteria:
    """Exact-match criteria; the gateway checks each one's field group is allowed."""

    supply_point_id: str | None = None
    meter_id: str | None = None
    pref: str | None = None
    city: str | None = None
    town: str | None = None
    banchi: str | None = None
    building: str | None = None
    room: str | None = None

    def address(self) -> dict[str, str]:
        out = {}
        for k in ADDRESS_PARTS:
            v = getattr(self, k)
            if v is not None:
                out[k] = v
        return out

    def is_empty(self) -> bool:
        return self.supply_point_id is None and self.meter_id is None and not self.address()

    def as_text(self) -> str:
        parts = []
        if self.supply_point_id is not None:
            parts.append(f"supply_point_id={self.supply_point_id}")
        if self.meter_id is not None:
            parts.append(f"meter_id={self.meter_id}")
        parts += [f"{k}={v}" for k, v in self.address().items()]
        return " ".join(parts)


def _class_filter(classes: set[tuple[bool, bool]]) -> ColumnElement[bool]:
    """Restrict to resource classes (is_lrs, has_fit) whose decision allows the search key."""
    all4 = {(a, b) for a in (False, True) for b in (False, True)}
    if classes >= all4:
        return true()
    if not classes:
        return false()
    ors = []
    for lrs, fit in sorted(classes):
        ors.append(and_(_IS_LRS if lrs else ~_IS_LRS, _HAS_FIT if fit else ~_HAS_FIT))
    return or_(*ors)


def _own_customer(retailer_code: str) -> ColumnElement[bool]:
    return exists().where(
        _current_contract(_TODAY),
        SC.c.retailer_code == literal(retailer_code),
        SC.c.kind == "retail",
    )


def search_points(
    conn: Connection,
    criteria: SearchCriteria,
    today: date,
    *,
    classes: set[tuple[bool, bool]],
    own_retailer: str | None,
    limit: int,
) -> list[PointRow]:
    """Exact search, restricted to allowed resource classes and (for retailers) own customers.

    Ordered by supply point ID only (never by a masked field)."""
    conds: list[ColumnElement[bool]] = [_class_filter(classes)]
    if criteria.supply_point_id is not None:
        conds.append(SP.c.supply_point_id == criteria.supply_point_id)
    if criteria.meter_id is not None:
        conds.append(SP.c.meter_id == criteria.meter_id)
    for k, v in criteria.address().items():
        conds.append(SP.c[k] == v)
    if own_retailer is not None:
        conds.append(_own_customer(own_retailer))
    stmt = select(*POINT_COLUMNS).where(*conds).order_by(SP.c.supply_point_id).limit(limit)
    return [_row(r) for r in conn.execute(stmt, {"today": today})]


def list_customers(
    conn: Connection, retailer_code: str, today: date, *, after: str | None, limit: int
) -> list[PointRow]:
    """A retailer's current customers (自社顧客), in supply point order, keyset-paged."""
    ids_stmt = (
        select(SC.c.supply_point_id)
        .where(
            SC.c.retailer_code == retailer_code,
            SC.c.kind == "retail",
            SC.c.start_date <= today,
            or_(SC.c.end_date.is_(None), SC.c.end_date > today),
            SC.c.supply_point_id > (after if after is not None else ""),
        )
        .order_by(SC.c.supply_point_id)
        .limit(limit)
    )
    ids = list(conn.execute(ids_stmt).scalars())
    rows = {r.supply_point_id: r for r in fetch_points(conn, ids, today)}
    return [rows[i] for i in ids if i in rows]


# The switching history and FIT contracts come back as JSON arrays from correlated
# subqueries: one round trip for both. The gateway asks for them only after the decision
# allowed them (their cost grows with their length, so reading them for a refused request
# would tell a point with a history from one without, or from no point at all).
# Dialect-specific only in the JSON functions.
_HISTORY_SQL = {
    "sqlite": (
        "(SELECT json_group_array(json_object('application_id', s.application_id, "
        "'kind', s.kind, 'from_retailer', s.from_retailer, 'to_retailer', s.to_retailer, "
        "'applied_at', s.applied_at, 'effective_date', s.effective_date)) FROM "
        "(SELECT * FROM switching_applications WHERE switching_applications.supply_point_id "
        "= supply_points.supply_point_id ORDER BY applied_at, application_id) AS s)",
        "(SELECT json_group_array(json_object('generator_name', f.generator_name, "
        "'capacity_kw', f.capacity_kw, 'start_date', f.start_date, 'end_date', f.end_date)) "
        "FROM (SELECT * FROM fit_contracts WHERE fit_contracts.supply_point_id = "
        "supply_points.supply_point_id ORDER BY start_date) AS f)",
    ),
    "postgresql": (
        "(SELECT coalesce(json_agg(json_build_object('application_id', s.application_id, "
        "'kind', s.kind, 'from_retailer', s.from_retailer, 'to_retailer', s.to_retailer, "
        "'applied_at', s.applied_at, 'effective_date', s.effective_date) "
        "ORDER BY s.applied_at, s.application_id), '[]'::json) "
        "FROM switching_applications AS s WHERE s.supply_point_id = "
        "supply_points.supply_point_id)",
        "(SELECT coalesce(json_agg(json_build_object('generator_name', f.generator_name, "
        "'capacity_kw', f.capacity_kw, 'start_date', f.start_date, 'end_date', f.end_date) "
        "ORDER BY f.start_date), '[]'::json) FROM fit_contracts AS f "
        "WHERE f.supply_point_id = supply_points.supply_point_id)",
    ),
}
_FULL_BY_ID: dict[str, Any] = {}


@dataclass(frozen=True, slots=True)
class PointDetail:
    """A point with its switching history and FIT contracts (read in one statement)."""

    row: PointRow
    switching_history: list[dict[str, Any]]
    fit: list[dict[str, Any]]


def _json_list(v: Any) -> list[dict[str, Any]]:
    if v is None:
        return []
    if isinstance(v, (str, bytes)):
        v = json.loads(v)
    return list(v)


def _ts_text(v: Any) -> str | None:
    if v is None:
        return None
    return _utc_iso(datetime.fromisoformat(str(v)))


def _history(v: Any) -> list[dict[str, Any]]:
    return [
        {
            "application_id": h["application_id"],
            "kind": h["kind"],
            "from_retailer": h["from_retailer"],
            "to_retailer": h["to_retailer"],
            "applied_at": _ts_text(h["applied_at"]),
            "effective_date": h["effective_date"],
        }
        for h in _json_list(v)
    ]


def _fit(v: Any) -> list[dict[str, Any]]:
    return [
        {
            "generator_name": f["generator_name"],
            "capacity_kw": float(f["capacity_kw"]),
            "start_date": f["start_date"],
            "end_date": f["end_date"],
        }
        for f in _json_list(v)
    ]


def fetch_point_detail(conn: Connection, supply_point_id: str, today: date) -> PointDetail | None:
    """The point, its current contract, FIT flag, switching history and FIT contracts, in
    one statement (the unprotected baseline of the benchmarks; the gateway reads through
    :func:`probe_point` and :func:`fetch_extras`)."""
    name = conn.dialect.name
    stmt = _FULL_BY_ID.get(name)
    if stmt is None:
        sw_sql, fit_sql = _HISTORY_SQL[name]
        stmt = select(
            *POINT_COLUMNS,
            literal_column(sw_sql).label("switching_json"),
            literal_column(fit_sql).label("fit_json"),
        ).where(SP.c.supply_point_id == _bp("pid"))
        _FULL_BY_ID[name] = stmt
    r = conn.execute(stmt, {"pid": supply_point_id, "today": today}).first()
    if r is None:
        return None
    return PointDetail(_row(r), _history(r[17]), _fit(r[18]))


# No existence oracle (issue 11 item 6). Before the decision the gateway reads only the
# point's fixed-size facts, through a probe that reads the requested point when it exists
# and otherwise a stand-in, the next point in ID order (or the first one): a nonexistent ID
# costs the same index seeks, subqueries, row fetch and row building as an existing point
# the caller may not see. ``found`` tells them apart; the stand-in never leaves this
# module. Whatever grows with the point's content (switching history, FIT contracts,
# usage) is read only after the decision, and only the groups it allowed.
def _point_probe(ids: Any) -> Any:
    """The probe statement, with the stand-in chosen among the IDs of ``ids``."""
    probe, first = ids.alias("probe"), ids.alias("probe_first")
    target = func.coalesce(
        select(probe.c.supply_point_id)
        .where(probe.c.supply_point_id >= _bp("pid"))
        .order_by(probe.c.supply_point_id)
        .limit(1)
        .scalar_subquery(),
        select(func.min(first.c.supply_point_id)).scalar_subquery(),
    )
    # The target is computed in a derived table behind OFFSET 0 (never flattened) and joined
    # on plain column equality: under row-level security PostgreSQL evaluates the policy
    # before any condition it cannot prove leakproof, and it cannot for ``id = coalesce(sub-
    # queries)``, so that form scanned the whole table through the policy (53× slower,
    # bench/gateway/rls.py); the join condition is leakproof and seeks the primary key.
    chosen = select(target.label("target")).offset(0).subquery("chosen")
    return select(*POINT_COLUMNS, (SP.c.supply_point_id == _bp("pid")).label("found")).select_from(
        chosen.join(SP, SP.c.supply_point_id == chosen.c.target)
    )


# On PostgreSQL the stand-in is chosen among every point's ID (the lookup's view, which
# row-level security does not filter: IDs only), so that the second wall, which hides the
# stand-in and the point alike from a caller who may see neither, never makes the probe
# walk the index past the points the caller cannot see.
_POINT_PROBE = {
    "sqlite": _point_probe(SP),
    "postgresql": _point_probe(table(rls.LOOKUP_VIEW, column("supply_point_id", String(22)))),
}


def probe_point(conn: Connection, supply_point_id: str, today: date) -> PointRow | None:
    """The point (as :func:`fetch_point`), or None if there is no such point — after the
    same work either way (see above). Under the second wall a point the caller may not
    see reads as no row at all: None, as for a nonexistent point."""
    stmt = _POINT_PROBE.get(conn.dialect.name, _POINT_PROBE["sqlite"])
    r = conn.execute(stmt, {"pid": supply_point_id, "today": today}).first()
    if r is None:  # no point at all, or (second wall) none the caller may see
        return None
    row = _row(r)
    return row if r[17] else None


_EXTRAS: dict[tuple[str, bool, bool], Any] = {}


def fetch_extras(
    conn: Connection, supply_point_id: str, *, history: bool, fit: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The point's switching history and FIT contracts, each only if asked for (the
    other comes back empty and is not read)."""
    if not (history or fit):
        return [], []
    name = conn.dialect.name
    key = (name, history, fit)
    stmt = _EXTRAS.get(key)
    if stmt is None:
        sw_sql, fit_sql = _HISTORY_SQL[name]
        cols: list[Any] = [
            literal_column(sw_sql if history else "NULL").label("switching_json"),
            literal_column(fit_sql if fit else "NULL").label("fit_json"),
        ]
        stmt = select(*cols).select_from(SP).where(SP.c.supply_point_id == _bp("pid"))
        _EXTRAS[key] = stmt
    r = conn.execute(stmt, {"pid": supply_point_id}).first()
    if r is None:  # removed since the probe: nothing to show
        return [], []
    return _history(r[0]), _fit(r[1])


_HOLDER_CHANGES = select(SW.c.kind, SW.c.effective_date, SW.c.applied_at).where(
    SW.c.supply_point_id == _bp("pid"), SW.c.kind.in_(("move_in", "move_out"))
)


def jst_day(ts: datetime) -> date:
    """The JST calendar day of a stored instant (naive values are UTC)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(JST).date()


def holder_change_day(changes: Iterable[tuple[str, date]], today: date) -> date | None:
    """The first day of the current contract holder (契約名義の変更) from (kind, day) pairs of
    move-in / move-out applications (their effective day, else the day applied), counting
    only those in force on ``today``: a move-in changes the holder on its day, a move-out
    the day after. The one rule for usage (I9) and history (I13)."""
    best: date | None = None
    for kind, day in changes:
        if kind not in ("move_in", "move_out"):
            continue
        if kind == "move_out":
            day = day + timedelta(days=1)
        if day <= today and (best is None or day > best):
            best = day
    return best


def last_holder_change(conn: Connection, supply_point_id: str, today: date) -> date | None:
    """:func:`holder_change_day` over the point's stored applications; None if none known."""
    rows = conn.execute(_HOLDER_CHANGES, {"pid": supply_point_id})
    return holder_change_day(
        ((kind, eff if eff is not None else jst_day(applied)) for kind, eff, applied in rows),
        today,
    )


_USAGE = (
    select(MU.c.month, MU.c.kwh)
    .where(MU.c.supply_point_id == _bp("pid"), MU.c.month >= _bp("from_month"))
    .order_by(MU.c.month)
)


def usage(conn: Connection, supply_point_id: str, from_month: str) -> list[dict[str, Any]]:
    return [
        {"month": r[0], "kwh": r[1]}
        for r in conn.execute(_USAGE, {"pid": supply_point_id, "from_month": from_month})
    ]


def _iso(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


def _utc_iso(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=None).isoformat() + "Z"
