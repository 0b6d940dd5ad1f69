"""Issue 5 over HTTP through the composed app (SQLite and PostgreSQL): a typhoon declared
over two cities and approved by a second person; an affiliated and an independent agent on
disaster terminals, with the disaster purpose, see exactly 契約名義 / address / phone of a
point inside the area — the same bytes — nothing outside, nothing after the end (frozen
clock); a contractor export goes only to its named counterparty and the file traces back."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from .site import (
    CHIYODA,
    IND,
    KASUMI,
    MINATO,
    SAPPORO,
    SECRETS,
    SHINJUKU,
    Site,
)

AREA = ["東京都/千代田区", "東京都/港区"]
INSIDE = (CHIYODA, KASUMI, MINATO)
OUTSIDE = (SHINJUKU, SAPPORO)
THREE = {"supply_point_id", "contract_name", "address", "phone"}


def _post(site: Site, url: str, who: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    r = site.client.post(url, json=body, headers=site.headers(who, "T-NW", "takuso"))
    return r.status_code, r.json()


def test_typhoon_two_cities_equal_footing_and_contractor_export(
    any_site: Site, tmp_path: Path
) -> None:
    site, clock = any_site, any_site.clock
    t0 = clock()
    # disaster-support agreements for both retailers (NW manager), a maintenance contract
    for aid, org, purpose, fields in (
        ("DS-A", "retail:A0001", "disaster_support", []),
        ("DS-B", f"retail:{IND}", "disaster_support", []),
        ("MT-1", "contractor:itco", "system_maintenance", ["contract_name", "equipment"]),
    ):
        status, _ = _post(site, "/v1/grants/agreements", "nw-mgr", {
            "agreement_id": aid, "counterparty_org": org, "purpose": purpose,
            "fields": fields, "valid_from": "2026-04-01"})  # fmt: skip
        assert status == 201, aid

    # declare over two cities (NW operator); the declarer cannot approve; a manager does
    planned_end = t0 + timedelta(hours=1, minutes=10)
    status, body = _post(site, "/v1/grants/disasters", "nw-op", {
        "disaster_id": "TY-2026-14", "title": "台風14号", "area": AREA,
        "planned_end": planned_end.isoformat(), "max_hours": 72})  # fmt: skip
    assert status == 201, body
    n = site.log.size()
    status, _ = _post(site, "/v1/grants/disasters/TY-2026-14/approve", "nw-op", {})
    assert status == 403 and site.log.size() == n + 1
    assert site.event(n)["decision"] == "deny"
    # before approval a disaster terminal is not usable at all
    r = site.client.post(
        "/v1/identity/login",
        json={"account_id": "aff-agent", "password": "x" * 20, "totp": "000000"},
        headers={"X-Gridwall-Terminal": site.terminal("T-AFF-DIS")},
    )
    assert r.status_code in (401, 403)
    status, body = _post(site, "/v1/grants/disasters/TY-2026-14/approve", "nw-mgr", {})
    assert status == 200, body

    clock.advance(hours=1)
    site.forget_sessions()
    agents = (("aff-agent", "T-AFF-DIS"), ("ind-agent", "T-IND-DIS"))

    def read(who: str, dev: str, point: str, purpose: str = "disaster_support") -> tuple[int, str]:
        r = site.client.get(f"/v1/supply-points/{point}", headers=site.headers(who, dev, purpose))
        return r.status_code, r.text

    for point in INSIDE:
        answers = [read(a, d, point) for a, d in agents]
        assert answers[0] == answers[1], point  # equal footing: the same bytes
        status, text = answers[0]
        assert status == 200, (point, text)
        assert set(json.loads(text)) == THREE, text
    for point in OUTSIDE:
        for a, d in agents:
            assert read(a, d, point)[0] == 404
    # another purpose on the disaster terminal, or the disaster purpose on a retail terminal
    assert read("aff-agent", "T-AFF-DIS", CHIYODA, "customer_service")[0] == 404
    site.logout("aff-agent", "T-AFF-DIS")  # one live session per person at a time
    assert read("aff-agent", "T-AFF", CHIYODA)[0] == 404
    site.logout("aff-agent", "T-AFF")

    # the planned end, to the second: nothing more (sessions still live)
    assert read("aff-agent", "T-AFF-DIS", KASUMI)[0] == 200
    clock.advance(seconds=(planned_end - clock()).total_seconds())
    assert clock() == planned_end
    for point in INSIDE + OUTSIDE:
        for a, d in agents:
            status, text = read(a, d, point)
            assert status in (401, 403, 404), (point, status)
            assert not any(s in text for s in SECRETS)

    # every access under it is in the report (NW manager)
    r = site.client.get(
        "/v1/grants/disasters/TY-2026-14/report", headers=site.headers("nw-mgr", "T-NW", "takuso")
    )
    assert r.status_code == 200, r.text
    assert "retail:A0001" in r.text and f"retail:{IND}" in r.text

    # a contractor export: only to the named counterparty, watermarked, traceable
    h = site.headers("nw-op", "T-NW", "takuso")
    want = {"supply_point_ids": [CHIYODA, MINATO], "fields": ["contract_name", "equipment"]}
    r = site.client.post("/v1/exports", json={"recipient_org": "contractor:itco", **want},
                         headers=h)  # fmt: skip
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["agreement_id"] == "MT-1" and out["file"].startswith("#")
    assert {"contract_name", "meter_id"} <= set(out["columns"])
    assert "phone" not in out["columns"] and "03-1111-1111" not in r.text
    for other in ("retail:A0001", f"retail:{IND}", "contractor:elsewhere"):
        r = site.client.post("/v1/exports", json={"recipient_org": other, **want}, headers=h)
        # a refused export is a refusal, answered like nonexistent points (issue 11 item 13)
        assert r.status_code == 404 and r.json()["error"] == "not_found", other
        assert "file" not in r.json() and not any(s in r.text for s in SECRETS)
    leak = tmp_path / "leak.txt"
    leak.write_text("\n".join(out["file"].splitlines()[3:5]), encoding="utf-8")  # two rows
    from gridwall.grants import trace_leak

    t = trace_leak(leak, site.server.engine)
    assert t is not None
    assert t.recipient_org == "contractor:itco" and t.export_id == out["export_id"]
    exports = [e for e in site.events_since(0) if e["action"] == "export"]
    assert any(f"export_id={out['export_id']}" in (e["query"] or "") for e in exports)
