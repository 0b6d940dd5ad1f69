"""Fixtures: the composed server (tests/integration/site.py) and a console client that
signs in like a browser would (terminal cookie, CSRF field, session cookie)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient

from integration.site import PASSWORD, Site, build_site

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


class Console:
    """A browser-like client of one account on one terminal."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.client = TestClient(site.app, base_url="http://testserver")
        self._steps = site._steps  # shared by every client of the site: a code is good once
        self._csrf: dict[str, str] = {}
        self.last: Any = None

    def terminal(self, device: str) -> None:
        """What static/terminal.js does: a fresh signed token in the gw_terminal cookie."""
        self.client.cookies.set("gw_terminal", self.site.terminal(device), path="/console")

    def csrf(self, path: str = "/console/signin") -> str:
        r = self.client.get(path)
        m = CSRF.search(r.text)
        assert m, (path, r.status_code, r.text[:500])
        return m.group(1)

    def code(self, account: str) -> str:
        if account not in self.site.totp:
            return "000000"
        clock = self.site.clock
        step = int(clock().timestamp()) // 30
        if self._steps.get(account) == step:  # each TOTP code is accepted once
            clock.advance(seconds=30)
            step += 1
        self._steps[account] = step
        return pyotp.TOTP(self.site.totp[account]).at(clock())

    def signin(self, account: str, device: str, password: str = PASSWORD) -> int:
        self.terminal(device)
        self.client.cookies.delete("gw_session")
        r = self.client.post(
            "/console/signin",
            data={"csrf": self.csrf(), "account_id": account, "password": password,
                  "totp": self.code(account)},
            follow_redirects=False,
        )  # fmt: skip
        self.last = r
        return int(r.status_code)

    def token(self) -> str:
        """This session's CSRF token (fetched once per session: it is the session's)."""
        session = self.client.cookies.get("gw_session") or ""
        if session not in self._csrf:
            self._csrf[session] = self.csrf("/console/" if session else "/console/signin")
        return self._csrf[session]

    def post(self, path: str, data: dict[str, str]) -> str:
        """POST a console form (with this session's CSRF token); returns the page text."""
        r = self.client.post(path, data={"csrf": self.token(), **data})
        return str(r.text)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium through Playwright (skips, or fails under CI, without it)."""
    from playwright.sync_api import sync_playwright

    from .browser import CHROMIUM, require_browser

    require_browser()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def site(sqlite_url: str, tmp_path: Path) -> Iterator[Site]:
    s = build_site(sqlite_url, tmp_path)
    yield s
    s.server.close()


@pytest.fixture
def any_site(db_url: str, tmp_path: Path) -> Iterator[Site]:
    """The same on SQLite and on PostgreSQL."""
    s = build_site(db_url, tmp_path)
    yield s
    s.server.close()


@pytest.fixture
def console(site: Site) -> Console:
    return Console(site)
