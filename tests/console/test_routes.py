"""The console's routes through the composed app (no browser): CSRF, cookies, language,
sign-in and sign-out, timeouts, one audited gateway call per page, no customer value in
any URL, and the retailer's equal answers for others' and nonexistent points."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute

from gridwall.app.http.security import HEADERS
from gridwall.app.web import points as points_module
from integration.site import (
    CHIYODA,
    FIT,
    IND,
    IND2,
    KASUMI,
    MINATO,
    MISSING,
    POINTS,
    SECRETS,
    Site,
)

from .conftest import CSRF, Console

WITHHELD_JA = "非表示（権限なし）"
HREF = re.compile(r'(?:href|action|src)="([^"]*)"')


def console_routes(site: Site) -> list[APIRoute]:
    routes = [r for router in site.app.state.console.routers for r in router.routes]
    assert routes and all(isinstance(r, APIRoute) for r in routes)
    return [r for r in routes if isinstance(r, APIRoute)]


def console_posts(site: Site) -> list[str]:
    return sorted(r.path for r in console_routes(site) if "POST" in (r.methods or ()))


def strip_csrf(html: str) -> str:
    return CSRF.sub('name="csrf" value=""', html)


def hardened(headers: Any) -> None:
    for k, v in HEADERS:
        assert headers.get(k.decode()) == v.decode(), k


# -- language ----------------------------------------------------------------------------


def test_japanese_by_default_english_remembered_in_a_cookie(console: Console) -> None:
    page = console.client.get("/console/signin")
    assert '<html lang="ja">' in page.text and "サインイン" in page.text
    r = console.client.post(
        "/console/lang",
        data={"csrf": console.csrf(), "lang": "en", "next": "/console/signin"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/console/signin"
    cookie = r.headers["set-cookie"]
    assert "gw_lang=en" in cookie and "samesite=strict" in cookie.lower()
    again = console.client.get("/console/signin")
    assert '<html lang="en">' in again.text and "Sign in" in again.text
    assert "サインイン</h1>" not in again.text
    # a signed-in page follows the cookie too, and switching back is remembered as well
    assert console.signin("nw-op", "T-NW") == 303
    assert "Supply point search" in console.client.get("/console/").text
    console.client.post("/console/lang", data={"csrf": console.csrf("/console/"), "lang": "ja"})
    assert "供給地点の検索" in console.client.get("/console/").text


def test_language_switch_refuses_unknown_languages_and_foreign_return_paths(
    console: Console,
) -> None:
    r = console.client.post("/console/lang", data={"csrf": console.csrf(), "lang": "fr"})
    assert r.status_code == 400 and "gw_lang" not in r.headers.get("set-cookie", "")
    for target in ("https://evil.example/", "//evil.example/", "/v1/customers", "/console/x"):
        r = console.client.post(
            "/console/lang",
            data={"csrf": console.csrf(), "lang": "en", "next": target},
            follow_redirects=False,
        )
        assert r.headers["location"] == "/console/", target


# -- CSRF --------------------------------------------------------------------------------


def test_every_state_change_is_refused_without_the_csrf_token(console: Console) -> None:
    site = console.site
    posts = console_posts(site)
    assert {"/console/signin", "/console/signout", "/console/lang", "/console/search",
            "/console/point", "/console/usage", "/console/customers"} <= set(posts)  # fmt: skip
    before_sign_in = console.csrf()  # the pre-session token of this very browser
    assert console.signin("ind-agent", "T-IND") == 303
    other = Console(site)
    assert other.signin("aff-agent", "T-AFF") == 303
    foreign = other.csrf("/console/")  # a real token, but of another browser's session
    body = {"purpose": "customer_service", "supply_point_id": MINATO, "city": "港区",
            "account_id": "ind-agent", "password": "x", "totp": "000000", "lang": "en"}  # fmt: skip
    for path in posts:
        for token in (None, "", "0" * 64, foreign, before_sign_in):
            before = site.log.size()
            data = dict(body) if token is None else {**body, "csrf": token}
            r = console.client.post(path, data=data, follow_redirects=False)
            assert r.status_code == 403, (path, token, r.status_code)
            assert MINATO not in r.text and "佐藤" not in r.text
            events = site.events_since(before)
            assert len(events) == 1, (path, events)  # only the request's own trace
            assert not str(events[0].get("screen", "")).startswith("console/")
    # the session is still alive: nothing was signed out or switched
    assert "ind-agent" in console.client.get("/console/").text


# -- sign-in, cookies, sign-out, timeouts ------------------------------------------------


def test_session_cookie_is_httponly_strict_and_secure_over_tls(site: Site) -> None:
    for base, secure in (("http://testserver", False), ("https://testserver", True)):
        c = Console(site)
        c.client.base_url = base
        c.terminal("T-NW")
        r = c.client.post(
            "/console/signin",
            data={"csrf": c.csrf(), "account_id": "nw-op", "password": "correct horse battery "
                  "staple", "totp": c.code("nw-op")},
            follow_redirects=False,
        )  # fmt: skip
        assert r.status_code == 303, r.text
        cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and
                      v.startswith("gw_session="))  # fmt: skip
        attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
        assert {"httponly", "samesite", "path"} <= attrs and "samesite=strict" in cookie.lower()
        assert "path=/console" in cookie.lower()
        assert ("secure" in attrs) is secure, (base, cookie)
        hardened(r.headers)


def test_sign_in_refusals_are_neutral_and_leave_no_session(console: Console) -> None:
    site = console.site
    # wrong password, unknown account: the same page
    assert console.signin("nw-op", "T-NW", password="wrong") == 401
    wrong = strip_csrf(console.last.text)
    assert console.signin("nobody", "T-NW") == 401
    assert strip_csrf(console.last.text) == wrong and "サインインできませんでした" in wrong
    assert "gw_session" not in console.client.cookies
    # no terminal key in the browser: refused before identity is asked
    c = Console(site)
    r = c.client.post(
        "/console/signin",
        data={"csrf": c.csrf(), "account_id": "nw-op", "password": "x", "totp": "123456"},
    )
    assert r.status_code == 401 and "gw_session" not in c.client.cookies
    assert "登録済み端末として設定されていません" in r.text


def test_another_organisations_terminal_is_refused_with_the_c2_alert(console: Console) -> None:
    site = console.site
    before = site.log.size()
    assert console.signin("nw-op", "T-AFF") == 403
    assert "gw_session" not in console.client.cookies
    events = site.events_since(before)
    text = " ".join(str(e.get("reason", "")) + str(e.get("authentication", "")) for e in events)
    assert "belongs to" in text and "alert" in text, events


def test_sign_out_ends_the_session_server_side(console: Console) -> None:
    site = console.site
    assert console.signin("nw-op", "T-NW") == 303
    token = console.client.cookies["gw_session"]
    r = console.client.post("/console/signout", data={"csrf": console.csrf("/console/")},
                            follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == "/console/signin"
    # the old cookie, replayed, opens nothing — in the console or in the API
    console.client.cookies.set("gw_session", token, path="/console")
    console.terminal("T-NW")
    again = console.client.get("/console/", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/console/signin"
    api = site.client.get(
        "/v1/customers",
        headers={"Authorization": f"Bearer {token}", "X-Gridwall-Terminal": site.terminal("T-NW"),
                 "X-Gridwall-Purpose": "takuso"},
    )  # fmt: skip
    assert api.status_code == 401


def test_idle_and_absolute_timeouts_are_the_apis(console: Console) -> None:
    site = console.site
    cfg = site.server.identity.config
    assert console.signin("nw-op", "T-NW") == 303
    site.clock.advance(seconds=cfg.idle_timeout.total_seconds() + 1)
    console.terminal("T-NW")
    r = console.client.get("/console/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/signin"
    # active all along, the session still ends at the absolute timeout
    assert console.signin("nw-op", "T-NW") == 303
    step = cfg.idle_timeout / 2
    elapsed = step * 0
    while elapsed + step < cfg.absolute_timeout:
        site.clock.advance(seconds=step.total_seconds())
        elapsed += step
        console.terminal("T-NW")
        assert console.client.get("/console/", follow_redirects=False).status_code == 200
    site.clock.advance(seconds=(cfg.absolute_timeout - elapsed).total_seconds() + 1)
    console.terminal("T-NW")
    r = console.client.get("/console/", follow_redirects=False)
    assert r.status_code == 303


def test_a_stale_or_foreign_terminal_token_does_not_carry_the_session(console: Console) -> None:
    site = console.site
    assert console.signin("ind-agent", "T-IND") == 303
    console.terminal("T-IND")
    site.clock.advance(seconds=site.server.identity.config.token_max_age + 1)
    r = console.client.get("/console/", follow_redirects=False)
    assert r.status_code == 303  # the browser must re-sign: an old token is worthless
    console.terminal("T-IND2")  # another terminal's token with this session: C③, refused
    r = console.client.get("/console/", follow_redirects=False)
    assert r.status_code in (303, 403) and "ind-agent" not in r.text


def test_pages_need_a_session(site: Site) -> None:
    c = Console(site)
    for path in ("/console/", "/console/search", "/console/customers"):
        r = c.client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/console/signin", path
        hardened(r.headers)
    r = c.client.post("/console/point", data={"csrf": c.csrf(), "purpose": "takuso",
                      "supply_point_id": MINATO}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and MINATO not in r.text


# -- pages: one gateway call, one event ----------------------------------------------------


def test_nw_agent_pages_are_one_audited_gateway_call_each(console: Console) -> None:
    site = console.site
    assert console.signin("nw-op", "T-NW") == 303
    for path, data, screen in (
        ("/console/search", {"purpose": "takuso", "city": "港区"}, "console/search"),
        ("/console/point", {"purpose": "takuso", "supply_point_id": MINATO}, "console/point"),
        ("/console/usage", {"purpose": "takuso", "supply_point_id": MINATO}, "console/usage"),
    ):
        csrf = console.token()
        before = site.log.size()
        r = console.client.post(path, data={"csrf": csrf, **data})
        assert r.status_code == 200, (path, r.text[:300])
        hardened(r.headers)
        events = site.events_since(before)
        assert [e["screen"] for e in events] == [screen], events
        assert events[0]["decision"] == "allow" and events[0]["account_id"] == "nw-op"
        assert events[0]["device_id"] == "T-NW" and events[0]["purpose"] == "takuso"


def test_supply_point_page_shows_exactly_the_allowed_groups(console: Console) -> None:
    site = console.site
    assert console.signin("nw-op", "T-NW") == 303
    console.token()
    before = site.log.size()
    page = console.post("/console/point", {"purpose": "takuso", "supply_point_id": MINATO})
    shown = set(site.events_since(before)[0]["fields"])
    minato = next(p for p in POINTS if p["supply_point_id"] == MINATO)
    for group in points_module.GROUPS:
        assert (group in shown) == (group in page_groups_shown(page)), group
    assert ("contract_name" in shown) == (minato["contract_name"] in page)
    assert page.count(WITHHELD_JA) == len(set(points_module.GROUPS) - shown)
    # a retailer's own customer: its page, with withheld groups marked and never their value
    c = Console(site)
    assert c.signin("ind-agent", "T-IND") == 303
    c.token()
    before = site.log.size()
    own = c.post("/console/point", {"purpose": "customer_service", "supply_point_id": MINATO})
    allowed = set(site.events_since(before)[0]["fields"])
    assert page_groups_shown(own) == allowed & set(points_module.GROUPS)
    if "phone" not in allowed:
        assert minato["phone"] not in own


def page_groups_shown(page: str) -> set[str]:
    """The groups a point page shows with a value (dt followed by a non-withheld dd)."""
    labels = {
        "contract_name": "契約名義", "address": "住所", "phone": "電話番号",
        "retailer": "小売電気事業者", "contract": "供給契約", "equipment": "設備情報",
        "lrs": "最終保障供給", "switching_history": "スイッチング履歴", "fit": "FIT契約",
    }  # fmt: skip
    out = set()
    for group, label in labels.items():
        m = re.search(rf"<dt>{label}</dt>\s*<dd( class=\"withheld\")?>", page)
        assert m, group
        if not m.group(1):
            out.add(group)
    return out


@pytest.mark.parametrize("path", ["/console/point", "/console/usage"])
def test_another_retailers_point_answers_exactly_like_a_nonexistent_one(
    console: Console, path: str
) -> None:
    assert console.signin("ind-agent", "T-IND") == 303
    answers = {}
    for pid in (CHIYODA, KASUMI, FIT, MISSING):  # IND2's, AFF's, IND2's FIT, nobody's
        r = console.client.post(path, data={"csrf": console.csrf("/console/"),
                                "purpose": "customer_service", "supply_point_id": pid})  # fmt: skip
        answers[pid] = (r.status_code, strip_csrf(r.text).replace(pid, "<id>"))
        for secret in SECRETS:
            assert secret not in r.text
    assert len(set(answers.values())) == 1, answers
    assert answers[MISSING][0] == 404


def test_retailer_lists_exactly_its_own_current_customers_page_by_page(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gridwall.app.web import customers

    monkeypatch.setattr(customers, "PAGE_SIZE", 2)
    site = console.site
    own = sorted(p for p, code, _ in CONTRACTS_BY_RETAILER if code == IND2)
    assert console.signin("ind2-agent", "T-IND2") == 303
    console.token()
    seen: list[str] = []
    data = {"purpose": "customer_service"}
    for _ in range(10):
        before = site.log.size()
        page = console.post("/console/customers", data)
        assert [e["screen"] for e in site.events_since(before)] == ["console/customers"]
        seen += re.findall(r"<tr><td>(\d{22})</td>", page)
        m = re.search(r'name="after" value="(\d{22})"', page)
        if not m:
            break
        data = {"purpose": "customer_service", "after": m.group(1)}
    assert seen == own
    for pid in {p["supply_point_id"] for p in POINTS} - set(own):
        assert pid not in " ".join(seen)


def test_nw_agent_cannot_list_retail_customers(console: Console) -> None:
    assert console.signin("nw-op", "T-NW") == 303
    r = console.client.post("/console/customers", data={"csrf": console.csrf("/console/"),
                            "purpose": "takuso"})  # fmt: skip
    assert r.status_code == 403 and not re.search(r"\d{22}", r.text)


@pytest.mark.parametrize(
    ("data", "field_name"),
    [
        ({"purpose": "takuso"}, "supply_point_id"),
        ({"purpose": "takuso", "supply_point_id": "12345"}, "supply_point_id"),
        ({"purpose": "holiday", "city": "港区"}, "purpose"),
        ({"city": "港区"}, "purpose"),
        ({"purpose": "takuso", "city": "x" * 300}, "city"),
    ],
)
def test_bad_search_input_names_the_field(
    console: Console, data: dict[str, str], field_name: str
) -> None:
    assert console.signin("nw-op", "T-NW") == 303
    r = console.client.post("/console/search", data={"csrf": console.csrf("/console/"), **data})
    assert r.status_code == 400 and f"項目 {field_name} " in r.text, r.text[-800:]
    assert "検索結果" not in r.text


def test_console_pages_on_both_stores(any_site: Site) -> None:
    """Sign-in, a point, the own-customer list and sign-out, on SQLite and PostgreSQL."""
    c = Console(any_site)
    assert c.signin("ind-agent", "T-IND") == 303
    page = c.post("/console/point", {"purpose": "customer_service", "supply_point_id": MINATO})
    assert "佐藤 次郎" in page and WITHHELD_JA in page
    listed = c.post("/console/customers", {"purpose": "customer_service"})
    assert re.findall(r"<tr><td>(\d{22})</td>", listed) == [MINATO]
    other = c.client.post("/console/point", data={"csrf": c.token(),
                          "purpose": "customer_service", "supply_point_id": CHIYODA})  # fmt: skip
    assert other.status_code == 404 and "山田" not in other.text
    token = c.client.cookies["gw_session"]
    c.client.post("/console/signout", data={"csrf": c.token()})
    c.client.cookies.set("gw_session", token, path="/console")
    c.terminal("T-IND")
    assert c.client.get("/console/", follow_redirects=False).status_code == 303


# -- no customer value in any URL ----------------------------------------------------------


def test_no_console_route_takes_a_value_in_its_path_and_gets_take_no_query(site: Site) -> None:
    for r in console_routes(site):
        if r.path.startswith("/console"):
            assert "{" not in r.path, r.path
            if "GET" in (r.methods or ()):
                assert not r.dependant.query_params, r.path


def test_no_customer_value_in_any_url_of_any_page(site: Site) -> None:
    values = {str(v) for p in POINTS for k, v in p.items() if k != "pref"}
    for account, device, purpose in (("nw-op", "T-NW", "takuso"),
                                     ("ind-agent", "T-IND", "customer_service")):  # fmt: skip
        c = Console(site)
        assert c.signin(account, device) == 303
        pages = [c.client.get(p).text for p in ("/console/", "/console/search",
                 "/console/customers")]  # fmt: skip
        pages.append(c.post("/console/search", {"purpose": purpose, "city": "港区"}))
        pages.append(c.post("/console/point", {"purpose": purpose, "supply_point_id": MINATO}))
        pages.append(c.post("/console/usage", {"purpose": purpose, "supply_point_id": MINATO}))
        pages.append(c.post("/console/customers", {"purpose": purpose}))
        assert any(MINATO in p for p in pages)  # the values are on the pages ...
        for page in pages:
            for url in HREF.findall(page):  # ... and never in a link, action or source
                assert "?" not in url and not any(v in url for v in values), url


CONTRACTS_BY_RETAILER = [
    (p, code, kind)
    for p, code, kind in __import__("integration.site", fromlist=["CONTRACTS"]).CONTRACTS
]
assert IND  # (imported for readers: IND is ind-agent's retailer, IND2 ind2-agent's)


def test_retailer_lookup_page_is_the_apis_lookup_one_audited_call(console: Console) -> None:
    """The lookup page answers the API's candidates and name match; one audit event each;
    a vague address is refused naming the field."""
    site = console.site
    minato = next(p for p in POINTS if p["supply_point_id"] == MINATO)
    address = f"{minato['pref']}{minato['city']}{minato['town']}{minato['banchi']}"
    assert console.signin("ind-agent", "T-IND") == 303
    console.token()
    before = site.log.size()
    page = console.post("/console/lookup", {"address": address, "name": minato["contract_name"]})
    assert len(site.events_since(before)) == 1
    assert f"<td>{MINATO}</td>" in page and "契約名義：一致" in page
    assert minato["contract_name"] not in page  # the name given is never echoed
    page = console.post("/console/lookup", {"address": address, "name": "別人 太郎"})
    assert "契約名義：不一致" in page
    r = console.client.post("/console/lookup", data={"csrf": console.csrf("/console/"),
                            "address": "港区"})  # fmt: skip
    assert r.status_code == 400 and "address" in r.text
