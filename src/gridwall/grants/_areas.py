"""Areas of disasters and agreements: ``pref`` or ``pref/city`` entries.

A declaration names whole prefectures (都道府県) or cities/wards (市区町村).
Names are validated against the 47 prefectures and, for cities, against the
packaged town dictionary (``gridwall/data/towns.tsv.gz``). A designated city
(政令指定都市, e.g. ``札幌市``) may be named as a whole: it covers its wards
(``札幌市中央区`` …), which is how the dictionary and the operator keep them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

#: The 47 prefectures, in JIS X 0401 order (01 北海道 … 47 沖縄県).
PREFECTURES: tuple[str, ...] = (
    "北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県", "茨城県", "栃木県",
    "群馬県", "埼玉県", "千葉県", "東京都", "神奈川県", "新潟県", "富山県", "石川県", "福井県",
    "山梨県", "長野県", "岐阜県", "静岡県", "愛知県", "三重県", "滋賀県", "京都府", "大阪府",
    "兵庫県", "奈良県", "和歌山県", "鳥取県", "島根県", "岡山県", "広島県", "山口県", "徳島県",
    "香川県", "愛媛県", "高知県", "福岡県", "佐賀県", "長崎県", "熊本県", "大分県", "宮崎県",
    "鹿児島県", "沖縄県",
)  # fmt: skip
_PREF_SET = frozenset(PREFECTURES)


class AreaError(ValueError):
    """An area entry is malformed or names an unknown prefecture/city."""


def norm(name: str) -> str:
    """NFKC and trimmed: the form in which names are compared."""
    return unicodedata.normalize("NFKC", name).strip()


@lru_cache(maxsize=1)
def known_cities() -> dict[str, frozenset[str]] | None:
    """pref → cities from the town dictionary (:func:`gridwall.data.cities`); None if absent."""
    try:
        from gridwall.data import cities
    except ImportError:
        return None
    out: dict[str, set[str]] = {}
    for pref, city in cities():
        out.setdefault(norm(pref), set()).add(norm(city))
    return {p: frozenset(c) for p, c in out.items()}


def _city_covers(area_city: str, city: str) -> bool:
    """``area_city`` is ``city``, or ``city`` is a ward (区) of designated city ``area_city``."""
    if city == area_city:
        return True
    return (
        area_city.endswith("市")
        and city.startswith(area_city)
        and len(city) > len(area_city)
        and city.endswith("区")
    )


def _check_city(pref: str, city: str) -> None:
    cities = known_cities()
    if cities is None:  # dictionary not packaged: prefecture checked, city accepted
        return
    in_pref = cities.get(pref, frozenset())
    if city in in_pref:
        return
    if city.endswith("市") and any(_city_covers(city, c) for c in in_pref):
        return
    raise AreaError(f"unknown city {city!r} in {pref} (not in the town dictionary)")


@dataclass(frozen=True)
class Area:
    """A set of whole prefectures and of cities within prefectures."""

    prefs: frozenset[str]
    cities: frozenset[tuple[str, str]]

    @property
    def whole_service_area(self) -> bool:
        return not self.prefs and not self.cities

    def contains(self, pref: str, city: str) -> bool:
        """Does the area contain a point at ``pref``/``city``? (An empty area contains nothing;
        agreements treat an empty area as the whole service area themselves.)"""
        return self.contains_normed(norm(pref), norm(city))

    def contains_normed(self, p: str, c: str) -> bool:
        """:meth:`contains` for names already passed through :func:`norm`."""
        if p in self.prefs:
            return True
        return any(ap == p and _city_covers(ac, c) for ap, ac in self.cities)

    def overlaps(self, other: Area) -> bool:
        if self.prefs & other.prefs:
            return True
        if any(p in other.prefs for p, _ in self.cities):
            return True
        if any(p in self.prefs for p, _ in other.cities):
            return True
        return any(
            p1 == p2 and (_city_covers(c1, c2) or _city_covers(c2, c1))
            for p1, c1 in self.cities
            for p2, c2 in other.cities
        )

    def entries(self) -> list[str]:
        out = sorted(self.prefs, key=_pref_order)
        ordered = sorted(self.cities, key=lambda pc: (_pref_order(pc[0]), pc[1]))
        out += [f"{p}/{c}" for p, c in ordered]
        return out

    def canonical(self) -> str:
        return ";".join(self.entries())

    def __str__(self) -> str:
        return self.canonical() or "(whole service area)"


def _pref_order(p: str) -> int:
    return PREFECTURES.index(p) if p in _PREF_SET else 99


def parse_area(entries: Iterable[str] | str, *, validate: bool = True) -> Area:
    """Parse ``pref`` / ``pref/city`` entries (a list, or one ``;``-separated string).

    With ``validate`` (the default), unknown prefectures and cities raise :class:`AreaError`.
    A city entry inside a prefecture also named whole is redundant and dropped.
    """
    if isinstance(entries, str):
        entries = entries.split(";")
    prefs: set[str] = set()
    cities: set[tuple[str, str]] = set()
    for raw in entries:
        e = norm(raw)
        if not e:
            continue
        pref, sep, city = e.partition("/")
        pref, city = pref.strip(), city.strip()
        if sep and not city:
            raise AreaError(f"area entry {raw!r}: empty city after '/'")
        if "/" in city:
            raise AreaError(f"area entry {raw!r}: use 'pref' or 'pref/city'")
        if validate and pref not in _PREF_SET:
            raise AreaError(f"unknown prefecture {pref!r} (expected one of the 47, e.g. 東京都)")
        if city:
            if validate:
                _check_city(pref, city)
            cities.add((pref, city))
        else:
            prefs.add(pref)
    cities = {(p, c) for p, c in cities if p not in prefs}
    return Area(frozenset(prefs), frozenset(cities))
