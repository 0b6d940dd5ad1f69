"""Browser tests' harness: the composed server on a real socket, Debian's Chromium driven
by Playwright (never a downloaded browser), a console user signing in like a person would.

Chromium is ``/usr/bin/chromium`` (Debian's package; ``./dev test`` installs it when it is
missing and may). Without it the browser tests skip with a message, unless
``GRIDWALL_REQUIRE_BROWSER=1`` (CI), when they fail.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pyotp
import pytest

from integration.site import PASSWORD, Site

CHROMIUM = Path(os.environ.get("GRIDWALL_CHROMIUM", "/usr/bin/chromium"))
#: where screenshots go for review (git-ignored)
SHOTS = Path(__file__).resolve().parents[2] / "out" / "console"


def require_browser() -> None:
    if CHROMIUM.exists():
        return
    why = f"{CHROMIUM} is missing (Debian package 'chromium'; ./dev test installs it as root)"
    if os.environ.get("GRIDWALL_REQUIRE_BROWSER") == "1":
        pytest.fail(f"GRIDWALL_REQUIRE_BROWSER=1 but {why}")
    pytest.skip(why)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """``site.app`` served by uvicorn on 127.0.0.1 in a thread."""

    def __init__(self, site: Site) -> None:
        import uvicorn

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            site.app, host="127.0.0.1", port=self.port, log_level="warning", server_header=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class Person:
    """One person in their own browser profile (context): terminal key, sign-in, pages."""

    def __init__(self, site: Site, base: str, browser: Any, name: str) -> None:
        self.site = site
        self.base = base
        self.name = name
        self.context = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo")
        self.page = self.context.new_page()
        self.responses: list[Any] = []
        self.requests: list[str] = []
        self.csp_violations: list[str] = []
        self.page.on("response", lambda r: self.responses.append(r))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on(
            "console",
            lambda m: (
                self.csp_violations.append(m.text) if "Content Security Policy" in m.text else None
            ),
        )
        self.shots: list[Path] = []
        self.sync_clock()

    def sync_clock(self) -> None:
        """The page's clock is the server's (frozen) clock: terminal tokens sign its time."""
        now: datetime = self.site.clock()
        self.page.clock.set_fixed_time(now)

    def goto(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def shot(self, label: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{self.name}-{len(self.shots):02d}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)
        return path

    def load_terminal_key(self, device: str) -> None:
        """What the terminal's operator does once per browser profile."""
        self.goto("/console/signin")
        self.page.set_input_files(
            "#terminal-key",
            files=[{"name": f"{device}.json", "mimeType": "application/json",
                    "buffer": self.site.keys[device].encode()}],
        )  # fmt: skip
        self.page.get_by_role("button", name="端末鍵をこのブラウザに読み込む").click()
        self.page.wait_for_selector("#terminal-status[data-state=ready]")

    def code(self, account: str) -> str:
        clock, steps = self.site.clock, self.site._steps
        step = int(clock().timestamp()) // 30
        if steps.get(account) == step:  # each TOTP code is accepted once
            clock.advance(seconds=30)
            step += 1
        steps[account] = step
        return pyotp.TOTP(self.site.totp[account]).at(clock())

    def sign_in(self, account: str, device: str, *, password: str = PASSWORD) -> None:
        self.load_terminal_key(device)
        code = self.code(account)
        self.sync_clock()
        self.goto("/console/signin")  # re-signs the terminal token at the page's time
        self.page.wait_for_selector("#terminal-status[data-state=ready]")
        self.page.get_by_label("アカウントID").fill(account)
        self.page.get_by_label("パスワード").fill(password)
        self.page.get_by_label("ワンタイムコード（TOTP）").fill(code)
        self.page.get_by_role("button", name="サインイン", exact=True).click()
        self.page.wait_for_load_state()

    def close(self) -> None:
        self.context.close()
