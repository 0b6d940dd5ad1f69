"""Messy variants of real-format addresses, for measuring the lookup (quality benchmark, tests).

Given one operator record, :func:`variants` writes the same address the ways people type it:
kanji or arabic numerals, 丁目/番地/番/号/の or hyphens and every hyphen look-alike, full width,
NFKD, prefecture / 郡 / ward left out, 大字・字 added, ヶ/ケ/が swapped, old kanji forms, Kyoto
street names, stray spaces, building names with numerals, rooms as 号室. Each variant is labelled
with the forms it uses, so accuracy can be reported per form.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass

from gridwall.lookup._dictionary import TownDictionary, national, split_municipality
from gridwall.lookup._normalize import RecordNormalizer
from gridwall.lookup._text import OLD_TO_NEW, int_to_kanji, name_key

#: hyphen look-alikes people type between numbers
HYPHEN_LOOKALIKES = ("－", "‐", "‑", "–", "—", "―", "ー", "−", "ｰ", "-")
_NEW_TO_OLD: dict[str, str] = {}
for _old, _new in OLD_TO_NEW.items():
    _NEW_TO_OLD.setdefault(_new, _old)
_GA = "ヶケがヵカ"
#: real Kyoto streets (通り名) and directions, to prefix a Kyoto town as addresses there do
KYOTO_STREETS = ("烏丸通", "河原町通", "四条通", "御池通", "堀川通", "寺町通", "新町通",
                 "室町通", "今出川通", "丸太町通", "西洞院通", "東洞院通")  # fmt: skip
KYOTO_CROSS = ("御池", "三条", "四条", "錦小路", "蛸薬師", "六角", "姉小路", "二条", "松原")
KYOTO_DIRECTIONS = ("上ル", "下ル", "上る", "下る", "東入", "西入", "東入ル", "西入る")


@dataclass(frozen=True, slots=True)
class Variant:
    forms: tuple[str, ...]
    text: str


def _fullwidth(s: str) -> str:
    return "".join(
        chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else ("\u3000" if c == " " else c) for c in s
    )


class VariantMaker:
    """Writes variants of records; holds the dictionary to know which forms apply."""

    def __init__(self, dictionary: TownDictionary | None = None) -> None:
        self.d = dictionary or national()
        self.rn = RecordNormalizer(self.d)

    def variants(self, rec: dict[str, str | None], rng: random.Random, n: int = 8) -> list[Variant]:
        a = self.rn.record(
            rec["pref"] or "", rec["city"] or "", rec.get("town"), rec.get("banchi"),
            rec.get("building"), rec.get("room"),
        )  # fmt: skip
        county, city, ward = split_municipality(a.municipality)
        c = self.d.cities.get((a.pref, a.municipality))
        entry = c.towns.get(name_key(a.town)) if c else None
        had_aza = (rec.get("town") or "").startswith(("大字", "字"))
        rest = " ".join(x for x in ((rec.get("building") or ""),) if x)
        room = rec.get("room") or ""
        chome, block, number = a.chome, a.block or "", a.number or ""

        def build(forms: set[str]) -> str:
            out = "" if "no_pref" in forms else a.pref
            if county and "no_county" not in forms:
                out += county
            out += city
            if ward and "no_ward" not in forms:
                out += ward
            if "kyoto_street" in forms:
                out += rng.choice(KYOTO_STREETS) + rng.choice(KYOTO_CROSS)
                out += rng.choice(KYOTO_DIRECTIONS)
            town = a.town
            if "aza" in forms:
                town = rng.choice(("大字", "字")) + town
            out += town
            hy = rng.choice(HYPHEN_LOOKALIKES[:-1]) if "hyphen_lookalike" in forms else "-"
            ch, bl, nu = chome, block, number
            if "kanji_units" in forms:
                if ch is not None:
                    out += int_to_kanji(ch) + "丁目"
                if bl:
                    out += int_to_kanji(int(bl)) + ("番地" if ch is None else "番")
                if nu:
                    out += int_to_kanji(int(nu)) + ("号" if ch is not None else "")
            elif "arabic_units" in forms:
                if ch is not None:
                    out += f"{ch}丁目"
                if bl:
                    out += f"{bl}番" + ("地の" if ch is None and nu else "")
                if nu:
                    out += f"{nu}" + ("号" if ch is not None else "")
            elif "chome_kanji" in forms and ch is not None:
                out += int_to_kanji(ch) + "丁目" + hy.join(x for x in (bl, nu) if x)
            else:
                out += hy.join(x for x in ("" if ch is None else str(ch), bl, nu) if x)
            tail = ""
            if rest:
                tail += ("" if "building_glued" in forms else " ") + rest
            if room:
                tail += " " + room + ("号室" if "room_suffix" in forms else "")
            s = out + tail
            if "ga_variant" in forms:
                s = "".join(rng.choice(_GA) if ch_ in _GA else ch_ for ch_ in s)
            if "old_kanji" in forms:
                s = "".join(_NEW_TO_OLD.get(ch_, ch_) for ch_ in s)
            if "fullwidth" in forms:
                s = _fullwidth(s)
            if "spaces" in forms:
                # stray spaces between characters, never inside a number
                s = "".join(
                    ch_ + (" " if rng.random() < 0.15 and not (ch_.isdigit() and
                           i + 1 < len(s) and s[i + 1].isdigit()) else "")
                    for i, ch_ in enumerate(s)
                )  # fmt: skip
            if "nfkd" in forms:
                s = unicodedata.normalize("NFKD", s)
            return s

        applicable = ["kanji_units", "arabic_units", "hyphen_lookalike", "fullwidth", "nfkd",
                      "no_pref", "spaces", "room_suffix", "chome_kanji"]  # fmt: skip
        if county:
            applicable.append("no_county")
        if ward and self._town_unique_in_city(a.pref, city, a.town):
            applicable.append("no_ward")
        if had_aza or (
            entry is not None
            and entry.plain
            and not entry.chome
            and a.pref != "京都府"
            and not a.town.endswith(("町", "丁目", "条", "線"))
        ):
            applicable.append("aza")
        if any(ch_ in _GA for ch_ in a.municipality + a.town):
            applicable.append("ga_variant")
        if any(ch_ in _NEW_TO_OLD for ch_ in a.pref + a.municipality + a.town):
            applicable.append("old_kanji")
        if a.pref == "京都府" and city == "京都市":
            applicable.append("kyoto_street")
        if rest and not rest[0].isdigit():
            applicable.append("building_glued")
        if not self._pref_inferable(a.municipality, a.town):
            applicable.remove("no_pref")
        if "arabic_units" in applicable and a.chome is None and not a.number:
            applicable.remove("arabic_units")
        out: list[Variant] = [Variant(("canonical",), build(set()))]
        for f in applicable:
            out.append(Variant((f,), build({f})))
        for _ in range(n):
            k = rng.randint(2, 4)
            fs = set(rng.sample(applicable, min(k, len(applicable))))
            if "kanji_units" in fs and "arabic_units" in fs:
                fs.discard("arabic_units")
            out.append(Variant(tuple(sorted(fs)), build(fs)))
        return out

    def _town_unique_in_city(self, pref: str, city: str, town: str) -> bool:
        k = name_key(town)
        hits = 0
        for (p, muni), c in self.d.cities.items():
            if p == pref and split_municipality(muni)[1] == city and k in c.towns:
                hits += 1
        return hits == 1

    def _pref_inferable(self, municipality: str, town: str) -> bool:
        """Without the prefecture the city (and town) must still be unique."""
        from gridwall.lookup._text import fold_key

        cands = self.d.city_alias.get(fold_key(municipality), [])
        k = name_key(town)
        return sum(1 for p, c in cands if k in self.d.cities[(p, c)].towns) == 1
