"""``gridwall selfreport submit|status`` end to end on SQLite: an anonymous report prints its
receipt once, the receipt is read from standard input (never argv) and shows progress only,
a signed-in reporter is hidden from the audit log unless named, bad input names the option
(docs/cases.md, issue 13 item 5)."""

from __future__ import annotations

import io
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
import typer

from cases.test_cli import PASSWORD, console  # noqa: F401 (the signed-in console fixture)
from cases.test_cli import run as case_run
from gridwall.app.cli import _CLICK_ERROR
from gridwall.app.cli import selfreport as cli
from gridwall.errors import GridwallError


def run(capsys: pytest.CaptureFixture[str], db: str, *args: str, stdin: str = "",
        by: str | None = None, console: dict[str, Any] | None = None) -> tuple[int, str, str]:  # noqa: F811  # fmt: skip
    app = typer.Typer()
    cli.register(app)
    cmd = typer.main.get_command(app)
    code, extra, old = 0, [], sys.stdin
    if by is not None:
        assert console is not None
        otp = pyotp.TOTP(console["totp"][by]).at(console["now"] + timedelta(seconds=30))
        extra = ["--by", by, "--password-stdin"]
        stdin = f"{PASSWORD}\n{otp}\n"
    sys.stdin = io.StringIO(stdin)
    try:
        cmd.main(args=["selfreport", *args, *extra, "--db", db], standalone_mode=False)
    except GridwallError as e:
        print(f"gridwall: error: {e.diagnostics()}", file=sys.stderr)
        code = e.exit_code
    except _CLICK_ERROR as e:
        e.show()  # type: ignore[attr-defined]
        code = 2
    finally:
        sys.stdin = old
    out = capsys.readouterr()
    return code, out.out, out.err


def _last_event(db: str) -> dict[str, Any]:
    from gridwall.audit import open_log

    log = open_log(db, migrate=False)
    try:
        return dict(json.loads(log.entry(log.size() - 1))["event"])
    finally:
        log.close()


def test_selfreport_cli(
    capsys: pytest.CaptureFixture[str], sqlite_url: str, console: dict[str, Any],  # noqa: F811
    tmp_path: Path,
) -> None:  # fmt: skip
    db = sqlite_url
    code, out, err = run(capsys, db, "submit", "--kind", "shared_password",
                         "--text", "窓口でIDを共用", "--contact", "内線 1")  # fmt: skip
    assert code == 0, err
    receipt = out.split("receipt code: ", 1)[1].split()[0]
    ev = _last_event(db)
    assert ev["screen"] == "selfreport.submit" and ev["report_kind"] == "shared_password"
    assert not ev["account_id"] and not ev["source_ip"] and not ev["device_id"]

    # the receipt comes from standard input; argv has no place for it
    code, out, err = run(capsys, db, "status", stdin=receipt + "\n")
    assert code == 0 and ": received" in out, err
    assert "内線" not in out
    code, _, err = run(capsys, db, "status", receipt)
    assert code == 2 and "unexpected extra argument" in err.lower()
    code, _, err = run(capsys, db, "status", stdin=receipt[:-1] + "\n")
    assert code == 1 and "no report for this receipt" in err
    code, _, err = run(capsys, db, "status", stdin="\n")
    assert code == 2 and "receipt code: none given" in err

    # compliance's case queue, filtered by origin, marks it voluntary (and names nobody)
    code, out, err = case_run(capsys, db, "list", "--origin", "self_report", by="nw-comp",
                              console=console)  # fmt: skip
    assert code == 0 and "voluntary (自主申告)" in out and "窓口でIDを共用" in out, err
    assert "内線" not in out
    code, _, err = case_run(capsys, db, "list", "--origin", "x", by="nw-comp", console=console)
    assert code == 2 and "--origin" in err

    # signed in: hidden from the audit log unless named
    code, out, err = run(capsys, db, "submit", "--kind", "own_misuse", "--text", "誤って閲覧",
                         by="nw-op", console=console)  # fmt: skip
    assert code == 0, err
    assert not _last_event(db)["account_id"]
    code, out, err = run(capsys, db, "submit", "--kind", "shows_too_much", "--text", "項目過多",
                         "--named", by="nw-op", console=console)  # fmt: skip
    assert code == 0 and "(named)" in out, err
    assert _last_event(db)["account_id"] == "nw-op"

    # bad input names the option; nothing is filed
    note = tmp_path / "report.txt"
    note.write_text("ファイルからの申告", encoding="utf-8")
    for args, msg in (
        (["--kind", "gossip", "--text", "x"], "--kind: self-report field 'kind'"),
        (["--kind", "other"], "--text / --file: give exactly one"),
        (["--kind", "other", "--text", "x", "--file", str(note)], "give exactly one"),
        (["--kind", "other", "--file", str(tmp_path / "nope.txt")], "--file"),
        (["--kind", "other", "--text", "x", "--named"], "--named: only with --by"),
        (["--kind", "other", "--text", "x" * 4001], "--text: self-report field 'text'"),
    ):
        code, _, err = run(capsys, db, "submit", *args)
        assert code == 2 and msg in err, (args, err)
    code, out, err = run(capsys, db, "submit", "--kind", "other", "--file", str(note), "--json")
    assert code == 0 and json.loads(out)["status"] == "received", err
