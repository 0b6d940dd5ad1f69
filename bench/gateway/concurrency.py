"""Gateway throughput against concurrency: 1–64 in-process callers sharing one small pool.

    uv run python bench/gateway/concurrency.py [--size 100000] [--callers 1,2,4,8,16,32,64]
        [--pool-size 4 --max-overflow 0 --pool-timeout 5] [--seconds 3] [--db URL]

Issue 11 item 10: the gateway held a pooled connection while the grant resolver waited for
another, so past the pool size callers timed out (503) and throughput collapsed. Here every
level runs in the same process, one after the other, against the same store: the real
grant resolver (``StoreGrantResolver``, snapshot refreshed every 0.5 s) and the gateway
share one engine whose pool is deliberately smaller than the number of callers. Each
caller is an affiliated-retailer agent reading random own customers for ``--seconds``
(``Gateway.read_point``: probe, grants, decision, audit record to an in-memory sink,
masking, history). Reported per level: reads completed, refusals (503 or any error),
throughput, p50/p99 latency. Results are printed and appended as one JSON line to
``--out``; summarised in docs/benchmarks.md ("Gateway under concurrency").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the dataset writer of run.py
sys.path.insert(0, str(HERE.parents[1] / "tests"))  # the in-process test doubles

import run as gateway_bench  # noqa: E402


def prepare(db_url: str, workdir: Path, size: int) -> None:
    """Migrate and load the synthetic dataset once (skipped if already loaded)."""
    from sqlalchemy import func, select

    from gridwall.app.wiring import load_dataset
    from gridwall.store import make_engine, upgrade
    from gridwall.store.customer import SupplyPoint

    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            have = conn.execute(select(func.count()).select_from(SupplyPoint)).scalar_one()
        if have != size:
            data = workdir / f"data-{size}"
            if not (data / "supply_points.csv").exists():
                gateway_bench.write_dataset(data, size)
            t0 = time.perf_counter()
            load_dataset(data, engine, progress=False)
            print(f"loaded {size} points in {time.perf_counter() - t0:.1f} s", flush=True)
    finally:
        engine.dispose()


def build(db_url: str, pool: dict[str, Any]) -> tuple[Any, Any, Any]:
    from gridwall.gateway import Gateway
    from gridwall.grants import StoreGrantResolver
    from gridwall.interfaces import Principal
    from gridwall.interfaces.facts import (
        AccountKind,
        AccountState,
        DeviceKind,
        OrgKind,
        PrincipalFacts,
        RetailerKind,
        Role,
    )
    from gridwall.policy import default_engine
    from gridwall.store import make_engine
    from support.doubles import MemoryAuditSink, TokenAuthenticator

    engine = make_engine(db_url, **pool)
    auth = TokenAuthenticator(gateway_bench.SECRET)
    facts = PrincipalFacts(OrgKind.RETAIL, RetailerKind.AFFILIATED, Role.CALL_CENTER,
                           AccountKind.PERSONAL, AccountState.ACTIVE, True)  # fmt: skip
    aff = f"retail:{gateway_bench.AFF}"
    token = auth.register(Principal("bench-aff", "P-bench", aff, facts, "s1"))
    terminal = auth.enroll_terminal("T-bench", aff, DeviceKind.RETAIL_TERMINAL)
    sink = MemoryAuditSink()
    sink.events = gateway_bench._Discard()  # keep memory flat
    gw = Gateway(
        engine,
        default_engine(),
        auth=auth,
        grants=StoreGrantResolver(engine, refresh_seconds=0.5),
        audit=sink,
    )
    return gw, gw.authenticate(token, terminal, "customer_service"), engine


def level(gw: Any, ctx: Any, ids: list[str], callers: int, seconds: float) -> dict[str, Any]:
    from gridwall.gateway import GatewayError

    start = threading.Barrier(callers + 1)
    stop = threading.Event()
    lat: list[list[float]] = [[] for _ in range(callers)]
    errors: list[dict[str, int]] = [{} for _ in range(callers)]

    def caller(i: int) -> None:
        rng = random.Random(i)
        mine, errs = lat[i], errors[i]
        start.wait()
        while not stop.is_set():
            pid = ids[rng.randrange(len(ids))]
            t0 = time.perf_counter()
            try:
                gw.read_point(ctx, pid)
            except GatewayError as e:
                errs[str(e.status)] = errs.get(str(e.status), 0) + 1
                continue
            except Exception as e:
                errs[type(e).__name__] = errs.get(type(e).__name__, 0) + 1
                continue
            mine.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=caller, args=(i,), daemon=True) for i in range(callers)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    xs = sorted(x for part in lat for x in part)
    refused: dict[str, int] = {}
    for e in errors:
        for k, v in e.items():
            refused[k] = refused.get(k, 0) + v
    out: dict[str, Any] = {
        "callers": callers,
        "reads": len(xs),
        "refused": refused,
        "throughput_per_s": round(len(xs) / wall, 1),
    }
    if len(xs) >= 2:
        q = statistics.quantiles(xs, n=100, method="inclusive")
        out["p50_ms"] = round(q[49] * 1e3, 3)
        out["p99_ms"] = round(q[98] * 1e3, 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=100_000, help="supply points")
    ap.add_argument("--callers", default="1,2,4,8,16,32,64")
    ap.add_argument("--seconds", type=float, default=3.0, help="per level")
    ap.add_argument("--pool-size", type=int, default=4)
    ap.add_argument("--max-overflow", type=int, default=0)
    ap.add_argument("--pool-timeout", type=float, default=5.0)
    ap.add_argument("--workdir", default="/tmp/gridwall-bench-concurrency")
    ap.add_argument("--db", default=None, help="SQLAlchemy URL (default: SQLite in workdir)")
    ap.add_argument("--out", default=str(HERE / "concurrency.jsonl"))
    ap.add_argument("--label", default="", help="what code was measured (kept in the record)")
    a = ap.parse_args()
    workdir = Path(a.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    db_url = a.db or f"sqlite:///{workdir / f'gridwall-{a.size}.db'}"
    prepare(db_url, workdir, a.size)
    pool = {"pool_size": a.pool_size, "max_overflow": a.max_overflow,
            "pool_timeout": a.pool_timeout}  # fmt: skip
    gw, ctx, engine = build(db_url, pool)
    ids = gateway_bench.own_sample(a.size, 2000)
    try:
        level(gw, ctx, ids, 1, min(1.0, a.seconds))  # warm-up: caches, statements, snapshot
        levels = []
        for n in (int(x) for x in a.callers.split(",")):
            r = level(gw, ctx, ids, n, a.seconds)
            print(json.dumps(r, ensure_ascii=False), flush=True)
            levels.append(r)
    finally:
        engine.dispose()
    record = {
        "bench": "gateway_concurrency",
        "label": a.label,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "loadavg_before": os.getloadavg(),
        },
        "store": engine.dialect.name,
        "size": a.size,
        "pool": pool,
        "seconds_per_level": a.seconds,
        "levels": levels,
    }
    with open(a.out, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
