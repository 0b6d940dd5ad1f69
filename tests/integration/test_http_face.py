"""The HTTP face as an outside caller meets it (issue 10: one bearer parser, one context
dependency, one error shape; issue 11 items 5, 7, 8, 13, 15, 16), over the composed app.

Routes come from the app's own OpenAPI document, so a route added later is covered."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient

from gridwall.app.http.security import HEADERS

from .site import CHIYODA, MINATO, MISSING, PASSWORD, Site, build_site
from .test_route_walk import bodies, calls

ERROR_KEYS = {"error", "detail", "header", "parameter"}


def authenticated_ops(site: Site) -> list[tuple[str, str, dict[str, Any]]]:
    spec = site.app.openapi()
    out = []
    for method, path, kw in calls(spec, bodies(site, MINATO, "nw-op"), MINATO):
        if spec["paths"][path][method.lower()].get("security"):
            out.append((method, path, kw))
    assert len(out) >= 15, "every gateway, grants, lookup and identity route is here"
    return out


def documented(site: Site, method: str, path: str) -> set[int]:
    op = site.app.openapi()["paths"][path][method.lower()]
    return {int(c) for c in op["responses"]}


def assert_shape(r: Any) -> dict[str, Any]:
    body = r.json()
    assert isinstance(body, dict) and {"error", "detail"} <= set(body) <= ERROR_KEYS, r.text
    return body


def assert_hardened(r: Any) -> None:
    for k, v in HEADERS:
        assert r.headers.get(k.decode()) == v.decode(), (k, r.request.url)
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert "server" not in r.headers


# -- issue 10: one bearer parser, one shape ------------------------------------------------


def test_every_route_refuses_bad_bearers_alike(site: Site) -> None:
    good = site.headers("nw-op", "T-NW", "takuso")
    ended = site.login("nw-mgr", "T-NW")
    site.logout("nw-mgr", "T-NW")
    variants = {
        "no header": None,
        "wrong scheme": "Basic bnctb3A6cGFzc3dvcmQ=",
        "scheme only": "Bearer",
        "malformed": "Bearer two tokens",
        "unknown token": "Bearer gws1.not-a-session-token",
        "ended session": f"Bearer {ended}",
    }
    for method, path, kw in authenticated_ops(site):
        for name, value in variants.items():
            h = {k: v for k, v in good.items() if k != "Authorization"}
            h["X-Gridwall-Terminal"] = site.terminal("T-NW")
            if value is not None:
                h["Authorization"] = value
            r = site.client.request(method, kw["url"], headers=h, params=kw["params"],
                                    json=kw["json"])  # fmt: skip
            assert r.status_code == 401, (method, path, name, r.text)
            body = assert_shape(r)
            assert body["error"] == "unauthenticated" and body["header"] == "Authorization"
            assert r.headers["www-authenticate"] == "Bearer", (method, path, name)
            assert 401 in documented(site, method, path), (method, path)
            assert_hardened(r)


def test_schema_lists_the_real_codes_and_the_one_shape(site: Site) -> None:
    spec = site.app.openapi()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            codes = set(op["responses"])
            assert "422" not in codes, (method, path)
            if op.get("parameters") or op.get("requestBody"):
                assert "400" in codes, (method, path)
            assert "503" in codes, (method, path)  # the audit log may refuse any request
            for code, resp in op["responses"].items():
                if code[0] in "45":
                    ref = resp["content"]["application/json"]["schema"]["$ref"]
                    assert ref == "#/components/schemas/Error", (method, path, code)
    # a validation error is a 400 in that shape, on every route that takes a body
    h = site.headers("nw-op", "T-NW", "takuso")
    for method, path, kw in authenticated_ops(site):
        if kw["json"] is None:
            continue
        r = site.client.request(method, kw["url"], headers=h, json=[1, 2])
        assert r.status_code == 400 and assert_shape(r)["parameter"], (method, path, r.text)


def test_observed_codes_are_documented(site: Site) -> None:
    cases = [("nw-op", "T-NW", "takuso", CHIYODA),
             ("ind-agent", "T-IND", "customer_service", MINATO)]  # fmt: skip
    for account, device, purpose, point in cases:
        h = site.headers(account, device, purpose)
        spec = site.app.openapi()
        for method, path, kw in calls(spec, bodies(site, point, account), point):
            r = site.client.request(method, kw["url"], headers=h, params=kw["params"],
                                    json=kw["json"])  # fmt: skip
            assert r.status_code in documented(site, method, path), (method, path, r.text[:200])
            assert_hardened(r)
            if r.status_code >= 400:
                assert_shape(r)
        site.forget_sessions()


# -- item 16: every request that reaches the app is audited ---------------------------------

ODD_TARGETS = [
    ("GET", "/V1/customers"),
    ("GET", "//v1/customers"),
    ("GET", "/v1//customers"),
    ("GET", "/v1/customers/"),
    ("GET", "/nope"),
    ("GET", "/"),
    ("DELETE", "/v1/customers"),
    ("PUT", "/v1/supply-points/" + MISSING),
    ("GET", "/v1/supply-points/%2e%2e/customers"),
    ("GET", "/docs"),
    ("GET", "/openapi.json"),
    ("OPTIONS", "/v1/lookup"),
]


def raw(
    app: Any,
    method: str,
    path: str,
    raw_path: bytes | None = None,
    client: tuple[str, int] = ("192.0.2.10", 40000),
) -> tuple[int, dict[bytes, bytes]]:
    """One request straight into the ASGI app (no client library normalising the path)."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path,
             "raw_path": raw_path if raw_path is not None else path.encode(),
             "query_string": b"", "root_path": "", "headers": [(b"host", b"testserver")],
             "client": client, "server": ("testserver", 80)}  # fmt: skip
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return int(start["status"]), dict(start["headers"])


@pytest.mark.parametrize(("method", "path"), ODD_TARGETS)
def test_odd_targets_are_audited(site: Site, method: str, path: str) -> None:
    size = site.log.size()
    status, headers = raw(site.app, method, path)
    events = site.events_since(size)
    assert len(events) == 1, (method, path, status, events)
    ev = events[0]
    assert ev["screen"] == f"{method} {path}" and ev["source_ip"] == "192.0.2.10"
    assert ev["decision"] == ("allow" if status < 400 else "deny")
    assert headers[b"cache-control"] == b"no-store" and b"server" not in headers


def test_absolute_form_and_overlong_targets_are_audited(site: Site) -> None:
    # an absolute-form request target (the server gives the app its path part), and a
    # target longer than any event may carry
    for path, raw_path in [("/v1/customers", b"http://other.example/v1/customers"),
                           ("/v1/" + "a" * 5000, None)]:  # fmt: skip
        size = site.log.size()
        raw(site.app, "GET", path, raw_path)
        (ev,) = site.events_since(size)
        assert ev["screen"].startswith("GET /v1/") and len(ev["screen"]) <= 600


# -- item 15: offline docs ------------------------------------------------------------------


def test_docs_work_offline(site: Site) -> None:
    r = site.client.get("/docs")
    assert r.status_code == 200
    assert_hardened(r)
    refs = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert refs and all(u.startswith("/") and not u.startswith("//") for u in refs), refs
    assert "<script>" not in r.text  # no inline script: the CSP allows only 'self'
    for u in refs:
        a = site.client.get(u)
        assert a.status_code == 200 and len(a.content) > 20, u
        assert_hardened(a)
    assert site.client.get("/redoc").status_code == 404  # FastAPI's CDN page is not served


# -- item 7: client address -----------------------------------------------------------------


def _login(site: Site, client: TestClient, account: str, device: str, step: int = 0,
           headers: dict[str, str] | None = None) -> Any:  # fmt: skip
    site.clock.advance(seconds=30 * (step + 1))  # a fresh TOTP step
    return client.post(
        "/v1/identity/login",
        json={"account_id": account, "password": PASSWORD,
              "totp": pyotp.TOTP(site.totp[account]).at(site.clock())},
        headers={"X-Gridwall-Terminal": site.terminal(device), **(headers or {})},
    )  # fmt: skip


def test_spoofed_forwarded_for_is_ignored(site: Site) -> None:
    c = TestClient(site.app, client=("203.0.113.9", 5555))
    size = site.log.size()
    r = _login(site, c, "nw-op", "T-NW", headers={"X-Forwarded-For": "10.1.2.3"})
    assert r.status_code == 200, r.text
    h = {"Authorization": f"Bearer {r.json()['token']}",
         "X-Gridwall-Terminal": site.terminal("T-NW"), "X-Gridwall-Purpose": "takuso",
         "X-Forwarded-For": "10.1.2.3"}  # fmt: skip
    for url in (f"/v1/supply-points/{CHIYODA}", "/v1/grants/disasters", "/nope"):
        assert c.get(url, headers=h).status_code in (200, 404)
    events = site.events_since(size)
    assert len(events) == 4 and {e["source_ip"] for e in events} == {"203.0.113.9"}


@pytest.fixture
def proxied(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.setenv("GRIDWALL_TRUSTED_PROXIES", "10.0.0.0/24")
    s = build_site(sqlite_url, tmp_path)
    yield s
    s.server.close()


def test_trusted_proxy_is_honoured_and_two_places_refused(proxied: Site) -> None:
    site = proxied
    proxy = TestClient(site.app, client=("10.0.0.7", 5555))
    size = site.log.size()
    r = _login(site, proxy, "nw-op", "T-NW", headers={"X-Forwarded-For": "198.51.100.1"})
    assert r.status_code == 200, r.text
    (ev,) = site.events_since(size)
    assert ev["action"] == "login" and ev["source_ip"] == "198.51.100.1"
    # the same account, while that session is live, from another place: refused, alerted
    r2 = _login(site, proxy, "nw-op", "T-NW", step=1, headers={"X-Forwarded-For": "198.51.100.2"})
    assert r2.status_code == 403, r2.text
    last = site.events_since(size)[-1]
    assert last["source_ip"] == "198.51.100.2" and "alert" in last["reason"]
    # a peer outside the trusted network cannot choose its address
    other = TestClient(site.app, client=("192.0.2.50", 1))
    size = site.log.size()
    other.get("/nope", headers={"X-Forwarded-For": "198.51.100.1"})
    assert site.events_since(size)[0]["source_ip"] == "192.0.2.50"


def test_bad_trusted_proxy_setting_is_refused(sqlite_url: str) -> None:
    from gridwall.app import create_server_app
    from gridwall.errors import UsageError

    with pytest.raises(UsageError, match="not-an-ip"):
        create_server_app(sqlite_url, trusted_proxies="10.0.0.1, not-an-ip")


# -- items 13 and 8 ----------------------------------------------------------------------


def test_refused_export_answers_like_nonexistent_points(site: Site) -> None:
    h = site.headers("ind-agent", "T-IND", "customer_service")
    answers = []
    for ids in ([MISSING], [MINATO], [CHIYODA, MISSING]):
        body = {"recipient_org": "contractor:itco", "supply_point_ids": ids}
        r = site.client.post("/v1/exports", headers=h, json=body)
        answers.append((r.status_code, r.content))
    assert answers[0][0] == 404 and len(set(answers)) == 1, answers


def test_locked_account_answers_like_a_wrong_password(site: Site) -> None:
    def attempt(password: str) -> tuple[int, bytes]:
        site.clock.advance(seconds=1)
        r = site.client.post("/v1/identity/login", json={"account_id": "nw-fit",
                             "password": password, "totp": "000000"},
                             headers={"X-Gridwall-Terminal": site.terminal("T-NW")})  # fmt: skip
        return r.status_code, r.content

    wrong = attempt("wrong password")
    for _ in range(6):  # past the lockout threshold
        attempt("wrong password")
    assert site.server.identity is not None
    locked = _login(site, site.client, "nw-fit", "T-NW")  # the right password, locked
    assert (locked.status_code, locked.content) == wrong


def test_logout_needs_the_sessions_own_terminal(site: Site) -> None:
    token = site.login("ind-agent", "T-IND")
    bearer = {"Authorization": f"Bearer {token}"}
    url = "/v1/identity/logout"
    assert site.client.post(url, headers=bearer).status_code == 401
    r = site.client.post(url, headers={**bearer, "X-Gridwall-Terminal": site.terminal("T-IND2")})
    assert r.status_code == 401 and assert_shape(r)["error"] == "unauthenticated"
    h = site.headers("ind-agent", "T-IND", "customer_service")
    assert site.client.get(f"/v1/supply-points/{MINATO}", headers=h).status_code == 200  # alive
    r = site.client.post(url, headers={**bearer, "X-Gridwall-Terminal": site.terminal("T-IND")})
    assert r.status_code == 204
