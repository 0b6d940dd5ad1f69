"""The walk-through of docs/identity.md, through the real commands, with a fixed --now."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
import typer
from typer.testing import CliRunner

from gridwall.app.cli.identity import register
from gridwall.errors import AccessDenied, CheckFailed, InputError

T = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)
PW = "kumo no ue no sora 2026 haru"


@pytest.fixture
def gw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    import gridwall.store

    app = typer.Typer()
    register(app)
    runner = CliRunner()
    db = f"sqlite:///{tmp_path / 'gridwall.db'}"
    gridwall.store.upgrade(db)  # once; every command would otherwise re-check all branches
    monkeypatch.setattr(gridwall.store, "upgrade", lambda *a, **k: None)
    from gridwall.app import wiring
    from gridwall.identity import IdentityConfig
    from gridwall.identity._passwords import TEST_PARAMS

    real = wiring.identity_service
    monkeypatch.setattr(  # cheap Argon2 parameters in tests only
        wiring,
        "identity_service",
        lambda engine, audit, config=None: real(
            engine, audit, IdentityConfig(hash_params=TEST_PARAMS)
        ),
    )

    def run(*args: str, at: datetime | None = T, stdin: str | None = None, ok: bool = True):  # type: ignore[no-untyped-def]
        when = ["--now", at.isoformat()] if at is not None else []
        res = runner.invoke(app, [*args, "--db", db, *when], input=stdin)
        if ok:
            assert res.exit_code == 0, (args, res.output, res.exception)
        return res

    return run


def test_transfer_walkthrough(gw, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    gw(
        "identity",
        "person",
        "create",
        "P100",
        "--name",
        "山田 太郎",
        "--org",
        "nw",
        "--role",
        "takuso_operator",
    )
    gw(
        "identity",
        "person",
        "create",
        "M200",
        "--name",
        "佐藤 課長",
        "--org",
        "nw",
        "--role",
        "manager",
    )
    gw("identity", "account", "create", "nw-yamada", "--person", "P100", "--manager", "M200")
    weak = gw(
        "identity",
        "account",
        "set-password",
        "nw-yamada",
        "--password-stdin",
        stdin="yamada123456\n",
        ok=False,
    )
    assert "password refused" in str(weak.exception)
    gw("identity", "account", "set-password", "nw-yamada", "--password-stdin", stdin=PW + "\n")
    secret = gw("identity", "account", "totp-enroll", "nw-yamada").stdout.strip()
    gw("identity", "terminal", "register", "NW-T-001", "--org", "nw", "--kind", "nw_terminal")
    key = tmp_path / "NW-T-001.key"
    gw("identity", "terminal", "enroll", "NW-T-001", "--out", str(key))
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    token = gw(
        "identity",
        "login",
        "nw-yamada",
        "--terminal-key",
        str(key),
        "--totp",
        pyotp.TOTP(secret).at(T),
        "--password-stdin",
        stdin=PW + "\n",
    ).stdout.strip()
    who = json.loads(
        gw(
            "identity",
            "whoami",
            "--token",
            token,
            "--terminal-key",
            str(key),
            at=T + timedelta(minutes=1),
        ).stdout
    )
    assert who["principal"]["account_state"] == "active"
    eff = T + timedelta(minutes=5)
    hr = tmp_path / "hr.csv"
    hr.write_text(
        "person_id,name,org,department,role,effective_at\n"
        f"P100,山田 太郎,retail:A0001,営業部,sales,{eff.isoformat()}\n",
        "utf-8",
    )
    gw("hr", "import", str(hr), at=T + timedelta(minutes=2))
    before = gw(
        "identity",
        "whoami",
        "--token",
        token,
        "--terminal-key",
        str(key),
        at=eff - timedelta(seconds=1),
    )
    assert json.loads(before.stdout)["principal"]["account_state"] == "active"
    after = gw("identity", "whoami", "--token", token, "--terminal-key", str(key), at=eff, ok=False)
    assert isinstance(after.exception, AccessDenied | CheckFailed)
    assert "transferred" in str(after.exception)
    relogin = gw(
        "identity",
        "login",
        "nw-yamada",
        "--terminal-key",
        str(key),
        "--totp",
        pyotp.TOTP(secret).at(eff),
        "--password-stdin",
        at=eff,
        stdin=PW + "\n",
        ok=False,
    )
    assert isinstance(relogin.exception, AccessDenied)
    assert "transferred" in str(relogin.exception)
    gw("identity", "account", "create", "rt-yamada", "--person", "P100", at=eff)
    gw(
        "identity",
        "account",
        "set-password",
        "rt-yamada",
        "--password-stdin",
        at=eff,
        stdin="atarashii shokuba de ganbaru\n",
    )
    s2 = gw("identity", "account", "totp-enroll", "rt-yamada", at=eff).stdout.strip()
    wrong_term = gw(
        "identity",
        "login",
        "rt-yamada",
        "--terminal-key",
        str(key),
        "--totp",
        pyotp.TOTP(s2).at(eff),
        "--password-stdin",
        at=eff,
        stdin="atarashii shokuba de ganbaru\n",
        ok=False,
    )
    assert "belongs to nw" in str(wrong_term.exception)
    events = gw("identity", "events", "--limit", "20", at=None).stdout
    assert events.count("login_failed") == 3
    wl = json.loads(gw("identity", "watchlist", "--format", "json", at=eff).stdout)
    assert wl[0]["person_id"] == "P100" and wl[0]["to_org"] == "retail:A0001"
    alerts = [json.loads(x) for x in gw("identity", "alerts", at=None).stdout.splitlines()]
    assert [a["incident_type"] for a in alerts] == ["C2"]


def test_bad_hr_file_exit(gw, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    hr = tmp_path / "hr.csv"
    hr.write_text("person_id,org,effective_at\nP404,nw,2026-04-01\n", "utf-8")
    res = gw("hr", "import", str(hr), ok=False)
    assert isinstance(res.exception, InputError)
    assert "hr.csv:2 [person_id]" in str(res.exception)


def test_account_expiry_from_cli(gw) -> None:  # type: ignore[no-untyped-def]
    gw(
        "identity",
        "person",
        "create",
        "K1",
        "--name",
        "委託 花子",
        "--org",
        "contractor:IT01",
        "--role",
        "it_maintenance",
    )
    gw(
        "identity",
        "account",
        "create",
        "k-1",
        "--person",
        "K1",
        "--expires",
        (T + timedelta(days=30)).isoformat(),
    )
    show = json.loads(gw("identity", "account", "show", "k-1", at=T + timedelta(days=29)).stdout)
    assert show["state"] == "active"
    show = json.loads(gw("identity", "account", "show", "k-1", at=T + timedelta(days=30)).stdout)
    assert show["state"] == "expired"
