"""``gridwall monitor scan``: full or incremental (with a state file) over a dataset folder.

The state file (``--state FILE``) is a DuckDB database holding what later scans need and no
more (the *open days* are the last JST day seen; everything before it is *closed*):

* ``files``    — every event file read, its size, mtime and the rows taken from it;
* ``hits``     — candidate rows of every rule (all days; small: flagged rows only);
* ``daily``    — per account and JST day: events, off-hours events, peer group;
* ``screens``  — per account and screen: the first day it was used and the peer group then;
* ``anomaly``  — evidence of baseline rules for closed days (they are decided once);
* ``tail``     — the raw events of the open days, re-read with the next arrivals so a day
  split across two scans is analysed whole;
* ``meta``     — the open day, the rules' fingerprint and the dataset path.

A scan reads only new files and the rows appended to known CSV/JSON Lines files. Events dated
before the open day are refused (a closed day would change), as are shrunk or rewritten files
and a changed rule set: those need a full scan (a fresh state file).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from gridwall.errors import UsageError
from gridwall.monitor import _input
from gridwall.monitor._columns import source_columns
from gridwall.monitor._scan import (
    EVIDENCE_COLUMNS,
    Progress,
    activity_of,
    build_alerts,
    daily_of,
    enrich,
    evidence_of_keys,
    first_screens,
    flag_column,
    flagged_rows,
    open_engine,
    progress,
    rules_fingerprint,
    screen_days_of,
)

STATE_VERSION = "1"
DEFAULT_MEMORY_LIMIT = "4GB"


@dataclass
class ScanResult:
    alerts: list[dict[str, Any]]
    events_read: int | None = None
    open_from: date | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class _FileState:
    size: int
    mtime_ns: int
    rows: int


def _connect(memory_limit: str | None = None) -> Any:
    import duckdb

    duck = duckdb.connect()
    duck.execute("SET TimeZone='UTC'")
    # DuckDB would take 80 % of RAM; a scan is one job among others: cap it and let it spill
    duck.execute(f"SET memory_limit='{memory_limit or DEFAULT_MEMORY_LIMIT}'")
    return duck


def scan(
    directory: Path,
    *,
    engine: str = "duckdb",
    state: Path | None = None,
    say: Progress = progress,
    memory_limit: str | None = None,
    only: tuple[str, ...] | None = None,
    events_from: Path | None = None,
) -> ScanResult:
    """Analyse a dataset folder's events against its reference tables; return the alerts.

    ``only`` restricts the scan to the rules with these ids (benchmarks; not with a state).
    ``events_from`` reads the events of another folder (``events.*`` and/or ``events/``)
    against ``directory``'s reference tables (``gridwall monitor run``'s work folder).
    """
    from gridwall.monitor.rules import RULES, BaselineRule, Baselines, Reference, Rule

    if not directory.is_dir():
        raise UsageError(f"DIR: not a folder: {directory}")
    rules = RULES if only is None else tuple(r for r in RULES if r.id in only)
    if only is not None and (state is not None or len(rules) != len(only)):
        raise UsageError(f"only: unknown rule id or used with --state: {only}")
    # data minimisation: read exactly the columns these rules (and the scan) use
    columns = source_columns(rules)
    ev_cols = columns.get("events", frozenset())
    duck = _connect(memory_limit)
    say(f"reading reference tables of {directory}")
    _input.register_reference(duck, directory, columns=columns)
    files = _input.event_files(events_from or directory)
    if not files and state is None:
        raise UsageError(
            f"DIR: no events file (events.csv/.jsonl/.parquet or events/) in {directory}"
        )
    fingerprint = rules_fingerprint()

    # --- which events are new since the last scan (the incremental state) ---------------
    known, open_from, has_state = _read_state(duck, state, fingerprint)
    new_sql, taken = _new_events(duck, files, known, ev_cols)
    work_sql = _work_events(duck, new_sql, state=state, has_state=has_state, open_from=open_from)

    row_rules = tuple(r for r in rules if isinstance(r, Rule))
    base_rules = tuple(r for r in rules if isinstance(r, BaselineRule))
    flag_cols = [flag_column(r.id) for r in row_rules]

    with open_engine(engine, duck) as eng:
        import ibis

        say(f"enriching events on {eng.name}")
        ref_sql = {n: f"SELECT * FROM ref_{n}" for n in _input.REFERENCE_NAMES}
        ref_sql["switching"] = (
            "SELECT *, CAST(epoch(applied_at) AS BIGINT) AS applied_s FROM ref_switching"
        )
        ref_sql["disaster_areas"] = (
            "SELECT disaster_id, pref, city, CAST(epoch(start_at) AS BIGINT) AS start_s, "
            "CAST(epoch(end_at) AS BIGINT) AS end_s FROM ref_disaster_areas"
        )
        t = {n: eng.provide(f"r_{n}", s, materialize=False) for n, s in ref_sql.items()}
        work_raw = eng.provide("work_raw", work_sql)
        en = enrich(work_raw, t["accounts"], t["persons"], t["devices"], t["contracts"], rules)
        if base_rules or state is not None or only is None:
            activity = eng.cache(activity_of(en.work))
            bad = activity.n_bad.sum().to_pyarrow().as_py()
            if bad:
                for f in files:  # name the first bad row (file, line, field)
                    _input.check_source(
                        duck, _input.table_source(duck, f, _input.MONITOR_EVENTS, ev_cols)
                    )
                raise UsageError(f"{bad} bad event row(s)")  # pragma: no cover - located above
        else:  # a benchmark of row rules alone: no baselines, no validation pass
            activity = activity_of(en.work)
        hits_new = flagged_rows(en.rows, rules)
        daily_new = daily_of(activity)
        sdays_new = screen_days_of(activity)

        if has_state:
            closed = f"day < DATE '{open_from.isoformat()}'"
            old_hits = eng.provide("st_hits", f"SELECT * FROM st.hits WHERE {closed}")
            old_daily = eng.provide("st_daily", f"SELECT * FROM st.daily WHERE {closed}")
            old_sdays = eng.provide(
                "st_screens",
                "SELECT account_id, screen, first_day AS day, peer FROM st.screens",
            )
            old_anom = eng.provide("st_anomaly", f"SELECT * FROM st.anomaly WHERE {closed}")
            hits_all = old_hits.union(_like(hits_new, old_hits))
            daily_all = old_daily.union(_like(daily_new, old_daily))
            sdays_all = old_sdays.union(_like(sdays_new, old_sdays))
        else:
            hits_all, daily_all, sdays_all, old_anom = hits_new, daily_new, sdays_new, None

        hits_all = eng.cache(hits_all)
        if base_rules or state is not None:
            daily_all = eng.cache(daily_all)
            screens_all = eng.cache(first_screens(sdays_all))
        say("running rules")
        ref = Reference(
            switching=t["switching"],
            contracts=t["contracts"],
            supply_points=t["supply_points"],
            disaster_areas=t["disaster_areas"],
            agreements=t["agreements"],
            agreement_fields=t["agreement_fields"],
            agreement_areas=t["agreement_areas"],
            consents=t["consents"],
        )
        # grants are judged once over every flagged row and shared by the rules
        from gridwall.monitor.rules._base import granted

        ref = dataclasses.replace(
            ref, granted_keys=eng.cache(granted(hits_all, ref).select("row_key"))
        )
        pieces = []
        for rule, col in zip(row_rules, flag_cols, strict=True):
            rows = hits_all.filter(hits_all[col])
            if rule.confirm is not None:
                rows = rule.confirm(rows, ref)
            pieces.append(
                rows.select(
                    rule=ibis.literal(rule.id),
                    event_id=rows.event_id,
                    account_id=rows.account_id,
                    person_id=rows.person_id,
                    org=rows.org,
                    ts=rows.ts,
                    supply_point_id=rows.supply_point_id,
                )
            )
        keys = []
        if base_rules:
            b = Baselines(daily=daily_all, screens=screens_all, open_from=ibis.date(open_from))
            keys = [brule.detect(b).mutate(rule=ibis.literal(brule.id)) for brule in base_rules]
        anom_pieces = [evidence_of_keys(en.work, ibis.union(*keys))] if keys else []
        anomaly_new = eng.cache(ibis.union(*anom_pieces)) if anom_pieces else None
        if anomaly_new is not None:
            pieces.append(anomaly_new.select(*EVIDENCE_COLUMNS))
        if old_anom is not None:
            pieces.append(old_anom.select(*EVIDENCE_COLUMNS))
        evidence = _collect_evidence(pieces)
        say(f"{len(evidence)} evidence rows")
        alerts = build_alerts(evidence, rules)

        if state is not None:
            say(f"saving state to {state}")
            _save_state(
                duck,
                state,
                has_state=has_state,
                fingerprint=fingerprint,
                hits=hits_all.to_pyarrow(),
                daily=daily_all.to_pyarrow(),
                screens=screens_all.to_pyarrow(),
                anomaly=anomaly_new.to_pyarrow() if anomaly_new is not None else None,
                taken=taken,
            )
    duck.close()
    return ScanResult(alerts=alerts, open_from=open_from)


def _read_state(
    duck: Any, state: Path | None, fingerprint: str
) -> tuple[dict[str, _FileState], date, bool]:
    """The incremental state of earlier scans: per events file its size, mtime and rows
    already taken; the first day still open; whether there is a state at all. A state
    written by another rule set or version is refused (a full scan is needed)."""
    known: dict[str, _FileState] = {}
    open_from = date(1, 1, 1)
    if state is None or not state.exists():
        return known, open_from, False
    duck.execute(f"ATTACH {_input.q(str(state))} AS st (READ_ONLY)")
    meta = dict(duck.execute("SELECT key, value FROM st.meta").fetchall())
    if meta.get("version") != STATE_VERSION or meta.get("rules") != fingerprint:
        raise UsageError(
            f"--state {state}: written by another rule set or version; "
            "run a full scan with a fresh state file"
        )
    open_from = date.fromisoformat(meta["open_from"])
    for path, size, mtime_ns, rows in duck.execute(
        "SELECT path, size, mtime_ns, rows FROM st.files"
    ).fetchall():
        known[path] = _FileState(size, mtime_ns, rows)
    return known, open_from, True


def _new_events(
    duck: Any, files: list[Path], known: dict[str, _FileState], ev_cols: frozenset[str]
) -> tuple[str, dict[str, tuple[Path, int]]]:
    """SQL over the events not analysed yet (files may only grow), and per file the rows
    already taken before this scan."""
    parts: list[str] = []
    taken: dict[str, tuple[Path, int]] = {}  # path -> (file, rows already taken)
    for f in files:
        st = os.stat(f)
        key = str(f.resolve())
        prev = known.get(key)
        if prev and prev.size == st.st_size and prev.mtime_ns == st.st_mtime_ns:
            continue
        if prev and (st.st_size < prev.size or f.suffix == ".parquet"):
            raise UsageError(
                f"--state: {f.name} was rewritten since the last scan (it may only grow); "
                "run a full scan with a fresh state file"
            )
        src_sql = _input.events_sql(duck, [f], keep=ev_cols)
        offset = prev.rows if prev else 0
        parts.append(f"SELECT * FROM ({src_sql}) OFFSET {offset}" if offset else src_sql)
        taken[key] = (f, offset)
    if not parts:
        return _input.events_sql(duck, [], keep=ev_cols), taken
    return " UNION ALL ".join(parts), taken


def _work_events(
    duck: Any, new_sql: str, *, state: Path | None, has_state: bool, open_from: date
) -> str:
    """The events this scan analyses: the still-open tail of earlier scans and the new ones.
    New events dated on a day an earlier scan closed are refused (a full scan is needed)."""
    if state is None:
        return new_sql
    duck.execute(f"CREATE TEMP TABLE new_raw AS {new_sql}")
    if not has_state:
        return "SELECT * FROM new_raw"
    jst_day = "CAST(ts + INTERVAL 9 HOUR AS DATE)"
    late = duck.execute(f"SELECT min({jst_day}) FROM new_raw").fetchone()[0]
    if late is not None and late < open_from:
        raise UsageError(
            f"--state: new events dated {late} arrived after that day was closed by an "
            f"earlier scan (open from {open_from}); run a full scan with a fresh state file"
        )
    return "SELECT * FROM st.tail UNION ALL SELECT * FROM new_raw"


def _collect_evidence(pieces: list[Any]) -> list[dict[str, Any]]:
    """Every rule's evidence rows, de-duplicated. One job per rule: a single union of every
    rule's plan is too big a task for Spark to serialise; evidence is small, so the pieces
    are collected and de-duplicated here."""
    evidence: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    for piece in pieces:
        for row in piece.to_pyarrow().to_pylist():
            ekey = tuple(row[c] for c in EVIDENCE_COLUMNS)
            if ekey not in seen:
                seen.add(ekey)
                evidence.append(row)
    return evidence


def _like(new: Any, old: Any) -> Any:
    """``new`` with ``old``'s columns and types (for a union with rows from the state)."""
    return new.select(*old.columns).cast(old.schema())


def _save_state(
    duck: Any,
    state: Path,
    *,
    has_state: bool,
    fingerprint: str,
    hits: Any,
    daily: Any,
    screens: Any,
    anomaly: Any,
    taken: dict[str, tuple[Path, int]],
) -> None:
    """Write the new state next to the old one, then swap it in (never half-written)."""
    jst_day = "CAST(ts + INTERVAL 9 HOUR AS DATE)"
    tmp = state.with_name(state.name + ".tmp")
    if tmp.exists():
        tmp.unlink()
    duck.register("arrow_hits", hits)
    duck.register("arrow_daily", daily)
    duck.register("arrow_screens", screens)
    work = (
        "SELECT * FROM st.tail UNION ALL SELECT * FROM new_raw"
        if has_state
        else ("SELECT * FROM new_raw")
    )
    duck.execute(f"CREATE TEMP TABLE work_all AS {work}")
    last = duck.execute(f"SELECT max({jst_day}) FROM work_all").fetchone()[0]
    if last is None and has_state:
        last = date.fromisoformat(
            duck.execute("SELECT value FROM st.meta WHERE key='open_from'").fetchone()[0]
        )
    open_from = last or date(1, 1, 1)
    duck.execute(f"ATTACH {_input.q(str(tmp))} AS nst")
    duck.execute("CREATE TABLE nst.meta (key VARCHAR, value VARCHAR)")
    meta = {"version": STATE_VERSION, "rules": fingerprint, "open_from": open_from.isoformat()}
    duck.executemany("INSERT INTO nst.meta VALUES (?, ?)", list(meta.items()))
    duck.execute("CREATE TABLE nst.hits AS SELECT * FROM arrow_hits")
    duck.execute("CREATE TABLE nst.daily AS SELECT * FROM arrow_daily")
    duck.execute("CREATE TABLE nst.screens AS SELECT * FROM arrow_screens")
    cond = f"day < DATE '{open_from.isoformat()}'"
    if anomaly is not None:
        duck.register("arrow_anomaly", anomaly)
        old = (
            f"SELECT {', '.join(EVIDENCE_COLUMNS)}, day FROM st.anomaly UNION ALL "
            if (has_state)
            else ""
        )
        duck.execute(
            f"CREATE TABLE nst.anomaly AS SELECT DISTINCT * FROM ({old}"
            f"SELECT {', '.join(EVIDENCE_COLUMNS)}, day FROM arrow_anomaly) WHERE {cond}"
        )
    duck.execute(
        f"CREATE TABLE nst.tail AS SELECT * FROM work_all WHERE {jst_day} >= "
        f"DATE '{open_from.isoformat()}'"
    )
    duck.execute("CREATE TABLE nst.files (path VARCHAR, size BIGINT, mtime_ns BIGINT, rows BIGINT)")
    rows: list[tuple[str, int, int, int]] = []
    if has_state:
        rows = [
            (str(r[0]), int(r[1]), int(r[2]), int(r[3]))
            for r in duck.execute("SELECT path, size, mtime_ns, rows FROM st.files").fetchall()
            if r[0] not in taken
        ]
    for key, (f, offset) in taken.items():
        st = os.stat(f)
        sql = _input.events_sql(duck, [f], keep=frozenset())  # a row count reads no value
        n = duck.execute(f"SELECT count(*) FROM ({sql})")
        rows.append((key, st.st_size, st.st_mtime_ns, int(n.fetchone()[0])))
        del offset
    duck.executemany("INSERT INTO nst.files VALUES (?, ?, ?, ?)", rows)
    duck.execute("DETACH nst")
    if has_state:
        duck.execute("DETACH st")
    os.replace(tmp, state)


def write_alerts(alerts: list[dict[str, Any]], out: Path) -> None:
    """Write ``alerts.jsonl`` atomically (a temp file renamed into place)."""
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for a in alerts:
            f.write(json.dumps(a, ensure_ascii=False, sort_keys=False) + "\n")
    os.replace(tmp, out)
