"""The monthly statement file: every retailer's statement (also with no outside access) for
the month against one signed checkpoint, each exactly its own customers' outside accesses,
an index; a rerun gives the same bytes (pinned to the first run's checkpoint), different
content is refused by name; a bad --month is named."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gridwall.app.reporting import AuditLogView, supply_periods, write_monthly
from gridwall.errors import UsageError
from gridwall.gateway import retailer_kinds
from gridwall.interfaces.events import audit_event
from gridwall.reports import build_statement

from .scenario import FIRST, LAST, Scenario, supplier, tiny
from .test_statement import SECRET, _expected

NOW = datetime(2026, 4, 5, tzinfo=UTC)


def _got(st: dict[str, Any]) -> list[tuple[str, str, tuple[str, ...], str]]:
    return [
        (datetime.fromisoformat(a["ts"]).isoformat(), a["org"], tuple(a["supply_point_ids"]),
         a["decision"])
        for a in st["accesses"]
    ]  # fmt: skip


def test_every_retailer_gets_exactly_its_outside_accesses(
    scenario: Scenario, tmp_path: Path
) -> None:
    state, index = write_monthly(scenario.url, scenario.engine, "2026-03", tmp_path, SECRET, NOW)
    assert state == "written"
    kinds = retailer_kinds(scenario.engine)
    assert [r["retailer"] for r in index["retailers"]] == sorted(kinds) and len(kinds) >= 3
    assert {r["kind"] for r in index["retailers"]} >= {"affiliated", "independent"}
    counts = {}
    for code in kinds:
        st = json.loads(
            (tmp_path / f"statement-{code}-{FIRST}-{LAST}.json").read_text(encoding="utf-8")
        )
        assert st["tree_size"] == index["tree_size"] and st["checkpoint"] == index["checkpoint"]
        assert _got(st) == _expected(scenario, code)
        counts[code] = st["count"]
        for a in st["accesses"]:  # nothing about another retailer's customers
            day = datetime.fromisoformat(a["ts"]).date()
            assert all(supplier(p, day) == code for p in a["supply_point_ids"])
        # the one-pass file is what the single statement gives over the whole log
        view = AuditLogView(scenario.url)
        try:
            alone = build_statement(
                view, supply_periods(scenario.engine), code, FIRST, LAST,
                secret=SECRET, generated_at=NOW,
            )  # fmt: skip
        finally:
            view.close()
        assert st == json.loads(json.dumps(alone, ensure_ascii=False))
    assert counts[tiny.AFF] > 0 and counts[tiny.IND] > 0
    assert {r["retailer"]: r["count"] for r in index["retailers"]} == counts
    # February: only AFF's point was read; the others still get their (empty) statement
    feb = tmp_path / "feb"
    _, findex = write_monthly(scenario.url, scenario.engine, "2026-02", feb, SECRET, NOW)
    assert {r["retailer"]: r["count"] for r in findex["retailers"]} == {
        tiny.AFF: 1, tiny.IND: 0, tiny.IND2: 0,
    }  # fmt: skip
    empty = json.loads((feb / f"statement-{tiny.IND}-2026-02-01-2026-02-28.json").read_text())
    assert empty["accesses"] == [] and empty["checkpoint"] == findex["checkpoint"]
    names = {f["name"] for r in index["retailers"] for f in r["files"]}
    assert names | {"statements-2026-03-index.json", "feb"} == {p.name for p in tmp_path.iterdir()}


def test_rerun_is_identical_and_different_content_is_refused(
    scenario: Scenario, tmp_path: Path
) -> None:
    write_monthly(scenario.url, scenario.engine, "2026-03", tmp_path, SECRET, NOW)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    # the log grows and a newer checkpoint is signed: the month stays on its own checkpoint
    scenario.log.record(
        audit_event(source="cli", ts=NOW, account_id="x", action="login_failed",
                    screen="cli", decision="deny")
    )  # fmt: skip
    scenario.log.checkpoint([scenario.signer])
    later = datetime(2026, 5, 1, tzinfo=UTC)
    state, _ = write_monthly(scenario.url, scenario.engine, "2026-03", tmp_path, SECRET, later)
    assert state == "unchanged"
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    # a removed file comes back byte for byte
    victim = next(n for n in before if n.startswith(f"statement-{tiny.IND}"))
    (tmp_path / victim).unlink()
    assert write_monthly(scenario.url, scenario.engine, "2026-03", tmp_path, SECRET, later)[0] == (
        "written"
    )
    assert (tmp_path / victim).read_bytes() == before[victim]
    # another secret gives other pseudonyms: refused, naming a file, nothing rewritten
    with pytest.raises(UsageError, match=r"statement-.*already issued for 2026-03"):
        write_monthly(scenario.url, scenario.engine, "2026-03", tmp_path, b"x" * 32, later)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_unfinished_or_bad_month_is_refused(scenario: Scenario, tmp_path: Path) -> None:
    from gridwall.app.cli import main

    with pytest.raises(UsageError, match="has not ended"):
        write_monthly(scenario.url, scenario.engine, "2026-04", tmp_path, SECRET, NOW)
    key = tmp_path / "k"
    key.write_text("a test secret of more than sixteen bytes\n")
    for bad in ("2026-13", "2026-3", "March"):
        with pytest.raises(SystemExit) as done:
            main(["report", "statements", "--month", bad, "--out", str(tmp_path / "o"),
                  "--pseudonym-key", str(key), "--db", scenario.url])  # fmt: skip
        assert done.value.code == 2
    assert not (tmp_path / "o").exists()


def test_bad_month_names_the_option(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from gridwall.app.cli import main

    with pytest.raises(SystemExit):
        main(["report", "statements", "--month", "2026-13", "--out", str(tmp_path)])
    assert "--month" in capsys.readouterr().err
