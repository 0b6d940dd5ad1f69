"""Hard addresses from the shipped town list: precision and recall of the lookup (issue 16).

    uv run python bench/lookup/hard.py [--per-kind 60] [--background 5000] [--seed 5]

Shares no code with ``gridwall.lookup._variants`` (the generator the lookup's own quality
benchmark uses): towns are drawn from ``src/gridwall/data/towns.tsv.gz`` by *kind* — what
the written form makes hard — and each is written by hand-made rules below:

* ``jo_chome``     Sapporo/Asahikawa 条・丁目 (北3条西4丁目1-1) with the building glued on;
* ``aza_note``     大字 + 字 (小字) with a parenthesised note after the 字 name (字東（旧称）12);
* ``kana_block``   a kana (イロハ) or letter block (イの12, 本町B-7);
* ``dori``         town names containing 通 / 通り with a number (…通り1丁目);
* ``gaoka``        names ending in が丘/ヶ丘/ケ丘 written another of those ways;
* ``kyoto``        Kyoto: street + 上る/下る/東入/西入 + the 町 + its number;
* ``old_kanji``    a town written with old kanji forms (澤, 邊, 濱 …);
* ``numerals``     丁目/番地/号 in kanji, arabic, full width, 番地/番/の/hyphen notations;
* ``aza``          大字/字 added or left out;
* ``no_pref``      都道府県 (and 郡) left out, where the municipality stays unique;
* ``typo``         one character of the town replaced (must rank first, never be confident).

Negatives (``absent``) are the same towns with a 番地 the store lacks, or another town of the
same municipality the store lacks: no confident answer is allowed. Reported: per kind, top-1,
and over all queries **precision** (confident answers that are right / confident answers) and
**recall** (right confident answers / positives; typos are excluded from recall since a typo
is never confident by design, and reported as top-1).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from points import generate_points, towns

from gridwall.data import iter_towns
from gridwall.lookup import ACCEPT_SCORE, LookupIndex, build_index
from gridwall.store import make_engine, upgrade

KANJI_DIGITS = "〇一二三四五六七八九"
#: new → old kanji, a few common pairs (written here, not taken from the normaliser's table)
OLD_FORMS = {"沢": "澤", "辺": "邊", "浜": "濱", "高": "髙", "崎": "﨑", "国": "國", "広": "廣",
             "桜": "櫻", "竜": "龍", "斉": "齊", "恵": "惠", "塩": "鹽", "栄": "榮", "横": "橫",
             "条": "條", "駅": "驛", "関": "關", "学": "學", "会": "會", "来": "來"}  # fmt: skip
GA = ("が", "ヶ", "ケ", "ガ", "ヵ")
KYOTO_ST = ("烏丸通", "河原町通", "堀川通", "寺町通", "新町通", "室町通", "西洞院通", "千本通",
            "大宮通", "油小路通", "東洞院通", "高倉通")  # fmt: skip
KYOTO_X = ("御池", "三条", "四条", "五条", "六角", "蛸薬師", "錦小路", "綾小路", "仏光寺", "高辻",
           "松原", "丸太町", "竹屋町", "夷川", "二条", "押小路", "姉小路")  # fmt: skip
KYOTO_DIR = ("上る", "上ル", "下る", "下ル", "東入", "西入", "東入ル", "西入る", "上がる")
NOTES = ("（旧称）", "(旧)", "（通称）", "（地番）", "（飛地）")
BUILDINGS = ("ビル", "ハイツ", "マンション", "コーポ", "荘", "レジデンス")
TYPO_CHARS = "田川山本中野原井池新"


def kanji_num(n: int) -> str:
    """A kanji numeral with 千・百・十 (1–9999): 三百二十一."""
    out = ""
    for unit, v in (("千", 1000), ("百", 100), ("十", 10)):
        q, n = divmod(n, v)
        if q:
            out += (KANJI_DIGITS[q] if q > 1 else "") + unit
    return out + (KANJI_DIGITS[n] if n else "")


def arabic_names(s: str) -> str:
    """北三条西四丁目 → 北3条西4丁目 (numerals inside a name written in arabic)."""
    return re.sub(r"[一二三四五六七八九十]+", lambda m: str(_kan(m.group(0))), s)


def _kan(s: str) -> int:
    if "十" in s:
        a, _, b = s.partition("十")
        return (KANJI_DIGITS.index(a) if a else 1) * 10 + (KANJI_DIGITS.index(b) if b else 0)
    return int("".join(str(KANJI_DIGITS.index(c)) for c in s))


def fullwidth(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s)


def chome_of(town: str) -> tuple[str, int | None]:
    m = re.match(r"^(.*?)([一二三四五六七八九十]+)丁目$", town)
    return (m.group(1), _kan(m.group(2))) if m else (town, None)


Row = tuple[str, str, str, str]  # pref, city, town, koaza


def select(rows: list[Row]) -> dict[str, list[Row]]:
    """Towns of the dictionary by kind (the regexes describe forms, never one input)."""
    kinds: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        pref, city, town, koaza = r
        if "（" in town or "(" in town:
            continue
        if pref == "北海道" and re.search(r"[一二三四五六七八九十]+条.*丁目$", town):
            kinds["jo_chome"].append(r)
        if koaza and town.startswith("大字") and not koaza.startswith("大字"):
            kinds["aza_note"].append(r)
        if re.search(r"通[一二三四五六七八九十]+丁目$", town) or re.search(r"通[東西南北]", town):
            kinds["dori"].append(r)
        if re.search(r"[がヶケ]丘", town):
            kinds["gaoka"].append(r)
        if city.startswith("京都市") and town.endswith("町") and not koaza:
            kinds["kyoto"].append(r)
        if any(c in OLD_FORMS for c in town) and not koaza:
            kinds["old_kanji"].append(r)
        if not koaza and town.startswith("大字"):
            kinds["aza"].append(r)
        if not koaza and town.endswith("丁目"):
            kinds["numerals"].append(r)
            kinds["no_pref"].append(r)
        if not koaza and len(chome_of(town)[0]) >= 3:
            kinds["typo"].append(r)
        if not koaza and not town.endswith("丁目") and len(town) >= 2:
            kinds["kana_block"].append(r)
    return kinds


def write(
    kind: str,
    r: Row,
    banchi: tuple[str, str],
    extra: str,
    rng: random.Random,
    known: set[str] = frozenset(),  # type: ignore[assignment]
) -> str:
    """The query for one stored record, written the hard way of ``kind``. ``known``: the base
    names of the municipality's towns (a typo must not spell another real town)."""
    pref, city, town, koaza = r
    blk, num = banchi
    base, ch = chome_of(town)
    head = pref + city
    if kind == "jo_chome":
        t = arabic_names(town) if rng.random() < 0.7 else town
        if rng.random() < 0.5:
            t = fullwidth(t)
        s = head.replace("北海道", "" if rng.random() < 0.3 else "北海道") + t
        return s + fullwidth(f"{blk}－{num}") + extra.replace(" ", "")  # building glued on
    if kind == "aza_note":
        t = town.removeprefix("大字") if rng.random() < 0.5 else town
        return head + t + "字" + koaza.removeprefix("字") + rng.choice(NOTES) + fullwidth(blk)
    if kind == "kana_block":
        return (
            head
            + town.removeprefix("大字")
            + rng.choice(
                (f"{blk}の{num}", f"{blk}-{num}", fullwidth(f"{blk}‐{num}"), f"{blk}{num}番地")
            )
        )
    if kind == "dori":
        t = town.replace("通", "通り") if rng.random() < 0.6 else town
        if ch is not None and rng.random() < 0.5:
            t = base.replace("通", "通り") + f"{ch}丁目"
        return head + t + f"{blk}-{num}"
    if kind == "gaoka":
        m = re.search(r"[がヶケ]丘", town)
        assert m
        other = rng.choice([g for g in GA if g != town[m.start()]])
        return head + town[: m.start()] + other + town[m.start() + 1 :] + f"{blk}番{num}号"
    if kind == "kyoto":
        street = rng.choice(KYOTO_ST) + rng.choice(KYOTO_X) + rng.choice(KYOTO_DIR)
        ward = city if rng.random() < 0.7 else "京都市"  # the ward is often left out
        p = pref if rng.random() < 0.5 else ""
        number = rng.choice((f"{blk}", f"{blk}番地", kanji_num(int(blk)) + "番地"))
        return p + ward + street + town + number
    if kind == "old_kanji":
        return head + "".join(OLD_FORMS.get(c, c) for c in town) + f"{blk}-{num}"
    if kind == "numerals":
        assert ch is not None
        return (
            head
            + base
            + rng.choice(
                (
                    f"{kanji_num(ch)}丁目{kanji_num(int(blk))}番{kanji_num(int(num))}号",
                    f"{ch}丁目{blk}番地{num}",
                    fullwidth(f"{ch}-{blk}-{num}"),
                    f"{ch}丁目{blk}の{num}",
                    f"{kanji_num(ch)}丁目 {blk}番 {num}号",
                )
            )
        )
    if kind == "aza":
        t = town.removeprefix("大字")
        return head + rng.choice((t, "字" + t, "大字" + t)) + f"{blk}番地{num}"
    if kind == "no_pref":
        c = re.sub(r"^.+?郡", "", city) if rng.random() < 0.5 else city
        return c + town + f"{blk}-{num}"
    if kind == "typo":
        for _ in range(50):
            i = rng.randrange(len(base))
            sub = rng.choice([c for c in TYPO_CHARS if c != base[i]])
            typo = base[:i] + sub + base[i + 1 :]
            bare = re.sub(r"^(大字|字)", "", typo)
            if not any(bare.startswith(k) or k.startswith(bare) for k in known):
                break  # not another real town of the municipality (that would be a real place)
        return head + typo + (f"{ch}丁目" if ch else "") + f"{blk}-{num}"
    raise ValueError(kind)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-kind", type=int, default=60)
    ap.add_argument("--background", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--db", default=None)
    ap.add_argument("--json", dest="json_out", default=None)
    ap.add_argument("--show", type=int, default=8, help="misses to print per kind")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    rows: list[Row] = [(t.pref, t.city, t.town, t.koaza) for t in iter_towns()]
    kinds = select(rows)
    cities: dict[tuple[str, str], set[str]] = defaultdict(set)
    city_count: Counter[str] = Counter()
    for pref, city, town, _ in rows:
        cities[(pref, city)].add(town)
    for _pref, city in cities:
        city_count[re.sub(r"^.+?郡", "", city)] += 1
    records: list[dict[str, Any]] = list(
        generate_points(args.background, args.seed, town_list=towns())
    )
    cases: list[dict[str, Any]] = []
    n = 0
    for kind in sorted(kinds):
        pool = kinds[kind]
        if kind == "no_pref":  # only where the municipality alone names one place
            pool = [r for r in pool if city_count[re.sub(r"^.+?郡", "", r[1])] == 1]
        for r in rng.sample(pool, min(args.per_kind, len(pool))):
            pref, city, town, koaza = r
            n += 1
            kana = kind == "kana_block"
            blk = rng.choice("イロハニホ") if kana and rng.random() < 0.5 else (
                rng.choice("ABCDE") if kana else str(rng.randint(1, 60)))  # fmt: skip
            num = str(rng.randint(1, 30))
            extra = ""
            if kind == "jo_chome":
                extra = " " + rng.choice(("第", "")) + rng.choice(("北", "中央", "札幌"))
                extra += rng.choice(BUILDINGS)
            spid = f"97{n:020d}"
            stown = town + (koaza if koaza.startswith("字") else ("字" + koaza if koaza else ""))
            block_only = kind in ("aza_note", "kyoto")  # written with a 番地 alone
            banchi = blk if block_only else f"{blk}-{num}"
            rec = dict(supply_point_id=spid, pref=pref, city=city, town=stown, banchi=banchi,
                       building=extra.strip() or None, room=None, voltage="low",
                       meter_id=f"H{n:08d}", status="active")  # fmt: skip
            records.append(rec)
            # a neighbour the answer must beat: same place, another 号 (or 番地)
            other_num = str(int(num) + 1)
            nb_banchi = f"{int(blk) + 1}" if block_only else f"{blk}-{other_num}"
            records.append({**rec, "supply_point_id": f"96{n:020d}", "banchi": nb_banchi,
                            "meter_id": f"N{n:08d}"})  # fmt: skip
            known = {re.sub(r"^(大字|字)", "", chome_of(t)[0]) for t in cities[(pref, city)]}
            text = write(kind, r, (blk, num), extra, rng, known)
            cases.append(dict(kind=kind, query=text, expect=spid))
            # negative: a 番地 the store lacks, written the same hard way
            absent = (str(int(blk) + 300), num) if block_only else (blk, str(int(num) + 40))
            negative = write(kind, r, absent, extra, rng, known)
            cases.append(dict(kind="absent:" + kind, query=negative, expect=None))
    tmp = tempfile.TemporaryDirectory()
    url = args.db or f"sqlite:///{Path(tmp.name) / 'hard.db'}"
    upgrade(url)
    engine = make_engine(url)
    rep = build_index(engine, records)
    ix = LookupIndex(engine)
    print(f"store: {rep.points} points, {rep.places} places; {len(cases)} queries",
          file=sys.stderr)  # fmt: skip

    per: dict[str, Counter[str]] = defaultdict(Counter)
    misses: dict[str, list[Any]] = defaultdict(list)
    confident_total = confident_right = positives = recall_hits = 0

    def top(text: str) -> tuple[str | None, bool]:
        c = ix.search(ix.normalize(text))
        if not c:
            return None, False
        sure = c[0].score >= ACCEPT_SCORE and (len(c) == 1 or c[1].score < c[0].score)
        return c[0].supply_point_id, sure

    for case in cases:
        got, sure = top(case["query"])
        k = case["kind"]
        per[k]["n"] += 1
        if sure:
            confident_total += 1
        if case["expect"] is None:
            if sure:
                per[k]["confident_wrong"] += 1
                misses[k].append((case["query"], got))
            continue
        right = got == case["expect"]
        per[k]["top1"] += right
        per[k]["confident"] += right and sure
        if sure:
            confident_right += right
        if k != "typo":
            positives += 1
            recall_hits += right and sure
        if not right or (not sure and k != "typo"):
            misses[k].append((case["query"], got, sure))
        if k == "typo" and sure:
            per[k]["typo_confident"] += 1
    summary: dict[str, Any] = {
        "store_points": rep.points,
        "queries": len(cases),
        "precision": round(confident_right / confident_total, 4) if confident_total else None,
        "recall": round(recall_hits / positives, 4) if positives else None,
        "confident_answers": confident_total,
        "per_kind": {
            k: (
                {"n": c["n"], "confident_wrong": c["confident_wrong"]}
                if k.startswith("absent:")
                else {
                    "n": c["n"],
                    "top1": round(c["top1"] / c["n"], 4),
                    "confident_right": round(c["confident"] / c["n"], 4),
                }
            )
            for k, c in sorted(per.items())
        },
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    for k, ms in sorted(misses.items()):
        for m in ms[: args.show]:
            print(f"miss {k}: {m}", file=sys.stderr)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(summary, ensure_ascii=False, indent=1))
    engine.dispose()
    tmp.cleanup()


if __name__ == "__main__":
    main()
