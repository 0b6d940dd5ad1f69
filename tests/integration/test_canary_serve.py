"""A bad policy deploy is caught by the canaries within one interval (issue 17 item 2's
acceptance): ``gridwall serve`` started, the way an operator would, on a policy folder that
loads without error but decides wrong (one extra permit letting a retailer's staff read a
competitor's customers, with the guard against it removed) raises the critical alert and turns
``GET /health`` red within one canary interval; the shipped policy, same schedule, stays green.
Runs the real process on SQLite and on the PostgreSQL server."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

INTERVAL = 4.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from gridwall.app.cli import main; main()", *args]


def _bad_deploy(tmp: Path) -> Path:
    """The shipped policies with the I1 guard dropped and a permit that lets a retailer's
    call-centre staff view any retailer's customers: it loads (and validates) without error."""
    from gridwall import policy

    src = Path(policy.__file__).parent / "cedar"
    dst = tmp / "policies-v2"
    shutil.copytree(src, dst)
    guards = dst / "guards.cedar"
    text = guards.read_text(encoding="utf-8")
    start = text.index('@id("forbid-other-retailers-customers")')
    guards.write_text(text[:start] + text[text.index("};", start) + 2 :], encoding="utf-8")
    with (dst / "permits.cedar").open("a", encoding="utf-8") as f:
        f.write(
            '\n@id("permit-retail-any-customer")\n'
            'permit (principal, action == Action::"view", resource)\n'
            'when { principal.org_kind == OrgKind::"retail" && '
            'principal.role == Role::"call_center" && '
            'context.purpose == Purpose::"customer_service" && '
            'context.device.kind == DeviceKind::"retail_terminal" && '
            'resource in [Field::"contract_name", Field::"phone", Field::"address"] };\n'
        )
    return dst


def _serve(url: str, tmp: Path, policies: Path | None) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    args = ["serve", "--db", url, "--port", str(port), "--canary-every", str(INTERVAL),
            "--canary-dir", str(tmp / "canary")]  # fmt: skip
    if policies is not None:
        args += ["--policies", str(policies)]
    log = (tmp / "serve.log").open("wb")
    proc = subprocess.Popen(_cli(*args), stdout=log, stderr=subprocess.STDOUT)
    return proc, port


def _health_until(port: int, proc: Any, tmp: Path, until: float) -> list[tuple[float, int, Any]]:
    """Poll ``/health`` until ``until`` (monotonic); (time, status, body) of each answer."""
    seen: list[tuple[float, int, Any]] = []
    while time.monotonic() < until:
        if proc.poll() is not None:
            raise AssertionError((tmp / "serve.log").read_text(errors="replace")[-3000:])
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
            seen.append((time.monotonic(), r.status_code, r.json()))
            if r.status_code == 503:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    return seen


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("deploy", ["shipped", "broken"])
def test_a_bad_policy_deploy_alerts_and_turns_health_red_within_one_interval(
    db_url: str, tmp_path: Path, deploy: str
) -> None:
    policies = _bad_deploy(tmp_path) if deploy == "broken" else None
    proc, port = _serve(db_url, tmp_path, policies)
    try:
        # serving: the first answer of /health (the canary schedule has not reported yet)
        seen = _health_until(port, proc, tmp_path, time.monotonic() + 180)
        assert seen, (tmp_path / "serve.log").read_text(errors="replace")[-3000:]
        up = seen[0][0]
        # one interval after the server answers, plus the time one run takes on a busy box
        seen += _health_until(port, proc, tmp_path, up + INTERVAL + 20)
        alerts_file = tmp_path / "canary" / "alerts.jsonl"
        if deploy == "shipped":
            assert all(s == 200 for _, s, _ in seen), seen[-1]
            ok = [b for _, _, b in seen if b["components"]["canary"]["status"] == "ok"]
            assert ok, seen[-1]  # a run did report, and it passed
            assert not alerts_file.exists()
            return
        red = [(t, b) for t, s, b in seen if s == 503]
        assert red, seen[-1]
        t, body = red[0]
        assert t - up <= INTERVAL + 20
        assert body["status"] == "failing"
        assert body["components"]["canary"]["status"] == "failing"
        assert "retailer reads a competitor's customer" in body["components"]["canary"]["failures"]
        alerts = [json.loads(x) for x in alerts_file.read_text(encoding="utf-8").splitlines()]
        assert alerts and alerts[0]["severity"] == 5 and alerts[0]["rule"] == "canary"
        assert "retailer reads a competitor's customer" in alerts[0]["failures"]
        assert "canary failed" in (tmp_path / "serve.log").read_text(errors="replace")
    finally:
        _stop(proc)


def test_serve_refuses_a_policy_folder_that_does_not_load(tmp_path: Path) -> None:
    bad = tmp_path / "empty"
    bad.mkdir()
    r = subprocess.run(
        _cli("serve", "--db", f"sqlite:///{tmp_path / 's.db'}", "--policies", str(bad)),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert "--policies" in r.stderr and "schema.cedarschema" in r.stderr
    assert not (tmp_path / "s.db").exists()
