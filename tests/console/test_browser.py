"""The console in a real browser (Debian's Chromium through Playwright): sign-in end to end
for an NW agent and a retailer agent, a retailer walking every link and form without ever
seeing another retailer's customer, the affiliated and independent agents' pages compared,
and CSP, cookie flags and no-store as the browser sees them. Screenshots of each page go
to ``out/console/`` for review."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from integration.site import (
    CHIYODA,
    FIT,
    KASUMI,
    LRS,
    MINATO,
    MISSING,
    POINTS,
    SAPPORO,
    SHINJUKU,
    Site,
    build_site,
)

from .browser import LiveServer, Person

CSRF_VALUE = re.compile(r'name="csrf" value="[0-9a-f]{64}"')


@pytest.fixture
def live(sqlite_url: str, tmp_path: Path, browser: Any) -> Iterator[tuple[Site, str, Any]]:
    site = build_site(sqlite_url, tmp_path)
    try:
        with LiveServer(site) as server:
            yield site, server.base, browser
    finally:
        site.server.close()


def person(live: tuple[Site, str, Any], name: str) -> Person:
    site, base, browser = live
    return Person(site, base, browser, name)


def customer_values(exclude: set[str]) -> dict[str, list[str]]:
    """Every point's values, but those of ``exclude`` (by supply point ID)."""
    out: dict[str, list[str]] = {"html": [], "text": []}
    for p in POINTS:
        if p["supply_point_id"] in exclude:
            continue
        out["html"] += [p["contract_name"], p["phone"]]  # never typed by anyone
        out["text"] += [p["supply_point_id"], p["meter_id"], f"{p['town']} {p['banchi']}"]
    return out


def test_nw_agent_signs_in_searches_and_reads_a_point(live: tuple[Site, str, Any]) -> None:
    nw = person(live, "nw-agent")
    nw.sign_in("nw-op", "T-NW")
    page = nw.page
    assert page.get_by_role("heading", name="ホーム").is_visible()
    nw.shot("home")
    page.get_by_role("link", name="供給地点の検索").first.click()
    page.get_by_label("利用目的").select_option("takuso")
    page.get_by_label("市区町村").fill("港区")
    page.get_by_role("button", name="検索", exact=True).click()
    assert page.get_by_role("heading", name="検索結果：2 件").is_visible()
    nw.shot("search")
    page.get_by_role("row", name=re.compile(MINATO)).get_by_role("button", name="開く").click()
    assert page.get_by_role("heading", name=f"供給地点 {MINATO}").is_visible()
    groups = page.locator("dl.groups")
    assert "佐藤 次郎" in groups.inner_text() and "03-3333-3333" in groups.inner_text()
    assert page.locator("dd.withheld").all_inner_texts() == ["非表示（権限なし）"]  # FIT
    nw.shot("point")
    page.get_by_role("button", name="月別使用量を表示").click()
    # count() does not wait for the navigation the click starts; expect() does
    expect(page.locator("svg.chart rect.bar")).to_have_count(10)
    assert page.get_by_role("img", name="月別使用量（kWh）").is_visible()
    nw.shot("usage")
    # English, remembered across pages
    page.get_by_role("button", name="English").click()
    assert page.get_by_role("heading", name="Home").is_visible()
    page.get_by_role("link", name="Supply point search").first.click()
    assert page.get_by_role("heading", name="Supply point search").is_visible()
    nw.shot("search-en")
    # no customer value in any URL the browser asked for
    values = [str(v) for p in POINTS for k, v in p.items() if k != "pref"]
    for url in nw.requests:
        where = urlsplit(url)
        assert not where.query and not any(v in where.path for v in values), url
    page.get_by_role("button", name="Sign out").click()
    assert page.get_by_role("heading", name="Sign in").is_visible()
    assert not [c for c in nw.context.cookies() if c["name"] == "gw_session"]
    assert not nw.csp_violations
    nw.close()


def test_retailer_agent_signs_in_and_sees_only_its_own_customers(
    live: tuple[Site, str, Any],
) -> None:
    ind = person(live, "retailer-independent")
    ind.sign_in("ind-agent", "T-IND")
    page = ind.page
    ind.shot("home")
    page.get_by_role("link", name="自社顧客一覧").first.click()
    page.get_by_label("利用目的").select_option("customer_service")
    page.get_by_role("button", name="最初から表示").click()
    rows = page.locator("tbody tr")
    assert rows.count() == 1 and MINATO in rows.first.inner_text()
    ind.shot("customers")
    rows.first.get_by_role("button", name="開く").click()
    assert page.get_by_role("heading", name=f"供給地点 {MINATO}").is_visible()
    ind.shot("point")
    # another retailer's point, typed in: the answer of a point that does not exist
    texts = []
    for pid in (CHIYODA, MISSING):
        page.get_by_role("link", name="供給地点の検索").first.click()
        page.get_by_label("供給地点特定番号（22桁）").fill(pid)
        page.get_by_role("button", name="検索", exact=True).click()
        # the rendered text's whitespace depends on whether the stylesheet has applied
        # yet: compare after the page has loaded, with layout whitespace collapsed
        page.wait_for_load_state("load")
        texts.append(" ".join(page.locator("main").inner_text().split()))
    assert texts[0] == texts[1] and "該当する供給地点はありません。" in texts[0]
    ind.shot("search-other")
    ind.close()


def test_terminal_key_stays_in_the_browser_non_extractable(live: tuple[Site, str, Any]) -> None:
    p = person(live, "terminal")
    p.load_terminal_key("T-NW")
    out = p.page.evaluate(
        """() => new Promise((ok) => {
            const rq = indexedDB.open("gridwall-terminal", 1);
            rq.onsuccess = () => {
              const get = rq.result.transaction("keys").objectStore("keys").get("terminal");
              get.onsuccess = () => {
                const key = get.result.key;
                crypto.subtle.exportKey("pkcs8", key).then(
                  () => ok({extractable: key.extractable, exported: true}),
                  () => ok({extractable: key.extractable, exported: false}));
              };
            };
          })"""
    )
    assert out == {"extractable": False, "exported": False}
    cookie = next(c for c in p.context.cookies() if c["name"] == "gw_terminal")
    assert cookie["value"].startswith("gwt1.") and cookie["sameSite"] == "Strict"
    p.shot("signin-terminal-loaded")
    p.close()


def test_headers_and_cookies_as_the_browser_sees_them(live: tuple[Site, str, Any]) -> None:
    nw = person(live, "headers")
    nw.sign_in("nw-op", "T-NW")
    nw.goto("/console/search")
    session = next(c for c in nw.context.cookies() if c["name"] == "gw_session")
    assert session["httpOnly"] is True and session["sameSite"] == "Strict"
    assert session["secure"] is False and session["path"] == "/console"  # plain http here
    assert nw.page.evaluate("document.cookie").find("gw_session") == -1  # not for scripts
    pages = [r for r in nw.responses if r.request.resource_type == "document"]
    assert len(pages) >= 4
    for r in nw.responses:
        h = r.headers
        if r.status in (301, 302, 303, 307):
            continue
        if "/console/static/v-" in r.url:  # public files under a content-hashed path
            assert r.request.resource_type in ("stylesheet", "script"), r.url
            assert h.get("cache-control") == "public, max-age=31536000, immutable", r.url
        else:  # every page, and anything else: never kept
            assert h.get("cache-control") == "no-store", r.url
        csp = h.get("content-security-policy", "")
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, r.url
        assert "form-action 'self'" in csp and h.get("x-frame-options") == "DENY", r.url
    # the CSP holds: an inline script injected into a page does not run
    ran = nw.page.evaluate(
        """() => { const s = document.createElement('script');
                   s.textContent = 'window.__inline = 1'; document.body.appendChild(s);
                   return window.__inline === 1; }"""
    )
    assert ran is False and nw.csp_violations
    nw.close()


def test_a_retailer_never_sees_another_retailers_customer_on_any_page(
    live: tuple[Site, str, Any],
) -> None:
    """Walk every link and every form reachable by the independent agent, filling every text
    field with every other point's identifiers and address parts, for every purpose."""
    ind = person(live, "walk")
    ind.sign_in("ind-agent", "T-IND")
    page = ind.page
    hidden = customer_values({MINATO})
    probes = {
        "supply_point_id": [CHIYODA, KASUMI, SHINJUKU, SAPPORO, LRS, FIT, MISSING],
        "meter_id": [p["meter_id"] for p in POINTS if p["supply_point_id"] != MINATO],
        "pref": sorted({p["pref"] for p in POINTS}),
        "city": sorted({p["city"] for p in POINTS}),
        "town": sorted({p["town"] for p in POINTS if p["supply_point_id"] != MINATO}),
        "banchi": sorted({p["banchi"] for p in POINTS if p["supply_point_id"] != MINATO}),
    }
    seen: list[str] = []
    own_shown = 0

    def check() -> None:
        nonlocal own_shown
        seen.append(urlsplit(page.url).path)
        html, text = page.content(), page.locator("body").inner_text()
        own_shown += "佐藤 次郎" in html  # the positive control: its own customer does show
        for v in hidden["html"]:
            assert v not in html, (page.url, v)
        for v in hidden["text"]:
            assert v not in text, (page.url, v)

    Step = tuple[Any, ...]

    def replay(steps: list[Step]) -> None:
        for step in steps:
            if step[0] == "goto":
                ind.goto(step[1])
                continue
            f = page.locator("main form").nth(step[1])
            if step[0] == "fill":
                _, _, purpose, name, value = step
                if purpose is not None:
                    f.locator("select[name=purpose]").select_option(purpose)
                if name is not None:
                    f.locator(f"input[name={name}]").fill(value)
            f.locator("button[type=submit]").click()
            page.wait_for_load_state()

    forms_done: set[str] = set()

    def walk(steps: list[Step], depth: int) -> None:
        """Check this page, then every form it offers (each from a fresh replay)."""
        check()
        if depth > 4:
            return
        forms = page.locator("main form").evaluate_all(
            """fs => fs.map(f => ({
                action: f.getAttribute('action'),
                hidden: Array.from(f.querySelectorAll('input[type=hidden]'))
                        .filter(i => i.name !== 'csrf').map(i => i.name + '=' + i.value),
                texts: Array.from(f.querySelectorAll('input:not([type=hidden])')).map(i => i.name),
                purposes: Array.from(f.querySelectorAll('select[name=purpose] option'))
                          .map(o => o.value)}))"""
        )
        for i, form in enumerate(forms):
            key = f"{form['action']}|{'&'.join(form['hidden'])}|{','.join(form['texts'])}"
            if key in forms_done:
                continue
            forms_done.add(key)
            cases = [(n, v) for n in form["texts"] for v in probes.get(n, ["x"])] or [(None, None)]
            for purpose in form["purposes"] or [None]:
                for name, value in cases:
                    nxt = [*steps, ("fill", i, purpose, name, value)]
                    replay(nxt)
                    walk(nxt, depth + 1)

    visited_links: set[str] = set()
    queue = ["/console/"]
    while queue:
        path = queue.pop()
        if path in visited_links:
            continue
        visited_links.add(path)
        ind.goto(path)
        hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
        queue += [h for h in hrefs if h.startswith("/console") and h not in visited_links]
        walk([("goto", path)], 0)
    assert {"/console/", "/console/search", "/console/customers"} <= visited_links
    n_probes = sum(len(v) for v in probes.values())
    assert seen.count("/console/search") > 3 * n_probes  # every probe, every purpose
    assert {"/console/point", "/console/usage", "/console/customers"} <= set(seen)
    assert own_shown >= 3
    ind.close()


def normalised(html: str, own: dict[str, Any], account: str, org: str, device: str) -> str:
    out = CSRF_VALUE.sub('name="csrf" value=""', html)
    for k, v in own.items():
        if k != "pref":  # both points are in 東京都
            out = out.replace(str(v), f"<{k}>")
    for old, new in ((account, "<account>"), (org, "<org>"), (device, "<device>")):
        out = out.replace(old, new)
    return out


def agent_pages(
    live: tuple[Site, str, Any], label: str, account: str, device: str, code: str, own_pid: str
) -> list[str]:
    """One retailer agent's main pages, as the server sent them, own data masked."""
    p = person(live, f"compare-{label}")
    p.sign_in(account, device)
    own = next(x for x in POINTS if x["supply_point_id"] == own_pid)
    pages: list[str] = []

    def keep(shot: str) -> None:
        p.shot(shot)
        docs = [r for r in p.responses if r.request.resource_type == "document"]
        html = docs[-1].text()  # the bytes the server sent, not the live DOM
        masked = normalised(html, own, account, f"retail:{code}", device)
        pages.append(masked.replace(code, "<code>"))

    keep("home")
    p.goto("/console/customers")
    p.page.get_by_role("button", name="最初から表示").click()
    keep("customers")
    p.page.locator("tbody tr").first.get_by_role("button", name="開く").click()
    keep("point")
    for pid in (SHINJUKU, MISSING):
        p.goto("/console/search")
        p.page.get_by_label("供給地点特定番号（22桁）").fill(pid)
        p.page.get_by_role("button", name="検索", exact=True).click()
        keep("search-" + ("other" if pid == SHINJUKU else "missing"))
    p.close()
    return pages


def test_affiliated_and_independent_agents_get_the_same_pages(
    live: tuple[Site, str, Any],
) -> None:
    from integration.site import AFF, IND

    affiliated = agent_pages(live, "affiliated", "aff-agent", "T-AFF", AFF, KASUMI)
    independent = agent_pages(live, "independent", "ind-agent", "T-IND", IND, MINATO)
    assert len(affiliated) == 5
    assert "<contract_name>" in affiliated[2]  # own data was on the point page
    for a, b in zip(affiliated, independent, strict=True):
        assert a == b


def serious_axe_findings(page: Any) -> list[str]:
    """axe-core (shipped by the axe-playwright-python package, nothing fetched) on the page:
    the serious and critical rule violations, with the elements they were found on."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    assert results.response["passes"], "axe-core did not run on the page"  # it checked rules
    return [
        f"{v['id']} ({v['impact']}): {[n.get('target') for n in v.get('nodes', [])][:5]}"
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]


def test_every_page_has_no_serious_accessibility_finding(live: tuple[Site, str, Any]) -> None:
    found: dict[str, list[str]] = {}
    nw = person(live, "axe-nw")
    nw.goto("/console/signin")
    found["signin"] = serious_axe_findings(nw.page)
    nw.shot("axe-signin")
    nw.sign_in("nw-op", "T-NW")
    page = nw.page
    found["home"] = serious_axe_findings(page)
    page.get_by_role("link", name="供給地点の検索").first.click()
    found["search"] = serious_axe_findings(page)
    page.get_by_label("利用目的").select_option("takuso")
    page.get_by_label("市区町村").fill("港区")
    page.get_by_role("button", name="検索", exact=True).click()
    found["results"] = serious_axe_findings(page)
    nw.shot("axe-results")
    page.get_by_role("row", name=re.compile(MINATO)).get_by_role("button", name="開く").click()
    found["point"] = serious_axe_findings(page)
    page.get_by_role("button", name="月別使用量を表示").click()
    found["usage"] = serious_axe_findings(page)
    nw.shot("axe-usage")
    nw.close()
    ind = person(live, "axe-ind")
    ind.sign_in("ind-agent", "T-IND")
    ind.page.get_by_role("link", name="自社顧客一覧").first.click()
    ind.page.get_by_role("button", name="最初から表示").click()
    found["customers"] = serious_axe_findings(ind.page)
    ind.shot("axe-customers")
    ind.close()
    assert not {k: v for k, v in found.items() if v}, found


def test_the_accessibility_check_flags_an_unlabelled_field(browser: Any) -> None:
    """The check above can fail: a field without a label and an image without text."""
    page = browser.new_page()
    try:
        page.set_content('<html lang="en"><title>t</title><main><input id="q"><img src="x.png">'
                         "</main></html>")  # fmt: skip
        found = serious_axe_findings(page)
    finally:
        page.close()
    assert any(f.startswith("label ") for f in found) and any("image-alt" in f for f in found)


def test_internal_auditor_explores_and_verifies_the_log(live: tuple[Site, str, Any]) -> None:
    from gridwall.audit import note

    from .test_audit_pages import add_person

    site = live[0]
    add_person(site, "nw-aud", "P-NW-AUD", "nw", "auditor")
    site.log.checkpoint([note.generate_signer("gridwall-test")])
    aud = person(live, "auditor")
    aud.sign_in("nw-aud", "T-NW")
    page = aud.page
    page.get_by_role("link", name="監査ログ").first.click()
    assert page.get_by_role("heading", name="監査ログ", exact=True).is_visible()
    page.get_by_label("判定").select_option("allow")
    page.get_by_role("button", name="監査ログを検索").click()
    proofs = page.locator("td[class^=proof-]").all_inner_texts()
    assert proofs and set(proofs) <= {"検証済み", "未署名"} and "検証済み" in proofs, proofs
    assert urlsplit(page.url).query == ""  # the filters were posted
    assert not serious_axe_findings(page)
    aud.shot("audit-log")
    page.get_by_role("link", name="チェックポイントとログの検証").first.click()
    assert page.get_by_text("検証に成功しました").is_visible()
    assert not serious_axe_findings(page)
    aud.shot("verify")
    aud.close()
