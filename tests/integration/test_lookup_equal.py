"""The equal-footing lookup through the composed app (SQLite and PostgreSQL): an affiliated
and an independent retailer's agents get byte-identical answers, never a name or phone."""

from __future__ import annotations

from .site import NAMES, PHONES, Site

QUERIES = [
    {"address": "東京都千代田区霞が関2-1-1"},
    {"address": "東京都千代田区霞ヶ関二丁目1番1号", "name": "霞 花子"},  # right holder
    {"address": "東京都千代田区霞が関2-1-1", "name": "山田 太郎"},  # wrong holder
    {"address": "東京都港区芝公園4-2-8"},
    {"address": "東京都千代田区丸の内1-2-3", "name": "山田太郎"},
    {"address": "北海道札幌市北区北7条西5丁目7"},
    {"address": "東京都千代田区"},  # too vague: refused alike
]


def test_lookup_same_for_affiliated_and_independent_and_no_personal_data(any_site: Site) -> None:
    site = any_site
    aff = site.headers("aff-agent", "T-AFF", "switching")
    ind = site.headers("ind-agent", "T-IND", "switching")
    matched = 0
    for q in QUERIES:
        before = site.log.size()
        a = site.client.post("/v1/lookup", json=q, headers=aff)
        b = site.client.post("/v1/lookup", json=q, headers=ind)
        assert (a.status_code, a.content) == (b.status_code, b.content), q
        assert site.log.size() == before + 2  # both audited, once each
        for text in (a.text, b.text):
            assert not any(n in text for n in NAMES), q
            assert not any(p in text for p in PHONES), q
            assert not any(n.replace(" ", "") in text for n in NAMES), q
        if a.status_code == 200:
            body = a.json()
            assert set(body) >= {"candidates", "name_match"}
            for c in body["candidates"]:
                assert not {"contract_name", "phone", "retailer", "usage"} & set(c)
            matched += bool(body["candidates"])
    assert matched >= 3
    # the name check answers yes/no for the confident top candidate only
    yes = site.client.post("/v1/lookup", json=QUERIES[1], headers=aff).json()
    no = site.client.post("/v1/lookup", json=QUERIES[2], headers=ind).json()
    assert yes["name_match"] is True and no["name_match"] is False
    # a session presented from another organisation's terminal: refused, audited
    before = site.log.size()
    stolen = {**aff, "X-Gridwall-Terminal": site.terminal("T-IND")}
    r = site.client.post("/v1/lookup", json=QUERIES[0], headers=stolen)
    assert r.status_code in (401, 403) and "candidates" not in r.text
    assert site.log.size() == before + 1 and site.event(before)["decision"] == "deny"
