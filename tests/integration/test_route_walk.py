"""Issue 3 over the COMPOSED app: every route of its OpenAPI document, called allowed and
denied, appends exactly one audit event; with an unwritable audit log no route answers with
data (fail closed).

The walk reads ``/openapi.json``, so a route added to any capability is covered (or the
test says which parameter or body it needs) without editing a list of routes here.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from .site import (
    CHIYODA,
    IND,
    MINATO,
    MISSING,
    PASSWORD,
    SECRETS,
    Site,
    build_site,
)

#: path and query parameters, by (location, name)
PARAMS: dict[tuple[str, str], str] = {
    ("path", "supply_point_id"): "",  # filled per caller
    ("path", "disaster_id"): "TY-WALK",
    ("path", "agreement_id"): "AG-WALK",
    ("path", "case_id"): "case-walk",
    ("path", "report_id"): "SR-walk",
    ("query", "town"): "丸の内一丁目",
}


def bodies(site: Site, point: str, account: str) -> dict[str, dict[str, Any]]:
    t0 = site.clock()
    return {
        "ExportRequest": {"recipient_org": "contractor:itco", "supply_point_ids": [point]},
        "LookupRequest": {"address": "東京都千代田区霞が関2-1-1"},
        "LoginBody": {"account_id": account, "password": PASSWORD + "?", "totp": "000000"},
        "DeclareBody": {"disaster_id": "TY-WALK", "area": ["東京都/千代田区"],
                        "planned_end": (t0 + timedelta(hours=24)).isoformat(), "max_hours": 48},
        "ExtendBody": {"planned_end": (t0 + timedelta(hours=30)).isoformat()},
        "AttestBody": {"org": "nw", "copies": 0, "statement": "none kept"},
        "AgreementBody": {"agreement_id": "AG-WALK", "counterparty_org": "contractor:itco",
                          "purpose": "system_maintenance", "fields": ["contract_name"],
                          "valid_from": "2026-04-01"},
        "ConsentBody": {"supply_point_id": MINATO, "retailer_code": IND, "days": 7},
        "RevokeBody": {"token": "no-such-token"},
        "CaseTextBody": {"text": "the facts are as reported"},
        "CaseDecideBody": {"decision": "no_issue", "reason": "an authorised task"},
        "CaseOutcomeBody": {"outcome": "譴責"},
        "CaseReasonBody": {"reason": "needed to decide"},
        "CaseNoteBody": {"note": "sampled and checked"},
        "NotificationAckBody": {"ids": [1]},
        "SelfReportBody": {"kind": "other", "text": "a screen shows too much"},
        "ReasonBody": {"reason": "to check the facts"},
        "NoteBody": {"text": "thank you, we are looking into it"},
    }  # fmt: skip


def calls(
    spec: dict[str, Any], bodies: dict[str, Any], point: str
) -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            url, params = path, {}
            for p in op.get("parameters", []):
                loc, name = p["in"], p["name"]
                if loc == "header":
                    continue
                if (loc, name) not in PARAMS:
                    if p.get("required"):
                        pytest.fail(f"{method.upper()} {path}: add a value for {loc} {name!r}")
                    continue
                value = point if name == "supply_point_id" else PARAMS[(loc, name)]
                if loc == "path":
                    url = url.replace("{" + name + "}", value)
                else:
                    params[name] = value
            body = None
            rb = op.get("requestBody")
            if rb:
                ref = rb["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
                if ref not in bodies:
                    pytest.fail(f"{method.upper()} {path}: add a body for {ref}")
                body = bodies[ref]
            out.append((method.upper(), path, {"url": url, "params": params, "json": body}))
    # logout last: it ends the caller's session
    return sorted(out, key=lambda c: c[1].endswith("/logout"))


#: routes anyone may call without credentials (the self-report channel, issue 13): their
#: events carry nobody unless a signed-in reporter asked to be named (docs/cases.md)
PUBLIC = {"POST /v1/selfreports", "GET /v1/selfreports/status"}

#: (account, terminal, purpose, point) — allowed and refused requests of every kind
CALLERS = [
    ("nw-op", "T-NW", "takuso", CHIYODA),
    ("nw-mgr", "T-NW", "takuso", MISSING),
    ("ind-agent", "T-IND", "customer_service", MINATO),
    ("aff-agent", "T-AFF", "switching", MINATO),  # another retailer's customer
    ("nw-fit", "T-NW", "fit", CHIYODA),
]


def _check_one(site: Site, before: int, what: Any, status: int) -> dict[str, Any]:
    after = site.log.size()
    assert after - before == 1, f"{what}: {after - before} audit events (status {status})"
    ev = site.event(before)
    assert ev["decision"] in ("allow", "deny"), (what, ev)
    if status >= 400:
        assert ev["decision"] == "deny", (what, status, ev)
    return ev


def test_every_route_allowed_and_denied_appends_exactly_one_event(any_site: Site) -> None:
    site = any_site
    c = site.client
    spec = c.get("/openapi.json").json()
    n_routes = sum(len(ops) for ops in spec["paths"].values())
    assert n_routes >= 20  # gateway 5, identity 3, grants 12, lookup 1
    seen: dict[str, set[str]] = defaultdict(set)
    for account, terminal, purpose, point in CALLERS:
        site.forget_sessions()
        before = site.log.size()
        h = site.headers(account, terminal, purpose)  # a real login over HTTP
        seen["POST /v1/identity/login"].add(_check_one(site, before, "login", 200)["decision"])
        for method, path, kw in calls(spec, bodies(site, point, account), point):
            before = site.log.size()
            r = c.request(method, kw["url"], headers=h, params=kw["params"], json=kw["json"])
            ev = _check_one(site, before, (account, method, kw["url"]), r.status_code)
            seen[f"{method} {path}"].add(ev["decision"])
            if f"{method} {path}" in PUBLIC:  # an anonymous report: nobody, from nowhere
                assert not ev["account_id"] and not ev["source_ip"], (method, path, ev)
            elif path != "/v1/identity/login":  # the walk's login is a wrong password
                assert ev["account_id"] == account, (method, path, ev)
    # refused credentials: unknown token, another terminal's token, no headers at all
    site.forget_sessions()
    good = site.headers("aff-agent", "T-AFF", "customer_service")
    refused = [
        {**good, "Authorization": "Bearer gws1_not-a-session"},
        {**good, "X-Gridwall-Terminal": site.terminal("T-IND")},  # a session on another 端末
        {},
    ]
    for h in refused:
        for method, path, kw in calls(spec, bodies(site, MINATO, "aff-agent"), MINATO):
            if path.endswith("/login"):
                continue
            before = site.log.size()
            r = c.request(method, kw["url"], headers=h, params=kw["params"], json=kw["json"])
            # logging a session out needs only its token (ending a session is never a risk)
            ok = path.endswith("/logout") and "Authorization" in h and "not-a" not in str(h)
            # anyone may file a self-report without credentials (or be rate limited)
            ok = ok or (f"{method} {path}" in PUBLIC and not h and r.status_code in (201, 429))
            assert r.status_code in (400, 401, 403) or ok, (method, path, r.status_code)
            ev = _check_one(site, before, ("refused", method, kw["url"]), r.status_code)
            seen[f"{method} {path}"].add(ev["decision"])
            assert not any(s in r.text for s in SECRETS)
    assert len(seen) == n_routes
    assert all("deny" in d for d in seen.values()), {k: v for k, v in seen.items()}
    allowed = {k for k, d in seen.items() if "allow" in d}
    for route in (
        "GET /v1/supply-points/{supply_point_id}",
        "GET /v1/supply-points/{supply_point_id}/usage",
        "GET /v1/supply-points",
        "GET /v1/customers",
        "POST /v1/lookup",
        "POST /v1/identity/login",
        "POST /v1/identity/logout",
        "GET /v1/identity/session",
        "POST /v1/grants/disasters",
        "GET /v1/grants/agreements",
        "POST /v1/grants/agreements",
    ):
        assert route in allowed, route


def test_unwritable_audit_log_fails_closed(sqlite_url: str, tmp_path: Path) -> None:
    audit = tmp_path / "audit.db"
    site = build_site(sqlite_url, tmp_path, audit_url=f"sqlite:///{audit}")
    try:
        callers = [("nw-op", "T-NW", "takuso", CHIYODA),
                   ("ind-agent", "T-IND", "customer_service", MINATO)]  # fmt: skip
        heads = [(site.headers(a, t, p), pt) for a, t, p, pt in callers]  # log in while it works
        size = site.log.size()
        c = sqlite3.connect(audit)
        c.execute(
            "CREATE TRIGGER disk_full BEFORE INSERT ON audit_entry "
            "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
        c.commit()
        c.close()
        client = TestClient(site.app, raise_server_exceptions=False)
        # (GET /openapi.json is audited too, so with no audit log it is refused: 503)
        assert client.get("/openapi.json").status_code == 503
        spec = site.app.openapi()
        for h, point in heads:
            for method, path, kw in calls(spec, bodies(site, point, "nw-op"), point):
                r = client.request(
                    method, kw["url"], headers=h, params=kw["params"], json=kw["json"]
                )
                assert r.status_code >= 500 or (
                    r.status_code in (400, 401, 403) and path.startswith("/v1/identity/")
                ), (method, path, r.status_code, r.text[:200])
                assert not any(s in r.text for s in SECRETS), (method, path)
                assert "supply_point_id" not in r.text or r.status_code >= 500
                assert "gws1_" not in r.text  # no session token without its audit event
        # a correct login (password + TOTP + terminal) gets no token without its event
        import pyotp

        r = client.post(
            "/v1/identity/login",
            json={"account_id": "nw-mgr", "password": PASSWORD,
                  "totp": pyotp.TOTP(site.totp["nw-mgr"]).at(site.clock())},
            headers={"X-Gridwall-Terminal": site.terminal("T-NW")},
        )  # fmt: skip
        assert r.status_code == 503 and "gws1_" not in r.text, r.text
        assert site.log.size() == size  # nothing was written, and nothing was answered
    finally:
        site.server.close()


def test_a_lockout_is_still_one_event_per_request(site: Site) -> None:
    """The fifth wrong password writes identity's failure and its lockout: one event."""
    for i in range(5):
        before = site.log.size()
        r = site.client.post(
            "/v1/identity/login",
            json={"account_id": "ind2-agent", "password": "wrong " * 4, "totp": "000000"},
            headers={"X-Gridwall-Terminal": site.terminal("T-IND2")},
        )
        assert r.status_code in (401, 403)
        ev = _check_one(site, before, ("bad password", i), r.status_code)
    assert "lockout" in ev["reason"] and len(ev["identity_event_ids"]) == 2


def test_a_refused_export_seal_releases_no_file(site: Site) -> None:
    """If sealing (watermark + registry) fails after the policy allowed the export, the
    rows do not leave: 503, and the one audit event is a deny naming the export."""
    from gridwall.grants import GrantRefused

    reg = site.client.post(
        "/v1/grants/agreements",
        json={"agreement_id": "MT-9", "counterparty_org": "contractor:itco",
              "purpose": "system_maintenance", "fields": ["contract_name"],
              "valid_from": "2026-04-01"},
        headers=site.headers("nw-mgr", "T-NW", "takuso"),
    )  # fmt: skip
    assert reg.status_code == 201, reg.text
    h = site.headers("nw-op", "T-NW", "takuso")
    body = {"recipient_org": "contractor:itco", "supply_point_ids": [CHIYODA],
            "fields": ["contract_name"]}  # fmt: skip
    ok = site.client.post("/v1/exports", json=body, headers=h)
    assert ok.status_code == 200 and ok.json()["agreement_id"] == "MT-9"

    def refuse(*_: Any) -> Any:
        raise GrantRefused("no valid agreement", "export", "recipient")

    gw = site.server.gateway
    seal, gw.seal = gw.seal, refuse
    try:
        before = site.log.size()
        r = site.client.post("/v1/exports", json=body, headers=h)
    finally:
        gw.seal = seal
    assert r.status_code == 503 and not any(s in r.text for s in SECRETS)
    ev = _check_one(site, before, "refused seal", r.status_code)
    assert ev["decision"] == "deny" and "seal=refused" in ev["query"]
    assert ev["supply_point_ids"] == [] and ev["fields"] == []
