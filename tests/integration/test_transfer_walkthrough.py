"""Issue 4 over HTTP through the composed app: an NW 託送 operator is transferred to the
affiliated retailer (人事異動, through the identity API as ``gridwall hr import`` does) and
from the effective instant their old account, session and terminal access all fail, each
failure audited in the tamper-evident log."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyotp

from gridwall.identity import apply_hr_changes, read_hr_file

from .site import AFF, CHIYODA, PASSWORD, SECRETS, Site


def test_transfer_revokes_account_session_and_terminal_at_the_effective_instant(
    site: Site, tmp_path: Path
) -> None:
    c, clock = site.client, site.clock
    nw = site.headers("nw-op", "T-NW", "takuso")
    assert c.get(f"/v1/supply-points/{CHIYODA}", headers=nw).status_code == 200

    effective = clock() + timedelta(seconds=90)
    hr = tmp_path / "hr.csv"
    hr.write_text(
        "person_id,name,org,department,role,effective_at\n"
        f"P-NW-OP,nw-op,retail:{AFF},営業部,sales,{effective.isoformat()}\n",
        encoding="utf-8",
    )
    report = apply_hr_changes(site.server.identity, read_hr_file(hr), hr.name, clock())
    assert report.revoked_accounts == ["nw-op"]

    clock.advance(seconds=89)  # not yet: the old session still works
    nw = site.headers("nw-op", "T-NW", "takuso")
    assert c.get(f"/v1/supply-points/{CHIYODA}", headers=nw).status_code == 200

    clock.advance(seconds=1)  # the effective instant
    start = site.log.size()
    nw = site.headers("nw-op", "T-NW", "takuso")
    failures = []
    r = c.get(f"/v1/supply-points/{CHIYODA}", headers=nw)  # the old session, NW terminal
    failures.append(r)
    r2 = c.get("/v1/supply-points", params={"town": "丸の内一丁目"}, headers=nw)
    failures.append(r2)
    r3 = c.post(  # a fresh login with the old account
        "/v1/identity/login",
        json={"account_id": "nw-op", "password": PASSWORD,
              "totp": pyotp.TOTP(site.totp["nw-op"]).at(clock() + timedelta(seconds=30))},
        headers={"X-Gridwall-Terminal": site.terminal("T-NW")},
    )  # fmt: skip
    failures.append(r3)
    r4 = c.get("/v1/identity/session", headers=nw)
    failures.append(r4)
    assert r.status_code == 404 and r2.status_code in (200, 403)
    assert r3.status_code in (401, 403)
    # the session route shows what the policy now sees (no customer data): transferred,
    # and the NW terminal is another organisation's
    assert r4.status_code == 200
    who = r4.json()
    assert who["org"] == f"retail:{AFF}" and who["principal"]["account_state"] == "transferred"
    assert who["terminal"]["owner"] == "other_org"
    for f in failures:
        assert not any(s in f.text for s in SECRETS), f.text
    assert r2.status_code == 403 or r2.json()["results"] == []

    failed_at = site.log.size()
    # a new retail account for the same person cannot use the NW terminal (C②)
    svc = site.server.identity
    svc.create_account("rt-op", "P-NW-OP", clock())
    svc.set_password("rt-op", PASSWORD, clock())
    secret, _ = svc.enroll_totp("rt-op", clock())
    mid = site.log.size()
    r5 = c.post(
        "/v1/identity/login",
        json={"account_id": "rt-op", "password": PASSWORD, "totp": pyotp.TOTP(secret).at(clock())},
        headers={"X-Gridwall-Terminal": site.terminal("T-NW")},
    )
    assert r5.status_code in (401, 403)

    # every failure is one audited deny naming the account; the transfer is the reason
    events = site.events_since(start)
    data = events[: failed_at - start]
    assert len(data) == 4, [(e["screen"], e["decision"]) for e in data]
    assert all(e["decision"] == "deny" and e["account_id"] == "nw-op" for e in data)
    reasons = " ".join(str(e.get("authentication") or e.get("reason") or "") for e in data)
    assert "transferred" in reasons
    c2 = [e for e in site.events_since(mid) if e["account_id"] == "rt-op"]
    assert c2 and c2[-1]["decision"] == "deny" and c2[-1]["action"] == "login_failed"
