"""Grant-management routes ask the Cedar management engine: a person's second account
cannot approve the first one's request, and each refusal is audited with its policy."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gridwall.app.http.grants import create_router
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


def _principal(account: str, person: str, role: Role) -> Principal:
    facts = PrincipalFacts(
        OrgKind.NW, RetailerKind.NONE, role, AccountKind.PERSONAL, AccountState.ACTIVE, True
    )
    return Principal(account, person, "nw", facts)


def test_a_persons_second_account_cannot_approve_its_first_accounts_request(
    engine: Engine,
) -> None:
    sink, clock = MemoryAuditSink(), FrozenClock(T0)
    holders = {"nw-a1": "person-a", "nw-a2": "person-a", "nw-b": "person-b"}
    auth = TokenAuthenticator()
    app = FastAPI()
    app.include_router(
        create_router(engine, auth, sink, clock, events=lambda: sink.events,
                      person_of=holders.get)
    )  # fmt: skip
    client = TestClient(app)

    def who(p: Principal) -> dict[str, str]:
        token = auth.register(p)
        term = auth.enroll_terminal(f"t-{p.account_id}", p.org, DeviceKind.NW_TERMINAL)
        return {"Authorization": f"Bearer {token}", "X-Gridwall-Terminal": term}

    a1 = who(_principal("nw-a1", "person-a", Role.MANAGER))
    a2 = who(_principal("nw-a2", "person-a", Role.MANAGER))
    b = who(_principal("nw-b", "person-b", Role.MANAGER))
    body = {
        "disaster_id": "EQ-9", "area": ["北海道/札幌市"],
        "planned_end": (T0 + timedelta(hours=12)).isoformat(), "max_hours": 24,
    }  # fmt: skip
    assert client.post("/v1/grants/disasters", json=body, headers=a1).status_code == 201
    for same in (a1, a2):
        r = client.post("/v1/grants/disasters/EQ-9/approve", headers=same)
        assert r.status_code == 403, r.text
    denied = [e for e in sink.events if e.get("decision") == "deny"]
    assert len(denied) == 2
    assert all("manage-forbid-self-approval" in str(e.get("query")) for e in denied)
    r = client.post("/v1/grants/disasters/EQ-9/approve", headers=b)
    assert r.status_code == 200, r.text
    assert r.json()["approved_by"] == "nw-b"
