"""The in-memory town knowledge the normaliser parses against (町丁目・大字・小字).

Built once, lazily, from the packaged dictionary (:func:`gridwall.data.iter_towns`) and
extended with the operator's own supply-point towns (:meth:`TownDictionary.with_extra`), so a
town the national list lacks but the operator serves is still recognised.

Keys are :func:`gridwall.lookup._text.name_key` forms (folded, kanji numerals as digits,
大字/字 prefix dropped); values keep the dictionary's own spelling for display.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from gridwall.lookup._text import fold_key, kanji_to_int, name_key

_CHOME_RE = re.compile(r"^(.+?)([〇一二三四五六七八九十百]+)丁目$")
_COUNTY_RE = re.compile(r"^(.+?郡)(.+[町村])$")
_WARD_RE = re.compile(r"^(.+?市)(.+区)$")
_AZA_PREFIX_RE = re.compile(r"^(大字|字)")


def split_municipality(city: str) -> tuple[str | None, str, str | None]:
    """``三重郡川越町`` → (三重郡, 川越町, None); ``京都市中京区`` → (None, 京都市, 中京区)."""
    m = _COUNTY_RE.match(city)
    if m:
        return m.group(1), m.group(2), None
    m = _WARD_RE.match(city)
    if m:
        return None, m.group(1), m.group(2)
    return None, city, None


#: a town column that is a note, not a name: 「（大字なし）」 (the 小字 is the town)
_PLACEHOLDER_RE = re.compile(r"^[（(].*[）)]$")


def _street_aliases(key: str) -> tuple[str, ...]:
    """通 and 通り are written either way in town names (渡辺通 = 渡辺通り, 大通西 =
    大通り西): the other spelling is a second key of the same entry. (Not a :func:`fold`
    rule: folding must keep the length of the text.)"""
    if "通り" in key:
        return (key.replace("通り", "通"),)
    if "通" in key:
        return (re.sub(r"通(?!り)", "通り", key),)
    return ()


def strip_aza(name: str) -> str:
    """Drop a leading 大字 / 字 (the prefix is optional in everyday writing)."""
    return _AZA_PREFIX_RE.sub("", name)


@dataclass(slots=True)
class TownEntry:
    """One town name (base without 丁目) in one municipality."""

    name: str  # display spelling of the base name (大字 prefix removed)
    plain: bool = False  # exists without a 丁目
    chome: set[int] = field(default_factory=set)  # 丁目 numbers that exist
    koaza: dict[str, str] = field(default_factory=dict)  # key → display (小字)


@dataclass(slots=True)
class _City:
    pref: str
    city: str  # dictionary form, e.g. 三重郡川越町, 京都市中京区
    towns: dict[str, TownEntry] = field(default_factory=dict)
    max_key: int = 0


class TownDictionary:
    """Prefectures, municipalities (with aliases) and towns, keyed for longest-prefix parsing."""

    def __init__(self) -> None:
        self.prefs: dict[str, str] = {}  # key → display
        self.cities: dict[tuple[str, str], _City] = {}
        #: alias key → [(pref, city)], aliases: full name, without 郡, ward alone, parent 市
        self.city_alias: dict[str, list[tuple[str, str]]] = {}
        self.max_pref = 0
        self.max_alias = 0
        self._owned: set[tuple[str, str]] = set()  # cities this copy may mutate
        self._last: tuple[_City, str, TownEntry] | None = None  # add() fast path

    # -- building -------------------------------------------------------------------------
    def add(self, pref: str, city: str, town: str, koaza: str = "") -> None:
        c = self.cities.get((pref, city))
        if c is None:
            if pref not in self.prefs.values():
                k = fold_key(pref)
                self.prefs[k] = pref
                self.max_pref = max(self.max_pref, len(k))
            c = self._new_city(pref, city)
        if not town:
            return
        last = self._last
        if last is not None and last[0] is c and last[1] == town:
            # the same town again (one row per 小字): only the 小字 is new
            if koaza:
                kz = strip_aza(koaza)
                last[2].koaza.setdefault(name_key(kz), kz)
            return
        if _PLACEHOLDER_RE.match(town):
            # 「（大字なし）」 + 小字 台町: the address is written 本庄市台町 — the 小字 is the town
            if not koaza:
                return
            town, koaza = koaza, ""
        base = strip_aza(town)
        m = _CHOME_RE.match(base)
        chome = kanji_to_int(m.group(2)) if m else None
        if m:
            base = m.group(1)
        key = name_key(base)
        if not key:
            return
        e = c.towns.get(key)
        if e is None:
            e = TownEntry(base)
            for k in (key, *_street_aliases(key)):
                c.towns.setdefault(k, e)
                c.max_key = max(c.max_key, len(k))
        if chome is None:
            e.plain = True
        else:
            e.chome.add(chome)
        if koaza:
            kz = strip_aza(koaza)
            e.koaza.setdefault(name_key(kz), kz)
        self._last = (c, town, e)

    def _new_city(self, pref: str, city: str) -> _City:
        c = _City(pref, city)
        self.cities[(pref, city)] = c
        self._add_aliases(pref, city)
        return c

    def _add_aliases(self, pref: str, city: str) -> None:
        county, muni, ward = split_municipality(city)
        names = {city}
        if county:
            names.add(muni)
        if ward:
            names.add(ward)
            names.add(muni)  # 京都市 alone → every ward of 京都市
        for n in names:
            k = fold_key(n)
            lst = self.city_alias.setdefault(k, [])
            if (pref, city) not in lst:
                lst.append((pref, city))
            self.max_alias = max(self.max_alias, len(k))

    def with_extra(self, rows: Iterable[tuple[str, str, str]] = ()) -> TownDictionary:
        """A copy extended with (pref, city, town) rows, e.g. the operator's own addresses.

        Per-city maps are cloned on first write (:meth:`add_extra`); the national dictionary
        itself is never mutated.
        """
        new = TownDictionary()
        new.prefs = dict(self.prefs)
        new.cities = dict(self.cities)
        new.city_alias = {k: list(v) for k, v in self.city_alias.items()}
        new.max_pref, new.max_alias = self.max_pref, self.max_alias
        new._owned = set()
        for pref, city, town in rows:
            new.add_extra(pref, city, town)
        return new

    def add_extra(self, pref: str, city: str, town: str) -> None:
        """Add one town on a :meth:`with_extra` copy (clone-on-write of its city)."""
        key = (pref, city)
        old = self.cities.get(key)
        if old is not None and key not in self._owned:
            copies: dict[int, TownEntry] = {}  # one copy per entry: alias keys share it
            towns = {
                k: copies.setdefault(id(e), TownEntry(e.name, e.plain, set(e.chome), dict(e.koaza)))
                for k, e in old.towns.items()
            }
            self.cities[key] = _City(old.pref, old.city, towns, old.max_key)
        self._owned.add(key)
        self._last = None
        self.add(pref, city, town)

    # -- lookups --------------------------------------------------------------------------
    def town_names(self, pref: str, city: str) -> list[str]:
        c = self.cities.get((pref, city))
        return list(dict.fromkeys(e.name for e in c.towns.values())) if c else []


_LOCK = threading.Lock()
_NATIONAL: TownDictionary | None = None


def national() -> TownDictionary:
    """The packaged national dictionary, built on first use (about a second) and then shared."""
    global _NATIONAL
    if _NATIONAL is None:
        with _LOCK:
            if _NATIONAL is None:
                from gridwall.data import iter_towns

                d = TownDictionary()
                for t in iter_towns():
                    d.add(t.pref, t.city, t.town, t.koaza)
                _NATIONAL = d
    return _NATIONAL
