"""Terminal enrolment in a real browser (Debian's Chromium): the NW administrator enrols the
browser they sit at (the key is generated there, non-extractable), cannot approve it
themselves, a second person approves, then that browser signs in for its organisation and
is refused, with the C② alert, for another."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridwall.identity import list_changes
from gridwall.identity._models import Alert
from gridwall.identity._models import Terminal as TerminalRow
from integration.site import AFF, PASSWORD

from .browser import Person
from .test_audit_pages import add_person
from .test_browser import live, person, serious_axe_findings

__all__ = ["live"]

#: what a script of the page can learn of the enrolled key (never its bytes)
PENDING_KEY = """() => new Promise((ok, fail) => {
  const rq = indexedDB.open("gridwall-terminal", 1);
  rq.onerror = () => fail(rq.error);
  rq.onsuccess = () => {
    const get = rq.result.transaction("keys").objectStore("keys").get(ARGS);
    get.onsuccess = () => ok(get.result ? {device: get.result.device_id,
      extractable: get.result.key.extractable, type: get.result.key.type} : null);
  };
})"""


def stored_key(p: Person, slot: str) -> Any:
    return p.page.evaluate(PENDING_KEY.replace("ARGS", repr(slot)))


def sign_in_here(p: Person, account: str) -> None:
    """Sign in with whatever terminal key this browser holds (none loaded from a file)."""
    code = p.code(account)
    p.sync_clock()
    p.goto("/console/signin")
    p.page.wait_for_selector("#terminal-status[data-state=ready]")
    p.page.get_by_label("アカウントID").fill(account)
    p.page.get_by_label("パスワード").fill(PASSWORD)
    p.page.get_by_label("ワンタイムコード（TOTP）").fill(code)
    p.page.get_by_role("button", name="サインイン", exact=True).click()
    p.page.wait_for_load_state()


def test_admin_enrols_this_browser_a_second_person_approves_then_it_signs_in(
    live: tuple[Any, str, Any],
) -> None:
    site = live[0]
    svc = site.server.identity
    add_person(site, "nw-admin", "P-NW-ADM", "nw", "it_maintenance")
    adm = person(live, "enrol")
    adm.sign_in("nw-admin", "T-NW")
    page = adm.page
    page.get_by_role("link", name="管理（システム管理者）").first.click()
    page.get_by_role("link", name="このブラウザを端末として登録").click()
    expect(page.get_by_role("heading", name="このブラウザを端末として登録")).to_be_visible()
    assert not serious_axe_findings(page)
    adm.shot("enrol")
    page.get_by_label("端末ID").fill("R-WEB")
    page.get_by_label("組織（nw").fill(f"retail:{AFF}")
    page.get_by_label("種別").select_option("retail_terminal")
    page.get_by_label("設置場所").fill("本社 2F")
    page.get_by_role("button", name="鍵を生成して登録を申請する").nth(1).click()
    expect(page.get_by_role("heading", name="登録を申請しました")).to_be_visible()
    assert not serious_axe_findings(page)
    adm.shot("enrol-requested")
    # the private key stays in this browser, non-extractable; the server has only a pending
    # change carrying the public key, and the terminal no key at all
    assert stored_key(adm, "pending") == {"device": "R-WEB", "extractable": False,
                                          "type": "private"}  # fmt: skip
    (change,) = [c for c in list_changes(svc) if c.kind == "terminal_enrol"]
    assert change.status == "pending" and change.subject == "R-WEB"
    with Session(svc.engine) as s:
        row = s.get(TerminalRow, "R-WEB")
        assert row is not None and row.public_key is None
    # the administrator cannot approve it: the approvals page is refused to them
    response = adm.goto("/console/manager")
    assert response is not None and response.status == 403
    # signed out, this browser is terminal R-WEB; refused while the enrolment is pending
    adm.goto("/console/")
    page.get_by_role("button", name="サインアウト").click()
    page.wait_for_selector("#terminal-status[data-state=ready]")
    expect(page.locator("#terminal-status")).to_contain_text("R-WEB")
    assert stored_key(adm, "terminal")["device"] == "R-WEB"
    sign_in_here(adm, "aff-agent")
    expect(page.get_by_role("alert")).to_contain_text("サインインできませんでした")
    adm.shot("refused-pending")
    # a second person approves on the manager's page
    mgr = person(live, "enrol-manager")
    mgr.sign_in("nw-mgr", "T-NW")
    mgr.goto("/console/manager")
    mgr.page.get_by_role("button", name=f"承認: {change.change_id}").click()
    expect(mgr.page.get_by_role("heading", name="変更を承認しました")).to_be_visible()
    mgr.close()
    # now this browser signs in for its organisation …
    sign_in_here(adm, "aff-agent")
    expect(page.get_by_role("heading", name="ホーム")).to_be_visible()
    expect(page.get_by_text("R-WEB").first).to_be_visible()
    adm.shot("signed-in")
    page.get_by_role("button", name="サインアウト").click()
    page.wait_for_selector("#terminal-status[data-state=ready]")
    # … and is refused, with the C② alert, for another retailer's account
    sign_in_here(adm, "ind-agent")
    expect(page.get_by_role("alert")).to_contain_text("この端末ではサインインできません")
    adm.shot("refused-other-org")
    with Session(svc.engine) as s:
        alerts = list(s.scalars(select(Alert).where(Alert.account_id == "ind-agent")))
    assert [(a.rule, a.incident_type) for a in alerts] == [("other_org_terminal", "C2")]
    adm.close()
