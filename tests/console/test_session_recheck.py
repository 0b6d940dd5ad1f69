"""Every console page re-checks the account behind its session (issue 12): revoked, locked
or transferred since sign-in, the next page load signs the browser out and ends the session
server-side (the old cookie opens nothing, in the console or the API), as one audit event."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from integration.site import Site

from .conftest import Console


def api_status(site: Site, token: str) -> int:
    r = site.client.get(
        "/v1/customers",
        headers={"Authorization": f"Bearer {token}", "X-Gridwall-Terminal": site.terminal("T-NW"),
                 "X-Gridwall-Purpose": "takuso"},
    )  # fmt: skip
    return int(r.status_code)


def set_lock(site: Site, account: str, until: object) -> None:
    with site.server.engine.begin() as c:
        c.execute(
            sa.text("UPDATE idn_accounts SET locked_until = :u WHERE account_id = :a"),
            {"u": until, "a": account},
        )


def test_revoked_since_sign_in_is_signed_out_on_the_next_page(console: Console) -> None:
    site = console.site
    assert console.signin("nw-op", "T-NW") == 303
    assert console.client.get("/console/search").status_code == 200
    site.server.identity.revoke_account("nw-op", site.clock(), "moved")
    before = site.log.size()
    r = console.client.get("/console/search", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/signin"
    assert 'gw_session=""' in r.headers.get("set-cookie", "")  # the browser forgets it
    assert len(site.events_since(before)) == 1  # one event for the page call


def test_locked_since_sign_in_ends_the_session_server_side(console: Console) -> None:
    site = console.site
    assert console.signin("nw-op", "T-NW") == 303
    token = console.client.cookies["gw_session"]
    assert console.client.get("/console/").status_code == 200
    set_lock(site, "nw-op", site.clock() + timedelta(hours=1))  # e.g. lockout elsewhere
    before = site.log.size()
    for path in ("/console/", "/console/search"):  # a page of identity, one of the gateway
        console.client.cookies.set("gw_session", token, path="/console")
        r = console.client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/console/signin", path
    events = site.events_since(before)
    assert len(events) == 2 and "logout" in str(events[0])
    # unlocked again, the old session stays ended: it was ended on the server, not only
    # forgotten by the browser
    set_lock(site, "nw-op", None)
    assert api_status(site, token) == 401
    console.client.cookies.set("gw_session", token, path="/console")
    r = console.client.get("/console/", follow_redirects=False)
    assert r.status_code == 303
    assert console.signin("nw-op", "T-NW") == 303  # a new sign-in works again
