"""Grant-management HTTP routes: the permission table, audit of refusals, 400s naming the
parameter, and the same refusals as the CLI."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gridwall.app.http.grants import create_router
from gridwall.grants import StoreGrantResolver
from gridwall.interfaces import Principal
from gridwall.interfaces.facts import (
    AccountKind,
    AccountState,
    DeviceKind,
    OrgKind,
    PrincipalFacts,
    RetailerKind,
    Role,
)
from support.doubles import MemoryAuditSink, TokenAuthenticator

from .conftest import T0, FrozenClock
from .helpers import register_parties


def _p(account: str, org: str, role: Role, training: bool = True) -> Principal:
    kind = OrgKind(org.split(":", 1)[0])
    rk = RetailerKind.INDEPENDENT if kind is OrgKind.RETAIL else RetailerKind.NONE
    facts = PrincipalFacts(kind, rk, role, AccountKind.PERSONAL, AccountState.ACTIVE, training)
    return Principal(account, f"p-{account}", org, facts)


@pytest.fixture
def api(engine: Engine, sink: MemoryAuditSink, clock: FrozenClock):  # type: ignore[no-untyped-def]
    register_parties(engine, ["A0001", "B0002"], ["0300000000000000000042"])
    auth = TokenAuthenticator()
    app = FastAPI()
    app.include_router(create_router(engine, auth, sink, clock, events=lambda: sink.events))
    client = TestClient(app)

    def who(p: Principal, kind: DeviceKind = DeviceKind.NW_TERMINAL) -> dict[str, str]:
        token = auth.register(p)
        term = auth.enroll_terminal(f"t-{p.account_id}", p.org, kind)
        return {"Authorization": f"Bearer {token}", "X-Gridwall-Terminal": term}

    return client, who


def test_disaster_lifecycle_over_http(api, engine: Engine, sink: MemoryAuditSink, clock) -> None:  # type: ignore[no-untyped-def]
    client, who = api
    op = who(_p("nw-op", "nw", Role.TAKUSO_OPERATOR))
    mgr = who(_p("nw-mgr", "nw", Role.MANAGER))
    body = {
        "disaster_id": "TY-1", "area": ["東京都/千代田区", "北海道/札幌市"],
        "planned_end": (T0 + timedelta(hours=24)).isoformat(), "max_hours": 72,
    }  # fmt: skip
    r = client.post("/v1/grants/disasters", json=body, headers=op)
    assert r.status_code == 201 and r.json()["status"] == "pending_approval"
    # the requester cannot approve, and an operator is not an approver
    assert client.post("/v1/grants/disasters/TY-1/approve", headers=op).status_code == 403
    r = client.post("/v1/grants/disasters/TY-1/approve", headers=mgr)
    assert r.status_code == 200 and r.json()["status"] == "active"
    assert StoreGrantResolver(engine, clock, refresh_seconds=0).disaster_active(T0)
    r = client.post("/v1/grants/disasters", json={**body, "disaster_id": "TY-2"}, headers=op)
    assert r.status_code == 400 and r.json()["parameter"] == "area"
    late = {"planned_end": (T0 + timedelta(hours=100)).isoformat()}
    r = client.post("/v1/grants/disasters/TY-1/extend", json=late, headers=op)
    assert r.status_code == 400 and "hard maximum" in r.json()["detail"]
    r = client.post("/v1/grants/disasters/TY-1/extend", json={"planned_end": "2026-09-02T12:00"},
                    headers=op)  # fmt: skip
    assert r.status_code == 400  # no UTC offset
    # a retailer agent sees the list (is disaster mode on?) but cannot declare or end
    agent = who(_p("r-agent", "retail:B0002", Role.CALL_CENTER), DeviceKind.DISASTER_TERMINAL)
    assert client.get("/v1/grants/disasters", headers=agent).status_code == 200
    assert client.post("/v1/grants/disasters/TY-1/end", headers=agent).status_code == 403
    clock.advance(hours=2)
    assert client.post("/v1/grants/disasters/TY-1/end", headers=op).status_code == 200
    # after the end: the retailer's manager attests for its own organisation only
    rmgr = who(_p("r-mgr", "retail:B0002", Role.MANAGER), DeviceKind.RETAIL_TERMINAL)
    att = {"org": "retail:A0001", "copies": 0, "statement": "none"}
    url = "/v1/grants/disasters/TY-1/deletion-attestations"
    assert client.post(url, json=att, headers=rmgr).status_code == 403
    r = client.post(url, json={**att, "org": "retail:B0002"}, headers=rmgr)
    assert r.status_code == 201
    # an NW manager may attest for others, but not for an organisation that does not exist
    for ghost in ("retail:Z9999", "contractor:nobody"):
        r = client.post(url, json={**att, "org": ghost}, headers=mgr)
        assert r.status_code == 400 and r.json()["parameter"] == "org", r.text
    r = client.get("/v1/grants/disasters/TY-1/report", headers=mgr)
    assert r.status_code == 200 and r.json()["declaration"]["status"] == "ended"
    assert client.get("/v1/grants/disasters/TY-1/report", headers=agent).status_code == 403
    # every refusal is audited, with the caller's organisation
    denied = [e for e in sink.events if e["decision"] == "deny"]
    assert {e["screen"] for e in denied} >= {
        "grants.disaster.approve", "grants.disaster.end", "grants.disaster.declare",
        "grants.disaster.attest-deletion", "grants.disaster.report",
    }  # fmt: skip
    assert any(e["org"] == "retail:B0002" for e in denied)


def test_agreements_and_consents_over_http(api) -> None:  # type: ignore[no-untyped-def]
    client, who = api
    mgr = who(_p("nw-mgr", "nw", Role.MANAGER))
    op = who(_p("nw-op", "nw", Role.TAKUSO_OPERATOR))
    untrained = who(_p("nw-new", "nw", Role.MANAGER, training=False))
    ag = {
        "agreement_id": "MT-1", "counterparty_org": "retail:A0001",
        "purpose": "system_maintenance", "fields": ["contract_name"], "valid_from": "2026-04-01",
    }  # fmt: skip
    r = client.post("/v1/grants/agreements", json=ag, headers=mgr)
    assert r.status_code == 400 and r.json()["parameter"] == "counterparty_org"
    ag["counterparty_org"] = "contractor:itco"
    assert client.post("/v1/grants/agreements", json=ag, headers=op).status_code == 403
    assert client.post("/v1/grants/agreements", json=ag, headers=untrained).status_code == 403
    assert client.post("/v1/grants/agreements", json=ag, headers=mgr).status_code == 201
    assert [a["agreement_id"] for a in client.get("/v1/grants/agreements", headers=op).json()] == [
        "MT-1"
    ]
    # NW staff on a terminal that is not an NW terminal: nothing
    roaming = who(_p("nw-x", "nw", Role.MANAGER), DeviceKind.RETAIL_TERMINAL)
    assert client.get("/v1/grants/agreements", headers=roaming).status_code == 403
    c = {"supply_point_id": "0300000000000000000042", "retailer_code": "B0002", "days": 7}
    r = client.post("/v1/grants/consents", json=c, headers=op)
    assert r.status_code == 201 and r.json()["token"].startswith("gwc1.")
    r2 = client.post("/v1/grants/consents", json={**c, "days": 30}, headers=op)
    assert r2.status_code == 400 and r2.json()["parameter"] == "days"
    r3 = client.post("/v1/grants/consents/revoke", json={"token": r.json()["token"]}, headers=op)
    assert r3.status_code == 200
    # a consent for a point or a retailer that does not exist is refused, naming which
    for bad, param in (
        ({**c, "supply_point_id": "0300000000000000000043"}, "point"),
        ({**c, "retailer_code": "Z9999"}, "retailer"),
    ):
        r4 = client.post("/v1/grants/consents", json=bad, headers=op)
        assert r4.status_code == 400 and r4.json()["parameter"] == param, r4.text
    assert client.get("/v1/grants/agreements").status_code == 401
