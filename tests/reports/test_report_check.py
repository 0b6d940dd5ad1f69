"""Every figure of a periodic report is recomputed from an audit export by the standalone
checker (standard library + cryptography); an export altered, cut or padded afterwards, or
a figure edited in the report, fails the check and the differing figures are named."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gridwall.app.reporting import AuditLogView
from gridwall.audit import note
from gridwall.audit._export import export
from gridwall.audit._report_check import check_report
from gridwall.interfaces.clock import JST
from gridwall.reports import build_figures_report

from .scenario import FIRST, LAST, Scenario

ACCESSES = "accesses_by_org_kind_purpose_decision_month"
VOLUNTARY = "voluntary_selfreports_by_month_kind"


@pytest.fixture
def files(scenario: Scenario, tmp_path: Path) -> Iterator[tuple[Path, Path, Path]]:
    view = AuditLogView(scenario.url)
    try:
        rep = build_figures_report(view, FIRST, LAST, generated_at=datetime(2026, 4, 5, tzinfo=UTC))
    finally:
        view.close()
    report = tmp_path / "report.json"
    report.write_text(json.dumps(rep, ensure_ascii=False), encoding="utf-8")
    exp = tmp_path / "export.jsonl"
    export(scenario.url, 0, rep["tree_size"], exp)
    key = tmp_path / "audit.pub"
    key.write_text(scenario.signer.verifier.text() + "\n")
    yield exp, report, key


def _lines(p: Path) -> list[str]:
    return p.read_text(encoding="utf-8").splitlines(keepends=True)


def _check(files: tuple[Path, Path, Path]) -> Any:
    exp, report, key = files
    return check_report(exp, report, [note.Verifier.parse(key.read_text().strip())])


def test_every_figure_recomputes_from_the_export(
    scenario: Scenario, files: tuple[Path, Path, Path]
) -> None:
    res = _check(files)
    assert res.ok, res.problems
    assert res.figures == 12 and res.differ == []
    rep = json.loads(files[1].read_text(encoding="utf-8"))
    # the figure itself against the test's own record of what it did (an oracle)
    fig = next(f for f in rep["figures"] if f["name"] == ACCESSES)
    in_period = [a for a in scenario.accesses if FIRST <= a.when.astimezone(JST).date() <= LAST]
    assert sum(r["value"] for r in fig["result"]) == len(in_period)
    denied = sum(r["value"] for r in fig["result"] if r["key"][3] == "deny")
    assert denied == sum(a.decision == "deny" for a in in_period) > 0


def test_selfreports_are_their_own_figure_and_carry_no_reporter(
    scenario: Scenario, files: tuple[Path, Path, Path]
) -> None:
    rep = json.loads(files[1].read_text(encoding="utf-8"))
    fig = next(f for f in rep["figures"] if f["name"] == VOLUNTARY)
    march = [k for t, k in scenario.selfreports if FIRST <= t.astimezone(JST).date() <= LAST]
    want = {("2026-03", k): march.count(k) for k in set(march)}
    assert {tuple(r["key"]): r["value"] for r in fig["result"]} == want
    # counted apart: no access figure counts a self-report
    acc = next(f for f in rep["figures"] if f["name"] == ACCESSES)
    assert sum(r["value"] for r in acc["result"]) == sum(
        FIRST <= a.when.astimezone(JST).date() <= LAST for a in scenario.accesses
    )
    # the events the figure is derived from name nobody and hold no contact
    exp = files[0]
    for line in _lines(exp)[1:]:
        ev = json.loads(json.loads(line)["entry"])["event"]
        if ev.get("screen") == "selfreport.submit":
            assert not any(ev.get(k) for k in ("account_id", "person_id", "org", "source_ip"))
            assert "内線" not in line


def test_a_tampered_selfreport_event_fails_naming_the_voluntary_figure(
    files: tuple[Path, Path, Path],
) -> None:
    exp = files[0]
    lines = _lines(exp)
    for i, line in enumerate(lines[1:], 1):
        row = json.loads(line)
        entry = json.loads(row["entry"])
        if entry["event"].get("report_kind") == "terminal_left_open":
            entry["event"]["report_kind"] = "other"
            row["entry"] = json.dumps(entry, ensure_ascii=False, sort_keys=True,
                                      separators=(",", ":"))  # fmt: skip
            lines[i] = json.dumps(row, ensure_ascii=False) + "\n"
            break
    else:
        raise AssertionError("no self-report event in the export")
    exp.write_text("".join(lines), encoding="utf-8")
    res = _check(files)
    assert not res.ok and res.differ == [VOLUNTARY], res.differ
    assert any(p.startswith("export") for p in res.problems)


def _entry_line(lines: list[str], decision: str) -> int:
    for i, line in enumerate(lines[1:], 1):
        ev = json.loads(json.loads(line)["entry"])["event"]
        if ev["decision"] == decision and ev["ts"].startswith("2026-03-2"):
            return i
    raise AssertionError("no such entry")


def _tamper(lines: list[str], i: int) -> str:
    row = json.loads(lines[i])
    entry = json.loads(row["entry"])
    entry["event"]["decision"] = "deny"
    row["entry"] = json.dumps(entry, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return json.dumps(row, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("how", ["altered", "removed", "inserted"])
def test_a_tampered_export_fails_and_names_the_figures(
    files: tuple[Path, Path, Path], how: str
) -> None:
    exp = files[0]
    lines = _lines(exp)
    i = _entry_line(lines, "allow")
    if how == "altered":
        lines[i] = _tamper(lines, i)
    elif how == "removed":
        del lines[i]
    else:
        lines.insert(i, lines[i])
    exp.write_text("".join(lines), encoding="utf-8")
    res = _check(files)
    assert not res.ok
    assert ACCESSES in res.differ
    assert any(p.startswith("export") for p in res.problems)


def test_an_edited_figure_is_named_alone(files: tuple[Path, Path, Path]) -> None:
    report = files[1]
    rep = json.loads(report.read_text(encoding="utf-8"))
    fig = next(f for f in rep["figures"] if f["name"] == "denials_by_org_kind_policy")
    fig["result"][0]["value"] += 1
    report.write_text(json.dumps(rep, ensure_ascii=False), encoding="utf-8")
    res = _check(files)
    assert not res.ok and res.differ == ["denials_by_org_kind_policy"]


def test_another_key_is_refused(files: tuple[Path, Path, Path]) -> None:
    exp, report, _ = files
    other = note.generate_signer("test.example/audit").verifier
    res = check_report(exp, report, [other])
    assert not res.ok and "checkpoint" in res.problems[0]


def test_command_line_uses_only_stdlib_and_cryptography(files: tuple[Path, Path, Path]) -> None:
    exp, report, key = files
    code = (
        "import sys\n"
        "from gridwall.audit.standalone import main\n"
        f"rc = main(['report-check', {str(exp)!r}, {str(report)!r}, {str(key)!r}])\n"
        "heavy = sorted(m for m in ('sqlalchemy', 'fastapi', 'cedarpy', 'gridwall.reports',"
        " 'gridwall.interfaces') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
        "sys.exit(rc)\n"
    )
    ok = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("OK: all 12 figures")
    lines = _lines(exp)
    lines[_entry_line(lines, "allow")] = _tamper(lines, _entry_line(lines, "allow"))
    exp.write_text("".join(lines), encoding="utf-8")
    bad = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert bad.returncode == 1
    assert f"figure differs: {ACCESSES}" in bad.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "gridwall.audit.standalone", "report-check", str(exp),
         str(exp.with_name("nope.json")), str(key)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert missing.returncode == 2 and "nope.json" in missing.stderr


def test_a_whole_tree_export_is_hashed_as_it_streams_and_a_modified_entry_is_named(
    files: tuple[Path, Path, Path],
) -> None:
    """The export of the whole tree is verified in one streaming read; an altered entry
    still fails, and the second read (exported leaf hashes) names it."""
    from gridwall.audit.standalone import verify_export

    exp, _, key = files
    keys = [note.Verifier.parse(key.read_text().strip())]
    assert verify_export(exp, keys).ok
    lines = _lines(exp)
    i = _entry_line(lines, "allow")
    lines[i] = _tamper(lines, i)
    exp.write_text("".join(lines), encoding="utf-8")
    seen: list[Any] = []
    ver = verify_export(exp, keys, lambda idx, text, obj: seen.append(idx))
    assert not ver.ok and ver.first_bad == i - 1
    assert f"entry {i - 1} was modified" in ver.problems[0]
    assert seen == list(range(len(lines) - 1))  # the hook saw every row once
