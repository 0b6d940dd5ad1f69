"""The scan on a small hand-built operator: every type found, hard negatives silent."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from gridwall.errors import InputError, UsageError
from gridwall.monitor._run import scan, write_alerts

from . import world


def _quiet(_: str) -> None:
    pass


def _by_type(alerts: list[dict[str, Any]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for a in alerts:
        out.setdefault(a["incident_type"], set()).add(a["account_id"])
    return out


def _canon(alerts: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(a, sort_keys=True, ensure_ascii=False) for a in alerts)


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    d = world.write(tmp_path_factory.mktemp("w") / "ds")
    return scan(d, say=_quiet).alerts


def test_every_type_found_and_hard_negatives_silent(full: list[dict[str, Any]]) -> None:
    assert _by_type(full) == world.EXPECTED
    for (typ, acc), rel in world.RELATED.items():
        lead = [a for a in full if a["incident_type"] == typ and a["account_id"] == acc]
        assert {r["incident_type"] for a in lead for r in a["related"]} >= rel, (typ, acc)


def test_one_classification_per_event(full: list[dict[str, Any]]) -> None:
    """Several rules on one event: only the most specific type leads it; the rest are
    listed as related on that alert, never as alerts of their own on the same event."""
    from gridwall.monitor.rules import SPECIFICITY

    rank = {t: k for k, t in enumerate(SPECIFICITY)}
    types: dict[str, set[str]] = {}
    for a in full:
        for e in a["event_ids"]:
            types.setdefault(e, set()).add(a["incident_type"])
        for r in a["related"]:
            assert rank[r["incident_type"]] > rank[a["incident_type"]], (a["rule"], r)
            assert set(r["event_ids"]) <= set(a["event_ids"]), (a["rule"], r)
    assert all(len(t) == 1 for t in types.values()), {e: t for e, t in types.items() if len(t) > 1}


def test_alert_shape(full: list[dict[str, Any]]) -> None:
    from gridwall.dataset import ALERT_FIELDS, INCIDENT_TYPES

    ids = set()
    for a in full:
        assert tuple(a) == ALERT_FIELDS
        assert a["incident_type"] in INCIDENT_TYPES and 1 <= a["severity"] <= 5
        assert a["event_ids"] == sorted(set(a["event_ids"])) and a["event_ids"]
        assert " / " in a["summary"] and "\n" not in a["summary"]
        assert datetime.fromisoformat(a["first_ts"]) <= datetime.fromisoformat(a["last_ts"])
        assert (a["rule"], a["account_id"]) not in ids
        ids.add((a["rule"], a["account_id"]))
    c1 = next(a for a in full if a["incident_type"] == "C1")
    assert c1["supply_point_ids"] == [world.sp(1), world.sp(2), world.sp(3)]
    assert c1["person_id"] == "p_it" and c1["org"] == "contractor:IT01"


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_formats_agree(fmt: str, tmp_path: Path, full: list[dict[str, Any]]) -> None:
    d = world.write(tmp_path / "ds", fmt)
    assert _canon(scan(d, say=_quiet).alerts) == _canon(full)


def _split_world(
    tmp_path: Path, cut: datetime
) -> tuple[Path, list[dict[str, Any]], list[dict[str, Any]]]:
    d = world.write(tmp_path / "ds", events=[])
    (d / "events.csv").unlink()
    evs = sorted(world.world()["events"], key=lambda e: e["ts"])
    return d, [e for e in evs if e["ts"] < cut], [e for e in evs if e["ts"] >= cut]


def test_incremental_equals_full(tmp_path: Path, full: list[dict[str, Any]]) -> None:
    # cut in the middle of a day, and again later: three periodic scans
    cuts = [world.t(12, 13, 30), world.t(22, 12, 0)]
    d, first, rest = _split_world(tmp_path, cuts[0])
    second = [e for e in rest if e["ts"] < cuts[1]]
    third = [e for e in rest if e["ts"] >= cuts[1]]
    (d / "events").mkdir()
    state = tmp_path / "state.duckdb"
    world.write_events(d / "events" / "part1.parquet", first)
    r1 = scan(d, state=state, say=_quiet)
    assert r1.alerts and len(r1.alerts) < len(full)
    world.write_events(d / "events" / "part2.jsonl", second)
    scan(d, state=state, say=_quiet)
    world.write_events(d / "events" / "part3.parquet", third)
    r3 = scan(d, state=state, say=_quiet)
    assert _canon(r3.alerts) == _canon(full)
    # nothing new: same answer
    assert _canon(scan(d, state=state, say=_quiet).alerts) == _canon(full)


def test_appended_csv_rows_are_read_once(tmp_path: Path, full: list[dict[str, Any]]) -> None:
    d, first, rest = _split_world(tmp_path, world.t(15, 12, 0))
    state = tmp_path / "state.duckdb"
    world.write_events(d / "events.csv", first)
    scan(d, state=state, say=_quiet)
    (tmp_path / "more").mkdir()
    world.write_events(tmp_path / "more" / "events.csv", rest)
    body = (tmp_path / "more" / "events.csv").read_text(encoding="utf-8").split("\n", 1)[1]
    with (d / "events.csv").open("a", encoding="utf-8") as f:
        f.write(body)
    assert _canon(scan(d, state=state, say=_quiet).alerts) == _canon(full)


def test_late_events_for_a_closed_day_are_refused(tmp_path: Path) -> None:
    d, first, _rest = _split_world(tmp_path, world.t(15, 12, 0))
    (d / "events").mkdir()
    state = tmp_path / "state.duckdb"
    world.write_events(d / "events" / "a.parquet", first)
    scan(d, state=state, say=_quiet)
    late = [e for e in first if e["ts"] < world.t(10)][:3]
    late = [{**e, "event_id": e["event_id"] + "L"} for e in late]
    world.write_events(d / "events" / "b.parquet", late)
    with pytest.raises(UsageError, match="closed"):
        scan(d, state=state, say=_quiet)


def test_bad_event_row_names_file_line_field(tmp_path: Path) -> None:
    d = world.write(tmp_path / "ds")
    lines = (d / "events.csv").read_text(encoding="utf-8").splitlines()
    cells = lines[3].split(",")
    cells[1] = "2026-04-01T09:00:00"  # no offset
    lines[3] = ",".join(cells)
    (d / "events.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as e:
        scan(d, say=_quiet)
    assert e.value.where is not None
    assert (e.value.where.file, e.value.where.line, e.value.where.field) == ("events.csv", 4, "ts")


def test_missing_required_column(tmp_path: Path) -> None:
    d = world.write(tmp_path / "ds")
    text = (d / "accounts.csv").read_text(encoding="utf-8").replace("account_id", "acct", 1)
    (d / "accounts.csv").write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match="account_id"):
        scan(d, say=_quiet)


def test_cli_scan_writes_alerts(tmp_path: Path, full: list[dict[str, Any]]) -> None:
    from gridwall.app.cli import main

    d = world.write(tmp_path / "ds")
    out = tmp_path / "alerts.jsonl"
    with pytest.raises(SystemExit) as e:
        main(["monitor", "scan", str(d), "--out", str(out)])
    assert e.value.code == 0
    got = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert _canon(got) == _canon(full)
    with pytest.raises(SystemExit) as e:
        main(["monitor", "scan", str(tmp_path / "nope"), "--out", str(out)])
    assert e.value.code == 2


def test_write_alerts_is_atomic(tmp_path: Path, full: list[dict[str, Any]]) -> None:
    out = tmp_path / "a.jsonl"
    write_alerts(full, out)
    assert len(out.read_text(encoding="utf-8").splitlines()) == len(full)
    assert not (tmp_path / "a.jsonl.tmp").exists()


@pytest.mark.spark
def test_spark_gives_identical_alerts(tmp_path: Path, full: list[dict[str, Any]]) -> None:
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("no Java runtime")
    d = world.write(tmp_path / "ds")
    assert _canon(scan(d, engine="spark", say=_quiet).alerts) == _canon(full)


def test_unknown_engine(tmp_path: Path) -> None:
    d = world.write(tmp_path / "ds")
    with pytest.raises(UsageError, match="engine"):
        scan(d, engine="oracle", say=_quiet)


_ = (timedelta, timezone)
