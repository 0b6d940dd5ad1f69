"""``gridwall monitor run``: the audit log read incrementally, alerts stored once, evidence
tied to audit-log indexes; two runs with a cut equal one full scan."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from gridwall.audit._db import Conn
from gridwall.audit._log import AuditLog, open_log
from gridwall.errors import UsageError
from gridwall.monitor._models import MonitorAlert, MonitorAlertEvidence, MonitorCursor
from gridwall.monitor._periodic import run_periodic, stored_alerts
from gridwall.monitor._run import scan
from gridwall.store import make_engine

from . import world

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def _quiet(_: str) -> None:
    pass


def _events() -> list[dict[str, Any]]:
    evs = world.world()["events"]
    evs.sort(key=lambda e: (e["ts"], e["event_id"]))
    return [{**e, "ts": e["ts"].isoformat()} for e in evs]


@pytest.fixture
def setup(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Engine, AuditLog, Conn, Path, Path]]:
    """SQLite by default; the tests marked ``both_stores`` also run on PostgreSQL."""
    db_url = str(request.getfixturevalue(getattr(request, "param", "sqlite_url")))
    log = open_log(db_url)
    engine = make_engine(db_url)
    reader = Conn(db_url)
    ref = world.write(tmp_path / "ref", events=[])
    try:
        yield engine, log, reader, ref, tmp_path / "work"
    finally:
        reader.close()
        log.close()
        engine.dispose()


def _key(alerts: list[dict[str, Any]]) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    return {
        a["alert_id"]: (a["rule"], a["account_id"], tuple(sorted(a["event_ids"]))) for a in alerts
    }


@pytest.mark.parametrize(
    "setup", ["sqlite_url", pytest.param("pg_url", marks=pytest.mark.postgres)], indirect=True
)
def test_two_runs_equal_one_full_scan_and_open_nothing_twice(
    setup: tuple[Engine, AuditLog, Conn, Path, Path], tmp_path: Path
) -> None:
    engine, log, reader, ref, work = setup
    events = _events()
    full = scan(world.write(tmp_path / "full"), say=_quiet).alerts
    assert full
    cut = len(events) // 2
    log.record_many(events[:cut])
    r1 = run_periodic(engine, reader, ref, work, now=NOW, say=_quiet)
    assert (r1.audit_from, r1.audit_to) == (0, cut)
    log.record_many(events[cut:])
    r2 = run_periodic(engine, reader, ref, work, now=NOW, say=_quiet)
    assert (r2.audit_from, r2.audit_to) == (cut, len(events))
    assert not set(r1.opened) & set(r2.opened)  # nothing opened twice
    stored = stored_alerts(engine)
    assert {a["alert_id"] for a in stored} == set(r1.opened) | set(r2.opened)
    got = {
        a["alert_id"]: (
            a["rule"],
            a["account_id"],
            tuple(sorted(e["event_id"] for e in a["evidence"])),
        )
        for a in stored
    }
    assert got == _key(full)
    # every piece of evidence names the audit-log entry holding that very event
    for a in stored:
        for ev in a["evidence"]:
            assert ev["audit_idx"] is not None
            entry = json.loads(reader.entries(ev["audit_idx"], ev["audit_idx"] + 1)[0][1])
            assert entry["event"]["event_id"] == ev["event_id"]
        assert a["event_count"] == len(a["evidence"])
    # a third run with nothing new changes nothing
    r3 = run_periodic(engine, reader, ref, work, now=NOW, say=_quiet)
    assert (r3.opened, r3.updated, r3.audit_from, r3.audit_to) == ([], [], len(events), len(events))
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(MonitorAlert)).scalar() == len(full)
        assert c.execute(select(MonitorCursor.position)).scalar() == len(events)


def test_continuing_misuse_updates_its_alert(
    setup: tuple[Engine, AuditLog, Conn, Path, Path],
) -> None:
    """The same rule and account in a later run: the alert gets the new evidence."""
    engine, log, reader, ref, work = setup
    events = _events()
    # the first half of one alert's events in the first run, the rest later
    log.record_many(events[: len(events) // 2])
    run_one = run_periodic(engine, reader, ref, work, now=NOW, say=_quiet)
    first = {a["alert_id"]: a["event_count"] for a in stored_alerts(engine)}
    log.record_many(events[len(events) // 2 :])
    run_two = run_periodic(engine, reader, ref, work, now=NOW, say=_quiet)
    after = {a["alert_id"]: a["event_count"] for a in stored_alerts(engine)}
    assert run_one.opened
    for aid in run_two.updated:
        assert aid in first and after[aid] > first[aid]
    for aid in run_two.opened:
        assert aid not in first
    with engine.connect() as c:
        n = c.execute(select(func.count()).select_from(MonitorAlertEvidence)).scalar()
    assert n == sum(after.values())


def test_a_run_stopped_before_commit_is_redone_without_double_counting(
    setup: tuple[Engine, AuditLog, Conn, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, log, reader, ref, work = setup
    events = _events()
    log.record_many(events)
    import gridwall.monitor._periodic as periodic

    def boom(*_: Any) -> dict[str, int]:
        raise RuntimeError("stopped")

    monkeypatch.setattr(periodic, "_audit_index", boom)
    with pytest.raises(RuntimeError):
        run_periodic(engine, reader, ref, work, now=NOW, say=_quiet)
    assert stored_alerts(engine) == []
    monkeypatch.undo()
    r = run_periodic(engine, reader, ref, work, now=NOW, say=_quiet)
    assert r.events_exported == 0  # the part written before the stop is reused
    assert len(list((work / "events").glob("audit-*.parquet"))) == 1
    assert {a["alert_id"] for a in stored_alerts(engine)} == set(r.opened)
    assert r.opened


def test_a_work_folder_behind_the_cursor_is_refused(
    setup: tuple[Engine, AuditLog, Conn, Path, Path], tmp_path: Path
) -> None:
    engine, log, reader, ref, work = setup
    log.record_many(_events()[:10])
    run_periodic(engine, reader, ref, work, now=NOW, say=_quiet)
    with pytest.raises(UsageError, match="cursor"):
        run_periodic(engine, reader, ref, tmp_path / "other", now=NOW, say=_quiet)


def test_legacy_logs_join_the_analysis(
    setup: tuple[Engine, AuditLog, Conn, Path, Path], tmp_path: Path
) -> None:
    """A legacy log (mapped onto the events layout) is analysed with the audit log; its
    evidence has no audit-log index; the same file handed again is not read twice."""
    engine, log, reader, ref, work = setup
    events = _events()
    chosen = _ids_of_one_alert(tmp_path)
    legacy = [e for e in events if e["event_id"] in chosen]
    own = [e for e in events if e not in legacy]
    log.record_many(own)
    path = tmp_path / "legacy.jsonl"
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in legacy))
    r = run_periodic(engine, reader, ref, work, now=NOW, say=_quiet, legacy=[path])
    assert r.legacy_files == 1
    idx = {ev["event_id"]: ev["audit_idx"] for a in stored_alerts(engine) for ev in a["evidence"]}
    assert {e["event_id"] for e in legacy} <= set(idx)
    assert all(idx[e["event_id"]] is None for e in legacy)
    r2 = run_periodic(engine, reader, ref, work, now=NOW, say=_quiet, legacy=[path])
    assert (r2.legacy_files, r2.opened, r2.updated) == (0, [], [])


def _ids_of_one_alert(tmp_path: Path) -> set[str]:
    full = scan(world.write(tmp_path / "full1"), say=_quiet).alerts
    return set(full[0]["event_ids"])


def test_cli_monitor_run_twice_opens_nothing_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gridwall.app.cli import main

    url = f"sqlite:///{tmp_path / 'gw.db'}"
    log = open_log(url)
    log.record_many(_events())
    log.close()
    ref = world.write(tmp_path / "ref", events=[])
    args = ["monitor", "run", "--db", url, "--reference", str(ref), "--work", str(tmp_path / "w")]
    _ok(main, args)
    first = capsys.readouterr().err
    assert "alert(s) opened" in first and " 0 alert(s) opened" not in first, first
    _ok(main, args)
    again = capsys.readouterr().err
    assert "0 alert(s) opened, 0 updated" in again, again
    with pytest.raises(SystemExit) as e:
        main([*args[:-1], str(tmp_path / "elsewhere")])
    assert e.value.code == 2
    assert "cursor" in capsys.readouterr().err


def _ok(main: Any, args: list[str]) -> None:
    try:
        main(args)
    except SystemExit as e:
        assert e.code in (0, None), e.code


def test_canary_marked_events_never_alert_in_a_run(
    setup: tuple[Engine, AuditLog, Conn, Path, Path], tmp_path: Path
) -> None:
    """A log mixing canary-marked and real traffic: the misuse of an account whose events
    the server marked canary (e.g. the canary 'retailer reading a competitor') raises no
    alert in ``monitor run``; the same events unmarked do (the control)."""
    engine, log, reader, ref, work = setup
    events = _events()
    full = scan(world.write(tmp_path / "full"), say=_quiet).alerts
    flagged = {a["account_id"] for a in full if a["rule"].startswith("A")} or {
        full[0]["account_id"]
    }
    marked = [{**e, "canary": True} if e["account_id"] in flagged else e for e in events]
    log.record_many(marked)
    run_periodic(engine, reader, ref, work, now=NOW, say=_quiet)
    stored = stored_alerts(engine)
    assert stored  # the real traffic still alerts
    assert not [a for a in stored if a["account_id"] in flagged]
    assert {a["alert_id"] for a in stored} == {
        a["alert_id"] for a in full if a["account_id"] not in flagged
    }


def test_export_refuses_an_entry_that_is_not_an_event_naming_its_index(tmp_path: Path) -> None:
    from gridwall.errors import UsageError
    from gridwall.monitor._periodic import export_part

    ev = b'{"event":{"event_id":"e1","ts":"2026-12-01T00:00:00+00:00","result_count":3},"seq":0}'

    class Reader:
        def size(self) -> int:
            return 2

        def entries(self, lo: int, hi: int) -> list[tuple[int, bytes]]:
            return [(0, ev), (1, b'{"event":"no","seq":1}')][lo:hi]

    with pytest.raises(UsageError, match="audit log entry 1: not an access event"):
        export_part(Reader(), 0, 2, tmp_path / "p.parquet")
    assert not (tmp_path / "p.parquet").exists()
    import pyarrow.parquet as pq

    assert export_part(Reader(), 0, 1, tmp_path / "q.parquet") == 1
    row = pq.read_table(tmp_path / "q.parquet").to_pylist()[0]
    assert row["event_id"] == "e1" and row["result_count"] == 3 and row["audit_idx"] == 0
    assert row["fields"] == [] and row["supply_point_ids"] == []
