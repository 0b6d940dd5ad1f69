"""Areas: validation against the town dictionary, membership, overlap (property-tested)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridwall.grants import AreaError, parse_area

ENTRIES = [
    "北海道", "北海道/札幌市", "北海道/札幌市北区", "北海道/札幌市中央区", "北海道/函館市",
    "東京都", "東京都/千代田区", "東京都/港区", "大阪府/大阪市", "大阪府/大阪市北区",
    "大阪府/交野市", "京都府/京田辺市", "沖縄県",
]  # fmt: skip
POINTS = [
    ("北海道", "札幌市北区"), ("北海道", "札幌市中央区"), ("北海道", "函館市"),
    ("東京都", "千代田区"), ("東京都", "港区"), ("東京都", "新宿区"), ("大阪府", "大阪市北区"),
    ("大阪府", "交野市"), ("京都府", "京田辺市"), ("沖縄県", "那覇市"), ("青森県", "青森市"),
]  # fmt: skip
areas = st.lists(st.sampled_from(ENTRIES), min_size=1, max_size=4).map(parse_area)


def test_validation() -> None:
    assert parse_area("東京都/千代田区; 北海道/札幌市").entries() == [
        "北海道/札幌市",
        "東京都/千代田区",
    ]
    assert parse_area("東京都;東京都/港区").entries() == ["東京都"]  # the city is redundant
    assert parse_area("東京都/千代田区").contains("東京都", "千代田区")
    assert parse_area("東京都/千代田区").contains(" 東京都", "千代田区 ")  # trimmed, NFKC
    for bad in ("東京県", "東京都/札幌市", "東京都/", "東京都/港区/芝", "Tokyo"):
        with pytest.raises(AreaError):
            parse_area(bad)
    assert parse_area("").whole_service_area


@given(a=areas, b=areas)
def test_overlap_is_symmetric_and_follows_shared_points(a, b) -> None:  # type: ignore[no-untyped-def]
    assert a.overlaps(b) == b.overlaps(a)
    if any(a.contains(p, c) and b.contains(p, c) for p, c in POINTS):
        assert a.overlaps(b)
    assert a.overlaps(a)


@given(a=areas)
def test_canonical_round_trip(a) -> None:  # type: ignore[no-untyped-def]
    again = parse_area(a.canonical())
    assert again == a
    assert all(again.contains(p, c) == a.contains(p, c) for p, c in POINTS)


def test_designated_city_covers_its_wards_only() -> None:
    sapporo = parse_area("北海道/札幌市")
    assert sapporo.contains("北海道", "札幌市北区") and sapporo.contains("北海道", "札幌市中央区")
    assert not sapporo.contains("北海道", "函館市")
    assert not parse_area("北海道/札幌市北区").contains("北海道", "札幌市中央区")
    assert not parse_area("東京都/港区").contains("大阪府", "港区")  # same name, other pref
