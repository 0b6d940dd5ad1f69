"""Japanese names, phone numbers, buildings and town address parts.

Names come from Faker ``ja_JP`` (seeded). Calling Faker per row is far too slow
for 10 M points, so a :class:`NamePools` is drawn once per seed and names are
composed from it by index (family names skewed so common ones are common).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from gridwall.data import Town

#: Landline area codes (市外局番) of each prefecture's main city.
AREA_CODES: dict[str, tuple[str, ...]] = {
    "北海道": ("011", "0123", "0138", "0166"),
    "青森県": ("017", "0172"),
    "岩手県": ("019",),
    "宮城県": ("022",),
    "秋田県": ("018",),
    "山形県": ("023",),
    "福島県": ("024", "0242"),
    "新潟県": ("025", "0258"),
    "茨城県": ("029",),
    "栃木県": ("028",),
    "群馬県": ("027",),
    "埼玉県": ("048", "049"),
    "千葉県": ("043", "047"),
    "東京都": ("03", "042"),
    "神奈川県": ("045", "044", "046"),
    "山梨県": ("055",),
    "静岡県": ("054", "053"),
    "長野県": ("026", "0263"),
    "岐阜県": ("058",),
    "愛知県": ("052", "0564"),
    "三重県": ("059",),
    "富山県": ("076",),
    "石川県": ("076",),
    "福井県": ("0776",),
    "滋賀県": ("077",),
    "京都府": ("075", "0774"),
    "大阪府": ("06", "072"),
    "兵庫県": ("078", "079", "06"),
    "奈良県": ("0742", "0744"),
    "和歌山県": ("073",),
    "鳥取県": ("0857",),
    "島根県": ("0852",),
    "岡山県": ("086",),
    "広島県": ("082", "084"),
    "山口県": ("083",),
    "徳島県": ("088",),
    "香川県": ("087",),
    "愛媛県": ("089",),
    "高知県": ("088",),
    "福岡県": ("092", "093"),
    "佐賀県": ("0952",),
    "長崎県": ("095",),
    "熊本県": ("096",),
    "大分県": ("097",),
    "宮崎県": ("0985",),
    "鹿児島県": ("099",),
    "沖縄県": ("098",),
}

BUILDING_PREFIXES = (
    "グランドメゾン",
    "パークハイツ",
    "サンハイツ",
    "ライオンズマンション",
    "プレサンス",
    "ロイヤルコーポ",
    "エステムコート",
    "シャルマン",
    "コーポ",
    "レジデンス",
    "メゾン",
    "アーバンライフ",
    "ワコーレ",
    "ジオ",
    "ローレルコート",
    "セレッソコート",
    "ハイツ",
    "クレアール",
    "フォレスト",
    "リバーサイド",
)
BUILDING_SUFFIXES = ("", "", "", " 第2", " 第3", " 2号館", " A棟", " B棟", " II", "壱番館")
RETAILER_STEMS = (
    "はなまる",
    "あおぞら",
    "ひかり",
    "みらい",
    "さくら",
    "なにわ",
    "いこま",
    "びわこ",
    "きらめき",
    "やまと",
    "はりま",
    "すずかぜ",
    "ことぶき",
    "ちどり",
    "あかね",
    "ハーモニー",
    "グリーン",
    "サニー",
    "エコ",
    "リンク",
    "ネクスト",
    "ゼロ",
    "スマート",
    "ライフ",
    "ユニオン",
    "ソレイユ",
    "コスモ",
    "アーク",
    "ステラ",
    "オアシス",
    "ルミナ",
    "ビーンズ",
    "フロンティア",
    "ベスト",
    "ホープ",
    "テラ",
    "ウィング",
    "アクア",
    "フレア",
    "ノヴァ",
    "ミライズ",
    "ひまわり",
    "つばさ",
    "わかば",
    "こだま",
    "いぶき",
    "まほろば",
    "あすか",
    "しらさぎ",
    "かけはし",
)
RETAILER_FORMS = ("でんき", "電力", "エナジー", "パワー", "エネルギー", "電気", "ガス&でんき")
_KANJI = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
#: ``<stem><numeral>丁目``; the numeral is a well-formed 一 … 九十九 so that a stem ending in
#: a numeral kanji keeps it (与一一丁目 = 与一 + 一丁目, 又八三丁目 = 又八 + 三丁目).
_CHOME = re.compile(
    r"^(.*?)((?:[二三四五六七八九]?十)?[一二三四五六七八九]|[二三四五六七八九]?十)丁目$"
)


def kanji_number(s: str) -> int:
    """一 … 九十九 → int (enough for 丁目 numbers)."""
    if "十" in s:
        tens, _, ones = s.partition("十")
        return (_KANJI.get(tens, 1) if tens else 1) * 10 + (_KANJI.get(ones, 0) if ones else 0)
    return _KANJI[s]


@dataclass(frozen=True, slots=True)
class TownInfo:
    """One town of the area with what address rendering needs."""

    pref: str
    city: str
    town: str
    stem: str  # the town without its 丁目 (== town when it has none)
    chome: int  # 0 when the town has no 丁目


def town_infos(towns: tuple[Town, ...]) -> tuple[TownInfo, ...]:
    out = []
    seen: set[tuple[str, str, str]] = set()
    for t in towns:
        key = (t.pref, t.city, t.town)
        if key in seen:  # several 小字 of one town: one entry
            continue
        seen.add(key)
        m = _CHOME.match(t.town)
        if m and m.group(1):
            out.append(TownInfo(t.pref, t.city, t.town, m.group(1), kanji_number(m.group(2))))
        else:
            out.append(TownInfo(t.pref, t.city, t.town, t.town, 0))
    return tuple(out)


@dataclass(frozen=True)
class NamePools:
    family: tuple[str, ...]
    given: tuple[str, ...]
    companies: tuple[str, ...]


@lru_cache(maxsize=4)
def name_pools(seed: int) -> NamePools:
    """Draw the name pools from Faker ja_JP, seeded (deterministic per seed)."""
    from faker import Faker

    fake = Faker("ja_JP")
    fake.seed_instance(seed)
    family = tuple(dict.fromkeys(fake.last_name() for _ in range(3000)))
    given = tuple(
        dict.fromkeys(
            n for _ in range(3000) for n in (fake.first_name_male(), fake.first_name_female())
        )
    )
    companies = tuple(dict.fromkeys(fake.company() for _ in range(4000)))
    return NamePools(family, given, companies)


def person_name(pools: NamePools, u: int) -> str:
    """A personal name from 64 random bits; family names skewed towards the common ones."""
    nf = len(pools.family)
    x = (u & 0xFFFF) / 65536.0
    fam = pools.family[int(nf * x * x)]
    giv = pools.given[(u >> 16) % len(pools.given)]
    return f"{fam} {giv}"


def company_name(pools: NamePools, u: int) -> str:
    return pools.companies[u % len(pools.companies)]


def phone(pref: str, u: int) -> str:
    """A Japanese phone number: mobile (070/080/090) or a landline of the prefecture."""
    if u % 100 < 62:
        head = ("090", "080", "070")[(u >> 8) % 3]
        return f"{head}-{1000 + (u >> 12) % 9000:04d}-{(u >> 28) % 10000:04d}"
    codes = AREA_CODES.get(pref, ("06",))
    code = codes[(u >> 8) % len(codes)]
    local = (u >> 16) % 10**8
    first = 1 + (local // 10**7) % 9  # local numbers never start with 0
    rest = local % 10**7
    if len(code) == 2:  # 06-6xxx-xxxx
        return f"{code}-{first}{rest // 10**4 % 1000:03d}-{rest % 10**4:04d}"
    if len(code) == 3:  # 075-xxx-xxxx
        return f"{code}-{first}{rest // 10**4 % 100:02d}-{rest % 10**4:04d}"
    return f"{code}-{first}{rest // 10**4 % 10}-{rest % 10**4:04d}"  # 0742-xx-xxxx


def building_name(stem: str, u: int) -> str:
    pre = BUILDING_PREFIXES[u % len(BUILDING_PREFIXES)]
    suf = BUILDING_SUFFIXES[(u >> 8) % len(BUILDING_SUFFIXES)]
    return f"{pre}{stem}{suf}"
