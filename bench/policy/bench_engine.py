"""Policy engine latency: a Cedar decision (cold) against the memoised lookup.

    uv run python bench/policy/bench_engine.py [--requests 300] [--lookups 20000]

Cold = ``decide_uncached``: one ``is_authorized_batch`` over the 10 field groups
(handles parsed once). Cached = ``decide`` on a request class already seen: a dict
lookup plus a copy of the field map. Also times ``gridwall policy check``'s proof.
Prints per-call percentiles in microseconds.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from gridwall.policy import FIELDS, AccessRequest, PolicyEngine
from gridwall.policy._space import DIMS, request_of


def _random_requests(n: int, seed: int) -> list[AccessRequest]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        facts = {d.name: rng.choice(d.values) for d in DIMS}
        req, _ = request_of(facts)
        out.append(req)
    return out


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--lookups", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    t = time.perf_counter()
    engine = PolicyEngine()
    load_ms = (time.perf_counter() - t) * 1e3
    reqs = _random_requests(args.requests, args.seed)

    cold = []
    for r in reqs:
        t = time.perf_counter_ns()
        engine.decide_uncached(r)
        cold.append((time.perf_counter_ns() - t) / 1e3)
    for r in reqs:
        engine.decide(r)  # fill the cache
    rng = random.Random(args.seed)
    hot = []
    for _ in range(args.lookups):
        r = rng.choice(reqs)
        t = time.perf_counter_ns()
        engine.decide(r)
        hot.append((time.perf_counter_ns() - t) / 1e3)

    print(f"engine load (schema+policies+entities, validated): {load_ms:.0f} ms")
    for name, xs in (("cold (Cedar, 10 field groups)", cold), ("cached lookup", hot)):
        print(
            f"{name:32s} n={len(xs):6d} p50={_pct(xs, 0.5):8.1f} µs  "
            f"p99={_pct(xs, 0.99):8.1f} µs  mean={statistics.fmean(xs):8.1f} µs"
        )
    print(f"cold per field group: {statistics.median(cold) / len(FIELDS):.1f} µs")

    from gridwall.policy._checker import check

    t = time.perf_counter()
    report = check(engine, samples=2000)
    print(
        f"policy check: {time.perf_counter() - t:.1f} s, ok={report.ok}, "
        f"{report.classes:,} classes, {report.regions:,} regions, "
        f"{report.cedar_evaluations:,} single-policy Cedar evaluations"
    )


if __name__ == "__main__":
    main()
