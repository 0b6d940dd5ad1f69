"""Packaged reference data: the town dictionary of Japan.

``towns.tsv.gz`` lists every 町丁目 / 大字 (pref, city, town, koaza, lat, lng).
Attribution (CC BY 4.0): 「Geolonia 住所データ (CC BY 4.0)」, 国土交通省 位置参照情報.
Derived by ``tools/derive_towns.py``; see ``ATTRIBUTION.md`` beside this file.

Service areas of the ten general transmission & distribution operators, by the
area code that opens a 22-digit supply point ID (01 北海道 … 10 沖縄), are in
:data:`SERVICE_AREAS`.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class Town:
    pref: str
    city: str
    town: str
    koaza: str
    lat: float
    lng: float


#: area code → (operator area name, prefectures it serves). Boundaries follow
#: prefectures (a simplification: a few towns at area borders are served by a
#: neighbouring operator in reality, e.g. parts of 静岡県 west of the 富士川 by 中部).
SERVICE_AREAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "01": ("北海道", ("北海道",)),
    "02": ("東北", ("青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県", "新潟県")),
    "03": (
        "東京",
        (
            "茨城県",
            "栃木県",
            "群馬県",
            "埼玉県",
            "千葉県",
            "東京都",
            "神奈川県",
            "山梨県",
            "静岡県",
        ),
    ),
    "04": ("中部", ("長野県", "岐阜県", "愛知県", "三重県")),
    "05": ("北陸", ("富山県", "石川県", "福井県")),
    "06": ("関西", ("滋賀県", "京都府", "大阪府", "兵庫県", "奈良県", "和歌山県")),
    "07": ("中国", ("鳥取県", "島根県", "岡山県", "広島県", "山口県")),
    "08": ("四国", ("徳島県", "香川県", "愛媛県", "高知県")),
    "09": ("九州", ("福岡県", "佐賀県", "長崎県", "熊本県", "大分県", "宮崎県", "鹿児島県")),
    "10": ("沖縄", ("沖縄県",)),
}


def iter_towns() -> Iterator[Town]:
    """Every town of Japan, in (pref, city, town, koaza) order."""
    path = resources.files(__name__) / "towns.tsv.gz"
    with path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as f:
        next(f)  # header
        for line in f:
            pref, city, town, koaza, lat, lng = line.rstrip("\n").split("\t")
            yield Town(
                pref, city, town, koaza, float(lat) if lat else 0.0, float(lng) if lng else 0.0
            )


@lru_cache(maxsize=16)
def towns_in(prefs: tuple[str, ...]) -> tuple[Town, ...]:
    """All towns of the given prefectures (cached)."""
    wanted = set(prefs)
    return tuple(t for t in iter_towns() if t.pref in wanted)


@lru_cache(maxsize=1)
def prefectures() -> tuple[str, ...]:
    return tuple(dict.fromkeys(t.pref for t in iter_towns()))


@lru_cache(maxsize=1)
def cities() -> frozenset[tuple[str, str]]:
    """All (pref, city) pairs; ``city`` includes the ward of 政令指定都市 (e.g. 札幌市中央区)."""
    return frozenset((t.pref, t.city) for t in iter_towns())
