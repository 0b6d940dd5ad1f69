"""The manager, compliance and administrator pages (no browser): each page and each step is
one management decision and one audit event; the two-person rule is refused with its
reason; the HR preview shows what would be revoked and changes nothing."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from gridwall.identity import attest_training, request_change
from integration.site import AFF, PASSWORD, Site

from .conftest import Console


def add_person(site: Site, account: str, person: str, org: str, role: str) -> None:
    svc = site.server.identity
    before = site.clock() - timedelta(days=30)
    svc.create_person(person, account, org, role, before, valid_from=before)
    svc.create_account(account, person, before)
    svc.set_password(account, PASSWORD, before)
    site.totp[account], _ = svc.enroll_totp(account, before)
    attest_training(svc, person, date(2026, 10, 1), "P-NW-COMP", site.clock())


@pytest.fixture
def admin(site: Site) -> Site:
    add_person(site, "nw-admin", "P-NW-ADM", "nw", "it_maintenance")
    return site


def screens(site: Site, before: int) -> list[tuple[str, str]]:
    return [(str(e["screen"]), str(e["decision"])) for e in site.events_since(before)]


@pytest.mark.parametrize(
    ("path", "account", "device"),
    [
        ("/console/compliance", "nw-comp", "T-NW"),
        ("/console/compliance/rules", "nw-comp", "T-NW"),
        ("/console/compliance/dashboard", "nw-comp", "T-NW"),
        ("/console/manager", "nw-mgr", "T-NW"),
        ("/console/admin", "nw-admin", "T-NW"),
    ],
)
def test_each_page_is_one_decision_and_one_event_and_refused_to_an_agent(
    admin: Site, path: str, account: str, device: str
) -> None:
    c = Console(admin)
    assert c.signin(account, device) == 303
    before = admin.log.size()
    r = c.client.get(path)
    assert r.status_code == 200, r.text[:300]
    assert r.headers["cache-control"] == "no-store"
    step = {
        "compliance": "console.compliance",
        "manager": "console.manager",
        "admin": "console.admin",
    }[path.split("/")[2]]
    assert screens(admin, before) == [(f"console/{step}", "allow")]
    agent = Console(admin)
    assert agent.signin("aff-agent", "T-AFF") == 303
    before = admin.log.size()
    r = agent.client.get(path)
    assert r.status_code == 403
    assert screens(admin, before) == [(f"console/{step}", "deny")]


def test_rule_catalogue_shows_japanese_and_english_rationale(admin: Site) -> None:
    from gridwall.monitor.rules import RULES

    c = Console(admin)
    assert c.signin("nw-comp", "T-NW") == 303
    page = c.client.get("/console/compliance/rules").text
    for rule in RULES:
        assert rule.rationale_ja and rule.id in page
        assert rule.rationale_ja.replace("'", "&#39;") in page
    assert "根拠" in page


def test_manager_approves_a_reactivation_but_never_their_own_request(admin: Site) -> None:
    svc = admin.server.identity
    now = admin.clock()
    svc.revoke_account("nw-op", now, "admin")
    mine = request_change(svc, "account_reactivate", "nw-op", None, "P-NW-MGR", now)
    theirs = request_change(svc, "role", "nw-fit", "fit_team", "P-NW-COMP", now)
    c = Console(admin)
    assert c.signin("nw-mgr", "T-NW") == 303
    page = c.client.get("/console/manager").text
    assert "ご自身の申請です" in page and f'value="{mine}"' in page
    c.token()
    before = admin.log.size()
    r = c.client.post(
        "/console/manager/change",
        data={"csrf": c.token(), "change_id": str(mine), "decision": "approve"},
    )
    assert r.status_code == 403 and "二人承認の規則" in r.text
    assert screens(admin, before) == [("console/change.approve", "deny")]
    from gridwall.identity import list_changes

    assert {x.change_id: x.status for x in list_changes(svc)}[mine] == "pending"
    c.token()
    before = admin.log.size()
    r = c.client.post(
        "/console/manager/change",
        data={"csrf": c.token(), "change_id": str(theirs), "decision": "approve"},
    )
    assert r.status_code == 200 and "変更を承認しました" in r.text
    events = admin.events_since(before)
    assert [(e["screen"], e["decision"]) for e in events] == [("console/change.approve", "allow")]
    assert events[0].get("identity_event_ids") or "identity/change" in str(events[0])
    assert {x.change_id: x.status for x in list_changes(svc)}[theirs] == "applied"


def test_hr_preview_shows_what_will_be_revoked_and_changes_nothing(any_site: Site) -> None:
    """On SQLite and PostgreSQL: the preview's rolled-back run writes nothing on either."""
    admin = any_site
    add_person(admin, "nw-admin", "P-NW-ADM", "nw", "it_maintenance")
    c = Console(admin)
    assert c.signin("nw-admin", "T-NW") == 303
    csv = (
        "person_id,name,org,department,role,effective_at,change\n"
        "P-NW-FIT,,retail:AFF01,sales,sales,NOW,transfer\n"
    )
    csv = csv.replace("NOW", admin.clock().isoformat())
    csv = csv.replace("AFF01", AFF)
    c.token()
    before = admin.log.size()
    r = c.client.post("/console/admin/hr/preview", data={"csrf": c.token(), "hr_file": csv})
    assert r.status_code == 200, r.text[:500]
    assert 'id="revoked"' in r.text, r.text[r.text.find("<main") :][:1500]
    assert "nw-fit" in r.text.split('id="revoked"')[1].split("</ul>")[0]
    assert screens(admin, before) == [("console/hr.import", "allow")]
    # nothing changed: the account still signs in
    other = Console(admin)
    assert other.signin("nw-fit", "T-NW") == 303
    digest = re.search(r'name="digest" value="([0-9a-f]{64})"', r.text)
    assert digest
    bad = c.client.post(
        "/console/admin/hr/apply",
        data={"csrf": c.token(), "hr_file": csv + "\n", "digest": "0" * 64},
    )
    assert bad.status_code == 400 and "digest" in bad.text
    before = admin.log.size()
    r = c.client.post(
        "/console/admin/hr/apply",
        data={"csrf": c.token(), "hr_file": csv, "digest": digest.group(1)},
    )
    assert r.status_code == 200 and "nw-fit" in r.text
    assert screens(admin, before) == [("console/hr.import", "allow")]
    # applied: the transferred NW account is no longer active (the admin page decides it now)
    page = c.client.get("/console/admin").text
    row = page.split("<td>nw-fit</td>", 1)[1].split("</tr>", 1)[0]
    assert "active" not in row.split("<td>")[-1], row
    # a bad row names its line and field, and nothing is applied
    r = c.client.post(
        "/console/admin/hr/preview",
        data={"csrf": c.token(), "hr_file": csv.replace(admin.clock().isoformat(), "soon")},
    )
    assert "hr-changes.csv:2" in r.text and "effective_at" in r.text


def test_admin_retires_a_terminal_and_its_sessions_end(admin: Site) -> None:
    agent = Console(admin)
    assert agent.signin("ind-agent", "T-IND") == 303
    c = Console(admin)
    assert c.signin("nw-admin", "T-NW") == 303
    c.token()
    before = admin.log.size()
    r = c.client.post("/console/admin/terminal", data={"csrf": c.token(), "device_id": "T-IND"})
    assert r.status_code == 200 and "T-IND" in r.text
    assert screens(admin, before) == [("console/terminal.retire", "allow")]
    r = agent.client.get("/console/", follow_redirects=False)
    assert r.status_code == 303  # the session ended with its terminal
    # an NW manager may not retire terminals (the policy), recorded as a refusal
    m = Console(admin)
    assert m.signin("nw-mgr", "T-NW") == 303
    m.token()
    before = admin.log.size()
    r = m.client.post("/console/admin/terminal", data={"csrf": m.token(), "device_id": "T-AFF"})
    assert r.status_code == 403
    assert screens(admin, before) == [("console/terminal.retire", "deny")]


def test_manager_recertifies_or_lets_lapse_their_reports_access(admin: Site) -> None:
    from gridwall.identity import add_entitlement, review_report, start_review

    svc = admin.server.identity
    now = admin.clock()
    add_entitlement(svc, "nw-op", "role", "takuso_operator", "P-NW-MGR", now)
    add_entitlement(svc, "nw-fit", "role", "fit_team", "P-NW-COMP", now)  # not the manager's
    start_review(svc, "2026-Q4", now + timedelta(days=7), "P-NW-COMP", now)
    c = Console(admin)
    assert c.signin("nw-mgr", "T-NW") == 303
    page = c.client.get("/console/manager").text
    assert "nw-op" in page.split('id="reviews-h"')[1].split("</section>")[0]
    assert "role: fit_team" not in page.split('id="reviews-h"')[1].split("</section>")[0]
    c.token()
    before = admin.log.size()
    form = {"csrf": c.token(), "campaign_id": "2026-Q4", "account_id": "nw-op"}
    r = c.client.post("/console/manager/review", data={**form, "decision": "revoke"})
    assert r.status_code == 200 and "権限を失効させました" in r.text
    assert screens(admin, before) == [("console/review.decide", "allow")]
    items = review_report(svc, "2026-Q4", now)["items"]
    outcome = {(i["account_id"], i["name"]): i["outcome"] for i in items}
    assert outcome[("nw-op", "takuso_operator")] == "revoked"
    assert outcome[("nw-fit", "fit_team")] == "pending"
    # someone else's item: identity refuses, the page says why, one refusal recorded
    before = admin.log.size()
    r = c.client.post(
        "/console/manager/review", data={**form, "account_id": "nw-fit", "decision": "recertify"}
    )
    assert r.status_code == 403 and "P-NW-COMP" in r.text
    assert screens(admin, before) == [("console/review.decide", "deny")]


def test_admin_directory_states_match_identity_account_by_account(admin: Site) -> None:
    """The directory reads in bulk; each row must still say what identity says for that one
    account (its state and reason) and person (the assignment in force)."""
    from html import unescape

    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from gridwall.identity._models import Account, Person
    from gridwall.identity._state import account_state, assignment_at

    svc = admin.server.identity
    now = admin.clock()
    # one account revoked, the others active
    svc.revoke_account("ind-agent", now - timedelta(minutes=1))
    c = Console(admin)
    assert c.signin("nw-admin", "T-NW") == 303
    page = unescape(c.client.get("/console/admin").text)
    cells = re.findall(
        r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", page
    )
    shown = {row[0]: row for row in cells}
    with Session(svc.engine) as s:
        accounts = list(s.scalars(select(Account)))
        states = set()
        for a in accounts:
            v = account_state(s, a, now)
            want = v.state.value + (f" ({v.reason})" if v.reason else "")
            assert shown[a.account_id][3] == want, a.account_id
            states.add(v.state.value)
        assert len(states) >= 2  # the page shows more than one kind of state
        for p in s.scalars(select(Person)):
            asg = assignment_at(s, p.person_id, now)
            assert (p.person_id, asg.org if asg else "") in {
                (m.group(1), m.group(2))
                for m in re.finditer(
                    r"<tr><td>(" + re.escape(p.person_id) + r")</td><td>[^<]*</td><td>([^<]*)</td>",
                    page,
                )
            }, p.person_id
