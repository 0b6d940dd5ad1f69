"""The index: exact matches, near misses, ranking, and no confident answer for non-addresses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from gridwall.lookup import ACCEPT_SCORE, LookupIndex
from gridwall.store import make_engine


@pytest.fixture
def index(index_url: str) -> Iterator[LookupIndex]:
    engine = make_engine(index_url)
    yield LookupIndex(engine)
    engine.dispose()


def top(ix: LookupIndex, address: str) -> list[tuple[str, float]]:
    return [(c.supply_point_id[-3:], c.score) for c in ix.search(ix.normalize(address))]


@pytest.mark.parametrize(
    ("address", "want"),
    [
        ("千代田区丸ノ内1-2-3 第2〇〇ビル 301号室", "101"),
        ("東京都千代田区丸の内一丁目２番３号　第２〇〇ビル３０２", "102"),
        ("東京都千代田区霞ヶ関2-1-1", "103"),
        ("東京都千代田区霞ケ関二丁目一番一号", "103"),
        ("京都市中京区烏丸通御池下ル虎屋町123番地", "104"),
        ("三重県川越町亀尾新田123の4", "105"),
        ("三重県三重郡川越町大字亀尾新田百二十三番地四", "105"),
        ("大阪市梅田3-1-3", "106"),  # ward omitted
        ("東京都千代田区新開地5-6", "107"),  # a town only the operator knows
        ("千代田区一番町二十三番地の二", "109"),
        ("東京都千代田区丸の内二丁目7番3号 丸の内ハイツ 105号室", "205"),
    ],
)
def test_exact_after_normalisation(index: LookupIndex, address: str, want: str) -> None:
    got = top(index, address)
    assert got and got[0][0] == want, got
    assert got[0][1] >= ACCEPT_SCORE
    assert len(got) == 1 or got[1][1] < got[0][1]


def test_scores_are_in_unit_interval_and_sorted(index: LookupIndex) -> None:
    got = index.search(index.normalize("東京都千代田区丸の内二丁目7-3"))
    assert got
    assert all(0.0 <= c.score <= 1.0 for c in got)
    assert [c.score for c in got] == sorted((c.score for c in got), reverse=True)


def test_room_missing_is_ambiguous_and_capped(index: LookupIndex) -> None:
    got = index.search(index.normalize("東京都千代田区丸の内二丁目7-3"), limit=5)
    assert len(got) == 5  # 12 rooms, capped
    assert len({c.score for c in got}) == 1  # all equal: not a confident answer


def test_block_without_number_prefers_the_exact_one(index: LookupIndex) -> None:
    got = top(index, "千代田区一番町23")
    assert got[0][0] == "108"


@pytest.mark.parametrize(
    "address",
    [
        "東京都千代田区霞が関2-1-2",  # no such 号
        "東京都千代田区霞が関3-1-1",  # no such 丁目 in the store
        "東京都千代田区丸の内一丁目2-3 第2〇〇ビル 309号室",  # no such room
        "東京都千代田区一番町24",  # closed, not indexed
        "東京都千代田区一番町99",  # no such 番地
        "東京都千代田区二番町23",  # another real town
        "東京都千代田区新開池5-6",  # a typo'd unknown town: never confident
        "京都市中京区烏丸通御池下ル亀屋町123",
    ],
)
def test_no_confident_answer_for_nonexistent(index: LookupIndex, address: str) -> None:
    got = index.search(index.normalize(address))
    assert not got or got[0].score < ACCEPT_SCORE, got


def test_near_miss_typo_ranks_first_but_not_confident(index: LookupIndex) -> None:
    got = index.search(index.normalize("東京都千代田区新開池5-6"))
    assert got and got[0].supply_point_id.endswith("107")
    assert got[0].score < ACCEPT_SCORE


def test_candidates_carry_equipment_and_normalised_address(index: LookupIndex) -> None:
    (c,) = index.search(index.normalize("東京都千代田区霞ヶ関2-1-1"))
    assert c.voltage == "high" and c.meter_id == "M000103"
    assert c.address == "東京都千代田区霞が関二丁目1-1"


def test_index_holds_no_personal_columns(index_url: str) -> None:
    engine = make_engine(index_url)
    with engine.connect() as conn:
        cols = {
            r[0]
            for t in ("lookup_points", "lookup_places")
            for r in conn.execute(text(f"SELECT * FROM {t} LIMIT 0")).cursor.description
        }
    engine.dispose()
    assert not cols & {"contract_name", "phone", "name"}


def test_refresh_replaces_the_index(db_url: str) -> None:
    from gridwall.lookup import build_index

    from .conftest import _build

    _build(db_url)
    engine = make_engine(db_url)
    rep = build_index(
        engine,
        [dict(supply_point_id="0300000000000000000999", pref="東京都", city="千代田区",
              town="丸の内一丁目", banchi="9-9", voltage="low", meter_id="X", status="active")],
    )  # fmt: skip
    assert rep.points == 1
    ix = LookupIndex(engine)
    assert ix.size == 1
    assert not ix.search(ix.normalize("東京都千代田区霞ヶ関2-1-1"))
    assert ix.search(ix.normalize("千代田区丸の内1-9-9"))[0].supply_point_id.endswith("999")
    engine.dispose()


def test_trigram_candidates_when_the_city_is_not_recognised(index: LookupIndex) -> None:
    """A typo in the municipality: candidates come from FTS5 / pg_trgm on the town text."""
    q = index.normalize("東京都千代田ク丸の内1-2-3 第2〇〇ビル 301号室")
    assert q.municipality is None and q.unmatched
    got = index.search(q)
    assert got and got[0].supply_point_id.endswith("101")
    assert got[0].score < ACCEPT_SCORE  # found, but never a confident answer


def test_messy_variants_of_every_stored_point_find_it(index: LookupIndex) -> None:
    """Every form of the variant generator, alone and combined, finds the point first."""
    import random

    from gridwall.lookup._variants import VariantMaker

    from .conftest import RECORDS

    vm = VariantMaker(index.dictionary)
    rng = random.Random(5)
    misses = []
    n = 0
    for rec in RECORDS:
        if rec["status"] == "closed":
            continue
        for v in vm.variants(rec, rng, n=3):
            n += 1
            got = index.search(index.normalize(v.text))
            if not got or got[0].supply_point_id != rec["supply_point_id"]:
                misses.append((v.forms, v.text))
    assert n > 300
    assert not misses, misses[:5]


def test_a_long_lived_index_picks_up_a_rebuild(db_url: str) -> None:
    from gridwall.lookup import build_index

    from .conftest import _build

    _build(db_url)
    engine = make_engine(db_url)
    ix = LookupIndex(engine)
    ix.RELOAD_CHECK_S = 0.0
    assert ix.normalize("東京都千代田区新々開地5-6").town is None
    build_index(
        engine,
        [dict(supply_point_id="0300000000000000000777", pref="東京都", city="千代田区",
              town="新々開地", banchi="5-6", voltage="low", meter_id="X", status="active")],
    )  # fmt: skip
    q = ix.normalize("東京都千代田区新々開地5-6")
    assert q.town == "新々開地"
    assert ix.search(q)[0].supply_point_id.endswith("777")
    engine.dispose()


def test_postgresql_without_pg_trgm_still_finds_near_misses(index: LookupIndex) -> None:
    if index.dialect != "postgresql":
        pytest.skip("PostgreSQL only")
    index.has_trgm = False  # as on a server that does not ship the extension
    try:
        got = index.search(index.normalize("東京都千代田ク丸の内1-2-3 第2〇〇ビル 301号室"))
    finally:
        index.has_trgm = True
    assert got and got[0].supply_point_id.endswith("101")
    assert got[0].score < ACCEPT_SCORE
