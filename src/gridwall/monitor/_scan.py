"""The scan: enrich events once, run every rule on it, group evidence into alerts.

One pass over the events of the *open days* produces every rule's candidate rows (the rules'
``flag`` expressions are evaluated side by side over one enriched relation: a shared scan) and
the per-account daily aggregates the baselines need. Everything after that works on those small
tables. With a state file (:mod:`gridwall.monitor._state`) a scan reads only the events that
arrived since the previous scan; days before the last day already seen are *closed*: their
candidate rows and aggregates come from the state, so a periodic scan and a full scan give the
same alerts (as long as events do not arrive for a closed day — that is refused).
"""

from __future__ import annotations

import hashlib
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from gridwall.errors import UsageError
from gridwall.interfaces.clock import JST

EVIDENCE_COLUMNS = ("rule", "event_id", "account_id", "person_id", "org", "ts", "supply_point_id")
CLOSED_BEFORE_NOTHING = date(1, 1, 1)


def flag_column(rule_id: str) -> str:
    return "f_" + re.sub(r"[^0-9A-Za-z]+", "_", rule_id).strip("_").lower()


def rules_fingerprint() -> str:
    """Changes whenever a rule's id or any rule module's source changes."""
    import inspect

    from gridwall.monitor import rules as pkg

    h = hashlib.sha256()
    for rule in pkg.RULES:
        h.update(rule.id.encode())
    for mod in sorted(Path(str(Path(inspect.getfile(pkg)).parent)).glob("*.py")):
        h.update(mod.read_bytes())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------
# Engines


class Engine:
    """Where the rules run. ``provide`` turns a DuckDB-side relation into an engine table."""

    name = "duckdb"

    def __init__(self, duck: Any) -> None:
        import ibis

        self.duck = duck
        self.con = ibis.duckdb.from_connection(duck)
        self._cached: list[Any] = []

    def provide(self, name: str, sql: str, *, materialize: bool = False) -> Any:
        kind = "TABLE" if materialize else "VIEW"
        self.duck.execute(f"CREATE OR REPLACE TEMP {kind} {name} AS {sql}")
        return self.con.table(name)

    def cache(self, expr: Any) -> Any:
        """Materialise an intermediate result (a temporary table)."""
        name = f"gw_tmp_{len(self._cached)}"
        self.duck.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {self.con.compile(expr)}")
        self._cached.append(name)
        return self.con.table(name)

    def close(self) -> None:
        for name in self._cached:
            self.duck.execute(f"DROP TABLE IF EXISTS {name}")
        self._cached.clear()


class SparkEngine(Engine):
    """PySpark in local mode; inputs are handed over as Parquet written by DuckDB."""

    name = "spark"

    def __init__(self, duck: Any) -> None:
        import ibis
        from pyspark.sql import SparkSession

        self.duck = duck
        self._cached = []
        self._tmp = tempfile.TemporaryDirectory(prefix="gridwall-spark-")
        self.session = (
            SparkSession.builder.master("local[2]")
            .appName("gridwall-monitor")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.driver.memory", "2g")
            .config("spark.sql.warehouse.dir", str(Path(self._tmp.name) / "warehouse"))
            .getOrCreate()
        )
        self.session.sparkContext.setLogLevel("ERROR")
        self.con = ibis.pyspark.connect(self.session)

    def provide(self, name: str, sql: str, *, materialize: bool = False) -> Any:
        path = Path(self._tmp.name) / f"{name}.parquet"
        self.duck.execute(f"COPY ({sql}) TO '{path}' (FORMAT parquet)")
        return self.con.read_parquet(str(path), table_name=name)

    def cache(self, expr: Any) -> Any:
        out = expr.cache()
        self._cached.append(out)
        return out

    def close(self) -> None:
        for t in self._cached:
            t.release()
        self._cached.clear()
        self._tmp.cleanup()


@contextmanager
def open_engine(name: str, duck: Any) -> Iterator[Engine]:
    if name == "duckdb":
        eng: Engine = Engine(duck)
    elif name == "spark":
        try:
            eng = SparkEngine(duck)
        except ImportError as e:  # pragma: no cover - depends on the install
            raise UsageError(f"--engine spark: PySpark is not installed ({e})") from None
    else:
        raise UsageError(f"--engine: unknown engine {name!r} (duckdb or spark)")
    try:
        yield eng
    finally:
        eng.close()


# ---------------------------------------------------------------------------
# Enrichment (shared by every rule)


@dataclass
class Enriched:
    work: Any  # one row per event of the open days, with principal / terminal context
    rows: Any  # one row per (event, supply point touched), with the point's retailer of record


POINT_CONTEXT = frozenset({"rec_retailer", "rec_kind"})


def _conjuncts(op: Any) -> list[Any]:
    import ibis.expr.operations as ops

    if isinstance(op, ops.And):
        return _conjuncts(op.left) + _conjuncts(op.right)
    return [op]


def _uses_point_context(op: Any) -> bool:
    import ibis.expr.operations as ops

    return any(f.name in POINT_CONTEXT for f in op.find(ops.Field))


def point_context_needed(rows: Any, rules: tuple[Any, ...]) -> Any:
    """Rows on which some rule's flag depends on the point's retailer of record.

    Derived from the rules themselves, not written by hand: each flag is split into its
    top-level AND terms; for a flag that reads ``rec_*`` the terms that do not are a necessary
    condition, and the OR of those conditions says which rows need the (costly) join with the
    supply contracts. On a real operator most rows are NW staff at work and skip it.
    """
    import ibis

    from gridwall.monitor.rules import Rule

    need = ibis.literal(False)
    for r in rules:
        if not isinstance(r, Rule):
            continue
        flag = r.flag(rows)
        if not _uses_point_context(flag.op()):
            continue
        pre = ibis.literal(True)
        for c in _conjuncts(flag.op()):
            if not _uses_point_context(c):
                pre = pre & c.to_expr()
        need = need | pre.fill_null(False)
    return need


def enrich(
    ev: Any, accounts: Any, persons: Any, devices: Any, contracts: Any, rules: tuple[Any, ...]
) -> Enriched:
    """Join each event with the reference state valid at its time (time-aware joins)."""
    import ibis

    from gridwall.monitor.rules._base import STRICT_NON_PUBLIC, has_any

    jst = ev.ts + ibis.interval(hours=9)
    e = ev.mutate(
        ts_s=ev.ts.epoch_seconds().cast("int64"),
        day=jst.date(),
        hour=jst.hour().cast("int64"),
        n_points=ev.supply_point_ids.length().cast("int64"),
    )
    a = accounts.select(
        _aid=accounts.account_id,
        a_kind=accounts.kind,
        a_org=accounts.org,
        a_holder=accounts.holder_person_id,
        a_revoked_s=accounts.revoked_at.epoch_seconds().cast("int64"),
    )
    e = e.left_join(a, e.account_id == a._aid).select(
        *e.columns, "a_kind", "a_org", "a_holder", "a_revoked_s"
    )
    p = persons.select(
        _pid=persons.person_id,
        p_org=persons.org,
        p_role=persons.role,
        _pf=persons.valid_from,
        _pu=persons.valid_until,
    )
    e = e.left_join(p, [e.a_holder == p._pid, p._pf <= e.day, e.day < p._pu]).select(
        *e.columns, "p_org", "p_role"
    )
    d = devices.select(
        _did=devices.device_id,
        d_owner=devices.owner_org,
        d_kind=devices.kind,
        _df=devices.valid_from,
        _du=devices.valid_until,
    )
    e = e.left_join(d, [e.device_id == d._did, d._df <= e.day, e.day < d._du]).select(
        *e.columns, "d_owner", "d_kind"
    )
    org = ibis.coalesce(e.p_org, e.a_org)
    p_kind = ibis.cases(
        (org.startswith("retail:"), "retail"),
        (org.startswith("contractor:"), "contractor"),
        else_=org,
    )
    e = e.mutate(
        person_id=e.a_holder,
        org=org,
        p_kind=p_kind,
        p_retailer=ibis.ifelse(org.startswith("retail:"), org.substr(7), ibis.null("string")),
        peer=p_kind.fill_null("?") + "/" + ibis.coalesce(e.p_role, e.a_kind, ibis.literal("?")),
        off_hours=(e.hour < 7) | (e.hour >= 22),
        reads_non_public=has_any(e.fields, STRICT_NON_PUBLIC),
        reads_fit=e.fields.contains("fit"),
        reads_lrs=e.fields.contains("lrs"),
    )
    # one row per point touched; an event without points keeps one row with a null point
    # (a one-null list rather than ``keep_empty``, which compiles to a costly self-join)
    pts = ibis.ifelse(
        e.supply_point_ids.length() > 0,
        e.supply_point_ids,
        ibis.array([ibis.null("string")]),
    )
    x = e.mutate(supply_point_ids=pts).unnest("supply_point_ids")
    x = x.rename(supply_point_id="supply_point_ids")
    # The point's retailer of record is needed only where some rule could still fire on the
    # row; other rows skip the join (see :func:`point_context_needed`).
    ph = x.mutate(rec_retailer=ibis.null("string"), rec_kind=ibis.null("string"))
    ph = ph.mutate(_need=point_context_needed(ph, rules))
    c = contracts.select(
        _csp=contracts.supply_point_id,
        _rr=contracts.retailer_code,
        _rk=contracts.kind,
        _cf=contracts.start_date,
        _cu=contracts.valid_until,
    )
    key = ibis.ifelse(ph._need, ph.supply_point_id, ibis.null("string"))
    j = ph.left_join(c, [key == c._csp, c._cf <= ph.day, ph.day < c._cu])
    x = j.select(*x.columns, rec_retailer=j._rr, rec_kind=j._rk)
    x = x.mutate(row_key=x.event_id + "|" + x.supply_point_id.fill_null(""))
    return Enriched(work=e, rows=x)


def flagged_rows(rows: Any, rules: tuple[Any, ...]) -> Any:
    """Evaluate every rule's flag side by side; keep rows with any flag set.

    Rules that share a flag (R1–R6 all start from the same retail lookup) share one column:
    the expression is evaluated once per row.
    """
    import ibis

    from gridwall.monitor.rules import HIT_COLUMNS, Rule

    exprs: dict[str, Any] = {}
    names: dict[Any, str] = {}
    for r in rules:
        if not isinstance(r, Rule):
            continue
        ex = r.flag(rows)
        shared = names.get(ex.op())
        if shared is None:
            shared = names[ex.op()] = flag_column(r.id)
            exprs[shared] = ex
    x = rows.mutate(**exprs)
    anyf = None
    for name in exprs:
        col = x[name].fill_null(False)
        anyf = col if anyf is None else anyf | col
    x = x.filter(anyf if anyf is not None else ibis.literal(False))  # baselines alone
    out = {flag_column(r.id): names[r.flag(rows).op()] for r in rules if isinstance(r, Rule)}
    return x.select(*HIT_COLUMNS, *[x[src].fill_null(False).name(n) for n, src in out.items()])


def activity_of(work: Any) -> Any:
    """One pass: per account, JST day and screen — events, off-hours events, non-public reads,
    and input rows that failed validation (counted here so checking costs no extra pass)."""
    np_read = work.reads_non_public & (work.action != "export")
    return work.group_by(["account_id", "day", "screen"]).aggregate(
        peer=work.peer.max(),
        n=work.count().cast("int64"),
        n_off=work.off_hours.cast("int64").sum().cast("int64"),
        n_np=np_read.cast("int64").sum().cast("int64"),
        n_bad=work._problem.notnull().cast("int64").sum().cast("int64"),
    )


def daily_of(activity: Any) -> Any:
    """Per account and JST day (events attributed to no account have no baseline)."""
    a = activity.filter(activity.account_id.notnull())
    return a.group_by(["account_id", "day"]).aggregate(
        peer=a.peer.max(), n=a.n.sum().cast("int64"), n_off=a.n_off.sum().cast("int64")
    )


def screen_days_of(activity: Any) -> Any:
    """Screens on which an account read non-public data, per day (exports are C1's)."""
    a = activity.filter(
        activity.account_id.notnull() & activity.screen.notnull() & (activity.n_np > 0)
    )
    return a.select("account_id", "screen", "day", "peer")


def evidence_of_keys(work: Any, keys: Any) -> Any:
    """The events baseline rules' keys point at (one pass over the open days' events)."""
    k = keys.rename(_acc="account_id", _day="day", _screen="screen")
    j = work.join(
        k,
        [
            work.account_id == k._acc,
            work.day == k._day,
            k._screen.isnull() | (k._screen == work.screen),
            ~k.off_only | work.off_hours,
        ],
    )
    import ibis

    return j.select(
        "rule",
        "event_id",
        "account_id",
        "person_id",
        "org",
        "ts",
        supply_point_id=ibis.null("string"),
        day=j.day,
    )


def first_screens(screen_days: Any) -> Any:
    """(account, screen) → first day used and the peer group it was used in then."""
    s = screen_days
    first = s.group_by(["account_id", "screen"]).aggregate(first_day=s.day.min())
    j = s.join(first, ["account_id", "screen"])
    j = j.filter(j.day == j.first_day)
    return j.group_by(["account_id", "screen", "first_day"]).aggregate(peer=j.peer.max())


# ---------------------------------------------------------------------------
# Alerts


def _utc(ts: datetime) -> datetime:
    if ts.tzinfo is None:
        return ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC)


def build_alerts(evidence: list[dict[str, Any]], rules: tuple[Any, ...]) -> list[dict[str, Any]]:
    """One alert per rule and account; each event is led by the most specific type.

    Evidence is grouped per rule and account. An event several rules found belongs to the
    alerts of the most specific type among them (:data:`rules.SPECIFICITY`); the other rules'
    findings on it are listed under ``related`` of the alert that leads it (rule, type and the
    shared events). An alert left with no event of its own is not written on its own: it
    appears only as related. Ids are stable (``AL-`` + hash of rule and account).
    """
    from gridwall.monitor.rules import SPECIFICITY

    rank = {t: k for k, t in enumerate(SPECIFICITY)}
    by_id = {r.id: r for r in rules}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in evidence:
        groups.setdefault((row["rule"], row["account_id"]), []).append(row)

    def rank_of(key: tuple[str, str]) -> int:
        return rank.get(by_id[key[0]].incident_type, len(rank))

    best: dict[str, int] = {}
    holders: dict[str, set[tuple[str, str]]] = {}
    for key, rows in groups.items():
        for r in rows:
            e = r["event_id"]
            best[e] = min(best.get(e, len(rank)), rank_of(key))
            holders.setdefault(e, set()).add(key)
    related: dict[tuple[str, str], dict[str, set[str]]] = {}
    for e, keys in holders.items():
        leaders = [k for k in keys if rank_of(k) == best[e]]
        for k in keys:
            if rank_of(k) == best[e]:
                continue
            for lead in leaders:
                related.setdefault(lead, {}).setdefault(k[0], set()).add(e)
    alerts = []
    for (rule_id, account), all_rows in groups.items():
        rows = [r for r in all_rows if rank_of((rule_id, account)) == best[r["event_id"]]]
        if not rows:
            continue
        rule = by_id[rule_id]
        rows.sort(key=lambda r: (_utc(r["ts"]), r["event_id"]))
        first, last = _utc(rows[0]["ts"]).astimezone(JST), _utc(rows[-1]["ts"]).astimezone(JST)
        event_ids = sorted({r["event_id"] for r in rows})
        points = sorted({r["supply_point_id"] for r in rows if r["supply_point_id"]})
        persons = [r["person_id"] for r in rows if r["person_id"]]
        orgs = [r["org"] for r in rows if r["org"]]
        n = len(event_ids)
        span = f"{first:%Y-%m-%d %H:%M}〜{last:%Y-%m-%d %H:%M} JST"
        span_en = f"{first:%Y-%m-%d %H:%M}–{last:%Y-%m-%d %H:%M} JST"
        summary = (
            f"{rule.description_ja}（ID {account}、{n}件、地点{len(points)}件、{span}） / "
            f"{rule.description_en} (account {account}, {n} events, {len(points)} points, "
            f"{span_en})"
        )
        rel = related.get((rule_id, account), {})
        alerts.append(
            {
                "alert_id": "AL-"
                + hashlib.sha256(f"{rule_id}|{account}".encode()).hexdigest()[:16],
                "rule": rule_id,
                "incident_type": rule.incident_type,
                "severity": rule.severity,
                "account_id": account,
                "person_id": persons[-1] if persons else None,
                "org": orgs[-1] if orgs else None,
                "first_ts": first.isoformat(),
                "last_ts": last.isoformat(),
                "event_ids": event_ids,
                "supply_point_ids": points,
                "summary": summary,
                "related": [
                    {
                        "rule": rid,
                        "incident_type": by_id[rid].incident_type,
                        "event_ids": sorted(evs),
                    }
                    for rid, evs in sorted(rel.items())
                ],
            }
        )
    alerts.sort(key=lambda a: (-a["severity"], a["incident_type"], a["rule"], a["account_id"]))
    return alerts


def progress(msg: str) -> None:
    print(f"monitor: {msg}", file=sys.stderr, flush=True)


Progress = Callable[[str], None]
