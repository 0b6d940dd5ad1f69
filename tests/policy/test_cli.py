"""`gridwall policy check` / `explain`: output shapes and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gridwall.app.cli import main

from .test_engine import CEDAR


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(argv)
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


def test_check_json_passes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["policy", "check", "--json", "--samples", "20"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["ok"] is True
    i15 = [f"I15{c}" for c in "abcdefghij"]
    i16 = [f"I16{c}" for c in "abcdefgh"]
    ids = [f"I{i}" for i in range(1, 15)] + ["I17"] + i15 + i16
    assert [r["id"] for r in doc["invariants"]] == ids
    assert doc["management"]["ok"] is True and doc["management"]["classes"] > 0
    assert doc["cases"]["ok"] is True and doc["cases"]["classes"] > 0
    assert all(r["violations"] == 0 for r in doc["invariants"])


def test_check_fails_with_counterexample(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for f in CEDAR.iterdir():
        if not f.is_file():
            continue
        text = f.read_text()
        if f.name == "guards.cedar":  # remove the I6 guard
            start = text.index('@id("forbid-inactive-account")')
            text = text[:start] + text[text.index("};", start) + 2 :]
        (tmp_path / f.name).write_text(text)
    code, out, err = run(["policy", "check", "--policies", str(tmp_path), "--samples", "0"], capsys)
    assert code == 1
    assert "I6 counterexample" in out
    assert "violated I6" in err


def test_check_fails_without_the_canary_fence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without ``forbid-canary-fence`` a canary principal reads real points by the ordinary
    permits (and real principals canary points): I17 fails with a counterexample."""
    for f in CEDAR.iterdir():
        if not f.is_file():
            continue
        text = f.read_text()
        if f.name == "guards.cedar":
            start = text.index('@id("forbid-canary-fence")')
            text = text[:start] + text[text.index("};", start) + 2 :]
        (tmp_path / f.name).write_text(text)
    code, out, err = run(["policy", "check", "--policies", str(tmp_path), "--samples", "0"], capsys)
    assert code == 1
    assert "I17 counterexample" in out and "violated I17" in err
    assert "I4 counterexample" not in out  # I4 defers to the fence, nothing else breaks


def test_check_fails_on_a_broken_management_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--policies DIR`` checks ``DIR/manage/`` too: without the self-approval guard, a
    requester may approve their own declaration (I15a)."""
    for f in CEDAR.iterdir():
        if f.is_file():
            (tmp_path / f.name).write_text(f.read_text())
    (tmp_path / "manage").mkdir()
    for f in (CEDAR / "manage").iterdir():
        text = f.read_text()
        if f.name == "grants.cedar":
            start = text.index('@id("manage-forbid-self-approval")')
            text = text[:start] + text[text.index("};", start) + 2 :]
        (tmp_path / "manage" / f.name).write_text(text)
    code, out, err = run(["policy", "check", "--policies", str(tmp_path), "--samples", "0"], capsys)
    assert code == 1
    assert "I15a counterexample" in out and "violated I15a" in err


def test_explain_names_policies(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        [
            "policy",
            "explain",
            "--org",
            "retail",
            "--role",
            "sales",
            "--purpose",
            "sales",
            "--device",
            "retail_terminal",
            "--relation",
            "other_retailer",
            "--json",
        ],
        capsys,
    )
    doc = json.loads(out)
    assert code == 0
    assert doc["fields"]["phone"] == {
        "allowed": False,
        "policy_ids": ["forbid-other-retailers-customers"],
    }


def test_explain_rejects_unknown_agreement_field(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        [
            "policy",
            "explain",
            "--org",
            "nw",
            "--role",
            "takuso_operator",
            "--purpose",
            "takuso",
            "--device",
            "nw_terminal",
            "--agreement-field",
            "phnoe",
        ],
        capsys,
    )
    assert code == 2 and "phnoe" in err


def test_check_fails_on_a_broken_case_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--policies DIR`` checks ``DIR/cases/`` too: without the guard against acting on a
    case about oneself, a compliance officer may decide their own case (I16b)."""
    for f in CEDAR.iterdir():
        if f.is_file():
            (tmp_path / f.name).write_text(f.read_text())
    (tmp_path / "cases").mkdir()
    for f in (CEDAR / "cases").iterdir():
        text = f.read_text()
        if f.name == "cases.cedar":
            start = text.index('@id("case-forbid-about-self")')
            text = text[:start] + text[text.index("};", start) + 2 :]
        (tmp_path / "cases" / f.name).write_text(text)
    code, out, err = run(["policy", "check", "--policies", str(tmp_path), "--samples", "0"], capsys)
    assert code == 1
    assert "I16b counterexample" in out and "violated I16b" in err
    assert "I15a counterexample" not in out
