"""Quality of the lookup: top-1 accuracy on messy variants and on the hand-built held-out set,
and the rate of confident answers for addresses that do not exist (must be 0).

    uv run python bench/lookup/quality.py [--points 20000] [--sample 500] [--db URL]

A store of synthetic points in the operator's format is generated from the real town
dictionary (``points.py``), the held-out records and their near neighbours (other rooms of the
same building, neighbouring 番地) are added, the index is built, and then:

* variants: for ``--sample`` stored points, every messy form of ``gridwall.lookup._variants``
  alone and in random combinations — top-1 must be the point;
* negatives: the same points with a changed 号, 番地, room or town (checked absent from the
  store) — no answer may score at or above the acceptance threshold;
* held-out: ``heldout.jsonl`` (459 hard positives written by hand + 55 negatives), with
  top-1 per form category (``heldout_per_form``: [right, cases]) and per part of the file
  (``heldout_per_set``; the ``fresh`` part was not used for tuning).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from points import generate_points, towns

from gridwall.lookup import ACCEPT_SCORE, LookupIndex, build_index
from gridwall.lookup._normalize import RecordNormalizer
from gridwall.lookup._variants import VariantMaker
from gridwall.store import make_engine, upgrade

HERE = Path(__file__).parent


def load_heldout() -> list[dict[str, Any]]:
    rows = []
    for line in (HERE / "heldout.jsonl").read_text(encoding="utf-8").splitlines():
        obj = json.loads(line)
        if "_comment" not in obj:
            rows.append(obj)
    return rows


def neighbours(rec: dict[str, Any]) -> list[dict[str, Any]]:
    """Near neighbours of a held-out record, so the right answer must beat them."""
    out = []
    b = rec["banchi"]
    parts = b.split("-")
    if rec.get("room") and rec["room"][:-1].isdigit():
        out.append({**rec, "room": str(int(rec["room"][:-1] or 0) + 1) + rec["room"][-1]})
    if parts[-1].isdigit():
        out.append({**rec, "banchi": "-".join([*parts[:-1], str(int(parts[-1]) + 5)])})
    if parts[0].isdigit():
        out.append({**rec, "banchi": "-".join([str(int(parts[0]) + 11), *parts[1:]])})
    return out


def key_of(rn: RecordNormalizer, rec: dict[str, Any]) -> tuple[Any, ...]:
    a = rn.record(rec["pref"], rec["city"], rec.get("town"), rec.get("banchi"),
                  rec.get("building"), rec.get("room"))  # fmt: skip
    return (a.pref, a.municipality, a.town, a.chome, a.block, a.number,
            "".join(a.rest.split()))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=20_000)
    ap.add_argument("--sample", type=int, default=500)
    ap.add_argument("--combos", type=int, default=8, help="random combinations per point")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--db", default=None)
    ap.add_argument("--json", dest="json_out", default=None, help="write the summary here")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    tmp = tempfile.TemporaryDirectory()
    url = args.db or f"sqlite:///{Path(tmp.name) / 'quality.db'}"

    t0 = time.perf_counter()
    tl = towns()
    store = list(generate_points(args.points, args.seed, unique=True, town_list=tl))
    held = load_heldout()
    extra: list[dict[str, Any]] = []
    same: dict[str, str] = {}  # several cases may write the same record in different forms
    for i, h in enumerate(held):
        if h["record"] is None:
            continue
        rkey = json.dumps(h["record"], sort_keys=True, ensure_ascii=False)
        if rkey in same:
            h["supply_point_id"] = same[rkey]
            continue
        rec = {**h["record"], "voltage": "low", "meter_id": f"H{i:05d}", "status": "active"}
        rec["supply_point_id"] = f"99{i:020d}"
        h["supply_point_id"] = same[rkey] = rec["supply_point_id"]
        extra.append(rec)
        for j, nb in enumerate(neighbours(rec)):
            extra.append({**nb, "supply_point_id": f"98{i:016d}{j:04d}"})
    records = store + extra
    upgrade(url)
    engine = make_engine(url)
    rep = build_index(engine, records)
    ix = LookupIndex(engine)
    rn = RecordNormalizer(ix.dictionary)
    keys = {key_of(rn, r) for r in records}
    print(f"store: {rep.points} points, {rep.places} places, built in {rep.seconds:.1f} s",
          file=sys.stderr)  # fmt: skip

    def top(text: str) -> tuple[str | None, float, float]:
        t = time.perf_counter()
        c = ix.search(ix.normalize(text))
        dt = time.perf_counter() - t
        return (c[0].supply_point_id, c[0].score, dt) if c else (None, 0.0, dt)

    # --- variants ---------------------------------------------------------------------
    vm = VariantMaker(ix.dictionary)
    per_form: Counter[str] = Counter()
    per_form_ok: Counter[str] = Counter()
    failures: list[tuple[str, str, str | None]] = []
    lat: list[float] = []
    sample = rng.sample(store, min(args.sample, len(store)))
    n_var = ok_var = 0
    for rec in sample:
        for v in vm.variants(rec, rng, n=args.combos):
            got, _score, dt = top(v.text)
            lat.append(dt)
            n_var += 1
            hit = got == rec["supply_point_id"]
            ok_var += hit
            for f in v.forms:
                per_form[f] += 1
                per_form_ok[f] += hit
            if not hit and len(failures) < 40:
                failures.append((",".join(v.forms), v.text, got))
    # --- negatives from the sample -----------------------------------------------------
    n_neg = conf_neg = 0
    neg_fail: list[tuple[str, str, float]] = []
    for rec in sample:
        parts = rec["banchi"].split("-")
        cands = []
        if len(parts) == 2:
            cands.append(("number", {**rec, "banchi": f"{parts[0]}-{int(parts[1]) + 50}"}))
        cands.append(
            ("block", {**rec, "banchi": "-".join([str(int(parts[0]) + 5000), *parts[1:]])})
        )
        if rec.get("room"):
            cands.append(("room", {**rec, "room": "9" + rec["room"]}))
        c = ix.dictionary.cities.get((rec["pref"], rec["city"]))
        if c is not None and len(c.towns) > 1:
            other = rng.choice([e.name for e in c.towns.values()])
            cands.append(("town", {**rec, "town": other}))
        for kind, neg in cands:
            if key_of(rn, neg) in keys:
                continue
            text = neg["pref"] + neg["city"] + neg["town"] + neg["banchi"]
            text += " " + " ".join(x for x in (neg.get("building"), neg.get("room")) if x)
            got, score, _ = top(text)
            n_neg += 1
            if got is not None and score >= ACCEPT_SCORE:
                conf_neg += 1
                neg_fail.append((kind, text, score))
    # --- held-out ------------------------------------------------------------------------
    h_pos = h_ok = h_neg = h_conf = 0
    h_fail: list[tuple[str, str, str | None, float]] = []
    h_form: Counter[str] = Counter()
    h_form_ok: Counter[str] = Counter()
    h_set: Counter[str] = Counter()
    h_set_ok: Counter[str] = Counter()
    h_set_neg: Counter[str] = Counter()
    h_set_conf: Counter[str] = Counter()
    for h in held:
        got, score, _ = top(h["query"])
        part = h.get("set", "")
        if h["record"] is None:
            h_neg += 1
            h_set_neg[part] += 1
            if got is not None and score >= ACCEPT_SCORE:
                h_conf += 1
                h_set_conf[part] += 1
                h_fail.append((h["id"], h["query"], got, score))
        else:
            h_pos += 1
            hit = got == h["supply_point_id"]
            h_ok += hit
            h_set[part] += 1
            h_set_ok[part] += hit
            for f in h["forms"]:  # a case counts for every form category it names
                h_form[f] += 1
                h_form_ok[f] += hit
            if not hit:
                h_fail.append((h["id"], h["query"], got, score))
    lat.sort()
    summary = {
        "store_points": rep.points,
        "variants": n_var,
        "variants_top1": ok_var / n_var if n_var else None,
        "per_form_top1": {f: round(per_form_ok[f] / per_form[f], 4) for f in sorted(per_form)},
        "negatives": n_neg,
        "negatives_confident": conf_neg,
        "heldout_positive": h_pos,
        "heldout_top1": h_ok / h_pos if h_pos else None,
        "heldout_per_form": {f: [h_form_ok[f], h_form[f]] for f in sorted(h_form)},
        # per part of the file: [right, positives, confident negatives, negatives]
        "heldout_per_set": {
            k: [h_set_ok[k], h_set[k], h_set_conf[k], h_set_neg[k]]
            for k in sorted(set(h_set) | set(h_set_neg))
        },
        "heldout_negative": h_neg,
        "heldout_negative_confident": h_conf,
        "latency_ms_p50": round(statistics.median(lat) * 1000, 2),
        "latency_ms_p99": round(lat[int(len(lat) * 0.99) - 1] * 1000, 2),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    for miss in failures[:20]:
        print("variant miss:", miss, file=sys.stderr)
    for nf in neg_fail[:20]:
        print("confident negative:", nf, file=sys.stderr)
    for hf in h_fail:
        print("held-out miss:", hf, file=sys.stderr)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(summary, ensure_ascii=False, indent=1))
    engine.dispose()
    tmp.cleanup()


if __name__ == "__main__":
    main()
