"""Property test through the real HTTP API (TestClient): random principals, terminals,
purposes, points and operations never receive a field the invariants forbid.

The checks below restate invariants.md directly on the returned JSON and on the
tiny dataset's facts computed here; they do not use the policy code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gridwall.app.http.gateway import create_app
from gridwall.app.wiring import load_dataset
from gridwall.gateway import Gateway
from gridwall.interfaces import Principal
from gridwall.interfaces.facts import (
    AccountKind,
    AccountState,
    DeviceKind,
    OrgKind,
    PrincipalFacts,
    Purpose,
    RetailerKind,
    Role,
)
from gridwall.policy import default_engine
from gridwall.store import make_engine, upgrade
from support.doubles import MemoryAuditSink, NoGrants

from . import tiny
from .conftest import NOW, make_world

TODAY = date(2026, 11, 25)
NON_PUBLIC = {
    "contract_name",
    "address",
    "phone",
    "usage",
    "retailer",
    "switching_history",
    "contract",
    "lrs",
    "fit",
}  # fmt: skip  (invariants.md, restated)
ORGS = ["nw", f"retail:{tiny.AFF}", f"retail:{tiny.IND}", f"retail:{tiny.IND2}",
        "contractor:IT1", "regulator"]  # fmt: skip
TERMINALS = {  # id -> (owner org, kind, valid)
    "T-NW": ("nw", DeviceKind.NW_TERMINAL, True),
    "T-NW-OLD": ("nw", DeviceKind.NW_TERMINAL, False),
    "T-AFF": (f"retail:{tiny.AFF}", DeviceKind.RETAIL_TERMINAL, True),
    "T-IND": (f"retail:{tiny.IND}", DeviceKind.RETAIL_TERMINAL, True),
    "T-IND2": (f"retail:{tiny.IND2}", DeviceKind.RETAIL_TERMINAL, True),
    "T-CON": ("contractor:IT1", DeviceKind.CONTRACTOR_TERMINAL, True),
    "T-DIS-AFF": (f"retail:{tiny.AFF}", DeviceKind.DISASTER_TERMINAL, True),
    "T-DIS-IND": (f"retail:{tiny.IND}", DeviceKind.DISASTER_TERMINAL, True),
}
POINT_IDS = [p["supply_point_id"] for p in tiny.POINTS] + [tiny.MISSING]


def _current() -> dict[str, tuple[str, str]]:
    """supply_point_id -> (retailer_code, kind) of the contract current on TODAY."""
    out = {}
    for c in tiny.CONTRACTS:
        start = date.fromisoformat(c["start_date"])
        end = date.fromisoformat(c["end_date"]) if c.get("end_date") else None
        if start <= TODAY and (end is None or end > TODAY):
            out[c["supply_point_id"]] = (c["retailer_code"], c["kind"])
    return out


CURRENT = _current()
LRS = {p for p, (_, k) in CURRENT.items() if k == "lrs"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Any]]:
    d: Path = tmp_path_factory.mktemp("prop")
    url = f"sqlite:///{d / 'gw.db'}"
    upgrade(url)
    engine = make_engine(url)
    load_dataset(tiny.write(d / "ds"), engine, progress=False)
    world = make_world()
    for dev, (org, kind, valid) in TERMINALS.items():
        world.terminals[dev] = world.auth.enroll_terminal(dev, org, kind, valid=valid)
    gw = Gateway(engine, default_engine(), auth=world.auth, grants=NoGrants(),
                 audit=MemoryAuditSink(), clock=lambda: NOW)  # fmt: skip
    yield TestClient(create_app(gw)), world
    engine.dispose()


principals = st.builds(
    lambda org, role, ak, state, trained: (org, role, ak, state, trained),
    st.sampled_from(ORGS), st.sampled_from(list(Role)), st.sampled_from(list(AccountKind)),
    st.sampled_from(list(AccountState)), st.booleans(),
)  # fmt: skip
WORK_ROLES = [Role.TAKUSO_OPERATOR, Role.CALL_CENTER, Role.SALES, Role.FIT_TEAM]
WORK_PURPOSES = ["takuso", "customer_service", "sales", "fit"]
_OWN_TERMINALS = {org: [t for t, (o, _k, v) in TERMINALS.items() if o == org and v] for org in ORGS}
# half the examples are realistic callers (active, personal, trained, own terminal), so that
# the checks bite on data that is actually returned, not only on refusals
realistic = st.sampled_from([o for o in ORGS if _OWN_TERMINALS[o]]).flatmap(
    lambda org: st.tuples(
        st.tuples(st.just(org), st.sampled_from(WORK_ROLES), st.just(AccountKind.PERSONAL),
                  st.just(AccountState.ACTIVE), st.just(True)),
        st.sampled_from(_OWN_TERMINALS[org]),
    )
)  # fmt: skip
operations = st.one_of(
    st.tuples(st.just("read"), st.sampled_from(POINT_IDS)),
    st.tuples(st.just("usage"), st.sampled_from(POINT_IDS)),
    st.tuples(st.just("search_town"), st.sampled_from(["一番町", "二日町", "三条町", "八島町"])),
    st.tuples(st.just("search_meter"), st.sampled_from([f"M00{i}" for i in range(1, 9)])),
    st.tuples(st.just("search_id"), st.sampled_from(POINT_IDS)),
    st.tuples(st.just("list"), st.just("")),
)


def _register(world: Any, spec: tuple[Any, ...], flip_kind: bool = False) -> tuple[str, str]:
    org, role, ak, state, trained = spec
    kind = OrgKind(org.split(":", 1)[0])
    if kind is OrgKind.RETAIL:
        rk = RetailerKind.AFFILIATED if (org.endswith(tiny.AFF) ^ flip_kind) else (
            RetailerKind.INDEPENDENT)  # fmt: skip
    else:
        rk = RetailerKind.NONE
    facts = PrincipalFacts(kind, rk, role, ak, state, trained)
    acct = "acct-" + hashlib.sha256(repr((spec, flip_kind)).encode()).hexdigest()[:12]
    return acct, world.auth.register(Principal(acct, f"P-{acct}", org, facts))


def _call(client: TestClient, token: str, term: str, purpose: str, op: tuple[str, str]) -> Any:
    h = {"Authorization": f"Bearer {token}", "X-Gridwall-Terminal": term,
         "X-Gridwall-Purpose": purpose}  # fmt: skip
    kind, arg = op
    if kind == "read":
        return client.get(f"/v1/supply-points/{arg}", headers=h)
    if kind == "usage":
        return client.get(f"/v1/supply-points/{arg}/usage", headers=h)
    if kind == "list":
        return client.get("/v1/customers", headers=h)
    param = {"search_town": "town", "search_meter": "meter_id", "search_id": "supply_point_id"}
    return client.get("/v1/supply-points", params={param[kind]: arg}, headers=h)


def _records(op: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    if op == "read":
        return [body]
    if op == "usage":
        return [{"supply_point_id": body["supply_point_id"], "usage": body["usage"]}]
    return list(body["results"])


SETTINGS = settings(max_examples=250, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip


@SETTINGS
@given(
    caller=st.tuples(principals, st.sampled_from(sorted(TERMINALS))),
    purpose=st.sampled_from([p.value for p in Purpose]),
    op=operations,
)
def test_invariants_hold_through_http(
    api: tuple[TestClient, Any], caller: tuple[tuple[Any, ...], str], purpose: str,
    op: tuple[str, str],
) -> None:  # fmt: skip
    """Any principal, terminal, purpose and operation."""
    _check(api, caller, purpose, op)


@SETTINGS
@given(caller=realistic, purpose=st.sampled_from(WORK_PURPOSES), op=operations)
def test_invariants_hold_for_working_callers(
    api: tuple[TestClient, Any], caller: tuple[tuple[Any, ...], str], purpose: str,
    op: tuple[str, str],
) -> None:  # fmt: skip
    """Active, trained personal accounts on their own terminals with a work purpose: the
    checks bite on data actually returned."""
    _check(api, caller, purpose, op)


def _check(
    api: tuple[TestClient, Any], caller: tuple[tuple[Any, ...], str], purpose: str,
    op: tuple[str, str],
) -> None:  # fmt: skip
    client, world = api
    spec, terminal = caller
    org, role, ak, state, trained = spec
    _acct, token = _register(world, spec)
    r = _call(client, token, world.terminals[terminal], purpose, op)
    assert r.status_code in (200, 403, 404), r.text
    if r.status_code != 200:
        body = r.json()
        assert set(body) <= {"error", "detail", "header", "parameter"}
        return
    owner, dkind, dvalid = TERMINALS[terminal]
    recs = _records(op[0], r.json())
    event("data returned" if recs else "empty result")
    for rec in recs:
        pid = rec["supply_point_id"]
        fields = set(rec) - {"supply_point_id"}
        nonpub = fields & NON_PUBLIC
        assert fields, "a record with no field is an existence oracle"
        # I5, I6, shared IDs, I12, contractors without agreements, I4 without a disaster
        assert owner == org and dvalid, "I5: foreign or invalid terminal"
        assert state is AccountState.ACTIVE, "I6"
        assert ak not in (AccountKind.SHARED, AccountKind.DISASTER_SUPPORT)
        assert org != "regulator" and role is not Role.AUDITOR, "I12"
        assert not org.startswith("contractor:"), "no agreement is in force"
        assert purpose != "disaster_support", "I4: no declared disaster"
        if nonpub:
            assert trained, "untrained principals get nothing non-public"
        # I1: retailers only their own current customers (no consent/disaster here)
        if org.startswith("retail:"):
            code = org.split(":", 1)[1]
            cur = CURRENT.get(pid)
            if op[0] in ("list", "search_town", "search_meter", "search_id"):
                assert cur == (code, "retail"), "retail search/list beyond own customers"
            if nonpub:
                assert cur == (code, "retail"), "I1"
            assert dkind is DeviceKind.RETAIL_TERMINAL
        # I2
        if "fit" in fields:
            assert org == "nw" and role is Role.FIT_TEAM and purpose == "fit"
        # I3
        if pid in LRS and nonpub:
            assert org == "nw" and role in (Role.TAKUSO_OPERATOR, Role.CALL_CENTER)
            assert purpose == "takuso"
        # I10
        if org == "nw" and nonpub:
            assert purpose in ("takuso", "fit") and dkind is DeviceKind.NW_TERMINAL and trained
    # I7: the same request with the retailer kind flipped gets the same answer
    if org.startswith("retail:"):
        _a2, token2 = _register(world, spec, flip_kind=True)
        r2 = _call(client, token2, world.terminals[terminal], purpose, op)
        assert (r2.status_code, r2.json()) == (r.status_code, r.json()), "I7"
