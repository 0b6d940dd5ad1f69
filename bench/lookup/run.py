"""Latency and build benchmark of the lookup at national scale.

    nice -n 10 uv run python bench/lookup/run.py --points 1000000 [--db URL] [--queries 2000]

Generates ``--points`` supply points directly from the town dictionary (``points.py``), builds
the index (time, size), then runs the same query list through :class:`LookupService` as an
affiliated and as an independent retailer, interleaved (A, I, I, A …) so both see the same
machine state (who goes first alternates per query, since the first warms the caches for
the second), and reports p50 / p99 per caller kind, in wall time and in CPU time. Queries are
messy variants of stored points (exact after normalisation), near misses (a typo in the town),
and addresses that do not exist — the mix a switching desk types.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from points import generate_points, towns

from gridwall.interfaces import Principal, Terminal
from gridwall.interfaces.facts import (
    AccountKind,
    AccountState,
    DeviceFacts,
    DeviceKind,
    DeviceOwner,
    OrgKind,
    PrincipalFacts,
    Purpose,
    RetailerKind,
    Role,
)
from gridwall.lookup import LookupIndex, LookupService, TokenBucket, build_index
from gridwall.lookup._variants import VariantMaker
from gridwall.store import make_engine, upgrade


@dataclass(frozen=True)
class Ctx:
    principal: Principal
    terminal: Terminal
    purpose: Purpose = Purpose.SWITCHING
    source_ip: str | None = None


def caller(code: str, kind: RetailerKind) -> Ctx:
    f = PrincipalFacts(OrgKind.RETAIL, kind, Role.SALES, AccountKind.SERVICE,
                       AccountState.ACTIVE, True)  # fmt: skip
    return Ctx(
        Principal(f"svc-{code}", None, f"retail:{code}", f),
        Terminal(f"t-{code}", f"retail:{code}",
                 DeviceFacts(DeviceKind.RETAIL_TERMINAL, DeviceOwner.SAME_ORG, True)),
    )  # fmt: skip


class CountingSink:
    def __init__(self) -> None:
        self.n = 0

    def record(self, event: Any) -> None:
        self.n += 1


def db_size(url: str, engine: Any) -> int:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]
        return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))
    from sqlalchemy import text

    with engine.connect() as c:
        return int(
            c.execute(
                text(
                    "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                    "WHERE c.relname IN ('lookup_points', 'lookup_places')"
                )
            ).scalar_one()
        )


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--db", default=None, help="SQLAlchemy URL (default: a temporary SQLite)")
    ap.add_argument("--reuse", action="store_true", help="skip the build (index already there)")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory(dir=os.environ.get("GRIDWALL_BENCH_TMP"))
    url = args.db or f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    rng = random.Random(args.seed)
    tl = towns()
    every = max(1, args.points // (args.queries * 2))
    sample: list[dict[str, Any]] = []

    gen_cpu = [0.0]

    def feed() -> Any:
        it = generate_points(args.points, args.seed, town_list=tl)
        i = 0
        while True:
            c0 = time.process_time()
            rec = next(it, None)
            gen_cpu[0] += time.process_time() - c0
            if rec is None:
                return
            if i % every == 0:
                sample.append(rec)
            i += 1
            yield rec

    upgrade(url)
    engine = make_engine(url)
    build: dict[str, Any] = {}
    if not args.reuse:
        t0 = time.perf_counter()
        last = [t0]

        def progress(n: int) -> None:
            now = time.perf_counter()
            if now - last[0] > 30:
                print(f"  {n:,} points, {now - t0:.0f} s", file=sys.stderr)
                last[0] = now

        cpu0 = time.process_time()
        rep = build_index(engine, feed(), progress=progress)
        build_cpu = time.process_time() - cpu0
        build = {
            "points": rep.points,
            "places": rep.places,
            "build_wall_s": round(rep.seconds, 1),
            # CPU of this process (the machine is shared: wall time includes waiting for a core);
            # the synthetic generator's share is excluded, SQLite's own work is included
            "build_cpu_s": round(build_cpu - gen_cpu[0], 1),
            "generator_cpu_s": round(gen_cpu[0], 1),
            "size_mb": round(db_size(url, engine) / 1e6, 1),
        }
        print(json.dumps(build), file=sys.stderr)
    else:
        sample = list(generate_points(min(args.points, 50_000), args.seed, town_list=tl))
    t = time.perf_counter()
    ix = LookupIndex(engine)
    open_s = time.perf_counter() - t
    vm = VariantMaker(ix.dictionary)
    queries: list[tuple[str, str]] = []
    for rec in rng.sample(sample, min(args.queries, len(sample))):
        r = rng.random()
        if r < 0.8:
            v = rng.choice(vm.variants(rec, rng, n=2))
            queries.append(("variant", v.text))
        elif r < 0.9:  # typo in the town name: the trigram path
            town = rec["town"]
            i = rng.randrange(len(town))
            bad = town[:i] + "x" + town[i + 1 :]
            queries.append(("near_miss", rec["pref"] + rec["city"] + bad + rec["banchi"]))
        else:  # does not exist
            queries.append(("absent", rec["pref"] + rec["city"] + rec["town"] + "9999-99"))
    kinds = {"affiliated": caller("A0001", RetailerKind.AFFILIATED),
             "independent": caller("B0002", RetailerKind.INDEPENDENT)}  # fmt: skip
    sink = CountingSink()
    # identical, generous limits for both so the benchmark measures latency, not the limiter
    from gridwall.gateway import LookupDecisions
    from gridwall.policy import default_engine

    svc = LookupService(
        ix,
        sink,
        limiter=TokenBucket(burst=10**9, per_second=10**6),
        decider=LookupDecisions(default_engine()),
    )
    for _, q in queries[:50]:  # warm-up (policy cache, page cache)
        for ctx in kinds.values():
            with contextlib.suppress(Exception):
                svc.lookup(q, caller=ctx)
    lat: dict[str, list[float]] = {k: [] for k in kinds}
    cpu: dict[str, list[float]] = {k: [] for k in kinds}  # CPU of the lookup (no waiting)
    by_kind: dict[str, list[float]] = {}
    answers_equal = True
    order = list(kinds.items())
    for qi, (qkind, q) in enumerate(queries):
        got = {}
        # alternate who goes first: the first lookup of a query warms caches for the second
        for k, ctx in order if qi % 2 == 0 else order[::-1]:
            c0 = time.thread_time()
            t = time.perf_counter()
            try:
                a = svc.lookup(q, caller=ctx).to_json()
            except Exception as e:
                a = {"error": type(e).__name__}
            dt = time.perf_counter() - t
            cpu[k].append(time.thread_time() - c0)
            lat[k].append(dt)
            by_kind.setdefault(qkind, []).append(dt)
            got[k] = a
        answers_equal &= got["affiliated"] == got["independent"]
    out = {
        "backend": engine.dialect.name,
        **build,
        "index_open_s": round(open_s, 2),
        "queries": len(queries),
        "answers_identical": answers_equal,
        "audit_events": sink.n,
        **{f"{k}_p50_ms": round(pct(v, 0.5), 2) for k, v in lat.items()},
        **{f"{k}_p99_ms": round(pct(v, 0.99), 2) for k, v in lat.items()},
        **{f"{k}_mean_ms": round(statistics.mean(v) * 1000, 2) for k, v in lat.items()},
        **{f"{k}_cpu_p50_ms": round(pct(v, 0.5), 2) for k, v in cpu.items()},
        **{f"{k}_cpu_p99_ms": round(pct(v, 0.99), 2) for k, v in cpu.items()},
        "load_average": os.getloadavg()[0],
        **{f"{q}_p99_ms": round(pct(v, 0.99), 2) for q, v in by_kind.items()},
    }
    print(json.dumps(out, ensure_ascii=False))
    engine.dispose()
    tmp.cleanup()


if __name__ == "__main__":
    main()
