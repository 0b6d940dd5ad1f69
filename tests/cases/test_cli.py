"""``gridwall case …`` end to end on SQLite: alerts become cases once, each line's step
signed in with password + TOTP and decided by the case policy, refusals exit 1 naming the
reason, steps that do not fit exit 2 naming the entry and field, nothing half-written."""

from __future__ import annotations

import io
import itertools
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import click
import pyotp
import pytest
import sqlalchemy as sa
import typer

from gridwall.app.cli import cases as cli
from gridwall.app.cli import grants as grants_cli
from gridwall.errors import GridwallError

PASSWORD = "correct horse battery staple 42"
PEOPLE = [  # account, org, department, role
    ("nw-op", "nw", "託送業務部", "takuso_operator"),
    ("nw-mgr", "nw", "託送業務部", "manager"),
    ("nw-comp", "nw", "コンプライアンス推進室", "compliance"),
    ("nw-aud", "nw", "内部監査室", "auditor"),
]


@pytest.fixture
def console(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from gridwall.app.wiring import identity_service
    from gridwall.audit import open_log
    from gridwall.identity import IdentityConfig
    from gridwall.identity._governance import attest_training
    from gridwall.identity._passwords import TEST_PARAMS
    from gridwall.monitor._models import MonitorAlert
    from gridwall.store import make_engine, upgrade

    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    log = open_log(sqlite_url, migrate=False)
    svc = identity_service(engine, log, IdentityConfig(hash_params=TEST_PARAMS))
    now = datetime.now(UTC)
    start = now - timedelta(days=30)
    svc.create_person("p-trainer", "Trainer", "nw", "compliance", start)
    totp: dict[str, str] = {}
    for account, org, dept, role in PEOPLE:
        person = f"p-{account}"
        svc.create_person(person, account, org, role, start, dept, start)
        svc.create_account(account, person, start)
        svc.set_password(account, PASSWORD, now)
        totp[account], _ = svc.enroll_totp(account, now)
        attest_training(svc, person, (now - timedelta(days=3)).date(), "p-trainer", now)
    with engine.begin() as c:
        c.execute(
            sa.insert(MonitorAlert).values(
                alert_id="al-1", rule="A_after_hours", incident_type="A", severity=5,
                account_id="nw-op", person_id="p-nw-op", org="nw",
                first_ts=(now - timedelta(hours=5)).isoformat(),
                last_ts=(now - timedelta(hours=4)).isoformat(), event_count=3,
                summary="after-hours views", related="[]", opened_run=1, updated_run=1,
            )
        )  # fmt: skip
    log.close()
    engine.dispose()
    state: dict[str, Any] = {"totp": totp, "now": now}
    clock = (now + timedelta(seconds=30 * i) for i in itertools.count(1))

    def tick() -> datetime:
        t = next(clock)
        state["now"] = t
        return t

    monkeypatch.setattr(grants_cli, "_console_now", tick)
    return state


def run(capsys: pytest.CaptureFixture[str], db: str, *args: str, by: str | None = None,
        console: dict[str, Any] | None = None,
        group: str = "case") -> tuple[int, str, str]:  # fmt: skip
    app = typer.Typer()
    cli.register(app)
    cmd = typer.main.get_command(app)
    code, extra, old = 0, [], sys.stdin
    if by is not None:
        assert console is not None
        otp = pyotp.TOTP(console["totp"][by]).at(console["now"] + timedelta(seconds=30))
        extra = ["--by", by, "--password-stdin"]
        sys.stdin = io.StringIO(f"{PASSWORD}\n{otp}\n")
    try:
        cmd.main(args=[group, *args, *extra, "--db", db], standalone_mode=False)
    except GridwallError as e:
        print(f"gridwall: error: {e.diagnostics()}", file=sys.stderr)
        code = e.exit_code
    except click.exceptions.ClickException as e:
        e.show()
        code = 2
    finally:
        sys.stdin = old
    out = capsys.readouterr()
    return code, out.out, out.err


def test_case_cli_walkthrough(
    capsys: pytest.CaptureFixture[str], sqlite_url: str, console: dict[str, Any]
) -> None:
    db = sqlite_url
    code, out, err = run(capsys, db, "open", "--json")
    assert code == 0, err
    [cid] = [c["case_id"] for c in json.loads(out)]
    assert json.loads(run(capsys, db, "open", "--json")[1]) == []  # nothing opens twice

    def step(*args: str, by: str) -> tuple[int, str, str]:
        return run(capsys, db, *args, by=by, console=console)

    code, out, _ = step("list", "--json", by="nw-mgr")
    assert code == 0 and json.loads(out)[0]["first_line"] == "p-nw-mgr"
    code, _, err = step("show", cid, by="nw-op")
    assert code == 1 and "the case is about you" in err
    code, _, err = step("confirm", cid, "--text", "seen", by="nw-comp")
    assert code == 1 and "not routed to you" in err
    assert step("confirm", cid, "--text", "seen at night", by="nw-mgr")[0] == 0
    code, out, _ = step("show", cid, "--json", by="nw-comp")
    assert code == 0 and json.loads(out)["pseudonymised"] and "p-nw-op" not in out
    code, _, err = step("decide", cid, "--decision", "no_issue", by="nw-comp")
    assert code == 2 and "field 'reason' is required" in err
    assert step("reveal", cid, "--reason", "to hear them", by="nw-comp")[0] == 0
    assert step("decide", cid, "--decision", "no_issue", "--reason", "authorised",
                by="nw-comp")[0] == 0  # fmt: skip
    code, out, _ = step("sample", "--json", by="nw-aud")
    assert code == 0 and [c["case_id"] for c in json.loads(out)] == [cid]  # critical no_issue
    assert step("reopen", cid, "--reason", "the task was not authorised", by="nw-aud")[0] == 0
    assert step("decide", cid, "--decision", "violation", "--incident-type", "A",
                "--rule", "3.2", by="nw-comp")[0] == 0  # fmt: skip
    assert step("discipline", cid, "--outcome", "譴責", by="nw-comp")[0] == 0
    code, out, _ = step("signoff", cid, by="nw-aud")
    assert code == 0 and "signed_off" in out and "revealed" in out and "reopened" in out
    code, _, err = step("escalate", by="nw-mgr")
    assert code == 1 and "not a step of your role" in err
    code, out, _ = step("escalate", "--json", by="nw-comp")
    assert code == 0 and json.loads(out) == []


def test_bad_options_exit_2(
    capsys: pytest.CaptureFixture[str], sqlite_url: str, console: dict[str, Any]
) -> None:
    code, _, err = run(capsys, sqlite_url, "escalate", "--first-line-days", "0", by="nw-comp",
                       console=console)  # fmt: skip
    assert code == 2 and "--first-line-days" in err
    code, _, err = run(capsys, sqlite_url, "sample", "--share", "2", by="nw-aud", console=console)
    assert code == 2 and "--share" in err


def test_notifications_list_and_ack(
    capsys: pytest.CaptureFixture[str], sqlite_url: str, console: dict[str, Any]
) -> None:
    db = sqlite_url
    [cid] = [c["case_id"] for c in json.loads(run(capsys, db, "open", "--json")[1])]

    def notes(*args: str, by: str) -> tuple[int, str, str]:
        return run(capsys, db, *args, by=by, console=console, group="notifications")

    code, out, err = notes("list", "--json", by="nw-mgr")
    assert code == 0, err
    got = json.loads(out)
    assert [(n["kind"], n["case_id"]) for n in got["notifications"]] == [("case.routed", cid)]
    nid = got["notifications"][0]["id"]
    code, out, _ = notes("list", "--json", by="nw-comp")
    assert code == 0 and json.loads(out)["notifications"] == []  # the manager's is theirs
    code, _, err = notes("ack", str(nid), by="nw-comp")
    assert code == 2 and "IDS" in err and str(nid) in err and "not yours" in err
    code, out, _ = notes("ack", str(nid), by="nw-mgr")
    assert code == 0 and f"acknowledged [{nid}]" in out
    code, out, _ = notes("ack", str(nid), by="nw-mgr")
    assert code == 0 and f"already [{nid}]" in out  # idempotent
    code, out, _ = notes("list", "--pending", by="nw-mgr")
    assert code == 0 and "(none)" in out and "next: --after 0" in out
    code, _, err = notes("list", "--after", "-3", by="nw-mgr")
    assert code == 2 and "--after" in err
    code, _, err = notes("list", by="nw-op")
    assert code == 1 and "case.notifications is not a step of your role" in err
