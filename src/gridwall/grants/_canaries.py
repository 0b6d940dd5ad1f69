"""Canary rows (トラップ) of contractor exports: fictitious supply points shaped like the real rows.

A leaker who wants to strip the canaries before passing a file on looks for rows that stand
out: a meter ID, address, phone or name that another row also has, or a value in an odd
format. So a canary is made from the export's own rows, column by column, and never copies a
value that is unique to one real row:

* ``supply_point_id``: the area code and 4-digit office of a real row of the same town (else
  of the row it is modelled on, in the same city), then a 16-digit serial drawn from a keyed
  space; re-drawn while it equals an exported ID, another canary's or — when the caller can
  ask the store — an existing point's;
* ``meter_id`` (and any ID of that kind): the same letters in the same places, fresh digits;
* ``phone``: the area code (or mobile prefix) of the model row, same prefecture, fresh
  subscriber digits in the same groups;
* ``contract_name``: a family name of one real row with the given name of another (companies:
  the legal form of the model row, a name and trade of others), never a real row's name;
  small built-in pools only when the export's own are used up;
* address: a real town of the same city from the packaged town dictionary, written in the
  same 丁目 style as the model row; block numbers (番地) from the real rows' own; a building
  name put together from real buildings' parts around a town name; a room number of a real
  room; the whole address never a real row's;
* shared columns (voltage, status, retailer, contract, lrs …) all come from one real row drawn
  at random — so their joint distribution is the export's own (a vacant point's canary has
  no name or phone either, as an empty cell stays empty) — with dates moved to a day drawn
  between two real rows' dates and bare numbers drawn likewise.

Every draw comes from HMAC-SHA256 under the watermark key, the export id and the canary
number: the recipient cannot predict it, and the same export is rebuilt identically.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import TypeVar

from gridwall.data import SERVICE_AREAS, iter_towns
from gridwall.grants._errors import GrantRefused

T = TypeVar("T")

#: Columns a canary makes afresh (all others are shared and come from the model row).
ADDRESS = ("pref", "city", "town", "banchi", "building", "room")
#: Columns whose real values belong to one row (never copied into a canary).
PER_ROW = ("supply_point_id", "meter_id", "contract_name", "phone", "building")
_SP_RE = re.compile(r"(0[1-9]|10)(\d{4})(\d{16})")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUM_RE = re.compile(r"-?\d+(?:\.(\d+))?")
_KANJI = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CHOME = re.compile(
    r"(.+?)((?:[二三四五六七八九]?十)?[一二三四五六七八九]|[二三四五六七八九]?十)丁目"
)
_LEGAL_FORMS = (
    "株式会社",
    "有限会社",
    "合同会社",
    "合資会社",
    "合名会社",
    "一般社団法人",
    "一般財団法人",
    "医療法人",
    "社会福祉法人",
)
_PERSON_RE = re.compile(r"(\S+)([ \u3000])(\S+)")
#: Fallback pools, used only when the export's own name parts are used up.
_SURNAMES = (
    "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤",
    "吉田", "山田", "佐々木", "山口", "松本", "井上", "木村", "林", "斎藤", "清水",
    "山崎", "森", "池田", "橋本", "阿部", "石川", "山下", "中島", "石井", "小川",
    "前田", "岡田", "長谷川", "藤田", "後藤", "近藤", "村上", "遠藤", "青木", "坂本",
    "斉藤", "福田", "太田", "西村", "藤井", "金子", "岡本", "藤原", "中野", "三浦",
    "原田", "中川", "松田", "竹内", "小野", "田村", "中山", "和田", "石田", "森田",
)  # fmt: skip
_GIVEN = (
    "太郎", "花子", "健一", "美咲", "翔太", "陽子", "大輔", "由美", "誠", "恵",
    "直樹", "裕子", "拓也", "真由美", "和也", "久美子", "悠斗", "智子", "浩二", "明美",
    "蓮", "結衣", "大翔", "陽菜", "湊", "さくら", "健太", "舞", "隆", "直美",
    "修", "綾香", "学", "千尋", "亮", "彩", "徹", "麻衣", "聡", "香織",
    "剛", "優子", "淳", "愛", "稔", "加奈子", "豊", "沙織", "勇気", "七海",
)  # fmt: skip
_TRADES = ("商事", "工業", "建設", "産業", "物産", "電機", "食品", "運輸", "不動産", "興業")
_BUILDING_PRE = ("メゾン", "コーポ", "ハイツ", "パークハウス", "グランドール", "ライオンズ")
_BUILDING_POST = ("", " 第2", " A棟", " II", "壱番館")
_OFFICE_POST = ("ビル", "第2ビル", "第3ビル", "センタービル")
#: Draws per value before a canary is given up (IDs collide with probability ~10⁻⁹).
ATTEMPTS = 200


class Draw:
    """A keyed deterministic stream of draws (HMAC-SHA256 in counter mode)."""

    def __init__(self, key: bytes, *parts: str) -> None:
        self._k = hmac.new(key, "\x00".join(parts).encode("utf-8"), hashlib.sha256).digest()
        self._n = 0

    def below(self, n: int) -> int:
        """Uniform in [0, n) (a 256-bit draw reduced mod n: bias below 2⁻²⁰⁰)."""
        self._n += 1
        d = hmac.new(self._k, self._n.to_bytes(8, "big"), hashlib.sha256).digest()
        return int.from_bytes(d, "big") % n

    def choice(self, seq: Sequence[T]) -> T:
        return seq[self.below(len(seq))]

    def digits(self, n: int, *, first_nonzero: bool = False) -> str:
        if n <= 0:
            return ""
        if first_nonzero:
            return str(1 + self.below(9)) + self.digits(n - 1)
        return f"{self.below(10**n):0{n}d}"


def chome_of(town: str) -> tuple[str, int] | None:
    """(stem, n) of ``<stem><kanji n>丁目``, or None."""
    m = _CHOME.fullmatch(town) if town.endswith("丁目") else None
    if m is None:
        return None
    s = m.group(2)
    if "十" in s:
        tens, _, ones = s.partition("十")
        n = (_KANJI.get(tens, 1) if tens else 1) * 10 + (_KANJI.get(ones, 0) if ones else 0)
    else:
        n = _KANJI[s]
    return m.group(1), n


@dataclass(frozen=True)
class CityTowns:
    """The towns of one (pref, city) in the town dictionary."""

    plain: tuple[str, ...]
    chome: tuple[tuple[str, str, int], ...]  # (town, stem, n)
    stems: frozenset[str]


@lru_cache(maxsize=1)
def city_towns() -> dict[tuple[str, str], CityTowns]:
    """(pref, city) → its towns, from :mod:`gridwall.data` (loaded once)."""
    plain: dict[tuple[str, str], set[str]] = defaultdict(set)
    chome: dict[tuple[str, str], set[tuple[str, str, int]]] = defaultdict(set)
    for t in iter_towns():
        c = chome_of(t.town)
        if c is None:
            plain[(t.pref, t.city)].add(t.town)
        else:
            chome[(t.pref, t.city)].add((t.town, c[0], c[1]))
    return {
        pc: CityTowns(
            tuple(sorted(plain.get(pc, ()))),
            tuple(sorted(chome.get(pc, ()))),
            frozenset(s for _, s, _ in chome.get(pc, ())),
        )
        for pc in set(plain) | set(chome)
    }


def area_of(pref: str) -> str | None:
    for code, (_, prefs) in SERVICE_AREAS.items():
        if pref in prefs:
            return code
    return None


def _stem(town: str) -> str:
    c = chome_of(town)
    return c[0] if c is not None else town


def _has_digit(value: str) -> bool:
    return any(ch.isascii() and ch.isdigit() for ch in value)


def _fresh_digits(d: Draw, value: str, keep: int = 0) -> str:
    """``value`` with every ASCII digit after the first ``keep`` characters drawn afresh."""
    return value[:keep] + "".join(
        str(d.below(10)) if ch.isascii() and ch.isdigit() else ch for ch in value[keep:]
    )


@dataclass
class RealRows:
    """What the export's real rows show: their values, parts and distributions."""

    rows: list[dict[str, str]]
    columns: list[str]
    taken: dict[str, set[str]] = field(default_factory=dict)
    addresses: set[tuple[str, ...]] = field(default_factory=set)
    families: list[str] = field(default_factory=list)
    givens: list[str] = field(default_factory=list)
    company_heads: list[str] = field(default_factory=list)
    company_trades: list[str] = field(default_factory=list)
    building_parts: dict[bool, tuple[list[str], list[str]]] = field(default_factory=dict)
    rooms: list[str] = field(default_factory=list)
    #: (the town has a 丁目, how many parts) → the real 番地 of that shape, split
    banchi: dict[tuple[bool, int], list[list[str]]] = field(default_factory=dict)
    office: dict[tuple[str, str, str], str] = field(default_factory=dict)
    dates: dict[str, list[date]] = field(default_factory=dict)
    numbers: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: list[dict[str, str]], columns: list[str]) -> RealRows:
        r = cls(rows, columns)
        r.taken = {c: {row[c] for row in rows if row.get(c)} for c in columns}
        r.addresses = {r.address_of(row) for row in rows}
        companies: list[str] = []
        for row in rows:
            name = row.get("contract_name", "")
            if _legal_form(name) is not None:
                companies.append(name)
            elif (m := _PERSON_RE.fullmatch(name)) is not None:
                r.families.append(m.group(1))
                r.givens.append(m.group(3))
        heads = sorted(set(r.families) | set(_SURNAMES), key=len, reverse=True)
        for name in companies:
            core = _core(name)
            head = next((h for h in heads if core.startswith(h) and core != h), None)
            if head is not None:
                r.company_heads.append(head)
                r.company_trades.append(core[len(head) :])
        parts: dict[bool, tuple[list[str], list[str]]] = {True: ([], []), False: ([], [])}
        for row in rows:
            b, s = row.get("building", ""), _stem(row.get("town", ""))
            if b and s and s in b:
                pre, post = b.split(s, 1)
                kind = post.endswith("ビル")
                parts[kind][0].append(pre)
                parts[kind][1].append(post)
            if row.get("room"):
                r.rooms.append(row["room"])
            segs = row.get("banchi", "").split("-")
            if all(x.isascii() and x.isdigit() for x in segs):
                shape = (chome_of(row.get("town", "")) is not None, len(segs))
                r.banchi.setdefault(shape, []).append(segs)
            m = _SP_RE.fullmatch(row.get("supply_point_id", ""))
            if m is not None:
                k = (row.get("pref", ""), row.get("city", ""), row.get("town", ""))
                r.office.setdefault(k, m.group(2))
        r.building_parts = parts
        for c in columns:
            ds, ns = [], []
            for row in rows:
                v = row.get(c, "")
                if (dm := _DATE_RE.search(v)) is not None:
                    with contextlib.suppress(ValueError):  # not a calendar day: not a date
                        ds.append(date.fromisoformat(dm.group(0)))
                if _NUM_RE.fullmatch(v):
                    ns.append(float(v))
            r.dates[c], r.numbers[c] = sorted(ds), sorted(ns)
        return r

    def address_of(self, row: Mapping[str, str]) -> tuple[str, ...]:
        return tuple(row.get(c, "") for c in ADDRESS)

    def is_taken(self, column: str, value: str) -> bool:
        return value in self.taken.get(column, ())

    def take(self, row: Mapping[str, str]) -> None:
        for c in self.columns:
            if row.get(c):
                self.taken.setdefault(c, set()).add(row[c])
        self.addresses.add(self.address_of(row))


def _legal_form(name: str) -> str | None:
    return next((f for f in _LEGAL_FORMS if f in name), None)


def _core(name: str) -> str:
    form = _legal_form(name) or ""
    return name.replace(form, "", 1).strip()


class CanaryMaker:
    """Makes the canaries of one export (see the module docstring)."""

    def __init__(
        self,
        key: bytes,
        export_id: str,
        rows: list[dict[str, str]],
        columns: list[str],
        point_exists: Callable[[str], bool] | None = None,
    ) -> None:
        self.key = key
        self.export_id = export_id
        self.real = RealRows.of(rows, columns)
        self.columns = columns
        self.point_exists = point_exists
        self.ids: set[str] = {r["supply_point_id"] for r in rows if r.get("supply_point_id")}

    def _refuse(self, column: str) -> GrantRefused:
        return GrantRefused(
            f"cannot make a canary {column} unlike every real row's (values without digits "
            "to vary, or the point store says every drawn ID exists)",
            f"export {self.export_id}",
            column,
        )

    def make(self, i: int) -> tuple[str, dict[str, str]]:
        """(the canary's supply point ID, its row without the mark column)."""
        d = Draw(self.key, "gridwall-canary", self.export_id, str(i))
        real = self.real
        model = real.rows[d.below(len(real.rows))] if real.rows else {}
        row = {c: model.get(c, "") for c in self.columns}
        self._shared(d, row, model)
        self._address(d, row, model)
        if row.get("contract_name"):
            row["contract_name"] = self._name(d, model["contract_name"])
            old = model["contract_name"]
            for c in self.columns:  # e.g. a FIT generator named after the holder
                if c not in PER_ROW and old in row[c]:
                    row[c] = row[c].replace(old, row["contract_name"])
        # a value without a digit (``不明``) is no one's number: it stays as it is
        if row.get("phone") and _has_digit(row["phone"]):
            row["phone"] = self._unique(d, "phone", lambda: self._phone(d, model["phone"]))
        if row.get("meter_id") and _has_digit(row["meter_id"]):
            row["meter_id"] = self._unique(
                d, "meter_id", lambda: _fresh_digits(d, model["meter_id"])
            )
        sp = self._point_id(d, row, model)
        if "supply_point_id" in row:
            row["supply_point_id"] = sp
        self.ids.add(sp)
        real.take(row)
        return sp, row

    # -- per-row values ---------------------------------------------------------
    def _unique(self, d: Draw, column: str, make: Callable[[], str]) -> str:
        for _ in range(ATTEMPTS):
            v = make()
            if not self.real.is_taken(column, v):
                return v
        raise self._refuse(column)

    def _point_id(self, d: Draw, row: Mapping[str, str], model: Mapping[str, str]) -> str:
        m = _SP_RE.fullmatch(model.get("supply_point_id", ""))
        place = (row.get("pref", ""), row.get("city", ""), row.get("town", ""))
        if m is not None:
            area, office = m.group(1), self.real.office.get(place, m.group(2))
        else:
            area = area_of(row.get("pref", "")) or "03"
            office = str(1000 + d.below(9000))
        for _ in range(ATTEMPTS):
            sp = area + office + d.digits(16)
            if sp in self.ids:
                continue
            if self.point_exists is not None and self.point_exists(sp):
                continue  # a real point outside this export: draw again
            return sp
        raise self._refuse("supply_point_id")

    def _phone(self, d: Draw, model: str) -> str:
        groups = model.split("-")
        if len(groups) >= 2 and all(g.isascii() and g.isdigit() for g in groups):
            middle = [d.digits(len(g), first_nonzero=True) for g in groups[1:-1]]
            return "-".join([groups[0], *middle, d.digits(len(groups[-1]))])
        keep = min(3, len(model))
        head = _fresh_digits(d, model[keep : keep + 1])
        if head == "0":
            head = str(1 + d.below(9))
        return model[:keep] + head + _fresh_digits(d, model[keep + 1 :])

    def _name(self, d: Draw, model: str) -> str:
        """A person's name (family + given) or a company's, in the model row's style."""
        real = self.real
        form = _legal_form(model)
        sep = "\u3000" if "\u3000" in model else " " if " " in model else ""
        pairs: list[tuple[Sequence[str], Sequence[str]]]
        if form is not None:
            before = model.startswith(form)
            heads, trades = real.company_heads, real.company_trades
            pairs = [(heads, trades), (heads, _TRADES), (_SURNAMES, trades), (_SURNAMES, _TRADES)]

            def compose(a: str, b: str) -> str:
                return f"{form}{sep}{a}{b}" if before else f"{a}{b}{sep}{form}"

        else:
            fam, giv = real.families, real.givens
            pairs = [(fam, giv), (fam, _GIVEN), (_SURNAMES, giv), (_SURNAMES, _GIVEN)]

            def compose(a: str, b: str) -> str:
                return a + sep + b

        for first, second in pairs:  # the export's own pools first, built-in ones last
            if not first or not second:
                continue
            for _ in range(ATTEMPTS // len(pairs)):
                v = compose(d.choice(first), d.choice(second))
                if not real.is_taken("contract_name", v):
                    return v
        raise self._refuse("contract_name")

    # -- address ----------------------------------------------------------------
    def _address(self, d: Draw, row: dict[str, str], model: Mapping[str, str]) -> None:
        if not any(row.get(c) for c in ADDRESS[2:]):
            return
        real = self.real
        for n in range(ATTEMPTS):
            town, fixed = self._town(d, row, model)
            if row.get("town"):
                row["town"] = town
            if row.get("banchi"):
                row["banchi"] = self._banchi(d, model["banchi"], chome_of(town) is not None, fixed)
            if row.get("building"):
                row["building"] = self._building(d, _stem(town), model, own=n < ATTEMPTS // 2)
            if row.get("room"):
                row["room"] = d.choice(real.rooms)
            if real.address_of(row) not in real.addresses and not (
                row.get("building") and real.is_taken("building", row["building"])
            ):
                return
        raise self._refuse("banchi")

    def _town(self, d: Draw, row: Mapping[str, str], model: Mapping[str, str]) -> tuple[str, str]:
        """(town text, first 番地 segment fixed by a 丁目 folded into the 番地, or "")."""
        town = model.get("town", "")
        city = city_towns().get((row.get("pref", ""), row.get("city", "")))
        if not town or city is None:
            return town, ""
        segs = model.get("banchi", "").split("-")
        if chome_of(town) is not None and city.chome:
            return d.choice(city.chome)[0], ""
        if town in city.stems and len(segs) >= 3 and city.chome:
            _, stem, n = d.choice(city.chome)
            return stem, str(n)
        if town in city.plain:
            return d.choice(city.plain), ""
        return town, ""

    def _banchi(self, d: Draw, model: str, chome: bool, fixed: str) -> str:
        """Each part from a real 番地 of the same shape (a 丁目's 番-号 are small numbers, an
        大字's 番地 large ones); ``fixed`` is a 丁目 folded into the first part."""
        segs = model.split("-")
        if not all(s.isascii() and s.isdigit() for s in segs):
            return _fresh_digits(d, model)
        pool = self.real.banchi.get((chome, len(segs)), [segs])
        out = [d.choice(pool)[j] for j in range(len(segs))]
        if fixed:
            out[0] = fixed
        return "-".join(out)

    def _building(self, d: Draw, stem: str, model: Mapping[str, str], *, own: bool) -> str:
        """Real buildings' parts around the canary's town name (an office building's from
        office buildings'); built-in parts only once those keep colliding."""
        kind = model["building"].endswith("ビル")
        pres, posts = self.real.building_parts[kind]
        if pres and own:
            return d.choice(pres) + stem + d.choice(posts)
        if kind:
            return stem + d.choice(_OFFICE_POST)
        return d.choice(_BUILDING_PRE) + stem + d.choice(_BUILDING_POST)

    # -- shared columns ---------------------------------------------------------
    def _shared(self, d: Draw, row: dict[str, str], model: Mapping[str, str]) -> None:
        for c in self.columns:
            v = row.get(c, "")
            if not v or c in PER_ROW or c in ADDRESS:
                continue
            dates, nums = self.real.dates.get(c, []), self.real.numbers.get(c, [])
            if (dm := _DATE_RE.search(v)) is not None and len(dates) >= 2:
                try:
                    old = date.fromisoformat(dm.group(0))
                except ValueError:
                    continue
                a, b = sorted((d.choice(dates), d.choice(dates)))
                new = a + timedelta(days=d.below((b - a).days + 1))
                shift = new - old

                def moved(m: re.Match[str], shift: timedelta = shift) -> str:
                    try:
                        return (date.fromisoformat(m.group(0)) + shift).isoformat()
                    except (ValueError, OverflowError):
                        return m.group(0)

                row[c] = _DATE_RE.sub(moved, v)
            elif (nm := _NUM_RE.fullmatch(v)) is not None and len(set(nums)) >= 2:
                a_, b_ = sorted((d.choice(nums), d.choice(nums)))
                places = len(nm.group(1) or "")
                x = a_ + (b_ - a_) * d.below(10**6) / 10**6
                row[c] = f"{x:.{places}f}"
