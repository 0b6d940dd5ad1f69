"""The case workflow in the console (no browser): every step through the server's one case
desk (the one ``/v1/cases`` uses), a form only for the steps the case policy allows this
principal on this case, one audit event per page call, refusals with their reasons from
the catalogue (Japanese by default, English under the switch); and the session re-check
(an account revoked or locked since sign-in is signed out, server-side, on its next page)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from gridwall.identity import attest_training
from integration.site import PASSWORD, Site, build_site

from .conftest import Console

DEPARTMENTS = {
    "P-NW-OP": "託送業務部",
    "P-NW-MGR": "託送業務部",
    "P-NW-COMP": "コンプライアンス推進室",
}
STEP_FORM = re.compile(r'name="step" value="(\w+)"')


def add_auditor(s: Site) -> None:
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


@pytest.fixture
def cases_site(db_url: str, tmp_path: Path) -> Iterator[Site]:
    """On SQLite and PostgreSQL: the composed server with an internal auditor."""
    s = build_site(db_url, tmp_path)
    add_auditor(s)
    yield s
    s.server.close()


def open_case(site: Site, alert: str = "al-console") -> str:
    """A stored monitor alert about P-NW-OP (evidence: audit-log entries 4242 and 4243),
    and the case it opens, as ``gridwall case open`` does after ``gridwall monitor run``."""
    from gridwall.app.casework import alert_refs
    from gridwall.monitor._models import MonitorAlert, MonitorAlertEvidence
    from gridwall.monitor._periodic import stored_alerts
    from gridwall.monitor.rules import RULES

    at = (site.clock() - timedelta(hours=3)).isoformat()
    with site.server.engine.begin() as c:
        c.execute(sa.insert(MonitorAlert).values(
            alert_id=alert, rule=RULES[0].id, incident_type="A", severity=5,
            account_id="nw-op", person_id="P-NW-OP", org="nw", first_ts=at, last_ts=at,
            event_count=2, summary="-", related="[]", opened_run=1, updated_run=1,
        ))  # fmt: skip
        for i, idx in enumerate((4242, 4243)):
            c.execute(sa.insert(MonitorAlertEvidence).values(
                alert_id=alert, event_id=f"{alert}-ev{i}", audit_idx=idx, run_id=1))  # fmt: skip
    refs = [a for a in alert_refs(stored_alerts(site.server.engine)) if a.alert_id == alert]
    [cid] = site.app.state.case_desk.open_from_alerts(refs)
    return str(cid)


def one_event(site: Site, before: int) -> dict[str, object]:
    events = site.events_since(before)
    assert len(events) == 1, [(e.get("screen"), e.get("decision")) for e in events]
    return events[0]


def steps_offered(page: str) -> set[str]:
    return set(STEP_FORM.findall(page))


def signed_in(site: Site, account: str, device: str = "T-NW") -> Console:
    """A browser signed in, its session's CSRF token already read (one page of its own)."""
    c = Console(site)
    assert c.signin(account, device) == 303
    c.token()
    return c


def act(c: Console, case_id: str, step: str, **fields: str) -> tuple[int, str]:
    r = c.client.post(
        "/console/cases/act", data={"csrf": c.token(), "case_id": case_id, "step": step, **fields}
    )
    return r.status_code, r.text


def test_console_and_api_share_one_case_desk(cases_site: Site) -> None:
    site = cases_site
    assert site.app.state.console.cases is site.app.state.case_desk
    cid = open_case(site)
    mgr = signed_in(site, "nw-mgr")
    assert act(mgr, cid, "confirm", text="確認しました")[0] == 200
    # the API sees the console's step at once (the same entries, the same desk)
    headers = site.headers("nw-comp", "T-NW", "case_work")
    shown = site.client.get(f"/v1/cases/{cid}", headers=headers).json()
    assert [h["kind"] for h in shown["history"]] == ["opened", "routed", "confirmed"]


def test_three_lines_take_their_steps_in_the_console(cases_site: Site) -> None:
    site = cases_site
    cid = open_case(site)

    # first line: the manager's queue names the subject (their own staff), the deadline
    # and offers exactly confirm / explain
    mgr = signed_in(site, "nw-mgr")
    assert 'href="/console/cases"' in mgr.client.get("/console/manager").text
    before = site.log.size()
    page = mgr.client.get("/console/cases").text
    assert (one_event(site, before)["screen"], "P-NW-OP" in page) == ("case.list", True)
    assert cid in page and "期限" in page and steps_offered(page) == {"confirm", "explain"}
    assert "アラートの証跡" in page and "4242, 4243" in page  # the evidence, by audit index
    before = site.log.size()
    code, page = act(mgr, cid, "confirm", text="本人に確認した")
    ev = one_event(site, before)
    assert (code, ev["screen"], ev["decision"]) == (200, "case.confirm", "allow")
    assert "confirmed" in page and "第2線" in page

    # second line: pseudonym until a reveal; decide / discipline / reveal only
    comp = signed_in(site, "nw-comp")
    page = comp.client.get("/console/cases").text
    assert cid in page and "P-NW-OP" not in page and "nw-op" not in page and "（仮名）" in page
    assert "4242, 4243" in page
    assert steps_offered(page) == {"decide", "reveal"}
    before = site.log.size()
    code, page = act(comp, cid, "decide", decision="violation", incident_type="A", rule="")
    assert code == 400 and "rule" in page and "P-NW-OP" not in page
    assert len(site.events_since(before)) == 1  # the request's own trace; nothing written
    code, page = act(comp, cid, "reveal", reason="本人から事情を聴くため")
    assert code == 200 and "P-NW-OP" in page
    code, page = act(comp, cid, "decide", decision="violation", incident_type="A", rule="3.2")
    assert code == 200 and "終結" in page and steps_offered(page) == {"discipline"}
    code, page = act(comp, cid, "discipline", outcome="譴責")
    assert code == 200 and "譴責" in page

    # third line: the sample, sign off, then reopen offered
    aud = signed_in(site, "nw-aud")
    before = site.log.size()
    page = aud.client.get("/console/cases/sample").text
    assert one_event(site, before)["screen"] == "case.sample"
    assert cid in page and steps_offered(page) == {"signoff", "reopen"}
    code, page = act(aud, cid, "signoff", note="問題なし")
    assert code == 200 and "内部監査承認済み" in page and steps_offered(page) == {"reopen"}
    headers = site.headers("nw-comp", "T-NW", "case_work")
    shown = site.client.get(f"/v1/cases/{cid}", headers=headers).json()
    assert [h["kind"] for h in shown["history"]] == [
        "opened", "routed", "confirmed", "revealed", "decided", "outcome", "signed_off"
    ]  # fmt: skip


def test_a_refused_step_shows_its_reason_in_japanese_and_english(cases_site: Site) -> None:
    site = cases_site
    cid = open_case(site)
    comp = signed_in(site, "nw-comp")
    assert "reopen" not in steps_offered(comp.client.get("/console/cases").text)
    before = site.log.size()
    code, page = act(comp, cid, "reopen", reason="やり直し")
    ev = one_event(site, before)
    assert (code, ev["screen"], ev["decision"]) == (403, "case.reopen", "deny")
    assert "この操作はあなたの役割の操作ではありません。" in page and "not a step" not in page
    comp.client.cookies.set("gw_lang", "en", path="/console")
    code, page = act(comp, cid, "reopen", reason="again")
    assert code == 403 and "This step is not a step of your role." in page
    # the subject themself: refused with the reason, one event
    op = signed_in(site, "nw-op")
    before = site.log.size()
    r = op.client.post("/console/cases/show", data={"csrf": op.token(), "case_id": cid})
    ev = one_event(site, before)
    assert (r.status_code, ev["decision"]) == (403, "deny")
    assert "この案件はご自身に関するものです。" in r.text
    # a retailer's agent: no case link, the queue refused
    agent = signed_in(site, "aff-agent", "T-AFF")
    assert 'href="/console/cases"' not in agent.client.get("/console/").text
    r = agent.client.get("/console/cases")
    assert r.status_code == 403 and "案件を見ることができません" in r.text
    # an unknown case: not found, recorded
    before = site.log.size()
    r = comp.client.post("/console/cases/show", data={"csrf": comp.token(), "case_id": "case-x"})
    assert r.status_code == 404 and one_event(site, before)["decision"] == "deny"


def test_compliance_sees_missed_deadlines_by_line_and_escalates(cases_site: Site) -> None:
    site = cases_site
    cid = open_case(site)
    site.clock.advance(days=6)  # past the first line's five days
    comp = signed_in(site, "nw-comp")
    page = comp.client.get("/console/cases").text
    overdue = page.split('id="overdue-h"')[1].split("</section>")[0]
    assert cid in overdue.split("第2線")[0]  # under the first line's heading
    assert "（期限超過）" in page
    before = site.log.size()
    r = comp.client.post("/console/cases/escalate", data={"csrf": comp.token()})
    assert r.status_code == 200 and cid in r.text
    assert one_event(site, before)["screen"] == "case.escalate"
    mgr = signed_in(site, "nw-mgr")
    # escalated: the case left the first line, so the manager is offered no step any more
    assert steps_offered(mgr.client.get("/console/cases").text) == set()


def test_no_case_desk_means_no_case_page(cases_site: Site) -> None:
    site = cases_site
    site.app.state.console.cases = None
    comp = signed_in(site, "nw-comp")
    assert comp.client.get("/console/cases").status_code == 503
