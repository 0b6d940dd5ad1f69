"""The case workflow over the composed app's HTTP API, on SQLite and PostgreSQL: the three
lines end to end with real sessions and terminals, one audit event per request, refusals
naming their reason (docs/cases.md)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gridwall.app.casework import CaseDesk, StoreHr
from gridwall.cases import AlertRef
from gridwall.identity import attest_training
from integration.site import PASSWORD, Site, build_site

DEPARTMENTS = {
    "P-NW-OP": "託送業務部",
    "P-NW-MGR": "託送業務部",
    "P-NW-COMP": "コンプライアンス推進室",
}


@pytest.fixture
def site(db_url: str, tmp_path: Path) -> Site:
    s = build_site(db_url, tmp_path)
    svc = s.server.identity
    before = s.clock() - timedelta(days=30)
    svc.create_person("P-NW-AUD", "nw-aud", "nw", "auditor", before, "内部監査室", before)
    svc.create_account("nw-aud", "P-NW-AUD", before)
    svc.set_password("nw-aud", PASSWORD, before)
    s.totp["nw-aud"], _ = svc.enroll_totp("nw-aud", before)
    attest_training(svc, "P-NW-AUD", date(2026, 10, 1), "P-NW-COMP", s.clock())
    with s.server.engine.begin() as c:
        for person, dept in DEPARTMENTS.items():
            c.execute(
                sa.text("UPDATE idn_assignments SET department = :d WHERE person_id = :p"),
                {"d": dept, "p": person},
            )
    return s


def _call(site: Site, method: str, path: str, account: str, device: str = "T-NW",
          body: dict[str, Any] | None = None) -> tuple[int, Any]:  # fmt: skip
    headers = site.headers(account, device, "case_work")  # logged in before counting
    size = site.log.size()
    r = site.client.request(method, path, headers=headers, json=body)
    events = site.events_since(size)
    assert len(events) == 1, (path, [e["screen"] for e in events])
    return r.status_code, r.json()


def test_three_lines_over_http(site: Site) -> None:
    engine = site.server.engine
    desk = CaseDesk(engine, site.server.audit, StoreHr(engine), clock=site.clock)
    at = site.clock() - timedelta(hours=3)
    [cid] = desk.open_from_alerts([AlertRef("al-http", "P-NW-OP", "A", "critical", at)])

    code, queue = _call(site, "GET", "/v1/cases", "nw-mgr")
    assert code == 200 and [c["case_id"] for c in queue] == [cid]
    assert queue[0]["first_line"] == "P-NW-MGR" and queue[0]["subject"] == "P-NW-OP"
    code, _ = _call(site, "POST", f"/v1/cases/{cid}/confirm", "nw-mgr", body={"text": "seen"})
    assert code == 200

    code, triage = _call(site, "GET", f"/v1/cases/{cid}", "nw-comp")
    assert code == 200 and triage["pseudonymised"] and "P-NW-OP" not in str(triage)
    code, err = _call(site, "POST", f"/v1/cases/{cid}/decide", "nw-comp",
                      body={"decision": "violation"})  # fmt: skip
    assert code == 400 and "field 'incident_type' is required" in err["detail"]
    code, shown = _call(site, "POST", f"/v1/cases/{cid}/reveal", "nw-comp",
                        body={"reason": "to hear the person"})  # fmt: skip
    assert code == 200 and shown["subject"] == "P-NW-OP"
    violation = {"decision": "violation", "incident_type": "A", "rule": "3.2"}
    code, _ = _call(site, "POST", f"/v1/cases/{cid}/decide", "nw-comp", body=violation)
    assert code == 200
    code, _ = _call(site, "POST", f"/v1/cases/{cid}/discipline", "nw-comp",
                    body={"outcome": "譴責"})  # fmt: skip
    assert code == 200

    code, sample = _call(site, "GET", "/v1/cases/sample", "nw-aud")
    assert code == 200 and [c["case_id"] for c in sample] == [cid]
    code, done = _call(site, "POST", f"/v1/cases/{cid}/signoff", "nw-aud", body={})
    assert code == 200 and done["status"] == "signed_off"
    assert [h["kind"] for h in done["history"]] == [
        "opened", "routed", "confirmed", "revealed", "decided", "outcome", "signed_off"
    ]  # fmt: skip

    # refusals, each naming its reason, each one audit event
    code, err = _call(site, "GET", f"/v1/cases/{cid}", "nw-op")
    assert code == 403 and "the case is about you" in err["detail"]
    code, err = _call(site, "GET", "/v1/cases", "aff-agent", "T-AFF")
    assert code == 403 and "retailers'" in err["detail"]
    code, err = _call(site, "POST", f"/v1/cases/{cid}/reopen", "nw-comp", body={"reason": "x"})
    assert code == 403 and "not a step of your role" in err["detail"]
    code, err = _call(site, "GET", "/v1/cases/case-nope", "nw-comp")
    assert code == 404
    last = site.event(site.log.size() - 1)
    assert (last["screen"], last["decision"]) == ("case.view", "deny")


def test_notifications_are_each_callers_own(site: Site) -> None:
    """``GET /v1/notifications`` lists the caller's own (a routed manager's, their line's
    for compliance and internal audit), never anyone else's; retailers have none (403);
    ``POST /v1/notifications/ack`` is idempotent and refuses another's id, marking
    nothing; one audit event per call."""
    desk = site.server.cases  # the server's one desk
    at = site.clock() - timedelta(hours=3)
    [cid] = desk.open_from_alerts([AlertRef("al-note", "P-NW-OP", "A", "critical", at)])

    code, got = _call(site, "GET", "/v1/notifications", "nw-mgr")
    assert code == 200
    assert [(n["recipient"], n["kind"], n["case_id"]) for n in got["notifications"]] == [
        ("person:P-NW-MGR", "case.routed", cid)
    ]
    mine = got["notifications"][0]["id"]
    assert got["next_after"] == mine
    code, got = _call(site, "GET", "/v1/notifications", "nw-comp")
    assert code == 200 and got["notifications"] == []  # nothing for compliance yet
    code, _ = _call(site, "POST", f"/v1/cases/{cid}/confirm", "nw-mgr", body={"text": "seen"})
    assert code == 200
    code, got = _call(site, "GET", f"/v1/notifications?after={mine}", "nw-comp")
    assert code == 200
    assert [(n["recipient"], n["kind"]) for n in got["notifications"]] == [
        ("role:compliance", "case.first_line_done")
    ]
    theirs = got["notifications"][0]["id"]
    code, got = _call(site, "GET", f"/v1/notifications?after={mine}", "nw-mgr")
    assert code == 200 and got["notifications"] == []  # compliance's is not the manager's
    code, got = _call(site, "GET", "/v1/notifications", "nw-aud")
    assert code == 200 and got["notifications"] == []

    code, err = _call(site, "GET", "/v1/notifications", "aff-agent", "T-AFF")
    assert code == 403 and "retailers'" in err["detail"]
    code, err = _call(site, "GET", "/v1/notifications", "nw-op")  # an operator: no line role
    assert code == 403

    # acknowledge: another's id refuses the whole call, nothing marked
    code, err = _call(site, "POST", "/v1/notifications/ack", "nw-mgr",
                      body={"ids": [mine, theirs]})  # fmt: skip
    assert code == 400 and err["parameter"] == "ids" and str(theirs) in err["detail"]
    code, err = _call(site, "POST", "/v1/notifications/ack", "nw-mgr", body={"ids": [999999]})
    assert code == 400 and "999999" in err["detail"]
    code, got = _call(site, "GET", "/v1/notifications?pending=true", "nw-mgr")
    assert [n["id"] for n in got["notifications"]] == [mine]
    code, got = _call(site, "POST", "/v1/notifications/ack", "nw-mgr", body={"ids": [mine]})
    assert code == 200 and got == {"acknowledged": [mine], "already": []}
    code, got = _call(site, "POST", "/v1/notifications/ack", "nw-mgr", body={"ids": [mine]})
    assert code == 200 and got == {"acknowledged": [], "already": [mine]}  # idempotent
    code, got = _call(site, "GET", "/v1/notifications?pending=true", "nw-mgr")
    assert got["notifications"] == []
    code, got = _call(site, "GET", "/v1/notifications", "nw-mgr")
    assert got["notifications"][0]["delivered_at"] is not None
    code, got = _call(site, "GET", "/v1/notifications?pending=true", "nw-comp")
    assert [n["id"] for n in got["notifications"]] == [theirs]  # still the line's to read
    code, err = _call(site, "GET", "/v1/notifications?after=-1", "nw-mgr")
    assert code == 400 and err.get("parameter") == "after"
