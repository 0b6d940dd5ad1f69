"""The grants CLI end to end on SQLite: exit codes 0 / 1 / 2 and nothing half-written; every
``--by`` is a signed-in, existing, entitled account (password + TOTP), decided by the
grant-management policy like the API."""

from __future__ import annotations

import io
import itertools
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pyotp
import pytest
import typer

from gridwall.app.cli import grants as cli
from gridwall.errors import GridwallError

from .helpers import register_parties

PASSWORD = "correct horse battery staple 42"


@dataclass
class Console:
    """Accounts of a store and a console clock that moves 30 s per sign-in, so that every
    command gets a fresh TOTP step (a code is good once)."""

    totp: dict[str, str]
    clock: Iterator[datetime]
    now: datetime


@pytest.fixture
def console(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Console:
    from gridwall.app.wiring import identity_service
    from gridwall.audit import open_log
    from gridwall.identity import IdentityConfig
    from gridwall.identity._governance import attest_training
    from gridwall.identity._passwords import TEST_PARAMS
    from gridwall.store import make_engine, upgrade

    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    log = open_log(sqlite_url, migrate=False)
    svc = identity_service(engine, log, IdentityConfig(hash_params=TEST_PARAMS))
    now = datetime.now(UTC)
    totp: dict[str, str] = {}
    svc.create_person("p-trainer", "Trainer", "nw", "compliance", now - timedelta(days=60))
    people = [
        ("nw-alice", "nw", "manager"), ("nw-bob", "nw", "manager"),
        ("nw-carol", "nw", "manager"), ("nw-clerk", "nw", "takuso_operator"),
        ("nw-agent", "nw", "call_center"), ("a-boss", "retail:A0001", "manager"),
    ]  # fmt: skip
    for account, org, role in people:
        person = f"p-{account}"
        start = now - timedelta(days=30)
        svc.create_person(person, account.title(), org, role, start, valid_from=start)
        svc.create_account(account, person, now - timedelta(days=29))
        svc.set_password(account, PASSWORD, now)
        totp[account], _ = svc.enroll_totp(account, now)
        attest_training(svc, person, (now - timedelta(days=3)).date(), "p-trainer", now)
    # nw-alice also holds a second account (a person may have several)
    svc.create_account("nw-alice-2", "p-nw-alice", now - timedelta(days=29))
    svc.set_password("nw-alice-2", PASSWORD, now)
    totp["nw-alice-2"], _ = svc.enroll_totp("nw-alice-2", now)
    register_parties(engine, ["A0001", "B0002"], ["0300000000000000000042"])
    log.close()
    engine.dispose()
    clock = (now + timedelta(seconds=30 * i) for i in itertools.count(1))
    c = Console(totp, clock, now)

    def tick() -> datetime:
        c.now = next(c.clock)
        return c.now

    monkeypatch.setattr(cli, "_console_now", tick)
    return c


def run(
    capsys: pytest.CaptureFixture[str],
    db: str,
    *args: str,
    by: str | None = None,
    console: Console | None = None,
    password: str = PASSWORD,
) -> tuple[int, str, str]:
    """Invoke like ``gridwall`` does (diagnostics, exit codes), in process; ``by`` signs in
    as that account through ``--password-stdin``."""
    app = typer.Typer()
    cli.register(app)
    cmd = typer.main.get_command(app)
    code = 0
    extra: list[str] = []
    old_stdin = sys.stdin
    if by is not None:
        assert console is not None
        extra = ["--by", by, "--password-stdin"]
        # the code for the console's next instant (the fixture moves it 30 s per sign-in)
        at = console.now + timedelta(seconds=30)
        otp = pyotp.TOTP(console.totp[by]).at(at) if by in console.totp else "000000"
        sys.stdin = io.StringIO(f"{password}\n{otp}\n")
    try:
        cmd.main(args=[*args, *extra, "--db", db], standalone_mode=False)
    except GridwallError as e:
        print(f"gridwall: error: {e.diagnostics()}", file=__import__("sys").stderr)
        code = e.exit_code
    except click.exceptions.ClickException as e:
        e.show()
        code = 2
    finally:
        sys.stdin = old_stdin
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_walkthrough(
    capsys: pytest.CaptureFixture[str], sqlite_url: str, tmp_path: Path, console: Console
) -> None:
    db = sqlite_url
    area = "北海道/札幌市;東京都/千代田区"
    code, _, err = run(capsys, db, "disaster", "declare", "TY-1", "--area", area, "--until",
                       "+24h", "--max-hours", "72", by="nw-alice", console=console)  # fmt: skip
    assert code == 0, err
    # the requester cannot approve, under any of her accounts; nor can an unknown name,
    # a wrong password, or someone whose role may not approve
    for account in ("nw-alice", "nw-alice-2"):
        code, _, err = run(capsys, db, "disaster", "approve", "TY-1", by=account,
                           console=console)  # fmt: skip
        assert code == 1 and "manage-forbid-self-approval" in err, err
    code, _, err = run(capsys, db, "disaster", "approve", "TY-1", by="ghost", console=console)
    assert code == 1 and "sign-in refused" in err
    code, _, err = run(capsys, db, "disaster", "approve", "TY-1", by="nw-bob", console=console,
                       password="wrong")  # fmt: skip
    assert code == 1 and "sign-in refused" in err
    code, _, err = run(capsys, db, "disaster", "approve", "TY-1", by="nw-agent", console=console)
    assert code == 1 and "not permitted" in err
    code, out, err = run(
        capsys, db, "disaster", "approve", "TY-1", "--json", by="nw-bob", console=console
    )
    assert code == 0 and json.loads(out)["status"] == "active"
    code, _, err = run(capsys, db, "disaster", "declare", "TY-2", "--area", "東京都", "--until",
                       "+24h", "--max-hours", "72", by="nw-alice", console=console)  # fmt: skip
    assert code == 2 and "overlaps" in err and "[area]" in err
    code, _, err = run(
        capsys,
        db,
        "disaster",
        "declare",
        "TY-3",
        "--area",
        "東京都/ほげ市",
        "--until",
        "+24h",
        "--max-hours",
        "72",
        by="nw-alice",
        console=console,
    )
    assert code == 2 and "unknown city" in err
    code, _, err = run(
        capsys,
        db,
        "disaster",
        "declare",
        "TY-4",
        "--area",
        "大阪府",
        "--start",
        "2020-01-01T00:00:00Z",
        "--until",
        "+24h",
        "--max-hours",
        "72",
        by="nw-alice",
        console=console,
    )
    assert code == 2 and "retroactive" in err
    code, _, err = run(capsys, db, "disaster", "extend", "TY-1", "--until", "+100h", by="x",
                       console=console)  # fmt: skip
    assert code == 1 and "sign-in refused" in err
    code, _, err = run(capsys, db, "disaster", "extend", "TY-1", "--until", "+100h",
                       by="nw-clerk", console=console)  # fmt: skip
    assert code == 2 and "hard maximum" in err
    code, out, _ = run(capsys, db, "disaster", "list", "--json")
    assert [d["disaster_id"] for d in json.loads(out)] == ["TY-1"]  # nothing half-written

    # agreements
    code, _, err = run(
        capsys,
        db,
        "agreement",
        "register",
        "BAD",
        "--counterparty",
        "retail:A0001",
        "--purpose",
        "system_maintenance",
        "--fields",
        "contract_name",
        "--valid-from",
        "2026-01-01",
        by="nw-carol",
        console=console,
    )
    assert code == 2 and "retailer" in err and "[counterparty_org]" in err
    code, _, err = run(
        capsys,
        db,
        "agreement",
        "register",
        "OLD",
        "--counterparty",
        "contractor:itco",
        "--purpose",
        "system_maintenance",
        "--fields",
        "contract_name",
        "--valid-from",
        "2020-01-01",
        "--valid-to",
        "2020-12-31",
        by="nw-carol",
        console=console,
    )
    assert code == 2 and "expired" in err
    code, _, err = run(
        capsys,
        db,
        "agreement",
        "register",
        "MT-1",
        "--counterparty",
        "contractor:itco",
        "--purpose",
        "system_maintenance",
        "--fields",
        "contract_name;address;equipment",
        "--valid-from",
        "2026-01-01",
        by="nw-carol",
        console=console,
    )
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
    code, token, err = run(
        capsys,
        db,
        "consent",
        "issue",
        "--point",
        sp,
        "--retailer",
        "B0002",
        "--days",
        "7",
        "--months",
        "13",
        by="nw-clerk",
        console=console,
    )
    assert code == 0, err
    token = token.strip()
    code, _, err = run(capsys, db, "consent", "issue", "--point", sp, "--retailer", "B0002",
                       "--days", "30", by="nw-clerk", console=console)  # fmt: skip
    assert code == 2 and "1, 7 or 31" in err
    code, _, err = run(capsys, db, "consent", "issue", "--point", "0300000000000000000043",
                       "--retailer", "B0002", "--days", "7", by="nw-clerk",
                       console=console)  # fmt: skip
    assert code == 2 and "no supply point" in err
    code, _, err = run(capsys, db, "consent", "issue", "--point", sp, "--retailer", "Z9999",
                       "--days", "7", by="nw-clerk", console=console)  # fmt: skip
    assert code == 2 and "no registered retailer" in err
    code, _, err = run(capsys, db, "consent", "issue", "--point", sp, "--retailer", "B0002",
                       "--days", "7", by="nw-agent", console=console)  # fmt: skip
    assert code == 1 and "not permitted" in err
    assert run(capsys, db, "consent", "verify", token, "--point", sp, "--retailer", "B0002")[0] == 0
    assert run(capsys, db, "consent", "verify", token, "--point", sp, "--retailer", "A0001")[0] == 1
    code, _, err = run(capsys, db, "consent", "verify", token, "--point", sp, "--retailer",
                       "B0002", "--at", "+8d")  # fmt: skip
    assert code == 1 and "expired" in err
    assert run(capsys, db, "consent", "revoke", token, by="nw-clerk", console=console)[0] == 0
    code, _, err = run(capsys, db, "consent", "verify", token, "--point", sp, "--retailer", "B0002")
    assert code == 1 and "revoked" in err

    # end, report from the audit log, attest deletion
    assert run(capsys, db, "disaster", "end", "TY-1", by="nw-bob", console=console)[0] == 0
    code, out, err = run(capsys, db, "disaster", "report", "TY-1", "--json")
    assert code == 0, err
    assert json.loads(out)["declaration"]["status"] == "ended"
    code, _, err = run(capsys, db, "disaster", "attest-deletion", "TY-1", "--org", "retail:A0001",
                       "--copies", "0", "--statement", "no copies", by="a-boss",
                       console=console)  # fmt: skip
    # a retailer's manager attests through the API from its own terminal; the server
    # console is the operator's terminal, where no retailer account may act
    assert code == 1 and "manage-forbid-foreign-or-invalid-terminal" in err, err
    code, _, err = run(capsys, db, "disaster", "attest-deletion", "TY-1", "--org",
                       "contractor:nobody", "--copies", "0", by="nw-bob",
                       console=console)  # fmt: skip
    assert code == 2 and "no such organisation" in err
    code, _, err = run(capsys, db, "disaster", "attest-deletion", "TY-1", "--org", "retail:A0001",
                       "--copies", "0", "--statement", "no copies", by="nw-bob",
                       console=console)  # fmt: skip
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
