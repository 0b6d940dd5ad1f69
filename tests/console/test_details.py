"""Refusal details on console pages come from the message catalogue (issue 12): the
gateway's and identity's English details never reach a page; a detail of a known form keeps
the values it names; any other detail is one neutral catalogue message."""

from __future__ import annotations

from datetime import timedelta

from gridwall.app.web import i18n
from gridwall.app.web.details import DETAILS, OTHER, localise
from gridwall.gateway._errors import ID_DETAIL
from gridwall.gateway._requests import MAX_SEARCH
from gridwall.identity import decide_change, request_change

from .conftest import Console


def test_known_details_are_translated_with_their_values_and_others_neutral() -> None:
    ja = i18n.translations("ja").gettext
    en = i18n.translations("en").gettext
    assert (
        localise(ID_DETAIL, ja)
        == "供給地点特定番号は、エリアコード 01〜10 で始まる 22 桁の数字です。"
    )
    assert (
        localise(f"limit must be 1..{MAX_SEARCH}", ja)
        == f"件数は 1〜{MAX_SEARCH} の範囲で指定してください。"
    )
    assert localise("change #7 is already applied", ja) == "変更 7 は既に判断済みです（applied）。"
    assert (
        localise("change #7 is already applied", en)
        == "Change 7 has already been decided (applied)."
    )
    # anything else: the neutral message, nothing of the English text
    assert localise("internal: table idn_x row 5 is odd", ja) == ja(OTHER) != OTHER
    for _pattern, message in DETAILS:
        assert ja(message) != message
    # a bad-input detail keeps the field it names (any field), nothing of its English reason
    for name in ("proof", "--org", "public_key"):
        out = localise(f"{name}: not what was expected", ja, names_field=True)
        assert name in out and "expected" not in out and out != ja(OTHER)
    assert localise("proof: not what was expected", ja) == ja(OTHER)


def test_a_bad_supply_point_id_is_explained_in_japanese(console: Console) -> None:
    assert console.signin("nw-op", "T-NW") == 303
    r = console.client.post(
        "/console/point",
        data={"csrf": console.token(), "purpose": "takuso", "supply_point_id": "123"},
    )
    assert r.status_code == 400, r.text
    main = r.text.split('<main id="main">')[1]
    assert "22 桁の数字です" in main, main and ID_DETAIL not in r.text
    console.client.cookies.set("gw_lang", "en", path="/console")
    r = console.client.post(
        "/console/point",
        data={"csrf": console.token(), "purpose": "takuso", "supply_point_id": "123"},
    )
    assert "must be 22 digits, beginning with an area code" in r.text


def test_a_capability_refusal_on_the_manager_page_is_in_japanese(console: Console) -> None:
    site = console.site
    svc = site.server.identity
    now = site.clock()
    change = request_change(svc, "role", "nw-fit", "fit_team", "P-NW-COMP", now)
    decide_change(svc, change, "P-NW-MGR", now + timedelta(seconds=1), approve=False)
    assert console.signin("nw-mgr", "T-NW") == 303
    r = console.client.post(
        "/console/manager/change",
        data={"csrf": console.token(), "change_id": str(change), "decision": "approve"},
    )
    assert r.status_code == 403
    assert f"変更 {change} は既に判断済みです（rejected）。" in r.text
    assert "is already" not in r.text
