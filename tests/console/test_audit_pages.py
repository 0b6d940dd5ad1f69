"""The audit pages of the console (no browser): the internal auditor's explorer with
inclusion proofs checked, the verification page naming the first bad index, the
regulator's read-only page with the public key to download, and a retailer refused
everywhere. Every page is one management decision and one audit event."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from gridwall.audit import note
from gridwall.audit._db import Conn
from gridwall.identity import attest_training
from integration.site import MINATO, PASSWORD, Site

from .conftest import Console

AUDIT_PATHS = ("/console/audit", "/console/audit/verify", "/console/audit/keys")


def add_person(site: Site, account: str, person: str, org: str, role: str) -> None:
    svc = site.server.identity
    before = site.clock() - timedelta(days=30)
    svc.create_person(person, account, org, role, before, valid_from=before)
    svc.create_account(account, person, before)
    svc.set_password(account, PASSWORD, before)
    site.totp[account], _ = svc.enroll_totp(account, before)
    attest_training(svc, person, date(2026, 10, 1), "P-NW-COMP", site.clock())


@pytest.fixture
def auditors(site: Site) -> note.Signer:
    """An internal auditor (NW terminal), a regulator's auditor on the regulator's own
    terminal, some traffic, and a signed checkpoint of it."""
    add_person(site, "nw-aud", "P-NW-AUD", "nw", "auditor")
    add_person(site, "reg-aud", "P-REG", "regulator", "auditor")
    svc = site.server.identity
    # identity has no terminal kind for the regulator: the unrestricted kind stands in
    svc.register_terminal("T-REG", "regulator", "regulator_terminal", site.clock() - timedelta(1))
    site.keys["T-REG"] = svc.enroll_terminal("T-REG", site.clock() - timedelta(1))
    op = Console(site)
    assert op.signin("nw-op", "T-NW") == 303
    op.post("/console/point", {"purpose": "takuso", "supply_point_id": MINATO})
    op.post("/console/point", {"purpose": "fit", "supply_point_id": MINATO})
    signer = note.generate_signer("gridwall-test")
    site.log.checkpoint([signer])
    return signer


def rows(page: str) -> list[list[str]]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in page else ""
    out = []
    for tr in re.findall(r"<tr>(.*?)</tr>", body, flags=re.S):
        out.append(
            [
                re.sub(r"<[^>]+>", "", td).strip()
                for td in re.findall(r"<td[^>]*>(.*?)</td>", tr, flags=re.S)
            ]
        )
    return out


def test_auditor_explores_the_log_with_every_proof_checked(
    console: Console, auditors: note.Signer
) -> None:
    site = console.site
    assert console.signin("nw-aud", "T-NW") == 303
    before = site.log.size()
    page = console.client.get("/console/audit").text
    events = site.events_since(before)
    assert [(e["screen"], e["decision"]) for e in events] == [("console/audit.explore", "allow")]
    found = rows(page)
    assert found and all(r[-1] in ("検証済み", "未署名") for r in found), found
    assert any(r[-1] == "検証済み" for r in found)
    # filter: one account, only denials (the FIT read by a takuso operator)
    console.token()
    before = site.log.size()
    page = console.post("/console/audit", {"account_id": "nw-op", "decision": "deny"})
    assert [e["screen"] for e in site.events_since(before)] == ["console/audit.explore"]
    found = rows(page)
    assert found and all(r[2].startswith("nw-op") and r[5] == "拒否" for r in found), found
    page = console.post("/console/audit", {"supply_point_id": MINATO, "decision": "allow"})
    assert rows(page) and all(MINATO in r[6] and r[5] == "許可" for r in rows(page))
    # a bad filter names its field, and nothing is searched
    r = console.client.post("/console/audit", data={"csrf": console.token(), "since": "soon"})
    assert r.status_code == 400 and "since" in r.text


def test_verification_names_the_first_bad_index_and_the_proof_fails(
    console: Console, auditors: note.Signer
) -> None:
    site = console.site
    assert console.signin("nw-aud", "T-NW") == 303
    page = console.client.get("/console/audit/verify").text
    assert "検証に成功しました" in page and auditors.verifier.text() in page
    c = Conn(site.log.url)
    c.execute("DROP TRIGGER audit_entry_no_update")
    c.execute(
        "UPDATE audit_entry SET entry = ? WHERE idx = 3",
        (b'{"event":{"event_id":"forged","account_id":"nw-op"},"recorded_at":"x","seq":3}',),
    )
    c.close()
    page = console.client.get("/console/audit/verify").text
    assert "検証に失敗しました" in page and "最初の不正エントリ番号：3" in page
    page = console.post("/console/audit", {"account_id": "nw-op", "before": "4"})
    assert ["3", "検証失敗"] in [[r[0], r[-1]] for r in rows(page)]


def test_regulator_reads_checkpoints_and_downloads_the_key_but_not_the_entries(
    console: Console, auditors: note.Signer
) -> None:
    site = console.site
    before = site.log.size()
    assert console.signin("reg-aud", "T-REG") == 303, [
        e.get("reason") for e in site.events_since(before)
    ]
    home = console.client.get("/console/").text
    assert "/console/audit/verify" in home and 'href="/console/audit"' not in home
    page = console.client.get("/console/audit/verify").text
    assert "検証に成功しました" in page
    key = console.client.get("/console/audit/keys")
    assert key.status_code == 200 and key.text.strip() == auditors.verifier.text()
    assert "attachment" in key.headers["content-disposition"]
    before = site.log.size()
    r = console.client.get("/console/audit")
    assert r.status_code == 403
    events = site.events_since(before)
    assert [(e["screen"], e["decision"]) for e in events] == [("console/audit.explore", "deny")]


def test_the_policy_lets_the_regulator_verify_but_not_explore() -> None:
    """What the regulator's page relies on, decided by the shipped management policy."""
    from gridwall.interfaces.facts import (
        AccountKind,
        AccountState,
        DeviceFacts,
        DeviceKind,
        DeviceOwner,
        GrantStep,
        ManageRequest,
        OrgKind,
        PrincipalFacts,
        RetailerKind,
        Role,
    )  # fmt: skip
    from gridwall.policy import default_management_engine

    engine = default_management_engine()

    def allowed(org: OrgKind, role: Role, step: GrantStep, kind: DeviceKind) -> bool:
        p = PrincipalFacts(org, RetailerKind.NONE, role, AccountKind.PERSONAL,
                           AccountState.ACTIVE, True)  # fmt: skip
        d = DeviceFacts(kind, DeviceOwner.SAME_ORG, True)
        return engine.decide(ManageRequest(principal=p, device=d, step=step)).allowed

    reg, nw, aud = OrgKind.REGULATOR, OrgKind.NW, Role.AUDITOR
    other = DeviceKind.DISASTER_TERMINAL
    assert allowed(reg, aud, GrantStep.AUDIT_VERIFY, other)
    assert not allowed(reg, aud, GrantStep.AUDIT_EXPLORE, other)
    assert allowed(nw, aud, GrantStep.AUDIT_EXPLORE, DeviceKind.NW_TERMINAL)
    assert allowed(nw, Role.COMPLIANCE, GrantStep.AUDIT_VERIFY, DeviceKind.NW_TERMINAL)
    assert not allowed(nw, Role.COMPLIANCE, GrantStep.AUDIT_EXPLORE, DeviceKind.NW_TERMINAL)
    assert not allowed(nw, aud, GrantStep.AUDIT_EXPLORE, other)  # NW staff: NW terminal only
    for role in (Role.TAKUSO_OPERATOR, Role.CALL_CENTER, Role.MANAGER):
        for step in (GrantStep.AUDIT_EXPLORE, GrantStep.AUDIT_VERIFY):
            assert not allowed(nw, role, step, DeviceKind.NW_TERMINAL)
            assert not allowed(OrgKind.RETAIL, role, step, DeviceKind.RETAIL_TERMINAL)


@pytest.mark.parametrize(("account", "device"), [("aff-agent", "T-AFF"), ("nw-op", "T-NW")])
def test_agents_reach_no_audit_page(
    console: Console, auditors: note.Signer, account: str, device: str
) -> None:
    site = console.site
    assert console.signin(account, device) == 303
    home = console.client.get("/console/").text
    assert "/console/audit" not in home
    for path in AUDIT_PATHS:
        before = site.log.size()
        r = console.client.get(path)
        assert r.status_code == 403, path
        assert "gridwall-test+" not in r.text  # no key, no entry leaks into the refusal
        assert [e["decision"] for e in site.events_since(before)] == ["deny"], path
    r = console.client.post("/console/audit", data={"csrf": console.token(), "account_id": "nw-op"})
    assert r.status_code == 403 and "nw-op" not in rows(r.text).__repr__()


def test_audit_pages_need_a_session(console: Console) -> None:
    for path in AUDIT_PATHS:
        r = console.client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/console/signin", path
