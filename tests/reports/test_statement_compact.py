"""The compact statement (``--proofs compact``): the same rows without a proof each and one
multiproof for all of them, checked by ``python -m gridwall.audit.standalone
statement-check`` with only the public key; a wrong, truncated or padded multiproof, a row
altered, removed or moved, another key all fail, as do altered full-form proofs."""

from __future__ import annotations

import base64
import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gridwall.app.reporting import AuditLogView, dump_json, supply_periods
from gridwall.audit import note
from gridwall.audit.standalone import main as standalone
from gridwall.errors import UsageError
from gridwall.reports import build_statement

from .scenario import FIRST, LAST, Scenario, tiny
from .test_statement_proofs import GENERATED, SECRET


def _statement(sc: Scenario, retailer: str, proofs: str) -> dict[str, Any]:
    view = AuditLogView(sc.url)
    try:
        return build_statement(
            view, supply_periods(sc.engine), retailer, FIRST, LAST,
            secret=SECRET, generated_at=GENERATED, proofs=proofs,
        )  # fmt: skip
    finally:
        view.close()


def _check(
    tmp: Path, st: dict[str, Any], key: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    f = tmp / "statement.json"
    f.write_text(dump_json(st), encoding="utf-8")
    k = tmp / "operator.vkey"
    k.write_text(key + "\n")
    rc = standalone(["statement-check", str(f), str(k)])
    return rc, capsys.readouterr().out


def _flip(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("retailer", [tiny.AFF, tiny.IND])
def test_compact_statement_checks_and_a_bad_multiproof_fails(
    scenario: Scenario, retailer: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = scenario.signer.verifier.text()
    full = _statement(scenario, retailer, "full")
    st = _statement(scenario, retailer, "compact")
    # the same statement, rows without their proofs, plus one multiproof
    assert "multiproof" not in full
    bare = copy.deepcopy(full)
    for a in bare["accesses"]:
        del a["inclusion_proof"]
    assert {k: v for k, v in st.items() if k != "multiproof"} == bare
    hashes = st["multiproof"]["hashes"]
    assert st["multiproof"]["form"] == "rfc9162-multiproof/1"
    assert len(st["accesses"]) >= 2
    assert 0 < len(hashes) < sum(len(a["inclusion_proof"]) for a in full["accesses"])

    assert _check(tmp_path, full, key, capsys)[0] == 0
    rc, out = _check(tmp_path, st, key, capsys)
    assert rc == 0 and f"all {st['count']} rows" in out and "multiproof" in out

    def fails(mutate: Any, why: str) -> None:
        bad = copy.deepcopy(st)
        mutate(bad)
        rc, out = _check(tmp_path, bad, key, capsys)
        assert rc == 1 and why in out, out

    fails(lambda s: s["multiproof"]["hashes"].pop(), "truncated")
    fails(lambda s: s["multiproof"]["hashes"].append(s["root_hash"]), "too many")
    for i in (0, len(hashes) - 1):
        fails(lambda s, i=i: s["multiproof"]["hashes"].__setitem__(i, _flip(hashes[i])), "root")
    fails(
        lambda s: s["accesses"][0].__setitem__("leaf_hash", _flip(s["accesses"][0]["leaf_hash"])),
        "root",
    )

    def drop_row(s: dict[str, Any]) -> None:
        s["accesses"].pop(0)
        s["count"] -= 1

    fails(drop_row, "multiproof")

    def move_row(s: dict[str, Any]) -> None:
        a = s["accesses"][-1]
        a["index"] += 1 if a["index"] + 1 < s["tree_size"] else -1

    fails(move_row, "multiproof")
    fails(lambda s: s["multiproof"].__setitem__("form", "other"), "unknown form")
    fails(lambda s: s.__setitem__("tree_size", s["tree_size"] + 1), "tree_size")
    # another operator key: the checkpoint does not open
    other = note.generate_signer("test.example/audit").verifier.text()
    rc, out = _check(tmp_path, st, other, capsys)
    assert rc == 1 and "checkpoint" in out


def test_full_statement_with_an_altered_proof_fails_naming_the_row(
    scenario: Scenario, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    st = _statement(scenario, tiny.IND, "full")
    row = st["accesses"][-1]
    row["inclusion_proof"][0] = _flip(row["inclusion_proof"][0])
    rc, out = _check(tmp_path, st, scenario.signer.verifier.text(), capsys)
    n = len(st["accesses"]) - 1
    assert rc == 1 and f"row {n} (index {row['index']}): not in the signed log" in out


def test_unreadable_statement_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "s.json"
    f.write_text("{not json")
    k = tmp_path / "k.vkey"
    k.write_text(note.generate_signer("x.example/a").verifier.text())
    assert standalone(["statement-check", str(f), str(k)]) == 2
    assert str(f) in capsys.readouterr().err


def test_bad_proof_form_names_the_option(
    scenario: Scenario, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match="--proofs"):
        _statement(scenario, tiny.IND, "tiny")
    from gridwall.app.cli import main

    with pytest.raises(SystemExit):
        main(["report", "statement", "--retailer", "B0001", "--from", "2026-03-01",
              "--to", "2026-03-31", "--out", str(tmp_path), "--proofs", "tiny"])  # fmt: skip
    assert "--proofs" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_statement_check_uses_only_stdlib_and_cryptography(
    scenario: Scenario, tmp_path: Path
) -> None:
    st = _statement(scenario, tiny.IND, "compact")
    f = tmp_path / "statement.json"
    f.write_text(dump_json(st), encoding="utf-8")
    k = tmp_path / "operator.vkey"
    k.write_text(scenario.signer.verifier.text() + "\n")
    code = (
        "import sys\n"
        "from gridwall.audit.standalone import main\n"
        f"rc = main(['statement-check', {str(f)!r}, {str(k)!r}])\n"
        "heavy = sorted(m for m in ('sqlalchemy', 'psycopg', 'fastapi', 'cedarpy',"
        " 'gridwall.reports', 'gridwall.interfaces', 'gridwall.audit._db') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
        "sys.exit(rc)\n"
    )
    ok = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and ok.stdout.startswith("OK: all"), ok.stdout + ok.stderr
