"""``gridwall monitor run``: periodic, incremental analysis of gridwall's own audit log.

Each run reads the audit log from where the last one stopped (``monitor_cursor``, in the
store) up to its current size, writes those entries as one events part file
(``WORK/events/audit-<from>-<to>.parquet``, with each event's audit-log index beside it),
adds any legacy logs handed to it (already mapped onto the events layout) and runs the
incremental scan (:func:`gridwall.monitor._run.scan` with ``WORK/state.duckdb``) against
the operator's reference tables. The alerts go to the store (``monitor_alert``), one per
rule and account: an alert that already exists is updated with its new evidence, never
opened twice. Every evidence event is stored with its audit-log index.

Crash safety: the part file and the scan state are written before the store's transaction
(alerts, evidence, cursor) commits. A run that stops in between leaves a part beyond the
cursor; the next run reuses it (it does not export that range again) and the scan, which
already knows the part, yields the same alerts: nothing is counted twice.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select, update

from gridwall.errors import UsageError
from gridwall.interfaces import AuditReader
from gridwall.interfaces.clock import as_utc
from gridwall.monitor._models import (
    MonitorAlert,
    MonitorAlertEvidence,
    MonitorCursor,
    MonitorRun,
)
from gridwall.monitor._scan import Progress, progress

AUDIT_SOURCE = "audit"
_PART = re.compile(r"^audit-(\d{12})-(\d{12})\.parquet$")
_LIST_COLUMNS = ("supply_point_ids", "fields")
_TEXT_COLUMNS = (
    "event_id",
    "ts",
    "system",
    "account_id",
    "device_id",
    "source_ip",
    "session_id",
    "action",
    "screen",
    "purpose",
    "query",
    "recipient_org",
    "decision",
    # the server's canary mark (issue 17): the monitor's input drops marked events, so the
    # export must carry it or gridwall's own canary requests would reach the rules
    "canary",
)


@dataclass
class RunResult:
    """What one run did: the audit range read, the alerts opened and updated."""

    run_id: int
    audit_from: int
    audit_to: int
    events_exported: int
    legacy_files: int
    opened: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    alerts: list[dict[str, Any]] = field(default_factory=list)


def _parts(events: Path) -> list[tuple[int, int, Path]]:
    out = []
    for p in events.iterdir() if events.is_dir() else ():
        m = _PART.match(p.name)
        if m:
            out.append((int(m.group(1)), int(m.group(2)), p))
    return sorted(out)


def _cursor(engine: Engine) -> int:
    with engine.connect() as c:
        pos = c.execute(
            select(MonitorCursor.position).where(MonitorCursor.source == AUDIT_SOURCE)
        ).scalar()
    return int(pos) if pos is not None else 0


def _rows(reader: AuditReader, lo: int, hi: int, batch: int) -> Iterator[list[tuple[int, bytes]]]:
    for a in range(lo, hi, batch):
        yield reader.entries(a, min(hi, a + batch))


def export_part(reader: AuditReader, lo: int, hi: int, out: Path, *, batch: int = 50_000) -> int:
    """Write audit entries ``lo`` … ``hi - 1`` as an events Parquet file; return the count.

    Written beside ``out`` and renamed into place, so a part is either whole or absent. An
    entry that is not an event of the layout (no ``event`` object) stops the run, naming
    its index: the log is gridwall's own and every entry is built by ``audit_event``.

    The hot path of a periodic run (10⁷ entries a day at a large operator): the entries'
    bytes go to DuckDB in Arrow batches and DuckDB parses the JSON (``json_transform``) —
    no Python object per entry (docs/benchmarks.md, monitor run).
    """
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [(c, pa.string()) for c in _TEXT_COLUMNS]
        + [(c, pa.list_(pa.string())) for c in _LIST_COLUMNS]
        + [("result_count", pa.int64()), ("audit_idx", pa.int64())]
    )
    shape = json.dumps(
        {"event": {**{c: "VARCHAR" for c in _TEXT_COLUMNS},
                   **{c: "VARCHAR[]" for c in _LIST_COLUMNS}, "result_count": "JSON"}}
    )  # fmt: skip
    text = ", ".join(f"e.event.{c} AS {c}" for c in _TEXT_COLUMNS)
    lists = ", ".join(f"coalesce(e.event.{c}, []::VARCHAR[]) AS {c}" for c in _LIST_COLUMNS)
    # an integer result count stays one; anything else (a string, a float) is no count
    count = (
        "CASE WHEN json_type(e.event.result_count) IN ('UBIGINT', 'BIGINT') "
        "THEN CAST(e.event.result_count AS BIGINT) END AS result_count"
    )
    parse = (
        f"SELECT {text}, {lists}, {count}, idx AS audit_idx FROM "
        f"(SELECT idx, json_transform(entry, '{shape}') AS e FROM batch)"
    )
    check = (
        "SELECT min(idx) FROM batch WHERE json_valid(entry) IS NOT TRUE "
        "OR coalesce(json_type(entry, '$.event'), '') <> 'OBJECT'"
    )
    tmp = out.with_name(out.name + ".partial")
    n = 0
    con = duckdb.connect()
    try:
        con.execute("SET threads=2")
        with pq.ParquetWriter(str(tmp), schema) as w:
            for got in _rows(reader, lo, hi, batch):
                if not got:
                    continue
                idx, raw = zip(*got, strict=True)
                con.register(
                    "batch",
                    pa.table({"idx": pa.array(idx, pa.int64()),
                              "entry": pa.array(raw, pa.binary()).cast(pa.string())}),
                )  # fmt: skip
                bad = con.execute(check).fetchone()
                if bad is not None and bad[0] is not None:
                    raise UsageError(
                        f"audit log entry {bad[0]}: not an access event (no 'event' object)"
                    )
                parsed: pa.Table = con.execute(parse).to_arrow_table()
                w.write_table(parsed.cast(schema))
                con.unregister("batch")
                n += len(got)
            if n == 0:
                w.write_table(pa.table({c: [] for c in schema.names}, schema=schema))
    except pa.ArrowInvalid as e:  # bytes that are not UTF-8 text
        raise UsageError(f"audit log entries {lo}…{hi - 1}: not UTF-8 JSON ({e})") from e
    finally:
        con.close()
    tmp.replace(out)
    return n


def _legacy_copy(events: Path, src: Path) -> bool:
    """Copy a mapped legacy events file into the work folder once (named by its content)."""
    if not src.is_file() or src.suffix not in (".parquet", ".csv", ".jsonl"):
        raise UsageError(
            f"--legacy {src}: not an events file (.parquet/.csv/.jsonl from "
            "`gridwall monitor import-log`)"
        )
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:20]
    dest = events / f"legacy-{digest}{src.suffix}"
    if dest.exists():
        return False
    tmp = dest.with_name(dest.name + ".partial")
    shutil.copyfile(src, tmp)
    tmp.replace(dest)
    return True


def _audit_index(events: Path, event_ids: set[str]) -> dict[str, int]:
    """Audit-log index of each evidence event found in the work folder's audit parts."""
    import duckdb

    if not event_ids or not _parts(events):
        return {}
    con = duckdb.connect()
    try:
        con.execute("CREATE TEMP TABLE want (event_id VARCHAR)")
        con.executemany("INSERT INTO want VALUES (?)", [(e,) for e in sorted(event_ids)])
        glob = str(events / "audit-*.parquet").replace("'", "''")
        rows = con.execute(
            f"SELECT p.event_id, p.audit_idx FROM read_parquet('{glob}') p "
            "JOIN want w USING (event_id)"
        ).fetchall()
    finally:
        con.close()
    return {str(e): int(i) for e, i in rows}


def run_periodic(
    engine: Engine,
    reader: AuditReader,
    reference: Path,
    work: Path,
    *,
    now: datetime,
    legacy: Sequence[Path] = (),
    say: Progress = progress,
    memory_limit: str | None = None,
    batch: int = 50_000,
) -> RunResult:
    """One periodic run: audit log since the cursor (+ legacy logs) → alerts in the store."""
    from gridwall.monitor._run import scan

    if not reference.is_dir():
        raise UsageError(f"--reference: not a folder: {reference}")
    started = as_utc(now, "now").isoformat()
    events = work / "events"
    events.mkdir(parents=True, exist_ok=True)
    pos = _cursor(engine)
    parts = _parts(events)
    end = parts[-1][1] if parts else 0
    if end < pos:
        raise UsageError(
            f"--work {work}: its audit parts end at index {end} but the store's cursor is at "
            f"{pos}; use the work folder of the earlier runs (or a fresh store)"
        )
    size = reader.size()
    if size < end:
        raise UsageError(
            f"the audit log has {size} entries but {work} already holds entries up to {end}: "
            "this work folder belongs to another log"
        )
    exported = 0
    if size > end:
        name = f"audit-{end:012d}-{size:012d}.parquet"
        say(f"reading audit log entries {end} … {size - 1}")
        exported = export_part(reader, end, size, events / name, batch=batch)
    n_legacy = sum(_legacy_copy(events, p) for p in legacy)
    new_audit_from = pos
    pending = size > pos or n_legacy > 0
    alerts: list[dict[str, Any]] = []
    if pending:
        result = scan(
            reference,
            events_from=work,
            state=work / "state.duckdb",
            say=say,
            memory_limit=memory_limit,
        )
        alerts = result.alerts
    ids = {e for a in alerts for e in a["event_ids"]}
    index = _audit_index(events, ids)
    out = RunResult(
        run_id=0,
        audit_from=new_audit_from,
        audit_to=size,
        events_exported=exported,
        legacy_files=n_legacy,
        alerts=alerts,
    )
    with engine.begin() as c:
        run_id = int(
            c.execute(
                insert(MonitorRun)
                .values(
                    started_at=started,
                    finished_at=started,
                    audit_from=pos,
                    audit_to=size,
                    legacy_files=n_legacy,
                    alerts_opened=0,
                    alerts_updated=0,
                )
                .returning(MonitorRun.id)
            ).scalar_one()
        )
        out.run_id = run_id
        for a in alerts:
            known = {
                str(e)
                for e in c.execute(
                    select(MonitorAlertEvidence.event_id).where(
                        MonitorAlertEvidence.alert_id == a["alert_id"]
                    )
                ).scalars()
            }
            exists = c.execute(
                select(MonitorAlert.alert_id).where(MonitorAlert.alert_id == a["alert_id"])
            ).first()
            values = {
                "rule": a["rule"],
                "incident_type": a["incident_type"],
                "severity": int(a["severity"]),
                "account_id": a["account_id"],
                "person_id": a["person_id"],
                "org": a["org"],
                "first_ts": a["first_ts"],
                "last_ts": a["last_ts"],
                "event_count": len(a["event_ids"]),
                "summary": a["summary"],
                "related": json.dumps(a["related"], ensure_ascii=False, sort_keys=True),
            }
            fresh = [e for e in a["event_ids"] if e not in known]
            if exists is None:
                c.execute(
                    insert(MonitorAlert).values(
                        alert_id=a["alert_id"], opened_run=run_id, updated_run=run_id, **values
                    )
                )
                out.opened.append(a["alert_id"])
            elif fresh:
                c.execute(
                    update(MonitorAlert)
                    .where(MonitorAlert.alert_id == a["alert_id"])
                    .values(updated_run=run_id, **values)
                )
                out.updated.append(a["alert_id"])
            else:
                out.unchanged += 1
            if fresh:
                c.execute(
                    insert(MonitorAlertEvidence),
                    [
                        {
                            "alert_id": a["alert_id"],
                            "event_id": e,
                            "audit_idx": index.get(e),
                            "run_id": run_id,
                        }
                        for e in fresh
                    ],
                )
        c.execute(
            update(MonitorRun)
            .where(MonitorRun.id == run_id)
            .values(alerts_opened=len(out.opened), alerts_updated=len(out.updated))
        )
        moved = c.execute(
            update(MonitorCursor)
            .where(MonitorCursor.source == AUDIT_SOURCE)
            .values(position=size, updated_at=started)
        ).rowcount
        if not moved:
            c.execute(
                insert(MonitorCursor).values(source=AUDIT_SOURCE, position=size, updated_at=started)
            )
    return out


def stored_alerts(engine: Engine) -> list[dict[str, Any]]:
    """Every stored alert with its evidence (event id, audit-log index), newest run first."""
    with engine.connect() as c:
        alerts = [dict(r._mapping) for r in c.execute(select(MonitorAlert)).all()]
        ev: dict[str, list[dict[str, Any]]] = {}
        for r in c.execute(
            select(
                MonitorAlertEvidence.alert_id,
                MonitorAlertEvidence.event_id,
                MonitorAlertEvidence.audit_idx,
            ).order_by(MonitorAlertEvidence.audit_idx, MonitorAlertEvidence.event_id)
        ).all():
            ev.setdefault(r.alert_id, []).append({"event_id": r.event_id, "audit_idx": r.audit_idx})
    for a in alerts:
        a["related"] = json.loads(a["related"])
        a["evidence"] = ev.get(a["alert_id"], [])
    alerts.sort(key=lambda a: (-a["updated_run"], -a["severity"], a["alert_id"]))
    return alerts
