"""The address normaliser on every form the lookup must understand (issue 7, item 1)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridwall.lookup import NormalizedAddress, normalize
from gridwall.lookup._text import clean, fold, int_to_kanji, kanji_to_int

TKY = ("東京都", None, "千代田区", None)
KYT = ("京都府", None, "京都市", "中京区")
MARUNOUCHI = (*TKY, "丸の内", 1, "2", "3")


def parts(n: NormalizedAddress) -> tuple[object, ...]:
    return (n.pref, n.county, n.city, n.ward, n.town, n.chome, n.block, n.number)


@pytest.mark.parametrize(
    "text",
    [
        "東京都千代田区丸の内1-2-3",
        "東京都千代田区丸の内一丁目2番3号",
        "東京都千代田区丸の内1丁目2番3号",
        "東京都千代田区丸の内１丁目２番３号",  # full width
        "東京都千代田区丸の内一丁目二番三号",  # kanji numerals
        "東京都千代田区丸の内１－２－３",
        "東京都千代田区丸の内1‐2‐3",  # U+2010
        "東京都千代田区丸の内1‑2‑3",  # U+2011
        "東京都千代田区丸の内1–2–3",  # en dash
        "東京都千代田区丸の内1—2—3",  # em dash
        "東京都千代田区丸の内1―2―3",  # horizontal bar
        "東京都千代田区丸の内1ー2ー3",  # 長音符 used as a dash
        "東京都千代田区丸の内1−2−3",  # minus sign
        "東京都千代田区丸の内1ｰ2ｰ3",  # half-width prolonged mark
        "東京都千代田区丸の内一ー二ー三",
        "東京都千代田区丸ノ内1-2-3",  # ノ for の
        "千代田区丸の内1-2-3",  # missing prefecture
        "東京都 千代田区 丸の内 1-2-3",  # stray spaces
        "東京都千代田区丸の内 1 - 2 - 3",
        "　東京都千代田区丸の内1-2-3　",  # ideographic spaces
        "東京都千代田区丸の内1丁目2-3",
        "東京都千代田区丸の内1-2番3号",
        "東京都千代田区丸の内1の2の3",
        "東京都千代田区丸の内一丁目2番地3",
        "東京都千代田区丸の内一丁目2番地の3",
        "ﾄｳｷｮｳ" and "東京都千代田区丸の内1-2-3",
        unicodedata.normalize("NFKD", "東京都千代田区丸の内１丁目２番３号"),
        unicodedata.normalize("NFD", "東京都千代田区丸の内一丁目２ー３"),
        "東京都千代田区丸の内一丁目 ２ー３",
    ],
)
def test_marunouchi_variants(text: str) -> None:
    n = normalize(text)
    assert parts(n) == MARUNOUCHI, (text, n)
    assert n.unmatched is None
    assert n.rest is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # ヶ/ケ/が/ヵ/カ variants
        ("東京都千代田区霞が関2-1-1", (*TKY, "霞が関", 2, "1", "1")),
        ("東京都千代田区霞ヶ関2-1-1", (*TKY, "霞が関", 2, "1", "1")),
        ("東京都千代田区霞ケ関2-1-1", (*TKY, "霞が関", 2, "1", "1")),
        (
            "東京都千代田区霞ヵ関二丁目1番1号",
            (*TKY, "霞が関", 2, "1", "1"),
        ),
        ("東京都千代田区霞カ関2-1-1", (*TKY, "霞が関", 2, "1", "1")),
        # 郡 omitted, 大字 / 字 optional
        (
            "三重県川越町大字亀尾新田123番地の4",
            ("三重県", "三重郡", "川越町", None, "亀尾新田", None, "123", "4"),
        ),
        (
            "三重県三重郡川越町亀尾新田123-4",
            ("三重県", "三重郡", "川越町", None, "亀尾新田", None, "123", "4"),
        ),
        (
            "三重県三重郡川越町字亀尾新田123之4",
            ("三重県", "三重郡", "川越町", None, "亀尾新田", None, "123", "4"),
        ),
        (
            "三重郡川越町亀尾新田123ノ4",
            ("三重県", "三重郡", "川越町", None, "亀尾新田", None, "123", "4"),
        ),
        # wards of 政令指定都市
        (
            "大阪府大阪市北区梅田三丁目1番3号",
            ("大阪府", None, "大阪市", "北区", "梅田", 3, "1", "3"),
        ),
        ("大阪市北区梅田3-1-3", ("大阪府", None, "大阪市", "北区", "梅田", 3, "1", "3")),
        (
            "北海道札幌市中央区南1条西2丁目3-4",
            ("北海道", None, "札幌市", "中央区", "南一条西", 2, "3", "4"),
        ),
        (
            "札幌市中央区南一条西二丁目3番4号",
            ("北海道", None, "札幌市", "中央区", "南一条西", 2, "3", "4"),
        ),
        # 京都の通り名
        (
            "京都市中京区烏丸通御池下ル虎屋町123",
            (*KYT, "虎屋町", None, "123", None),
        ),
        (
            "京都府京都市中京区烏丸通御池下る虎屋町123番地",
            (*KYT, "虎屋町", None, "123", None),
        ),
        (
            "京都市中京区虎屋町123",
            (*KYT, "虎屋町", None, "123", None),
        ),
        # kanji numerals with 十/百/千/〇
        (
            "千代田区一番町二十三番地",
            (*TKY, "一番町", None, "23", None),
        ),
        (
            "千代田区一番町百二番地の十",
            (*TKY, "一番町", None, "102", "10"),
        ),
        (
            "千代田区一番町千二百三十四番地",
            (*TKY, "一番町", None, "1234", None),
        ),
        (
            "千代田区一番町二〇三番地",
            (*TKY, "一番町", None, "203", None),
        ),
        ("千代田区一番町5番地の2", (*TKY, "一番町", None, "5", "2")),
        # 小字 after the 大字
        (
            "三重県いなべ市北勢町阿下喜中川原123",
            ("三重県", None, "いなべ市", None, "北勢町阿下喜", None, "123", None),
        ),
        (
            "三重県いなべ市北勢町阿下喜字中川原123",
            ("三重県", None, "いなべ市", None, "北勢町阿下喜", None, "123", None),
        ),
    ],
)
def test_forms(text: str, expected: tuple[object, ...]) -> None:
    n = normalize(text)
    assert parts(n) == expected, (text, n)


def test_koaza_component() -> None:
    n = normalize("三重県いなべ市北勢町阿下喜字中川原123")
    assert n.koaza == "中川原"


def test_kyoto_street_is_kept_not_dropped() -> None:
    n = normalize("京都市中京区烏丸通御池下ル虎屋町123")
    assert n.street == "烏丸通御池下ル"
    assert "烏丸通御池下ル" in str(n)
    n2 = normalize("京都市中京区河原町通三条上る恵比須町427")
    assert n2.town == "恵比須町" and n2.street == "河原町通三条上る" and n2.block == "427"
    n3 = normalize("京都府京都市上京区今出川通烏丸東入玄武町601")
    assert n3.ward == "上京区" and n3.town == "玄武町" and n3.block == "601"


def test_missing_prefecture_inferred_only_when_unique() -> None:
    n = normalize("千代田区丸の内1-2-3")
    assert n.pref == "東京都" and n.pref_inferred
    # 府中市 exists in 東京都 and 広島県: the town decides
    n2 = normalize("府中市宮西町1-1")
    assert n2.pref == "東京都" and n2.town == "宮西町"
    n3 = normalize("東京都千代田区丸の内1-2-3")
    assert not n3.pref_inferred


@pytest.mark.parametrize(
    ("text", "rest"),
    [
        ("千代田区丸ノ内一丁目２番３号 第2〇〇ビル 301号室", "第2〇〇ビル 301号室"),
        ("東京都千代田区丸の内1-2-3 第2丸の内ビル3F", "第2丸の内ビル3F"),
        ("東京都千代田区丸の内1-2-3-501", "501"),
        ("東京都千代田区丸の内1-2-3 501", "501"),
        ("東京都千代田区丸の内1-2-3、ハイツ三号館 二〇一号室", "ハイツ三号館 二〇一号室"),
        ("東京都千代田区丸の内1-2-3 メゾン・ド・ルーメン101", "メゾン・ド・ルーメン101"),
    ],
)
def test_building_numerals_left_alone(text: str, rest: str) -> None:
    n = normalize(text)
    assert (n.town, n.chome, n.block, n.number) == ("丸の内", 1, "2", "3")
    assert n.rest == rest


def test_katakana_prolonged_mark_is_not_a_hyphen() -> None:
    n = normalize("東京都千代田区丸の内1-2-3 センタービル")
    assert n.rest == "センタービル"
    assert clean("ビルー") == "ビルー"
    assert clean("1ー2") == "1-2"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("東京都千代田区霞ケ關2-1-1", "東京都千代田区霞が関2-1-1"),
        ("神奈川県横濱市中区山下町1", "神奈川県横浜市中区山下町1"),
        ("大阪府大阪市北區梅田3-1-3", "大阪府大阪市北区梅田3-1-3"),
        ("東京都澁谷区道玄坂1-2-3", "東京都渋谷区道玄坂1-2-3"),
        ("茨城県龍ケ﨑市馴柴町123", "茨城県竜ヶ崎市馴柴町123"),
    ],
)
def test_old_kanji_forms(old: str, new: str) -> None:
    a, b = normalize(old), normalize(new)
    assert parts(a) == parts(b)


def test_old_kanji_fold_pairs() -> None:
    for o, n in [
        ("舊", "旧"),
        ("澤", "沢"),
        ("邊", "辺"),
        ("邉", "辺"),
        ("髙", "高"),
        ("﨑", "崎"),
        ("濱", "浜"),
        ("龍", "竜"),
    ]:
        assert fold(o) == fold(n) == n


def test_unmatched_remainder_is_returned() -> None:
    n = normalize("東京都千代田区存在しない町1-2-3")
    assert n.town is None
    assert n.unmatched == "存在しない町"
    assert n.block is not None
    n2 = normalize("ぜんぜん住所ではない")
    assert n2.unmatched == "ぜんぜん住所ではない"
    n3 = normalize("大阪市")
    assert n3.town is None and n3.block is None


@pytest.mark.parametrize(
    ("k", "v"),
    [
        ("一", 1),
        ("十", 10),
        ("十一", 11),
        ("二十三", 23),
        ("百", 100),
        ("百一", 101),
        ("千二百三十四", 1234),
        ("二〇三", 203),
        ("一二", 12),
        ("三千", 3000),
        ("壱", 1),
        ("弐拾", 20),
        ("一万二千", 12000),
        ("〇", 0),
    ],
)
def test_kanji_numerals(k: str, v: int) -> None:
    assert kanji_to_int(k) == v


@given(st.integers(min_value=0, max_value=9999))
def test_kanji_numeral_roundtrip(n: int) -> None:
    assert kanji_to_int(int_to_kanji(n)) == n


@pytest.mark.parametrize("bad", ["", "十百", "二三十", "丁"])
def test_malformed_kanji_numerals(bad: str) -> None:
    assert kanji_to_int(bad) is None


# --- properties ---------------------------------------------------------------------------

_TOWNS = [
    "東京都千代田区丸の内{c}丁目{b}番{n}号",
    "大阪府大阪市北区梅田{c}丁目{b}-{n}",
    "北海道札幌市中央区南一条西{c}丁目{b}-{n}",
    "三重県三重郡川越町大字亀尾新田{b}番地{n}",
    "東京都千代田区霞が関{c}丁目{b}-{n}",
]
_HYPH = ["-", "－", "‐", "‑", "–", "—", "―", "ー", "−", "ｰ"]


def _width(s: str, full: bool) -> str:
    if not full:
        return s
    return "".join(chr(ord(c) + 0xFEE0) if "0" <= c <= "9" or c == "-" else c for c in s)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    tmpl=st.sampled_from(_TOWNS),
    c=st.integers(1, 3),
    b=st.integers(1, 60),
    n=st.integers(1, 40),
    rest=st.sampled_from(["", " 第2〇〇ビル 301号室", " コーポ三号館201", " 4F"]),
)
def test_idempotent_on_string_form(tmpl: str, c: int, b: int, n: int, rest: str) -> None:
    a = normalize(tmpl.format(c=c, b=b, n=n) + rest)
    again = normalize(str(a))
    assert again == a, (str(a), again)


_ALPHABET = list(
    "東京都千代田区丸の内一二三丁目番地号-123 ビルー霞ヶが関字大関市北海道札幌中央区"
    "南条西十四軒三重県郡川越町亀尾新田小いなべ北勢阿下喜中川原府宮0１ー－‐第室〇"
    "千百之ノ上ル下る東入通御池京"
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(text=st.text(alphabet=st.sampled_from(_ALPHABET), max_size=35))
def test_idempotent_on_arbitrary_text(text: str) -> None:
    a = normalize(text)
    assert normalize(str(a)) == a


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    tmpl=st.sampled_from(_TOWNS),
    c=st.integers(1, 3),
    b=st.integers(1, 60),
    n=st.integers(1, 40),
    hy=st.sampled_from(_HYPH),
    full=st.booleans(),
    nfkd=st.booleans(),
    spaces=st.booleans(),
)
def test_width_and_hyphen_variants_normalize_equal(
    tmpl: str, c: int, b: int, n: int, hy: str, full: bool, nfkd: bool, spaces: bool
) -> None:
    base = tmpl.format(c=c, b=b, n=n)
    variant = tmpl.replace("番{n}号", "-{n}").replace("{b}-{n}", "{b}" + "-" + "{n}")
    variant = variant.format(c=c, b=b, n=n).replace("-", hy)
    variant = _width(variant, full) if hy == "-" else variant
    if nfkd:
        variant = unicodedata.normalize("NFKD", variant)
    if spaces:
        variant = variant.replace("区", "区 ").replace("丁目", "丁目 ")
    assert parts(normalize(variant)) == parts(normalize(base)), variant


@pytest.mark.parametrize(
    ("text", "town", "block"),
    [
        # a town ending in a kanji numeral glued to a kanji 番地: split where both read as numbers
        ("福島県伊達郡桑折町桑島四千九百三十九番地", "桑島四", "1939"),
        ("福島県伊達郡桑折町字桑島四939", "桑島四", "939"),
    ],
)
def test_town_numeral_glued_to_banchi(text: str, town: str, block: str) -> None:
    n = normalize(text)
    assert (n.town, n.block) == (town, block)
    assert normalize(str(n)) == n


def test_kyoto_street_named_like_a_town() -> None:
    # 烏丸 is a town of 下京区 too; here it is the street
    n = normalize("京都市下京区烏丸通塩小路下ル東塩小路町721-1")
    assert (n.street, n.town, n.block, n.number) == ("烏丸通塩小路下ル", "東塩小路町", "721", "1")


def test_ward_omitted_prefers_the_longer_town_after_a_street() -> None:
    n = normalize("京都府京都市今出川通六角東入向島中島町915-13")
    assert (n.ward, n.town) == ("伏見区", "向島中島町")


def test_spaces_inside_kanji_numerals_and_units() -> None:
    n = normalize("秋田県湯沢市大工町二千四百 九十番 地 十七")
    assert (n.town, n.block, n.number) == ("大工町", "2490", "17")
    n2 = normalize("岐阜県岐阜市萱場南 一丁 目37-17")
    assert (n2.chome, n2.block, n2.number) == (1, "37", "17")


@pytest.mark.parametrize(
    ("text", "town"),
    [
        ("福島県白河市大字老久保187-17", "老久保"),  # not the town 大 followed by 「字老久保」
        ("茅 ヵ崎市大字中島1412-17", "中島"),  # a space inside 茅ヵ崎
        ("千葉縣柏市柏インタ ー 南462-17", "柏インター南"),  # ー after a space in a word
        ("長野県南 佐久郡南相 木村宮の 西千四百三十 八番地十六", "宮の西"),
    ],
)
def test_spaces_inside_names(text: str, town: str) -> None:
    assert normalize(text).town == town
