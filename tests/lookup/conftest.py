"""Fixtures: a small index of real-format supply points on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

Record = dict[str, Any]

RECORDS: list[Record] = [
    # a building with rooms (numerals in the building name are part of the name)
    Record(
        supply_point_id="0300000000000000000101",
        pref="東京都",
        city="千代田区",
        town="丸の内一丁目",
        banchi="2-3",
        building="第2〇〇ビル",
        room="301",
    ),
    Record(
        supply_point_id="0300000000000000000102",
        pref="東京都",
        city="千代田区",
        town="丸の内一丁目",
        banchi="2-3",
        building="第2〇〇ビル",
        room="302",
    ),
    # the operator keeps 丁目 in banchi here (town without 丁目)
    Record(
        supply_point_id="0300000000000000000103",
        pref="東京都",
        city="千代田区",
        town="霞が関",
        banchi="2-1-1",
        building=None,
        room=None,
        voltage="high",
    ),
    Record(
        supply_point_id="0600000000000000000104",
        pref="京都府",
        city="京都市中京区",
        town="虎屋町",
        banchi="123",
        building=None,
        room=None,
        status="vacant",
    ),
    Record(
        supply_point_id="0400000000000000000105",
        pref="三重県",
        city="三重郡川越町",
        town="大字亀尾新田",
        banchi="123-4",
        building=None,
        room=None,
    ),
    Record(
        supply_point_id="0600000000000000000106",
        pref="大阪府",
        city="大阪市北区",
        town="梅田三丁目",
        banchi="1-3",
        building="グランフロント",
        room=None,
    ),
    # a town the national dictionary does not know (learnt from the operator's data)
    Record(
        supply_point_id="0300000000000000000107",
        pref="東京都",
        city="千代田区",
        town="新開地",
        banchi="5-6",
        building=None,
        room=None,
    ),
    Record(
        supply_point_id="0300000000000000000108",
        pref="東京都",
        city="千代田区",
        town="一番町",
        banchi="23",
        building=None,
        room=None,
    ),
    Record(
        supply_point_id="0300000000000000000109",
        pref="東京都",
        city="千代田区",
        town="一番町",
        banchi="23-2",
        building=None,
        room=None,
    ),
    # closed points are not indexed
    Record(
        supply_point_id="0300000000000000000110",
        pref="東京都",
        city="千代田区",
        town="一番町",
        banchi="24",
        building=None,
        room=None,
        status="closed",
    ),
] + [
    Record(
        supply_point_id=f"03000000000000000002{i:02d}",
        pref="東京都",
        city="千代田区",
        town="丸の内二丁目",
        banchi="7-3",
        building="丸の内ハイツ",
        room=f"{100 + i}",
    )
    for i in range(1, 13)
]
for r in RECORDS:
    r.setdefault("voltage", "low")
    r.setdefault("meter_id", "M" + r["supply_point_id"][-6:])
    r.setdefault("status", "active")


def _build(url: str) -> None:
    from gridwall.lookup import build_index
    from gridwall.store import make_engine, upgrade

    upgrade(url)
    engine = make_engine(url)
    build_index(engine, RECORDS)
    engine.dispose()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def index_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An index over :data:`RECORDS`, built once per module on SQLite and on PostgreSQL
    (read-only for the tests that use it)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('lookup') / 'gridwall.db'}"
        _build(url)
        yield url
        return
    from sqlalchemy import create_engine
    from sqlalchemy import text as sql

    admin_url = str(request.getfixturevalue("_pg_server"))
    name = f"gw_lookup_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sql(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        _build(url)
        yield url
    finally:
        with admin.connect() as c:
            c.execute(sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class ListSink:
    """An AuditSink that keeps events (and can be told to fail)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.fail = False

    def record(self, event: Any) -> None:
        if self.fail:
            raise RuntimeError("audit store down")
        self.events.append(dict(event))
