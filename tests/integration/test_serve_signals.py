"""``gridwall serve`` signs a final checkpoint on every stop: SIGTERM as well as SIGINT.

Issue 15 item 4: on SIGTERM (what systemd, Docker and Kubernetes send) the process died
inside uvicorn's signal re-raise before the final checkpoint was signed, so the last
entries stood uncommitted to any signed tree head until someone ran `audit checkpoint`.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gridwall.audit import open_log


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from gridwall.app.cli import main; main()", *args]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signs_the_final_checkpoint(tmp_path: Path, sig: signal.Signals) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    key = tmp_path / "audit.key"
    subprocess.run(_cli("audit", "keygen", "--key", str(key), "--db", url), check=True,
                   capture_output=True, timeout=120)  # fmt: skip
    port = _free_port()
    proc = subprocess.Popen(
        _cli("serve", "--db", url, "--port", str(port), "--audit-key", str(key),
             "--checkpoint-every", "3600"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                # any request is audited: three entries the final checkpoint must cover
                for _ in range(3):
                    httpx.get(f"http://127.0.0.1:{port}/v1/supply-points/x", timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"server did not start: {proc.stderr}") from None
                time.sleep(0.3)
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = open_log(url, migrate=False)
    try:
        latest = log.latest_checkpoint()
        assert latest is not None, "no checkpoint signed at stop"
        assert latest.size == log.size() >= 3
    finally:
        log.close()
