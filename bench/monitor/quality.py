"""Detection quality of ``gridwall monitor scan`` against injected incidents.

    uv run python bench/monitor/quality.py DIR ALERTS.jsonl [--budget 20] [--json]
    uv run python bench/monitor/quality.py --independent [--points 6000 --days 28
        --seeds 101,102,103 --per-type 6] [--engine duckdb] [--json]

The first form scores an alerts file against ``DIR/incidents.jsonl`` (``gridwall synth
--incidents`` or any generator writing that file). ``--independent`` generates worlds with
``tests/monitor/independent.py`` (which shares no code with ``gridwall.synth``), scans each
and prints per-type recall, precision and right type first for each seed and pooled.

Matching: an incident of type T is *found* when an alert of type T shares at least one event
with it (the incident's ``event_ids``); it is *found by any* when any alert shares an event. An
alert is a *true positive* when it shares an event with some injected incident (an alert that
points at real misuse under another type is still useful to the reviewer), otherwise a false
positive. Per-type precision counts the alerts of that type.

Recall at a fixed daily review budget: reviewers open at most ``--budget`` alerts per JST day
(the day of the alert's last event), highest severity first, then most events; an incident
counts as found when one of the opened alerts shares an event with it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

TYPES = ("A", "B", "C1", "C2", "C3", "R1", "R2", "R3", "R4", "R5", "R6", "LRS", "FIT", "ANOMALY")
#: most specific first: the type that leads when several fire on the same evidence
#: (the monitor's :data:`gridwall.monitor.rules.SPECIFICITY`, repeated so that this script
#: judges alerts files from any version)
SPECIFICITY = (
    "C3",
    "B",
    "LRS",
    "FIT",
    "R6",
    "R4",
    "R5",
    "R3",
    "R2",
    "R1",
    "C1",
    "C2",
    "A",
    "ANOMALY",
)


def _load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def quality(
    incidents: list[dict[str, Any]], alerts: list[dict[str, Any]], budget: int = 20
) -> dict[str, Any]:
    ev_inc: dict[str, set[int]] = defaultdict(set)
    for k, inc in enumerate(incidents):
        for e in inc["event_ids"]:
            ev_inc[e].add(k)
    hits = [set().union(*(ev_inc.get(e, set()) for e in a["event_ids"])) for a in alerts]
    per: dict[str, dict[str, Any]] = {}
    for t in TYPES:
        its = [k for k, i in enumerate(incidents) if i["incident_type"] == t]
        found = {
            k
            for a, h in zip(alerts, hits, strict=True)
            if a["incident_type"] == t
            for k in h
            if incidents[k]["incident_type"] == t
        }
        mine = [h for a, h in zip(alerts, hits, strict=True) if a["incident_type"] == t]
        per[t] = {
            "incidents": len(its),
            "found": len(found),
            "recall": (len(found) / len(its)) if its else None,
            "alerts": len(mine),
            "precision": (sum(1 for h in mine if h) / len(mine)) if mine else None,
            "missed": sorted(incidents[k]["incident_id"] for k in its if k not in found),
        }
    # right type first: the alert that leads a case (the most specific type among the alerts
    # sharing an event with the incident) has the incident's type
    rank = {t: k for k, t in enumerate(SPECIFICITY)}
    first_ok: dict[str, int] = defaultdict(int)
    for k, inc in enumerate(incidents):
        types = [a["incident_type"] for a, h in zip(alerts, hits, strict=True) if k in h]
        if types and min(types, key=lambda t: rank.get(t, len(rank))) == inc["incident_type"]:
            first_ok[inc["incident_type"]] += 1
    for t in TYPES:
        n = per[t]["incidents"]
        per[t]["type_first"] = first_ok[t] / n if n else None
    tp = sum(1 for h in hits if h)
    # event level: of the events alerts lead, how many belong to an injected incident (an
    # alert on real misuse can still sweep in legitimate events: those are false alarms too)
    alerted = {e for a in alerts for e in a["event_ids"]}
    ev_tp = sum(1 for e in alerted if e in ev_inc)
    # review budget
    by_day: dict[str, list[int]] = defaultdict(list)
    for j, a in enumerate(alerts):
        by_day[a["last_ts"][:10]].append(j)
    opened: set[int] = set()
    for _day, js in by_day.items():
        js.sort(key=lambda j: (-alerts[j]["severity"], -len(alerts[j]["event_ids"])))
        opened.update(js[:budget])
    found_budget = set().union(*(hits[j] for j in opened)) if opened else set()
    found_any = set().union(*hits) if hits else set()
    typed = [t for t in TYPES if per[t]["incidents"]]
    return {
        "incidents": len(incidents),
        "alerts": len(alerts),
        "true_positive_alerts": tp,
        "precision": tp / len(alerts) if alerts else None,
        "event_precision": ev_tp / len(alerted) if alerted else None,
        "min_type_recall": min(per[t]["recall"] for t in typed) if typed else None,
        "recall_any": len(found_any) / len(incidents) if incidents else None,
        "budget_per_day": budget,
        "recall_at_budget": len(found_budget) / len(incidents) if incidents else None,
        "type_first": sum(first_ok.values()) / len(incidents) if incidents else None,
        "per_type": per,
    }


def render(q: dict[str, Any]) -> str:
    lines = [
        "| type | incidents | found | recall | type first | alerts | precision |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for t, r in q["per_type"].items():
        rec = "–" if r["recall"] is None else f"{r['recall']:.2f}"
        pre = "–" if r["precision"] is None else f"{r['precision']:.2f}"
        tf = "–" if r["type_first"] is None else f"{r['type_first']:.2f}"
        lines.append(
            f"| {t} | {r['incidents']} | {r['found']} | {rec} | {tf} | {r['alerts']} | {pre} |"
        )
    lines.append("")
    lines.append(
        f"overall: {q['alerts']} alerts, precision {q['precision']:.3f} (events "
        f"{q['event_precision']:.3f}); lowest per-type recall "
        f"{q['min_type_recall']:.2f}; right type first {q['type_first']:.3f}; "
        f"recall (any alert) {q['recall_any']:.3f}; recall at "
        f"{q['budget_per_day']} alerts/day {q['recall_at_budget']:.3f}"
    )
    return "\n".join(lines)


#: issue 16's targets: every type's recall, overall precision, right type first
TARGETS = {"recall": 0.95, "precision": 0.95, "type_first": 0.90}


def meets(q: dict[str, Any]) -> bool:
    return bool(
        (q["precision"] or 0) >= TARGETS["precision"]
        and (q["min_type_recall"] or 0) >= TARGETS["recall"]
        and (q["type_first"] or 0) >= TARGETS["type_first"]
    )


def independent(a: argparse.Namespace) -> int:
    import tempfile
    import time

    root = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(root / "tests" / "monitor"))
    try:
        from independent import generate  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    from gridwall.monitor._run import scan

    pooled_inc: list[dict[str, Any]] = []
    pooled_al: list[dict[str, Any]] = []
    out: dict[str, Any] = {}
    ok = True
    with tempfile.TemporaryDirectory(prefix="gw-quality-") as tmp:
        for seed in (int(x) for x in a.seeds.split(",")):
            d = Path(tmp) / f"s{seed}"
            sizes = generate(d, points=a.points, days=a.days, seed=seed, per_type=a.per_type)
            t0 = time.perf_counter()
            alerts = scan(d, engine=a.engine, say=lambda _m: None).alerts
            secs = time.perf_counter() - t0
            inc = _load(d / "incidents.jsonl")
            q = quality(inc, alerts, a.budget)
            ok = ok and meets(q)
            out[str(seed)] = {**sizes, "scan_seconds": round(secs, 1), "quality": q}
            if not a.json:
                print(f"## seed {seed}: {sizes['events']} events, scan {secs:.1f} s\n")
                print(render(q) + "\n")
            # pooled: prefix ids so that seeds never share an event
            pooled_inc += [{**i, "event_ids": [f"{seed}:{e}" for e in i["event_ids"]]} for i in inc]
            pooled_al += [
                {**x, "event_ids": [f"{seed}:{e}" for e in x["event_ids"]]} for x in alerts
            ]
    pooled = quality(pooled_inc, pooled_al, a.budget)
    out["pooled"] = pooled
    if a.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        print(f"## pooled over seeds {a.seeds}\n")
        print(render(pooled))
    return 0 if ok and meets(pooled) else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dataset", type=Path, nargs="?")
    ap.add_argument("alerts", type=Path, nargs="?")
    ap.add_argument("--budget", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--independent", action="store_true")
    ap.add_argument("--points", type=int, default=6000)
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--seeds", default="101,102,103")
    ap.add_argument("--per-type", type=int, default=6)
    ap.add_argument("--engine", default="duckdb")
    a = ap.parse_args(argv)
    if a.independent:
        return independent(a)
    if a.dataset is None or a.alerts is None:
        ap.error("DIR and ALERTS are required (or --independent)")
    inc_path = a.dataset / "incidents.jsonl"
    if not inc_path.exists():
        print(
            f"quality: {inc_path} not found (generate with gridwall synth --incidents)",
            file=sys.stderr,
        )
        return 2
    q = quality(_load(inc_path), _load(a.alerts), a.budget)
    print(json.dumps(q, ensure_ascii=False, indent=2) if a.json else render(q))
    return 0 if meets(q) else 1


if __name__ == "__main__":
    sys.exit(main())
