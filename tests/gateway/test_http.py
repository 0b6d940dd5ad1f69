"""The HTTP API: headers, JSON errors, byte-identical no-oracle answers, 503 on audit failure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gridwall.app.http.gateway import create_app
from gridwall.gateway import Gateway
from gridwall.policy import default_engine
from support.doubles import MemoryAuditSink, NoGrants

from . import tiny
from .conftest import NOW, World


def headers(w: World, account: str, terminal: str, purpose: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {w.tokens[account]}",
        "X-Gridwall-Terminal": w.terminals[terminal],
        "X-Gridwall-Purpose": purpose,
    }


@pytest.fixture
def client(gw: Gateway) -> TestClient:
    return TestClient(create_app(gw))


def test_headers_required(client: TestClient, world: World) -> None:
    url = f"/v1/supply-points/{tiny.P_AFF}"
    full = headers(world, "nw-op", "T-NW", "takuso")
    assert client.get(url, headers=full).status_code == 200
    for missing, status in (
        ("Authorization", 401), ("X-Gridwall-Terminal", 401), ("X-Gridwall-Purpose", 400),
    ):  # fmt: skip
        h = {k: v for k, v in full.items() if k != missing}
        r = client.get(url, headers=h)
        assert r.status_code == status, missing
        assert r.json()["header"] == missing
        assert "青木" not in r.text
    bad = dict(full, **{"X-Gridwall-Purpose": "curiosity"})
    r = client.get(url, headers=bad)
    assert r.status_code == 400 and r.json()["header"] == "X-Gridwall-Purpose"
    bad = dict(full, Authorization="Basic dXNlcjpwdw==")
    r = client.get(url, headers=bad)
    assert r.status_code == 401 and r.json()["header"] == "Authorization"
    assert r.headers["www-authenticate"] == "Bearer"
    bad = dict(full, Authorization="Bearer gw1.bm9ib2R5.forged")
    assert client.get(url, headers=bad).status_code == 401
    bad = dict(full, **{"X-Gridwall-Terminal": "nope"})
    r = client.get(url, headers=bad)
    assert r.status_code == 401 and r.json()["header"] == "X-Gridwall-Terminal"
    # no anonymous access anywhere, not even for bad input
    assert client.get("/v1/supply-points/xyz").status_code == 401
    assert client.get("/v1/customers").status_code == 401
    assert client.post("/v1/exports", json={}).status_code in (400, 401)


def test_no_oracle_byte_identical(client: TestClient, world: World) -> None:
    h = headers(world, "ind-agent", "T-IND", "customer_service")
    other = client.get(f"/v1/supply-points/{tiny.P_AFF}", headers=h)
    missing = client.get(f"/v1/supply-points/{tiny.MISSING}", headers=h)
    assert other.status_code == missing.status_code == 404
    assert other.content == missing.content
    assert dict(other.headers) == dict(missing.headers)
    ou = client.get(f"/v1/supply-points/{tiny.P_AFF}/usage", headers=h)
    mu = client.get(f"/v1/supply-points/{tiny.MISSING}/usage", headers=h)
    assert ou.content == mu.content and ou.status_code == 404
    s1 = client.get("/v1/supply-points", params={"meter_id": "M001"}, headers=h)
    s2 = client.get("/v1/supply-points", params={"meter_id": "M999"}, headers=h)
    assert s1.content == s2.content and s1.status_code == 200


def test_reads_differ_by_principal(client: TestClient, world: World) -> None:
    url = f"/v1/supply-points/{tiny.P_IND}"
    nw = client.get(url, headers=headers(world, "nw-op", "T-NW", "takuso")).json()
    own = client.get(url, headers=headers(world, "ind-agent", "T-IND", "customer_service"))
    aff = client.get(url, headers=headers(world, "aff-agent", "T-AFF", "customer_service"))
    assert nw["contract_name"] == own.json()["contract_name"] == "井上 二郎"
    assert aff.status_code == 404
    r = client.get("/v1/customers", headers=headers(world, "aff-agent", "T-AFF", "sales"))
    assert [x["supply_point_id"] for x in r.json()["results"]] == [tiny.P_AFF, tiny.P_OTHER_AREA]
    r = client.get("/v1/supply-points", params={"town": "一番町"},
                   headers=headers(world, "aff-agent", "T-AFF", "sales"))  # fmt: skip
    assert [x["supply_point_id"] for x in r.json()["results"]] == [tiny.P_AFF]


def test_bad_parameters_do_not_echo(client: TestClient, world: World) -> None:
    h = headers(world, "nw-op", "T-NW", "takuso")
    r = client.get("/v1/supply-points", params={"town": "一番町", "limit": "lots"}, headers=h)
    assert r.status_code == 400 and r.json()["parameter"] == "limit" and "lots" not in r.text
    r = client.get("/v1/supply-points/123", headers=h)
    assert r.status_code == 400 and r.json()["parameter"] == "supply_point_id"
    r = client.post("/v1/exports", json={"recipient_org": "contractor:X"}, headers=h)
    assert r.status_code == 400


class FailingAudit:
    def record(self, event: Mapping[str, Any]) -> None:
        raise OSError("audit disk full")


def test_audit_failure_is_503_without_data(loaded: Engine, world: World) -> None:
    gw = Gateway(loaded, default_engine(), auth=world.auth, grants=NoGrants(),
                 audit=FailingAudit(), clock=lambda: NOW)  # fmt: skip
    c = TestClient(create_app(gw))
    h = headers(world, "nw-op", "T-NW", "takuso")
    for url in (f"/v1/supply-points/{tiny.P_AFF}", f"/v1/supply-points/{tiny.MISSING}",
                "/v1/supply-points?town=一番町"):  # fmt: skip
        r = c.get(url, headers=h)
        assert r.status_code == 503, url
        assert r.json()["error"] == "unavailable"
        assert "青木" not in r.text and "M001" not in r.text


def test_one_audit_event_per_request(client: TestClient, world: World,
                                     audit: MemoryAuditSink) -> None:  # fmt: skip
    h = headers(world, "nw-op", "T-NW", "takuso")
    n = len(audit.events)
    client.get(f"/v1/supply-points/{tiny.P_AFF}", headers=h)
    client.get(f"/v1/supply-points/{tiny.MISSING}", headers=h)
    client.get("/v1/supply-points", params={"town": "一番町"}, headers=h)
    evs = audit.events[n:]
    assert [e["decision"] for e in evs] == ["allow", "deny", "allow"]
    assert evs[0]["screen"] == "GET /v1/supply-points/{id}"
    assert evs[0]["source_ip"] == "testclient"


def test_openapi_and_no_unprotected_route(gw: Gateway) -> None:
    """The shipped app has no way to read a row around the policy (the benchmark adds its
    own unprotected route in bench/gateway, never shipped)."""
    import inspect

    assert "unprotected" not in inspect.signature(create_app).parameters
    c = TestClient(create_app(gw))
    spec = c.get("/openapi.json").json()
    assert "/v1/supply-points/{supply_point_id}" in spec["paths"]
    assert "/v1/exports" in spec["paths"]
    assert not any(p.startswith("/unprotected") for p in spec["paths"])
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert c.get(f"/unprotected/supply-points/{tiny.P_AFF}").status_code == 404


def test_extra_routers_are_included(gw: Gateway) -> None:
    from fastapi import APIRouter

    r = APIRouter(prefix="/v1/identity")

    @r.get("/ping")
    def ping() -> dict[str, str]:
        return {"ok": "yes"}

    c = TestClient(create_app(gw, routers=[r]))
    assert c.get("/v1/identity/ping").json() == {"ok": "yes"}
