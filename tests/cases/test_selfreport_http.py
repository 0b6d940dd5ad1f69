"""The self-report channel over the composed app's HTTP API (SQLite and PostgreSQL): an
anonymous report from someone without an account reaches compliance's queue, its receipt
shows progress after compliance acts and never the reporter; readers of the audit log other
than compliance never see who reported; 413, 429 kept in the store, no receipt oracle; one
audit event per request (docs/cases.md, issue 13 item 5)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gridwall.app.selfreports import IntakeLimited, Limits, SelfReportDesk
from integration.site import Site, build_site

RECEIPT = "X-Gridwall-Receipt"
#: what an anonymous reporter's events must never carry
WHO = ("account_id", "person_id", "org", "device_id", "session_id", "source_ip")


@pytest.fixture
def site(db_url: str, tmp_path: Path) -> Site:
    return build_site(db_url, tmp_path, selfreport_limits=Limits(submit=3, status=6))


def _one(site: Site, method: str, path: str, **kw: Any) -> tuple[Any, dict[str, Any]]:
    size = site.log.size()
    r = site.client.request(method, path, **kw)
    events = site.events_since(size)
    assert len(events) == 1, (method, path, r.status_code, [e["screen"] for e in events])
    ev = events[0]
    assert ev["decision"] == ("deny" if r.status_code >= 400 else "allow"), (r.text, ev)
    return r, ev


def _anonymous(ev: dict[str, Any]) -> None:
    assert all(not ev.get(k) for k in WHO), {k: ev.get(k) for k in WHO}
    assert "testclient" not in json.dumps(ev)


def test_anonymous_report_reaches_compliance_and_receipt_shows_progress(site: Site) -> None:
    text = "窓口端末がログインしたまま放置されています"
    r, ev = _one(site, "POST", "/v1/selfreports", json={
        "kind": "terminal_left_open", "text": text, "contact": "内線 4321"})  # fmt: skip
    assert r.status_code == 201, r.text
    sub = r.json()
    receipt, rid = sub["receipt"], sub["report_id"]
    assert ev["screen"] == "selfreport.submit" and ev["report_kind"] == "terminal_left_open"
    _anonymous(ev)
    assert receipt.split("-", 1)[1] not in json.dumps(ev)

    # compliance finds it in the case queue (second line at once)
    comp = site.headers("nw-comp", "T-NW", "case_work")
    queue = site.client.get("/v1/cases", headers=comp).json()
    (case,) = [c for c in queue if c["case_id"] == ev["case_id"]]
    assert case["status"] == "second_line" and case["incident_type"] == "self_report"
    # marked voluntary, with the report's text, never its reporter; filtered by origin
    r, lev = _one(site, "GET", "/v1/cases", headers=comp, params={"origin": "self_report"})
    (mine,) = r.json()
    assert mine["voluntary"] and mine["origin"] == "self_report" and lev["result_count"] == 1
    assert mine["report"]["text"] == text and mine["report"]["report_id"] == rid
    assert "内線" not in r.text and "testclient" not in r.text
    r, _ = _one(site, "GET", "/v1/cases", headers=comp, params={"origin": "alert"})
    assert r.status_code == 200 and ev["case_id"] not in r.text
    r, _ = _one(site, "GET", "/v1/cases", headers=comp, params={"origin": "rumour"})
    assert r.status_code == 400 and r.json()["parameter"] == "origin"

    # the receipt shows progress, in a header only, and never who or what was decided
    r, ev = _one(site, "GET", "/v1/selfreports/status", headers={RECEIPT: receipt})
    assert r.status_code == 200 and r.json()["status"] == "received", r.text
    _anonymous(ev)
    decided = site.client.post(
        f"/v1/cases/{case['case_id']}/decide", headers=comp,
        json={"decision": "no_issue", "reason": "端末の自動ロックを設定済み"},
    )  # fmt: skip
    assert decided.status_code == 200, decided.text
    r, _ = _one(site, "GET", "/v1/selfreports/status", headers={RECEIPT: receipt})
    shown = r.json()
    assert shown["status"] == "closed" and shown["report_id"] == rid
    for secret in ("内線", "no_issue", "自動ロック", "nw-comp", "testclient"):
        assert secret not in r.text, secret
    # nothing in the whole log names the reporter's address, and no event holds the receipt
    everything = json.dumps(site.events_since(0), ensure_ascii=False)
    assert receipt not in everything and "内線 4321" not in everything


def test_a_wrong_receipt_answers_like_a_malformed_one(site: Site) -> None:
    r = site.client.post("/v1/selfreports", json={"kind": "other", "text": "x"})
    receipt = r.json()["receipt"]
    lookup, secret = receipt.split("-", 1)
    answers = set()
    for wrong in (f"{lookup}-{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}",
                  f"000000000000-{secret}", "garbage", "x" * 300):  # fmt: skip
        r, ev = _one(site, "GET", "/v1/selfreports/status", headers={RECEIPT: wrong})
        answers.add((r.status_code, r.text))
        _anonymous(ev)
    assert len(answers) == 1 and next(iter(answers))[0] == 404
    # never from the URL: a receipt in the query string is not read
    r, ev = _one(site, "GET", "/v1/selfreports/status", params={"receipt": receipt})
    assert r.status_code == 400 and r.json()["header"] == RECEIPT
    _anonymous(ev)


def test_signed_in_reporters_are_hidden_unless_they_choose_to_be_named(site: Site) -> None:
    h = site.headers("ind-agent", "T-IND", "customer_service")
    r, ev = _one(site, "POST", "/v1/selfreports", headers=h,
                 json={"kind": "own_misuse", "text": "他社顧客の画面を開いてしまった"})  # fmt: skip
    assert r.status_code == 201, r.text
    _anonymous(ev)
    assert "ind-agent" not in json.dumps(ev) and "P-IND" not in json.dumps(ev)
    r, ev = _one(
        site,
        "POST",
        "/v1/selfreports",
        headers=h,
        json={"kind": "shows_too_much", "text": "画面に不要な項目", "anonymous": False},
    )
    assert r.status_code == 201 and ev["account_id"] == "ind-agent"
    assert ev["person_id"] == "P-IND" and ev["source_ip"] == "testclient"
    # a retailer's staff never see cases, so never the reporter either
    r = site.client.get("/v1/cases", headers=h)
    assert r.status_code == 403
    # bad credentials are refused like on every route, and nothing is filed
    bad = {**h, "Authorization": "Bearer gws1_not-a-session"}
    r, ev = _one(site, "POST", "/v1/selfreports", headers=bad, json={"kind": "other", "text": "x"})
    assert r.status_code == 401 and r.json()["header"] == "Authorization"
    # identity's record of the refused credential, as on every route; no report, no address
    assert ev["action"] == "login_failed" and not ev.get("source_ip")


def test_size_and_rate_limits_are_audited_and_kept_in_the_store(site: Site) -> None:
    r, ev = _one(site, "POST", "/v1/selfreports",
                 content=json.dumps({"kind": "other", "text": "x" * 20000}),
                 headers={"Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 413 and "16384 bytes" in r.json()["detail"]
    _anonymous(ev)
    r, ev = _one(site, "POST", "/v1/selfreports", json={"kind": "gossip", "text": "x"})
    assert r.status_code == 400 and r.json()["parameter"] == "kind"
    _anonymous(ev)
    codes = []
    for _ in range(3):
        r, ev = _one(site, "POST", "/v1/selfreports", json={"kind": "other", "text": "x"})
        codes.append(r.status_code)
    assert codes == [201, 201, 429]  # the refused one counted too: 3 per window
    assert 1 <= int(r.headers["Retry-After"]) <= 3600 and "at most 3" in r.json()["detail"]
    _anonymous(ev)
    # another worker (or the server after a restart) sees the same count: it is in the store
    other = SelfReportDesk(site.server.engine, site.server.audit, clock=site.clock,
                           limits=Limits(submit=3))  # fmt: skip
    with pytest.raises(IntakeLimited):
        other.submit(kind="other", text="x", address="testclient")
    # the store keeps a keyed hash of the address, never the address
    import sqlalchemy as sa

    with site.server.engine.connect() as c:
        rows = c.execute(sa.text("SELECT * FROM selfreport_intake")).all()
    assert rows and "testclient" not in repr(rows)
    # the next window takes reports again
    site.clock.advance(seconds=3600)
    r = site.client.post("/v1/selfreports", json={"kind": "other", "text": "x"})
    assert r.status_code == 201


def test_a_store_that_cannot_answer_refuses_with_503(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlalchemy as sa

    import gridwall.app.selfreports as desk_module

    def down(*_: Any, **__: Any) -> Any:
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("the store is down"))

    monkeypatch.setattr(desk_module, "take_slot", down)
    for method, path, kw in (
        ("POST", "/v1/selfreports", {"json": {"kind": "other", "text": "x"}}),
        ("GET", "/v1/selfreports/status", {"headers": {RECEIPT: "abc-def"}}),
    ):
        r, ev = _one(site, method, path, **kw)
        assert r.status_code == 503 and r.json()["error"] == "unavailable", r.text
        assert "receipt" not in r.text
        _anonymous(ev)


def test_compliance_reveals_reporter_and_writes_a_note_the_receipt_shows(site: Site) -> None:
    """selfreport.identity / selfreport.note (I15j): compliance only, one decision and one
    audit event each; the note reaches the receipt status, the reporter never does."""
    comp = site.headers("nw-comp", "T-NW", "case_work")
    r = site.client.post(
        "/v1/selfreports", headers=site.headers("nw-op", "T-NW", "takuso"),
        json={"kind": "observed_misuse", "text": "同僚が目的外照会", "contact": "内線 77"},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    rid, receipt = r.json()["report_id"], r.json()["receipt"]

    # anyone else is refused, audited as a deny, and learns nothing
    for who in (("nw-op", "T-NW", "takuso"), ("nw-mgr", "T-NW", "case_work")):
        r, ev = _one(site, "POST", f"/v1/selfreports/{rid}/identity",
                     headers=site.headers(*who), json={"reason": "知りたい"})  # fmt: skip
        assert r.status_code == 403, r.text
        assert "nw-op" not in r.text and "内線" not in r.text
        r, _ = _one(site, "POST", f"/v1/selfreports/{rid}/notes",
                    headers=site.headers(*who), json={"text": "偽の連絡"})  # fmt: skip
        assert r.status_code == 403, r.text

    # compliance sees who, with a reason kept in the audit event
    r, ev = _one(site, "POST", f"/v1/selfreports/{rid}/identity", headers=comp,
                 json={"reason": "事実確認のため"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["reporter"] == "nw-op" and r.json()["contact"] == "内線 77"
    assert ev["screen"] == "selfreport.identity" and ev["reason"] == "事実確認のため"
    assert ev["account_id"] == "nw-comp" and ev["policy_ids"]
    r, _ = _one(site, "POST", f"/v1/selfreports/{rid}/identity", headers=comp, json={})
    assert r.status_code == 400, r.text
    r, _ = _one(site, "POST", "/v1/selfreports/SR-nope/identity", headers=comp,
                json={"reason": "x"})  # fmt: skip
    assert r.status_code == 404, r.text

    # compliance's note shows in the receipt status, without the reporter
    r, ev = _one(site, "POST", f"/v1/selfreports/{rid}/notes", headers=comp,
                 json={"text": "ご報告ありがとうございます。調査中です。"})  # fmt: skip
    assert r.status_code == 201 and r.json()["note"] == 1, r.text
    assert ev["screen"] == "selfreport.note"
    r = site.client.get("/v1/selfreports/status", headers={RECEIPT: receipt})
    assert [n["text"] for n in r.json()["notes"]] == ["ご報告ありがとうございます。調査中です。"]
    assert "nw-op" not in r.text and "内線" not in r.text
