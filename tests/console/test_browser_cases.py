"""The case workflow in a real browser (Debian's Chromium through Playwright): each line's
case task end to end through the server's one case desk, axe-core with no serious finding
on the case pages, screenshots; and the session re-check (revoked, then a reload signs the
browser out)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from .test_browser import live, person, serious_axe_findings
from .test_case_pages import add_auditor, open_case

__all__ = ["live"]  # the fixture, shared with test_browser.py


def test_each_line_takes_its_case_step_in_the_browser(live: tuple[Any, str, Any]) -> None:
    site = live[0]
    add_auditor(site)
    cid = open_case(site, "al-browser")

    mgr = person(live, "case-manager")
    mgr.sign_in("nw-mgr", "T-NW")
    page = mgr.page
    page.get_by_role("link", name="案件", exact=True).click()
    expect(page.get_by_role("heading", name=f"案件 {cid}")).to_be_visible()
    expect(page.get_by_text("P-NW-OP")).to_be_visible()  # their own staff, by name
    expect(page.get_by_role("button", name="判定を記録する")).to_have_count(0)
    assert not serious_axe_findings(page)
    mgr.shot("queue")
    page.get_by_label("確認した内容（事実の確認または説明）").fill("本人に確認しました")
    page.get_by_role("button", name="事実を確認する").click()
    expect(page.get_by_role("status")).to_contain_text("case.confirm")
    assert not serious_axe_findings(page)
    mgr.shot("confirmed")
    mgr.close()

    comp = person(live, "case-compliance")
    comp.sign_in("nw-comp", "T-NW")
    page = comp.page
    page.get_by_role("link", name="案件", exact=True).click()
    expect(page.get_by_text("（仮名）").first).to_be_visible()
    expect(page.get_by_text("P-NW-OP")).to_have_count(0)
    assert not serious_axe_findings(page)
    comp.shot("queue")
    page.get_by_role("button", name=f"案件と履歴を開く: {cid}").click()
    expect(page.get_by_role("heading", name="履歴")).to_be_visible()
    assert not serious_axe_findings(page)
    page.get_by_label("対象者の実名を開示する理由（案件履歴に残ります）").fill("事情聴取のため")
    page.get_by_role("button", name="対象者を開示する").click()
    expect(page.get_by_text("P-NW-OP").first).to_be_visible()
    page.locator(f"#{cid}-decision").select_option("violation")
    page.get_by_label("行動規範の条項").fill("3.2")
    page.get_by_role("button", name="判断を記録する").click()
    expect(page.get_by_role("status")).to_contain_text("case.decide")
    page.get_by_label("懲戒処分の結果").fill("譴責")
    page.get_by_role("button", name="結果を記録する").click()
    expect(page.get_by_text("譴責").first).to_be_visible()
    assert not serious_axe_findings(page)
    comp.shot("decided")
    comp.close()

    aud = person(live, "case-audit")
    aud.sign_in("nw-aud", "T-NW")
    page = aud.page
    page.get_by_role("link", name="案件", exact=True).click()
    page.get_by_role("link", name="内部監査による終結案件の抽出").click()
    expect(page.get_by_role("heading", name=f"案件 {cid}")).to_be_visible()
    assert not serious_axe_findings(page)
    aud.shot("sample")
    page.get_by_role("button", name="承認する").click()
    expect(page.get_by_role("status")).to_contain_text("case.signoff")
    expect(page.get_by_text("内部監査承認済み")).to_be_visible()
    aud.shot("signed-off")
    aud.close()


def test_revoked_then_reload_is_signed_out(live: tuple[Any, str, Any]) -> None:
    site = live[0]
    op = person(live, "recheck")
    op.sign_in("nw-op", "T-NW")
    page = op.page
    expect(page.get_by_role("button", name="サインアウト")).to_be_visible()
    site.server.identity.revoke_account("nw-op", site.clock(), "moved")
    page.reload()
    expect(page.get_by_role("button", name="サインイン", exact=True)).to_be_visible()
    assert page.url.endswith("/console/signin")
    cookies = {c["name"] for c in op.context.cookies()}
    assert "gw_session" not in cookies
    op.close()
