"""The FastAPI login/logout/session routes."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from gridwall.app.http.identity import create_router

from .conftest import PASSWORD, World


def _client(w: World) -> TestClient:
    app = FastAPI()
    app.include_router(create_router(w.svc, clock=lambda: w.now))
    return TestClient(app)


def test_login_session_logout_over_http(world: World) -> None:
    w = world
    c = _client(w)
    r = c.post(
        "/v1/identity/login",
        json={"account_id": "nw-op", "password": PASSWORD, "totp": w.code("nw-op")},
        headers={"X-Gridwall-Terminal": w.term("t-nw")},
    )
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    auth = {"Authorization": f"Bearer {token}", "X-Gridwall-Terminal": w.term("t-nw")}
    s = c.get("/v1/identity/session", headers=auth)
    assert s.status_code == 200 and s.json()["principal"]["account_state"] == "active"
    assert c.post("/v1/identity/logout", headers=auth).status_code == 204
    s = c.get("/v1/identity/session", headers=auth)
    assert s.status_code == 401 and s.json()["error"] == "unauthenticated"


def test_refusals_are_neutral(world: World) -> None:
    w = world
    c = _client(w)
    r = c.post(
        "/v1/identity/login",
        json={"account_id": "nw-op", "password": "nope nope nope", "totp": w.code("nw-op")},
        headers={"X-Gridwall-Terminal": w.term("t-nw")},
    )
    assert r.status_code == 401 and r.json()["detail"] == "authentication refused"
    r = c.post(
        "/v1/identity/login",
        json={"account_id": "ret-op", "password": PASSWORD, "totp": w.code("ret-op")},
        headers={"X-Gridwall-Terminal": w.term("t-nw")},
    )
    assert r.status_code == 403 and "belongs" not in r.text  # reason only in the audit log
    assert "belongs to nw" in w.sink.events[-1]["reason"]
    r = c.post("/v1/identity/login", json={"account_id": "nw-op", "password": PASSWORD})
    assert r.status_code == 401 and r.json()["header"] == "X-Gridwall-Terminal"
