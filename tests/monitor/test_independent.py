"""The monitor's quality on worlds it was not written with (issue 16).

:mod:`tests.monitor.independent` shares no code with ``gridwall.synth``: its own region,
organisations, roles, screens, timings and volumes, and the hard negatives that tripped the
rules before (the LRS team inside its agreement, disaster work inside the declaration, exports
back to the operator, correct transfers, desk changes, grant management). A small world in CI;
``bench/monitor/quality.py --independent`` measures bigger ones (figures in
``docs/monitoring.md``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from gridwall.monitor._run import scan

from .independent import generate

ROOT = Path(__file__).resolve().parents[2]
#: issue 16's targets, on worlds the rules were not tuned on
MIN_RECALL, MIN_PRECISION, MIN_TYPE_FIRST = 0.95, 0.95, 0.90


def _quality() -> Any:
    sys.path.insert(0, str(ROOT / "bench" / "monitor"))
    try:
        from quality import quality
    finally:
        sys.path.pop(0)
    return quality


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import json

    d = tmp_path_factory.mktemp("independent") / "ds"
    generate(d, points=1500, days=21, seed=23, per_type=3)
    incidents = [json.loads(x) for x in (d / "incidents.jsonl").read_text().splitlines()]
    q: dict[str, Any] = _quality()(incidents, scan(d, say=lambda _m: None).alerts)
    return q


def test_every_type_is_injected(measured: dict[str, Any]) -> None:
    missing = [t for t, r in measured["per_type"].items() if not r["incidents"]]
    assert not missing, missing


def test_recall_per_type(measured: dict[str, Any]) -> None:
    low = {
        t: r["missed"]
        for t, r in measured["per_type"].items()
        if r["incidents"] and r["recall"] < MIN_RECALL
    }
    assert not low, low


def test_precision(measured: dict[str, Any]) -> None:
    assert measured["precision"] >= MIN_PRECISION, measured["precision"]


def test_right_type_first(measured: dict[str, Any]) -> None:
    assert measured["type_first"] >= MIN_TYPE_FIRST, measured["type_first"]


def test_the_generator_is_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    generate(a, points=300, days=10, seed=5, per_type=1)
    generate(b, points=300, days=10, seed=5, per_type=1)
    for f in sorted(a.iterdir()):
        assert f.read_bytes() == (b / f.name).read_bytes(), f.name
