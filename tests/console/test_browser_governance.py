"""The manager, compliance and administrator pages in a real browser (Debian's Chromium):
each role's main task end to end, axe-core with no serious finding, screenshots."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from playwright.sync_api import expect

from gridwall.identity import request_change

from .test_audit_pages import add_person
from .test_browser import live, person, serious_axe_findings

__all__ = ["live"]  # the fixture, shared with test_browser.py


def test_manager_approves_a_change_and_is_refused_their_own(live: tuple[Any, str, Any]) -> None:
    site = live[0]
    svc = site.server.identity
    now = site.clock()
    svc.revoke_account("nw-op", now - timedelta(minutes=1), "admin")
    request_change(svc, "role", "nw-fit", "fit_team", "P-NW-COMP", now)
    request_change(svc, "account_reactivate", "nw-op", None, "P-NW-MGR", now)
    mgr = person(live, "manager")
    mgr.sign_in("nw-mgr", "T-NW")
    page = mgr.page
    page.get_by_role("link", name="管理者（第一線）").first.click()
    expect(page.get_by_role("heading", name="第二者の承認待ちの変更")).to_be_visible()
    assert not serious_axe_findings(page)
    mgr.shot("manager")
    page.get_by_role("button", name="承認: 2").click()
    expect(page.get_by_text("二人承認の規則")).to_be_visible()
    mgr.shot("manager-refused")
    mgr.goto("/console/manager")
    page.get_by_role("button", name="承認: 1").click()
    expect(page.get_by_role("heading", name="変更を承認しました")).to_be_visible()
    mgr.close()


def test_compliance_reads_the_queue_rules_and_dashboard(live: tuple[Any, str, Any]) -> None:
    comp = person(live, "compliance")
    comp.sign_in("nw-comp", "T-NW")
    page = comp.page
    page.get_by_role("link", name="コンプライアンス（第二線）").first.click()
    expect(
        page.get_by_role("heading", name="コンプライアンス：アラートと案件の一覧")
    ).to_be_visible()
    assert not serious_axe_findings(page)
    comp.shot("compliance-queue")
    page.get_by_role("link", name="検知ルール一覧").click()
    expect(page.get_by_role("heading", name="A-retail-sees-non-public")).to_be_visible()
    assert not serious_axe_findings(page)
    comp.shot("compliance-rules")
    page.get_by_role("link", name="ダッシュボード").click()
    expect(page.locator("svg.chart").first).to_be_visible()
    assert not serious_axe_findings(page)
    comp.shot("compliance-dashboard")
    comp.close()


def test_administrator_previews_an_hr_import_then_applies_it(live: tuple[Any, str, Any]) -> None:
    from integration.site import AFF

    site = live[0]
    add_person(site, "nw-admin", "P-NW-ADM", "nw", "it_maintenance")
    adm = person(live, "admin")
    adm.sign_in("nw-admin", "T-NW")
    page = adm.page
    page.get_by_role("link", name="管理（システム管理者）").first.click()
    expect(page.get_by_role("heading", name="端末", exact=True)).to_be_visible()
    assert not serious_axe_findings(page)
    adm.shot("admin")
    csv = (
        "person_id,name,org,department,role,effective_at,change\n"
        f"P-NW-FIT,,retail:{AFF},sales,sales,{site.clock().isoformat()},transfer\n"
    )
    page.get_by_label("人事異動ファイル（CSV").fill(csv)
    page.get_by_role("button", name="変更内容を事前に確認").click()
    expect(page.locator("#revoked")).to_contain_text("nw-fit")
    assert not serious_axe_findings(page)
    adm.shot("hr-preview")
    page.get_by_role("button", name="この内容で反映する").click()
    expect(page.get_by_role("heading", name="人事異動を反映しました")).to_be_visible()
    adm.close()
