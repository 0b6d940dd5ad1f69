"""lookup_feed / holder_name_matches: what the lookup may read, and nothing more."""

from __future__ import annotations

from dataclasses import fields

from sqlalchemy import Engine, insert

from gridwall.gateway import LookupRecord, holder_name_matches, lookup_feed
from gridwall.store import make_engine, upgrade
from gridwall.store.customer import SupplyPoint


def test_feed_and_name_match(db_url: str) -> None:
    upgrade(db_url)
    eng = make_engine(db_url)
    rows = [
        {
            "supply_point_id": f"0{i}" + "1" * 20,
            "pref": "東京都",
            "city": "千代田区",
            "town": "丸の内",
            "banchi": f"1-{i}",
            "building": None,
            "room": None,
            "contract_name": "山田 太郎",
            "phone": "03-0000-0000",
            "voltage": "low",
            "meter_id": f"M{i}",
            "status": "active",
        }
        for i in (3, 1, 2)
    ]
    with eng.begin() as c:
        c.execute(insert(SupplyPoint), rows)
    recs = list(lookup_feed(eng, batch_size=2))
    assert [r.supply_point_id[:2] for r in recs] == ["01", "02", "03"]
    names = {f.name for f in fields(LookupRecord)}
    assert "contract_name" not in names and "phone" not in names
    pid = "01" + "1" * 20
    assert holder_name_matches(eng, pid, "山田　太郎")  # full-width space
    assert holder_name_matches(eng, pid, "山田太郎")
    assert holder_name_matches(eng, pid, " 山田 太郎 ")
    assert not holder_name_matches(eng, pid, "山田 次郎")
    assert not holder_name_matches(eng, pid, "")
    assert not holder_name_matches(eng, "09" + "1" * 20, "山田 太郎")
    eng.dispose()


def test_lrs_points_tells_only_current_last_resort_supply(loaded: Engine) -> None:
    from datetime import date

    from gridwall.gateway import lrs_points

    from . import tiny

    every = [tiny.P_AFF, tiny.P_IND, tiny.P_VACANT, tiny.P_LRS, tiny.P_FIT, "0" * 22]
    assert lrs_points(loaded, every, date(2026, 4, 1)) == {tiny.P_LRS}
    assert lrs_points(loaded, every, date(2025, 5, 31)) == set()  # before its LRS contract began
    assert lrs_points(loaded, [], date(2026, 4, 1)) == set()
