"""The grants CLI end to end on SQLite: exit codes 0 / 1 / 2 and nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
import typer

from gridwall.app.cli import grants as cli
from gridwall.errors import GridwallError


def run(capsys: pytest.CaptureFixture[str], db: str, *args: str) -> tuple[int, str, str]:
    """Invoke like ``gridwall`` does (diagnostics, exit codes), in process."""
    app = typer.Typer()
    cli.register(app)
    cmd = typer.main.get_command(app)
    code = 0
    try:
        cmd.main(args=[*args, "--db", db], standalone_mode=False)
    except GridwallError as e:
        print(f"gridwall: error: {e.diagnostics()}", file=__import__("sys").stderr)
        code = e.exit_code
    except click.exceptions.ClickException as e:
        e.show()
        code = 2
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_walkthrough(
    capsys: pytest.CaptureFixture[str], sqlite_url: str, tmp_path: Path
) -> None:
    db = sqlite_url
    area = "北海道/札幌市;東京都/千代田区"
    code, _, err = run(capsys, db, "disaster", "declare", "TY-1", "--area", area, "--until",
                       "+24h", "--max-hours", "72", "--by", "nw-alice")  # fmt: skip
    assert code == 0, err
    code, _, err = run(capsys, db, "disaster", "approve", "TY-1", "--by", "nw-alice")
    assert code == 2 and "second person" in err
    code, out, err = run(capsys, db, "disaster", "approve", "TY-1", "--by", "nw-bob", "--json")
    assert code == 0 and json.loads(out)["status"] == "active"
    code, _, err = run(capsys, db, "disaster", "declare", "TY-2", "--area", "東京都", "--until",
                       "+24h", "--max-hours", "72", "--by", "nw-alice")  # fmt: skip
    assert code == 2 and "overlaps" in err and "[area]" in err
    code, _, err = run(capsys, db, "disaster", "declare", "TY-3", "--area", "東京都/ほげ市",
                       "--until", "+24h", "--max-hours", "72", "--by", "nw-alice")  # fmt: skip
    assert code == 2 and "unknown city" in err
    code, _, err = run(capsys, db, "disaster", "declare", "TY-4", "--area", "大阪府", "--start",
                       "2020-01-01T00:00:00Z", "--until", "+24h", "--max-hours", "72", "--by",
                       "nw-alice")  # fmt: skip
    assert code == 2 and "retroactive" in err
    code, _, err = run(capsys, db, "disaster", "extend", "TY-1", "--until", "+100h", "--by", "x")
    assert code == 2 and "hard maximum" in err
    code, out, _ = run(capsys, db, "disaster", "list", "--json")
    assert [d["disaster_id"] for d in json.loads(out)] == ["TY-1"]  # nothing half-written

    # agreements
    code, _, err = run(capsys, db, "agreement", "register", "BAD", "--counterparty",
                       "retail:A0001", "--purpose", "system_maintenance", "--fields",
                       "contract_name", "--valid-from", "2026-01-01",
                       "--by", "nw-carol")  # fmt: skip
    assert code == 2 and "retailer" in err and "[counterparty_org]" in err
    code, _, err = run(capsys, db, "agreement", "register", "OLD", "--counterparty",
                       "contractor:itco", "--purpose", "system_maintenance", "--fields",
                       "contract_name", "--valid-from", "2020-01-01", "--valid-to", "2020-12-31",
                       "--by", "nw-carol")  # fmt: skip
    assert code == 2 and "expired" in err
    code, _, err = run(capsys, db, "agreement", "register", "MT-1", "--counterparty",
                       "contractor:itco", "--purpose", "system_maintenance", "--fields",
                       "contract_name;address;equipment", "--valid-from", "2026-01-01",
                       "--by", "nw-carol")  # fmt: skip
    assert code == 0, err
    code, out, _ = run(capsys, db, "agreement", "list", "--json")
    assert [a["agreement_id"] for a in json.loads(out)] == ["MT-1"]

    # exports: only to the counterparty, and traceable
    src = tmp_path / "rows.csv"
    src.write_text(
        "supply_point_id,contract_name,pref,city,voltage\n"
        + "".join(f"03{i:020d},需要家{i},東京都,港区,low\n" for i in range(10)),
        encoding="utf-8",
    )
    out_file = tmp_path / "to-itco.csv"
    code, _, err = run(capsys, db, "export", "watermark", str(src), "--to", "retail:A0001",
                       "--agreement", "MT-1", "--purpose", "system_maintenance", "--out",
                       str(out_file), "--by", "nw-dave")  # fmt: skip
    assert code == 2 and "retailer" in err and not out_file.exists()
    code, _, err = run(capsys, db, "export", "watermark", str(src), "--to", "contractor:itco",
                       "--agreement", "MT-1", "--purpose", "system_maintenance", "--out",
                       str(out_file), "--by", "nw-dave")  # fmt: skip
    assert code == 0, err
    leak = tmp_path / "leak.txt"
    leak.write_text("\n".join(out_file.read_text(encoding="utf-8").splitlines()[5:7]))
    code, out, err = run(capsys, db, "export", "trace", str(leak), "--json")
    assert code == 0, err
    assert json.loads(out)["recipient_org"] == "contractor:itco"
    clean = tmp_path / "clean.csv"
    clean.write_text("nothing,here\n")
    code, _, err = run(capsys, db, "export", "trace", str(clean))
    assert code == 1 and "no watermark" in err

    # consent
    sp = "0300000000000000000042"
    code, token, err = run(capsys, db, "consent", "issue", "--point", sp, "--retailer", "B0002",
                           "--days", "7", "--months", "13", "--by", "nw-clerk")  # fmt: skip
    assert code == 0, err
    token = token.strip()
    code, _, err = run(capsys, db, "consent", "issue", "--point", sp, "--retailer", "B0002",
                       "--days", "30", "--by", "nw-clerk")  # fmt: skip
    assert code == 2 and "1, 7 or 31" in err
    assert run(capsys, db, "consent", "verify", token, "--point", sp, "--retailer", "B0002")[0] == 0
    assert run(capsys, db, "consent", "verify", token, "--point", sp, "--retailer", "A0001")[0] == 1
    code, _, err = run(capsys, db, "consent", "verify", token, "--point", sp, "--retailer",
                       "B0002", "--at", "+8d")  # fmt: skip
    assert code == 1 and "expired" in err
    assert run(capsys, db, "consent", "revoke", token, "--by", "nw-clerk")[0] == 0
    code, _, err = run(capsys, db, "consent", "verify", token, "--point", sp, "--retailer", "B0002")
    assert code == 1 and "revoked" in err

    # end, report from the audit log, attest deletion
    assert run(capsys, db, "disaster", "end", "TY-1", "--by", "nw-bob")[0] == 0
    code, out, err = run(capsys, db, "disaster", "report", "TY-1", "--json")
    assert code == 0, err
    assert json.loads(out)["declaration"]["status"] == "ended"
    code, _, err = run(capsys, db, "disaster", "attest-deletion", "TY-1", "--org", "retail:A0001",
                       "--copies", "0", "--statement", "no copies", "--by", "a-boss")  # fmt: skip
    assert code == 0, err

    # every step, allowed or refused, is in the tamper-evident audit log
    from gridwall.audit import open_log

    log = open_log(db, migrate=False)
    try:
        events = [json.loads(log.entry(i))["event"] for i in range(log.size())]
    finally:
        log.close()
    screens = [(e["screen"], e["decision"]) for e in events]
    assert ("grants.disaster.declare", "deny") in screens
    assert ("grants.disaster.approve", "allow") in screens
    assert ("grants.export", "deny") in screens and ("grants.export", "allow") in screens
    assert ("grants.agreement.register", "deny") in screens
