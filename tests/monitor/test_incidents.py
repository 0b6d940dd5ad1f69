"""``gridwall synth --incidents`` ground truth, and the monitor's quality on it."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from gridwall.dataset import INCIDENT_TYPES
from gridwall.monitor._run import scan

ROOT = Path(__file__).resolve().parents[2]


def _synth(d: Path, seed: int = 3) -> Path:
    from gridwall.synth import generate

    generate(d, 4000, 21, seed, incidents=True)
    return d


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _synth(tmp_path_factory.mktemp("synth") / "ds")


def _incidents(d: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (d / "incidents.jsonl").read_text().splitlines()]


def test_every_type_injected_with_real_events(ds: Path) -> None:
    inc = _incidents(ds)
    assert {i["incident_type"] for i in inc} == set(INCIDENT_TYPES)
    ids = {i["incident_id"] for i in inc}
    assert len(ids) == len(inc)
    import duckdb

    con = duckdb.connect()
    known = {
        r[0]
        for r in con.execute(
            f"SELECT event_id FROM read_csv('{ds / 'events.csv'}', all_varchar=true)"
        ).fetchall()
    }
    for i in inc:
        assert i["event_ids"] and set(i["event_ids"]) <= known, i["incident_id"]
        assert set(i) >= {"incident_id", "incident_type", "event_ids", "account_id", "person_id"}


def test_injection_is_deterministic(ds: Path, tmp_path: Path) -> None:
    again = _synth(tmp_path / "again")
    for name in ("incidents.jsonl", "events.csv", "disasters.csv"):
        assert (
            hashlib.sha256((ds / name).read_bytes()).hexdigest()
            == hashlib.sha256((again / name).read_bytes()).hexdigest()
        ), name


def test_quality_targets(ds: Path) -> None:
    sys.path.insert(0, str(ROOT / "bench" / "monitor"))
    try:
        from quality import quality
    finally:
        sys.path.pop(0)
    alerts = scan(ds, say=lambda _m: None).alerts
    q = quality(_incidents(ds), alerts)
    low = {
        t: r["recall"] for t, r in q["per_type"].items() if r["incidents"] and r["recall"] < 0.95
    }
    assert not low, low
    assert q["precision"] >= 0.90
