"""Japanese address normalisation (住所正規化): free text → :class:`NormalizedAddress`.

Why our own parser: the maintained Python options do not fit. ``normalize-japanese-addresses``
(a port of Geolonia's JS library, last release 2024-03) fetches town data per call from a web API
or a checkout of Geolonia's whole API tree, not our packaged dictionary, and does not parse Kyoto
street names or split 番地/号/building; ``normal-jusho`` is a client of an online API (addresses
would leave the operator); ``jageocoder`` needs its own multi-GB dictionary. A switching lookup
must run offline, on the packaged dictionary plus the operator's own addresses, and return the
unmatched remainder — so the parser is written here; the character rules (NFKC, numerals,
variants) use :mod:`unicodedata` and plain tables (see ``_text``).

Parsing is left to right, longest match first, against :class:`TownDictionary`:
都道府県 → 市区町村 (郡 optional, ward optional, 都道府県 inferred from a unique city) →
Kyoto 通り名 (…上ル/下ル/東入/西入) → 町・大字 (大字/字 optional) → 丁目 → 小字 → 番地・番 → 号 →
the rest (building, room) untouched. Whatever cannot be attributed goes to ``unmatched``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gridwall.lookup._dictionary import (
    TownDictionary,
    TownEntry,
    national,
    split_municipality,
)
from gridwall.lookup._text import (
    KANJI_NUM_CHARS,
    clean,
    fold,
    fold_key,
    int_to_kanji,
    kanji_to_int,
    name_key,
    name_numerals_to_digits,
)


@dataclass(frozen=True, slots=True)
class NormalizedAddress:
    """The components of one address (住所の構成要素). ``None`` = not present / not found."""

    pref: str | None = None  # 都道府県
    county: str | None = None  # 郡
    city: str | None = None  # 市区町村 (Tokyo's 特別区 are cities here)
    ward: str | None = None  # 政令指定都市の区
    street: str | None = None  # 京都の通り名 (e.g. 烏丸通御池下ル), kept, not used as a key
    town: str | None = None  # 町・大字 (dictionary spelling, without 大字 and 丁目)
    chome: int | None = None  # 丁目
    koaza: str | None = None  # 小字
    block: str | None = None  # 番地・番 (街区)
    number: str | None = None  # 号 (住居番号) or 枝番
    rest: str | None = None  # building, room … exactly as typed (after NFKC)
    unmatched: str | None = None  # text that could not be attributed to any component
    note: str | None = None  # parenthesised notes (字東（旧称）): kept, not part of the key
    #: 都道府県 was missing and inferred (metadata about the input, not a component)
    pref_inferred: bool = field(default=False, compare=False)
    candidates: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    #: components the caller did not type but the parser filled in from the dictionary
    #: (any of ``pref``, ``county``, ``city``, ``ward``); :meth:`typed_form` leaves them out
    inferred: frozenset[str] = field(default=frozenset(), compare=False)

    @property
    def municipality(self) -> str | None:
        """The city as the dictionary spells it (郡 + 町村, or 市 + 区)."""
        if self.city is None:
            return None
        return (self.county or "") + self.city + (self.ward or "")

    @property
    def place(self) -> str:
        """町 + 丁目 as written in the dictionary (丸の内一丁目)."""
        t = self.town or ""
        if self.chome is not None:
            t += int_to_kanji(self.chome) + "丁目"
        return t

    @property
    def banchi(self) -> str:
        return "-".join(x for x in (self.block, self.number) if x)

    def __str__(self) -> str:
        """The canonical string form; :func:`normalize` of it gives the same components."""
        head = (self.pref or "") + (self.municipality or "") + (self.street or "")
        if self.unmatched:
            head += " " + self.unmatched + " "
        head += self.place + (self.koaza or "")
        s = head + self.banchi
        if self.rest:
            s += " " + self.rest
        if self.note:
            s += " (" + self.note + ")"
        return " ".join(s.split())

    def typed_form(self) -> str:
        """What the caller typed, normalised: :meth:`__str__` without the components the
        parser inferred (an omitted 都道府県, 郡, 市 or 区). This is the only address text a
        lookup answer may carry: it is a function of the typed text alone, so no stored part
        of any supply point's address (建物名, 部屋, 号, or an inferred area) can reach the
        caller through it (issue 11, item 1)."""
        if not self.inferred:
            return str(self)
        parts = {
            "pref": self.pref,
            "county": self.county,
            "city": self.city,
            "ward": self.ward,
        }
        head = "".join(v or "" for k, v in parts.items() if k not in self.inferred)
        head += self.street or ""
        if self.unmatched:
            head += " " + self.unmatched + " "
        s = head + self.place + (self.koaza or "") + self.banchi
        if self.rest:
            s += " " + self.rest
        if self.note:
            s += " (" + self.note + ")"
        return " ".join(s.split())


def _typed_municipality(alias_key: str, city_full: str) -> frozenset[str]:
    """Which of 郡 / 市 / 区 of ``city_full`` the matched alias (a :func:`fold_key`) left out."""
    county, muni, ward = split_municipality(city_full)
    if alias_key == fold_key(city_full):
        return frozenset()
    if county and alias_key == fold_key(muni):
        return frozenset({"county"})
    if ward and alias_key == fold_key(ward):
        return frozenset({"city"})
    if ward and alias_key == fold_key(muni):
        return frozenset({"ward"})
    # an alias this function does not know: treat every part as inferred (fail closed)
    return frozenset({"county", "city", "ward"})


#: a parenthesised note (NFKC turns （） into ()): 「字東（旧称）12」「(旧)」
_NOTE_RE = re.compile(r"\s*\(([^()]*)\)\s*")
#: イロハ order kana and Latin letters used as block names (イの12, B-7, ロ10番地)
_IROHA = (
    "イロハニホヘトチリヌルヲワカヨタレソツネナラムウヰノオクヤマケフコエテアサキユメミシヱヒモセス"
)
_LETTER_BLOCK_RE = re.compile(
    rf"\s*([A-Za-z]|[{_IROHA}])\s*(?:の|之|ノ|-|番地|番)?(?=\s*(?:\d|[{KANJI_NUM_CHARS}]))"
)


#: a postcode in front (〒100-0013, 〒1000013, 郵便番号100-0013, or 100-0013 followed by the
#: address): kept as a note, never part of the key. Without a marker it must be written
#: 3-4 with its hyphen, so no 番地 of an address is ever read as one.
_POSTCODE_RE = re.compile(
    r"^\s*(?:(?:〒|郵便番号|郵便|〶)\s*[:：]?\s*(\d{3})\s*-?\s*(\d{4})|(\d{3})-(\d{4}))(?![\d-])\s*"
)


def strip_postcode(text: str) -> tuple[str, str | None]:
    """``text`` without a leading postcode, and the postcode as ``〒NNN-NNNN``."""
    m = _POSTCODE_RE.match(text)
    if not m:
        return text, None
    a, b = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
    return text[m.end() :], f"〒{a}-{b}"


#: a 小字 that is one kana or letter (the dictionary lists イ, ロ … as 小字 of some towns)
_LETTER_KOAZA_RE = re.compile(rf"[A-Za-z]|[{_IROHA}]")
#: 字/小字 + a name that is not a number, right before a 番地 (arabic, or kanji with a unit)
_UNKNOWN_KOAZA_RE = re.compile(
    rf"\s*(?:小字|字)\s*([^\d\s\-{KANJI_NUM_CHARS}][^\d\s\-]{{0,9}}?)"
    rf"(?=\s*(?:\d|[{KANJI_NUM_CHARS}]+\s*(?:番地|番|-)))"
)


def strip_notes(text: str) -> tuple[str, str | None]:
    """``text`` without its parenthesised notes, and the notes (joined by ``; ``)."""
    notes = [m.group(1).strip() for m in _NOTE_RE.finditer(text)]
    if not notes:
        return text, None
    out = " ".join(_NOTE_RE.sub(" ", text).split())
    return out, "; ".join(n for n in notes if n) or None


_BANCHI_UNIT_RE = re.compile(r"\s*(丁\s*目|番\s*地|番|号\s*室|号|地\s*割|の|之|ノ|-)")
_SEP_RE = re.compile(r"\s*(の|之|ノ|-)")
#: a number: arabic digits, or a kanji numeral (stray spaces inside it are tolerated: 「二十 六」)
_NUM_RE = re.compile(rf"\s*(\d+|[{KANJI_NUM_CHARS}](?:\s*[{KANJI_NUM_CHARS}])*)")
_DIRECTION_RE = re.compile(
    r"(上る|上ル|上がる|上ガル|下る|下ル|下がる|下ガル|東入る|東入ル|東入|西入る|西入ル|西入)"
)
_LEADING_JUNK_RE = re.compile(r"^[\s,、，.。・/-]+")


@dataclass(slots=True)
class _Compact:
    """The clean text without spaces, folded, with a map back to clean-text positions."""

    key: str
    pos: list[int]  # pos[i] = index in the clean text of key[i]; pos[len] = len(clean)

    @classmethod
    def of(cls, text: str, start: int = 0) -> _Compact:
        key, pos = [], []
        for i in range(start, len(text)):
            if not text[i].isspace():
                key.append(text[i])
                pos.append(i)
        pos.append(len(text))
        # fold after removing spaces: 「茅 ヵ崎」 and 「宮の 西」 fold like 茅ヶ崎 and 宮ノ西
        return cls(fold("".join(key)), pos)


def _match_prefix(key: str, table: dict[str, object], max_len: int) -> int:
    for n in range(min(max_len, len(key)), 0, -1):
        if key[:n] in table:
            return n
    return 0


def _longest_name(
    k: str, table: dict[str, TownEntry] | dict[str, str], max_len: int
) -> tuple[str, int] | None:
    """Longest name key at the start of ``k`` (numerals compared as digits); returns the
    table key and how many characters of ``k`` it covers. A match never splits a number."""
    digits, src = name_numerals_to_digits(k)
    for n in range(min(max_len, len(digits)), 0, -1):
        cand = digits[:n]
        if cand not in table:
            continue
        if (
            n < len(digits)
            and digits[n - 1].isdigit()
            and digits[n].isdigit()
            and (src[n] == src[n - 1] or (k[src[n - 1]].isdigit() and k[src[n]].isdigit()))
        ):
            split = _split_numeral(k, digits, src, n)
            if split is None:
                continue
            return cand, split
        return cand, (src[n] if n < len(digits) else len(k))
    return None


def _split_numeral(k: str, digits: str, src: list[int], n: int) -> int | None:
    """A town name ending in a kanji numeral glued to a kanji 番地 (字桑島四 + 千九百三十九番地
    = 「桑島四千九百三十九番地」): split the run where its head reads as the town's number and
    its tail is still a numeral. Returns how many characters of ``k`` the town covers."""
    run_start = src[n - 1]
    if src[n] != run_start or k[run_start].isdigit():
        return None
    j = n - 1
    while j > 0 and src[j - 1] == run_start:
        j -= 1
    head_value = int(digits[j:n])
    end = run_start
    while end < len(k) and k[end] in KANJI_NUM_CHARS:
        end += 1
    for p in range(run_start + 1, end):
        if kanji_to_int(k[run_start:p]) == head_value and kanji_to_int(k[p:end]) is not None:
            return p
    return None


@dataclass(slots=True)
class _TownHit:
    pref: str
    city: str
    entry: TownEntry
    end: int  # position in clean text after the town name
    street: str | None
    oaza: bool = False  # written with 大字: the 大字 town, never one of its 丁目 namesakes


def _match_town(d: TownDictionary, pref: str, city: str, text: str, start: int) -> list[_TownHit]:
    """Town name at ``start`` (with optional 大字/字), else after a Kyoto street prefix."""
    c = d.cities.get((pref, city))
    if c is None or not c.towns:
        return []
    comp = _Compact.of(text, start)
    hits: list[_TownHit] = []
    street_first = "通" in comp.key and _DIRECTION_RE.search(comp.key) is not None
    if street_first:  # 「烏丸通…下ル東塩小路町」: 烏丸 is a town too, but here it is a street
        for m in reversed(list(_DIRECTION_RE.finditer(comp.key))):
            after = m.end()
            r = _longest_name(comp.key[after:], c.towns, c.max_key)
            if r:
                street = text[comp.pos[0] : comp.pos[after]].replace(" ", "")
                hits.append(_TownHit(pref, city, c.towns[r[0]], comp.pos[after + r[1]], street))
                return hits
    best: tuple[int, str, bool] | None = None
    for skip in (0, 2, 1):  # as typed, without 大字, without 字: the longest reading wins
        if skip == 2 and not comp.key.startswith("大字"):
            continue
        if skip == 1 and not comp.key.startswith("字"):
            continue
        r = _longest_name(comp.key[skip:], c.towns, c.max_key)
        if r and (best is None or skip + r[1] > best[0]):
            best = (skip + r[1], r[0], skip == 2)  # 「大字老久保」 is 老久保, not 大 + 字老久保
    if best is not None:
        hits.append(_TownHit(pref, city, c.towns[best[1]], comp.pos[best[0]], None, best[2]))
        return hits
    # 京都の通り名: 「烏丸通御池下ル虎屋町」 — the town follows the last direction word.
    for m in reversed(list(_DIRECTION_RE.finditer(comp.key))):
        after = m.end()
        if after < len(comp.key) and comp.key[after] == "ル":
            after += 1
        r = _longest_name(comp.key[after:], c.towns, c.max_key)
        if r:
            street = text[comp.pos[0] : comp.pos[after]].replace(" ", "")
            hits.append(_TownHit(pref, city, c.towns[r[0]], comp.pos[after + r[1]], street))
            return hits
    # 通り名 without a direction word (「寺町通三条 …町」): a town shortly after a 通/通り
    if pref == "京都府":
        for m in re.finditer(r"通り?", comp.key):
            for st in range(m.end(), min(len(comp.key), m.end() + 8)):
                r = _longest_name(comp.key[st:], c.towns, c.max_key)
                if r and r[1] >= 2:
                    street = text[comp.pos[0] : comp.pos[st]].replace(" ", "")
                    hits.append(_TownHit(pref, city, c.towns[r[0]], comp.pos[st + r[1]], street))
                    return hits
    return hits


def _read_num(tok: str) -> int | None:
    return int(tok) if tok.isdigit() else kanji_to_int(tok)


@dataclass(slots=True)
class _Banchi:
    chome: int | None = None
    block: str | None = None
    number: str | None = None
    extra: list[str] = field(default_factory=list)
    end: int = 0
    found: bool = False


def _parse_banchi(text: str, start: int, town_has_chome: bool, chome_set: bool) -> _Banchi:
    """丁目 / 番地・番 / 号 / の / hyphens from ``start``; stops at the first thing that is not."""
    out = _Banchi(end=start)
    items: list[tuple[int, str | None]] = []
    pos = start
    letter: str | None = None
    letter_at = 0  # how many numbers (丁目) came before the kana/letter block
    seps = ("-", "の", "之", "ノ")
    while True:
        if letter is None and all(unit == "丁目" for _, unit in items):
            # a kana/letter block (イの12, B-7) at the start or right after the 丁目
            lead = _LETTER_BLOCK_RE.match(text, pos)
            if lead:
                letter, letter_at, pos = lead.group(1).upper(), len(items), lead.end()
        m = _NUM_RE.match(text, pos)
        if not m:
            break
        tok = m.group(1).replace(" ", "")
        val = _read_num(tok)
        if val is None:
            break
        u = _BANCHI_UNIT_RE.match(text, m.end())
        unit = u.group(1).replace(" ", "") if u else None
        if unit in seps and not _NUM_RE.match(text, u.end() if u else m.end()):
            unit = None  # a trailing separator: the number ends here
            u = None
        if not tok.isdigit() and unit is None and text[m.end() :].strip():
            break  # a kanji numeral counts only with a unit after it, or at the very end
        if unit in ("号室", "地割"):
            break  # a room number (301号室) belongs to the rest
        spaced = m.start(1) > pos and text[pos : m.start(1)].isspace()
        if spaced and unit is None and tok.isdigit() and items and items[-1][1] in ("番地", "番"):
            break  # 「1番地 201」: a bare number after a space is a room
        items.append((val, unit))
        if unit is None:
            out.end = m.end()
            break
        assert u is not None
        out.end = u.end() if unit not in seps else m.end()
        pos = u.end()
        if unit == "号":
            break
        if unit in ("番地", "番"):
            sep = _SEP_RE.match(text, pos)
            if sep and _NUM_RE.match(text, sep.end()):
                pos = sep.end()
    if not items:
        return out
    out.found = True
    if letter is not None and len(items) > letter_at:
        # a kana/letter block: the next number is its 号 (枝番), whatever unit follows it
        if letter_at and not chome_set:
            out.chome = items[0][0]
        out.extra = [str(v) for v, _ in items[1:letter_at]] if letter_at else []
        out.block = letter
        out.number = str(items[letter_at][0])
        out.extra += [str(v) for v, _ in items[letter_at + 1 :]]
        return out
    chome_free = town_has_chome and not chome_set
    slot = 0 if chome_free else 1  # 0 chome, 1 block, 2 number, 3+ extra
    for val, unit in items:
        if unit == "丁目":
            if chome_set or out.chome is not None:
                out.extra.append(str(val))
                continue
            out.chome = val
            slot = 1
        elif unit in ("番地", "番"):
            out.block = str(val)
            slot = 2
        elif unit == "号":
            if slot <= 1 and out.block is None:
                out.block = str(val)  # 「3号」 alone after 丁目: treat as the block
                slot = 2
            else:
                out.number = str(val)
                slot = 3
        else:
            if slot == 0:
                out.chome = val
                slot = 1
            elif slot == 1:
                out.block = str(val)
                slot = 2
            elif slot == 2:
                out.number = str(val)
                slot = 3
            else:
                out.extra.append(str(val))
    return out


def _first_banchi_start(text: str, start: int) -> int:
    """Where the numbers begin, for a town the dictionary does not know."""
    for m in re.finditer(rf"\d|[{KANJI_NUM_CHARS}]+(?=\s*(丁目|番地|番|号|-|の\d))", text[start:]):
        return start + m.start()
    return len(text)


def normalize(text: str, dictionary: TownDictionary | None = None) -> NormalizedAddress:
    """Normalise one typed address. Never drops text: what is not understood is ``unmatched``."""
    d = dictionary or national()
    s, postcode = strip_postcode(clean(text))
    s, note = strip_notes(s)
    if postcode:
        note = postcode + ("; " + note if note else "")
    comp = _Compact.of(s)
    # 都道府県
    pref: str | None = None
    n = _match_prefix(comp.key, d.prefs, d.max_pref)  # type: ignore[arg-type]
    pos = 0
    if n:
        pref = d.prefs[comp.key[:n]]
        pos = n
    # 市区町村 (aliases; longest first; filtered by pref)
    rest_key = comp.key[pos:]
    cities: list[tuple[str, str]] = []
    clen = 0
    for m in range(min(d.max_alias, len(rest_key)), 0, -1):
        found = [pc for pc in d.city_alias.get(rest_key[:m], ()) if pref is None or pc[0] == pref]
        if found:
            cities, clen = found, m
            break
    city_end = comp.pos[pos + clen]
    pref_end = comp.pos[pos]
    # 町 for every candidate municipality; keep the ones that match
    hits: list[_TownHit] = []
    pref_out: str | None
    city_full: str | None
    for p, c in cities:
        hits.extend(_match_town(d, p, c, s, city_end))
    if hits:
        # the match that reaches furthest; on a tie, the one with the shorter street prefix
        # (向島中島町 beats 中島町 after 「…東入向島」)
        best = max(hits, key=lambda h: (h.end, -len(h.street or "")))
        tied = {
            (h.pref, h.city)
            for h in hits
            if h.end == best.end and len(h.street or "") == len(best.street or "")
        }
        hit = best
        pref_out, city_full = hit.pref, hit.city
        pos_after = hit.end
        entry: TownEntry | None = hit.entry
        street = hit.street
        oaza = hit.oaza
    else:
        tied = set(cities)
        entry = None
        street = None
        oaza = False
        parents = {(pc[0], split_municipality(pc[1])[1]) for pc in cities}
        if len(parents) == 1:
            # one municipality, or every ward of one 政令指定都市 (「大阪市」 without its 区)
            pref_out = cities[0][0]
            city_full = cities[0][1] if len(cities) == 1 else next(iter(parents))[1]
        else:
            pref_out, city_full = pref, None
        pos_after = city_end if city_full else (pref_end if pref else 0)
    county = city = ward = None
    inferred: set[str] = set()
    if city_full:
        county, city, ward = split_municipality(city_full)
        inferred |= _typed_municipality(rest_key[:clen], city_full)
    if pref is None and pref_out is not None:
        inferred.add("pref")
    # 丁目 right after the town (「丸の内一丁目」「丸の内1丁目」)
    chome: int | None = None
    unmatched_parts: list[str] = []
    if entry is None:
        # unknown town: text up to the first number is kept as unmatched
        b0 = _first_banchi_start(s, pos_after)
        if s[pos_after:b0].strip():
            unmatched_parts.append(s[pos_after:b0].strip())
        pos_after = b0
    # a town written with 大字 that also exists without 丁目 is that 大字 (観世音寺 has both)
    town_has_chome = bool(entry and entry.chome) and not (
        oaza and entry is not None and entry.plain
    )
    if entry is None:
        probe = _parse_banchi(s, pos_after, False, False)
        town_has_chome = len(probe.extra) > 0  # 「…町1-2-3」: three numbers read as 丁目-番-号
    # 小字: after the town, with optional 字/小字
    koaza: str | None = None
    if entry is not None and entry.koaza:
        b = _parse_banchi(s, pos_after, town_has_chome, False)
        kz_start = pos_after
        if b.chome is not None and b.block is None and b.end > pos_after:
            kz_start = b.end
        kc = _Compact.of(s, kz_start)
        for skip in (2 if kc.key.startswith("小字") else 0, 1 if kc.key.startswith("字") else 0, 0):
            r = _longest_name(kc.key[skip:], entry.koaza, 40)
            if r:
                koaza = entry.koaza[r[0]]
                if kz_start != pos_after:
                    chome = b.chome
                pos_after = kc.pos[skip + r[1]]
                if _LETTER_KOAZA_RE.fullmatch(koaza) and _LETTER_BLOCK_RE.match(s, kc.pos[skip]):
                    # a 小字 named by one kana or letter (七窪 字イ) followed by a number is
                    # the kana block of the 地番 (イの12 = イ-12 = 字イ12): read as a block
                    koaza, pos_after = None, kc.pos[skip]
                break
    if koaza is None and entry is not None:
        # 字 + a 小字 the dictionary does not list, before the 番地 (大字南長野字幅下692):
        # kept as the 小字 (never part of the key), so the numbers after it are still read
        kz_m = _UNKNOWN_KOAZA_RE.match(s, pos_after)
        if kz_m:
            koaza, pos_after = kz_m.group(1), kz_m.end(1)
    ban = _parse_banchi(s, pos_after, town_has_chome, chome is not None)
    if chome is None:
        chome = ban.chome
    if (
        entry is not None
        and chome is not None
        and (not entry.chome or (entry.plain and chome not in entry.chome))
    ):
        # the town has no 丁目: the first number was a block after all
        ban2 = _parse_banchi(s, pos_after, False, True)
        if ban2.found:
            ban, chome = ban2, None
    rest_text = s[ban.end :] if ban.found else s[pos_after:]
    rest_text = _LEADING_JUNK_RE.sub("", rest_text).strip()
    if ban.extra:
        rest_text = ("-".join(ban.extra) + (" " + rest_text if rest_text else "")).strip()
    if not ban.found and entry is None and rest_text and not unmatched_parts:
        unmatched_parts.append(rest_text)
        rest_text = ""
    if pref is None and pref_out is None and not cities:
        # nothing recognised at all
        return NormalizedAddress(unmatched=s or None, rest=None, note=note)
    return NormalizedAddress(
        pref=pref_out,
        county=county,
        city=city,
        ward=ward,
        street=street,
        town=entry.name if entry else None,
        chome=chome,
        koaza=koaza,
        block=ban.block,
        number=ban.number,
        rest=rest_text or None,
        unmatched=" ".join(unmatched_parts) or None,
        pref_inferred=pref is None and pref_out is not None,
        candidates=tuple(sorted(tied)) if len(tied) > 1 else (),
        inferred=frozenset(inferred),
        note=note,
    )


@dataclass(frozen=True, slots=True)
class RecordAddress:
    """An operator record's address, in the index's terms."""

    pref: str
    municipality: str
    town: str  # base name (without 丁目); the record's own text when the dictionary lacks it
    chome: int | None
    block: str | None
    number: str | None
    rest: str  # extra 枝番, building, room — as kept by the operator
    known: bool  # the town is in the national dictionary
    koaza: str | None = None  # 小字 the record names (not part of the key; compared if typed)


class RecordNormalizer:
    """Normalises operator records (pref, city, town, banchi, building, room) for indexing.

    The place part (pref + city + town) is resolved once per distinct value and cached; a town
    the dictionary lacks is added to this normaliser's own copy of it (the operator's addresses
    are town knowledge too), so later queries recognise it.
    """

    def __init__(self, dictionary: TownDictionary | None = None) -> None:
        self.dictionary = (dictionary or national()).with_extra()
        self._places: dict[tuple[str, str, str], tuple[NormalizedAddress, bool]] = {}
        # memo tables: operator data repeats the same strings millions of times
        self._raw: dict[tuple[str, str, str], tuple[NormalizedAddress, bool, str]] = {}
        self._banchi: dict[tuple[str, bool, bool, bool], _Banchi] = {}
        self._clean: dict[str, str] = {}

    def _place(self, pref: str, city: str, town: str) -> tuple[NormalizedAddress, bool]:
        key = (pref, city, town)
        hit = self._places.get(key)
        if hit is not None:
            return hit
        n = normalize(pref + city + town, self.dictionary)
        known = n.town is not None and n.unmatched is None and n.block is None and not n.rest
        if not known and town:
            self.dictionary.add_extra(pref, city, clean(town))
            n = normalize(pref + city + town, self.dictionary)
        hit = (n, known)
        self._places[key] = hit
        return hit

    def _c(self, s: str | None) -> str:
        if not s:
            return ""
        v = self._clean.get(s)
        if v is None:
            if len(self._clean) > 200_000:
                self._clean.clear()
            v = self._clean[s] = clean(s)
        return v

    def record(
        self,
        pref: str,
        city: str,
        town: str | None,
        banchi: str | None,
        building: str | None = None,
        room: str | None = None,
    ) -> RecordAddress:
        raw = (pref, city, town or "")
        hit = self._raw.get(raw)
        if hit is None:
            pl, kn = self._place(clean(pref), clean(city), clean(town or ""))
            hit = (pl, kn, name_key(pl.town) if pl.town else "")
            self._raw[raw] = hit
        place, known, tkey = hit
        entry = None
        if place.chome is None and tkey:
            c = self.dictionary.cities.get((place.pref or "", place.municipality or ""))
            entry = c.towns.get(tkey) if c else None
        # the operator's 「大字観世音寺」 is the 大字, not one of the 観世音寺N丁目 (as for a query)
        oaza = (town or "").lstrip().startswith("大字") and bool(entry and entry.plain)
        has_chome = bool(entry and entry.chome) and not oaza
        retry = bool(entry and entry.plain) and not oaza
        bkey = (banchi or "", has_chome, place.chome is not None, retry)
        b = self._banchi.get(bkey)
        if b is None:
            text = self._c(banchi)
            b = _parse_banchi(text, 0, has_chome, place.chome is not None)
            if entry is not None and b.chome is not None and retry and b.chome not in entry.chome:
                b = _parse_banchi(text, 0, False, True)
            if len(self._banchi) > 500_000:
                self._banchi.clear()
            self._banchi[bkey] = b
        extra = b.extra
        block, number = b.block, b.number
        koaza = place.koaza
        if (
            place.koaza is not None
            and _LETTER_KOAZA_RE.fullmatch(place.koaza)
            and block is not None
            and not _LETTER_KOAZA_RE.fullmatch(block)
        ):
            # 「七窪字イ」 + 「12」 is the kana block イ-12, as a query reads 七窪イ12 / イの12
            block, number = place.koaza.upper(), block
            extra = ([b.number] if b.number else []) + list(b.extra)
            koaza = None
        chome = place.chome if place.chome is not None else b.chome
        parts = ["-".join(extra)] if extra else []
        if building:
            parts.append(strip_notes(self._c(building))[0])  # as a query's rest is read
        if room:
            parts.append(self._c(room))
        return RecordAddress(
            pref=place.pref or clean(pref),
            municipality=place.municipality or clean(city),
            town=place.town or place.unmatched or clean(town or ""),
            chome=chome,
            block=block,
            number=number,
            rest=" ".join(x for x in parts if x),
            known=known,
            koaza=koaza,
        )

    def _entry(self, place: NormalizedAddress) -> TownEntry | None:
        c = self.dictionary.cities.get((place.pref or "", place.municipality or ""))
        if c is None or place.town is None:
            return None
        return c.towns.get(name_key(place.town))
