"""``gridwall demo`` (without serving) and the server's own duties (signed checkpoints)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient

from gridwall.app.demo import build_demo, describe
from gridwall.identity import terminal_token


def test_demo_real_logins_and_examples_over_http(tmp_path: Path) -> None:
    demo = build_demo(tmp_path / "demo", supply_points=300, seed=3, progress=False)
    try:
        assert demo.seen[:3] == [200, 404, 200]  # NW, affiliated, independent
        text = describe(demo, 8765)
        assert text.count(f"/v1/supply-points/{demo.example_point} ") >= 3
        from gridwall.app.demo import CONSOLE_STEPS

        for account, page in CONSOLE_STEPS:  # each kind of user's console page is printed
            assert f"{account:<16} http://127.0.0.1:8765{page}" in text
        assert "/console/manager" in text and "/console/compliance" in text
        for u in demo.users:  # the credentials are in the demo folder, not on the console
            assert u.password not in text and u.totp_secret not in text
            assert u.file("password").read_text(encoding="utf-8").strip() == u.password
            assert u.file("totp").read_text(encoding="utf-8").strip() == u.totp_secret
            if u.key_file is not None:
                assert u.token not in text
                assert u.file("token").read_text(encoding="utf-8").strip() == u.token
        client = TestClient(demo.app)
        nw = demo.users[0]
        assert nw.key_file is not None
        key = nw.key_file.read_text(encoding="utf-8")

        # the printed credentials log in (password + TOTP + terminal key) — a real account
        r = client.post(
            "/v1/identity/login",
            json={"account_id": nw.account_id, "password": nw.password,
                  "totp": pyotp.TOTP(nw.totp_secret).at(datetime.now(UTC), counter_offset=1)},
            headers={"X-Gridwall-Terminal": terminal_token(key, datetime.now(UTC))},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        # the affiliated agent's token is refused on the independent agent's terminal
        aff, ind = demo.users[1], demo.users[2]
        assert ind.key_file is not None
        r = client.get(
            f"/v1/supply-points/{demo.example_point}",
            headers={"Authorization": f"Bearer {aff.token}",
                     "X-Gridwall-Terminal": terminal_token(
                         ind.key_file.read_text(encoding="utf-8"), datetime.now(UTC)),
                     "X-Gridwall-Purpose": aff.purpose},
        )  # fmt: skip
        assert r.status_code == 403
        assert "/unprotected" not in str(client.get("/openapi.json").json()["paths"])
        # the demo-only administrator and the regulator's console account sign in to the
        # console with what the demo printed and open their pages
        assert "console sign-in, for every account with a terminal" in text
        for account, page in (("demo-admin", "/console/admin"),
                              ("demo-reg-console", "/console/audit/verify")):  # fmt: skip
            u = demo.user(account)
            assert u.key_file is not None and f"{account:<16} http://127.0.0.1:8765{page}" in text
            browser = TestClient(demo.app, base_url="http://testserver")
            browser.cookies.set("gw_terminal", terminal_token(u.key_file.read_text(
                encoding="utf-8"), datetime.now(UTC)), path="/console")  # fmt: skip
            form = browser.get("/console/signin").text
            csrf = form.split('name="csrf" value="')[1].split('"')[0]
            r = browser.post(
                "/console/signin",
                data={"csrf": csrf, "account_id": account, "password": u.password,
                      "totp": pyotp.TOTP(u.totp_secret).at(datetime.now(UTC), counter_offset=1)},
                follow_redirects=False,
            )  # fmt: skip
            assert r.status_code == 303, (account, r.text[:300])
            assert browser.get(page).status_code == 200, account
    finally:
        demo.close()
    # the "verify the log" command the demo prints works once the server has stopped
    pub = tmp_path / "demo" / "keys" / "audit.key.pub"
    assert str(pub) in describe(demo, 8765)
    r = subprocess.run(
        [sys.executable, "-m", "gridwall", "audit", "verify", "--db", demo.db_url,
         "--public-key", str(pub)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr


def test_server_signs_checkpoints_with_its_key(sqlite_url: str, tmp_path: Path) -> None:
    from gridwall.app import create_server_app
    from gridwall.audit import note

    signer = note.generate_signer("gridwall.test/audit")
    key = tmp_path / "audit.key"
    key.write_text(signer.text(), encoding="utf-8")
    app = create_server_app(sqlite_url, audit_key=key, checkpoint_seconds=0.2)
    server = app.state.server
    server.start()
    client = TestClient(app)
    r = client.get("/v1/customers", headers={"X-Gridwall-Purpose": "sales"})
    assert r.status_code == 401  # refused, and audited
    server.close()
    from gridwall.audit import open_log

    with open_log(sqlite_url, migrate=False) as log:
        cp = log.latest_checkpoint()
        assert cp is not None and cp.size == log.size() >= 1
        assert note.open_checkpoint(cp.note, [signer.verifier]).size == cp.size
    # the verifier accepts the log under the server's public key
    out = subprocess.run(
        [sys.executable, "-m", "gridwall", "audit", "verify", "--db", sqlite_url,
         "--public-key", signer.verifier.text()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr


def test_bad_audit_key_is_a_usage_error(sqlite_url: str, tmp_path: Path) -> None:
    from gridwall.app import create_server_app
    from gridwall.errors import UsageError

    bad = tmp_path / "audit.key"
    bad.write_text("not a key", encoding="utf-8")
    with pytest.raises(UsageError, match="--audit-key"):
        create_server_app(sqlite_url, audit_key=bad)


@pytest.mark.slow  # ≈ 20 s: a fresh process builds the town dictionary and the operator
def test_cli_demo_no_serve_and_serve_usage_errors(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gridwall", *args],
            capture_output=True, text=True, timeout=300, cwd=tmp_path,
        )  # fmt: skip

    out = run("demo", "--no-serve", "--supply-points", "300", "--seed", "5", "--dir", "d")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count("http://127.0.0.1:8765/v1/supply-points/") >= 3
    term = "X-Gridwall-Terminal: $(./dev gridwall identity terminal token --key"
    assert out.stdout.count(term) >= 3
    assert (tmp_path / "d" / "credentials" / "demo-nw.password").stat().st_mode & 0o077 == 0
    assert (tmp_path / "d" / "keys" / "DEMO-NW-T1.key").stat().st_mode & 0o077 == 0
    bad = run("serve", "--port", "0", "--db", f"sqlite:///{tmp_path / 'x.db'}")
    assert bad.returncode == 2 and "--port" in bad.stderr
    bad = run("serve", "--db", "not-a-url")
    assert bad.returncode == 2 and "--db" in bad.stderr
