"""The disaster after-action report over a seeded typhoon (tests/reports/disaster_scenario.py),
on SQLite and PostgreSQL: exact counts inside and outside the area, the concurrent
declaration's points set apart, the refused access after the end, the attestation present
and the one missing; every figure recomputed by the standalone checker, a tampered export
fails; the PDF's Japanese text read back with pdftotext; the command and the --due path."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gridwall.app.reporting import build_disaster, disaster_files, due_disasters
from gridwall.audit import note
from gridwall.audit._export import export
from gridwall.audit._report_check import check_report
from gridwall.errors import UsageError
from gridwall.reports import disaster_pdf

from .disaster_scenario import (
    AFF,
    CHIYODA,
    IND,
    MINATO,
    NOWHERE,
    SAPPORO,
    SHINJUKU,
    DisasterScenario,
    build,
    expected,
)
from .test_render import SHOTS, _require_poppler


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def sc(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DisasterScenario]:
    tmp = tmp_path_factory.mktemp("disaster")
    if request.param == "sqlite":
        s = build(f"sqlite:///{tmp / 'gridwall.db'}", tmp)
        yield s
        s.log.close()
        s.engine.dispose()
        return
    from sqlalchemy import create_engine, text

    server = request.getfixturevalue("_pg_server")
    name = f"gw_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        s = build(f"{server.rsplit('/', 1)[0]}/{name}", tmp)
        yield s
        s.log.close()
        s.engine.dispose()
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module")
def rep(sc: DisasterScenario) -> dict[str, Any]:
    return build_disaster(sc.url, sc.engine, "TY", sc.end + timedelta(hours=20))


def _rows(rep: dict[str, Any], name: str) -> dict[tuple[Any, ...], int]:
    fig = next(f for f in rep["figures"] if f["name"] == name)
    return {tuple(r["key"]): r["value"] for r in fig["result"]}


def _count(accesses: list[Any]) -> dict[tuple[Any, ...], int]:
    out: dict[tuple[Any, ...], int] = {}
    for a in accesses:
        out[(a.org, a.decision)] = out.get((a.org, a.decision), 0) + 1
    return out


def _under(sc: DisasterScenario) -> list[Any]:
    return [a for a in expected(sc, purpose="disaster_support") if a.when < sc.end]


def test_counts_inside_and_outside_the_area_are_exact(
    sc: DisasterScenario, rep: dict[str, Any]
) -> None:
    under = _under(sc)
    assert len(under) == 8
    inside = [a for a in under if a.point in (CHIYODA, SAPPORO)]
    outside = [a for a in under if a.point in (MINATO, NOWHERE)]
    other = [a for a in under if a.point == SHINJUKU]
    assert _rows(rep, "inside_area_by_org_decision") == _count(inside) == {
        (AFF, "allow"): 3, (IND, "allow"): 1,
    }  # fmt: skip
    assert _rows(rep, "outside_area_by_org_decision") == _count(outside) == {
        (AFF, "deny"): 1, (IND, "deny"): 2,
    }  # fmt: skip
    assert _rows(rep, "outside_area_points_by_decision") == {("deny",): 2}
    assert _rows(rep, "other_declaration_by_org_decision") == _count(other) == {(IND, "allow"): 1}
    total = _rows(rep, "accesses_by_org_decision")
    assert {k[1:]: v for k, v in total.items()} == _count(under)
    # the customer_service read from the same terminal is not an access under the declaration
    assert sum(total.values()) == 8


def test_who_from_which_terminal_and_what(sc: DisasterScenario, rep: dict[str, Any]) -> None:
    by_person = _rows(rep, "accesses_by_person")
    assert by_person == {
        (AFF, "aff-1", "allow"): 2, (AFF, "aff-1", "deny"): 1, (AFF, "aff-2", "allow"): 1,
        (IND, "ind-1", "allow"): 2, (IND, "ind-1", "deny"): 2,
    }  # fmt: skip
    terminals = _rows(rep, "accesses_by_terminal")
    assert {k[1] for k in terminals} == {"dt-aff-1", "dt-aff-2", "dt-ind-1"}
    assert terminals[(AFF, "dt-aff-1", "allow")] == 2
    assert _rows(rep, "points_by_person") == {
        (AFF, "aff-1"): 2, (AFF, "aff-2"): 1, (IND, "ind-1"): 2,
    }  # fmt: skip
    fields = {k[1] for k in _rows(rep, "fields_by_org")}
    assert fields <= {"supply_point_id", "contract_name", "address", "phone"}
    assert {"contract_name", "address", "phone"} <= fields


def test_after_the_end_only_refusals_and_attestations(
    sc: DisasterScenario, rep: dict[str, Any]
) -> None:
    # the EQ access after TY's end is EQ's, not TY's
    assert _rows(rep, "after_end_by_org_decision") == {(AFF, "deny"): 1}
    assert [a["org"] for a in rep["attestations"]] == [AFF]
    att = rep["attestations"][0]
    assert att["in_log"] and att["attested_by"] == "acct-aff-1" and att["copies"] == 2
    cp = note.open_checkpoint(rep["checkpoint"], [sc.signer.verifier])
    from gridwall.audit import merkle

    assert merkle.verify_inclusion(
        __import__("base64").b64decode(att["leaf_hash"]), att["index"], cp.size,
        [__import__("base64").b64decode(h) for h in att["inclusion_proof"]], cp.root,
    )  # fmt: skip
    assert rep["attestations_outstanding"] == [IND]
    assert [(f["org"], f["en"]) for f in rep["findings"]] == [
        (IND, "deletion attestation outstanding")
    ]
    assert rep["declaration"]["ended_by"] == "nw-alice"


def _files(sc: DisasterScenario, rep: dict[str, Any], tmp: Path) -> tuple[Path, Path, Path]:
    report = tmp / "disaster-TY.json"
    report.write_text(json.dumps(rep, ensure_ascii=False), encoding="utf-8")
    exp = tmp / "export.jsonl"
    export(sc.url, 0, rep["tree_size"], exp)
    key = tmp / "audit.pub"
    key.write_text(sc.signer.verifier.text() + "\n")
    return exp, report, key


def test_report_check_recomputes_every_figure_and_a_tampered_export_fails(
    sc: DisasterScenario, rep: dict[str, Any], tmp_path: Path
) -> None:
    exp, report, key = _files(sc, rep, tmp_path)
    verifiers = [note.Verifier.parse(key.read_text().strip())]
    ok = check_report(exp, report, verifiers)
    assert ok.ok, ok.problems
    assert ok.figures == len(rep["figures"]) == 11 and ok.differ == []
    lines = exp.read_text(encoding="utf-8").splitlines(keepends=True)
    for i, line in enumerate(lines[1:], 1):  # the refused read of 港区 by AFF: make it allowed
        entry = json.loads(json.loads(line)["entry"])
        ev = entry["event"]
        if ev["supply_point_ids"] == [MINATO] and ev["org"] == AFF:
            ev["decision"] = "allow"
            row = json.loads(line)
            row["entry"] = json.dumps(entry, ensure_ascii=False, sort_keys=True,
                                      separators=(",", ":"))  # fmt: skip
            lines[i] = json.dumps(row, ensure_ascii=False) + "\n"
            break
    else:
        raise AssertionError("the outside read is not in the export")
    exp.write_text("".join(lines), encoding="utf-8")
    bad = check_report(exp, report, verifiers)
    assert not bad.ok
    assert "outside_area_by_org_decision" in bad.differ
    assert "accesses_by_org_decision" in bad.differ


def test_an_allowed_access_outside_the_area_is_a_finding(rep: dict[str, Any]) -> None:
    from gridwall.reports._disaster import findings

    edited = json.loads(json.dumps(rep))
    fig = next(f for f in edited["figures"] if f["name"] == "outside_area_by_org_decision")
    fig["result"].append({"key": [IND, "allow"], "value": 1})
    got = [f for f in findings(edited) if f["figure"] == "outside_area_by_org_decision"]
    assert got == [{"figure": "outside_area_by_org_decision", "org": IND, "count": 1,
                    "ja": "区域外の地点への許可されたアクセス",
                    "en": "allowed access to a point outside the area"}]  # fmt: skip


def test_pdf_and_html_carry_the_japanese_text(rep: dict[str, Any], tmp_path: Path) -> None:
    files = disaster_files(rep)
    page = str(files["disaster-TY.html"])
    assert "非常災害 事後報告" in page and "url(data:font/ttf;base64," in page
    for f in rep["figures"]:
        assert f["title_ja"] in page
    _require_poppler()
    pdf = tmp_path / "disaster-TY.pdf"
    pdf.write_bytes(disaster_pdf(rep))
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    flat = "".join(text.split())
    for want in ("非常災害事後報告", "宣言区域の内と外", "削除証明", "東京都/千代田区", "未提出"):
        assert want in flat, want
    for f in rep["figures"]:
        assert "".join(f["title_ja"].split()) in flat, f["name"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(SHOTS / "disaster")],
        check=True, capture_output=True,
    )  # fmt: skip
    assert sorted(SHOTS.glob("disaster*.png"))


def test_refused_while_running_or_before_a_checkpoint_covers_the_end(
    sc: DisasterScenario,
) -> None:
    with pytest.raises(UsageError, match="has not ended yet"):
        build_disaster(sc.url, sc.engine, "EQ", sc.end + timedelta(hours=20))
    with pytest.raises(UsageError, match="no declaration 'NOPE'"):
        build_disaster(sc.url, sc.engine, "NOPE", sc.end)


def test_the_command_and_the_due_run(sc: DisasterScenario, tmp_path: Path) -> None:
    from gridwall.app.cli import main

    out = tmp_path / "r"
    with pytest.raises(SystemExit) as done:
        main(["report", "disaster", "--declaration", "TY", "--out", str(out), "--db", sc.url])
    assert done.value.code == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["disaster-TY.html", "disaster-TY.json", "disaster-TY.pdf"]
    # --due writes what is missing and leaves a written report alone
    due = tmp_path / "due"
    first = due_disasters(sc.url, sc.engine, due, sc.end + timedelta(hours=200))
    # EQ has ended by then, but no signed entry reaches past its end yet: it waits
    states = {d: (s, w) for d, s, w in first}
    assert states["TY"][0] == "written" and states["EQ"][0] == "waiting"
    assert "does not reach past the end" in states["EQ"][1]
    assert not (due / "disaster-EQ.json").exists()
    before = (due / "disaster-TY.json").read_bytes()
    again = due_disasters(sc.url, sc.engine, due, sc.end + timedelta(hours=300))
    assert [(d, s) for d, s, _ in again] == [("EQ", "waiting")]
    assert (due / "disaster-TY.json").read_bytes() == before
    with pytest.raises(SystemExit) as bad:
        main(["report", "disaster", "--out", str(out), "--db", sc.url])
    assert bad.value.code == 2


def test_a_long_point_list_is_matched_as_a_set() -> None:
    """The area figures list every point the declaration touched; a large disaster lists
    tens of thousands, so a filter's list must not be scanned per event (quadratic: ~30 s
    here when it was; a set: well under a second)."""
    import time

    from gridwall import figures

    n = 50_000
    pts = [f"{i:022d}" for i in range(n)]
    evs = [
        {"event_id": "gw-1", "ts": "2026-09-01T01:00:00+00:00", "purpose": "disaster_support",
         "supply_point_ids": [p], "org": AFF, "decision": "allow"}
        for p in pts
    ]  # fmt: skip
    query = {"where": {"purpose": "disaster_support", "supply_point": pts[::2]},
             "group_by": ["org"]}  # fmt: skip
    t = time.perf_counter()
    assert figures.evaluate(query, evs) == [{"key": [AFF], "value": n // 2}]
    assert time.perf_counter() - t < 8
