"""Audit log benchmark: durable appends, proofs, full verification, gateway with/without the log.

    nice -n 10 uv run python bench/audit/run.py --sizes 1000000,10000000

For each size (the log is grown from one size to the next in one file):

* ``append_per_s`` — ``record_many`` batches of ``--batch`` realistic gateway events (≈500
  bytes of canonical JSON each), each batch one fsynced transaction, encoding included;
* ``concurrent_record_per_s`` — ``--threads`` threads each calling ``record(event)`` (one
  event per call) at the same time: group commit batches them;
* ``proof_us`` — inclusion and consistency proofs at that size (p50/p99 over random indices);
* ``verify_leaves_per_s`` — ``gridwall audit verify`` (every entry re-hashed, every tile
  recomputed and compared, the signed root checked), 2 worker processes.

Then, once: gateway ``read_point`` throughput from ``--threads`` threads with the durable log on
versus an in-memory sink (log off), in alternating blocks over the same requests.

Results are appended as JSON lines to ``bench/audit/results.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gridwall.audit import merkle, note, open_log
from gridwall.audit._log import AuditLog
from gridwall.audit._verify import verify_log


def event(i: int) -> dict[str, Any]:
    """A gateway event of the usual shape and size."""
    return {
        "event_id": f"gw-{i:032x}",
        "ts": "2026-11-25T12:00:00+09:00",
        "system": "gridwall",
        "account_id": f"nw-op-{i % 5000:05d}",
        "device_id": f"T-NW-{i % 700:04d}",
        "source_ip": f"10.1.{i % 250}.{i % 200}",
        "session_id": f"s-{i // 40:x}",
        "action": "view",
        "screen": "GET /v1/supply-points/{id}",
        "purpose": "takuso",
        "supply_point_ids": [f"03{i % 29_000_000:020d}"],
        "query": None,
        "fields": ["address", "contract_name", "equipment", "phone"],
        "result_count": 1,
        "recipient_org": None,
        "decision": "allow" if i % 9 else "deny",
        "policy_ids": ["nw_takuso_read"],
        "person_id": f"P-{i % 5000:05d}",
        "org": "nw",
    }


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def grow(log: AuditLog, target: int, batch: int) -> dict[str, float]:
    n0 = log.size()
    t0 = time.perf_counter()
    i = n0
    last = t0
    while i < target:
        b = min(batch, target - i)
        log.record_many([event(i + k) for k in range(b)])
        i += b
        if time.perf_counter() - last > 10:
            last = time.perf_counter()
            rate = (i - n0) / (last - t0)
            print(f"  {i:,} entries, {rate:,.0f} appends/s", file=sys.stderr)
    dt = time.perf_counter() - t0
    return {"appended": target - n0, "seconds": dt, "append_per_s": (target - n0) / dt}


def concurrent(log: AuditLog, threads: int, per_thread: int) -> float:
    base = log.size()
    start = threading.Barrier(threads + 1)

    def work(t: int) -> None:
        start.wait()
        for j in range(per_thread):
            log.record(event(base + t * per_thread + j))

    ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in ts:
        th.start()
    start.wait()
    t0 = time.perf_counter()
    for th in ts:
        th.join()
    return threads * per_thread / (time.perf_counter() - t0)


def proofs(log: AuditLog, size: int, samples: int) -> dict[str, float]:
    rng = random.Random(size)
    root = log.root(size)
    inc: list[float] = []
    con: list[float] = []
    for _ in range(samples):
        i = rng.randrange(size)
        t = time.perf_counter()
        p = log.inclusion_proof(i, size)
        inc.append(time.perf_counter() - t)
        if len(inc) <= 20:  # spot-check correctness
            leaf = merkle.leaf_hash(log.entry(i))
            assert merkle.verify_inclusion(leaf, i, size, p, root)
        s1 = rng.randrange(1, size)
        t = time.perf_counter()
        log.consistency_proof(s1, size)
        con.append(time.perf_counter() - t)
    return {
        "inclusion_p50_us": statistics.median(inc) * 1e6,
        "inclusion_p99_us": pct(inc, 0.99) * 1e6,
        "consistency_p50_us": statistics.median(con) * 1e6,
        "consistency_p99_us": pct(con, 0.99) * 1e6,
    }


class Switch:
    """An AuditSink that forwards to the durable log or to memory (log off)."""

    def __init__(self, log: AuditLog) -> None:
        self.log = log
        self.on = True
        self.memory: list[Mapping[str, Any]] = []

    def record(self, event: Mapping[str, Any]) -> None:
        if self.on:
            self.log.record(event)
        else:
            self.memory.append(event)


def gateway_bench(workdir: Path, threads: int, seconds: float, durability: str) -> dict[str, Any]:
    from gridwall.gateway._demo import build_demo

    log = open_log(workdir / "gateway-audit.db", durability=durability)
    sink = Switch(log)
    demo = build_demo(workdir / "gateway", supply_points=20_000, progress=False, audit=sink)
    gw = demo.gateway
    u = demo.users[0]  # the NW operator: an allowed read with every field group decided
    ctx = gw.authenticate(u.token, u.terminal, u.purpose)
    point = demo.example_point
    counts = {True: 0, False: 0}
    elapsed = {True: 0.0, False: 0.0}
    done = [0] * threads
    stop = threading.Event()

    def work(t: int) -> None:
        while not stop.is_set():
            gw.read_point(ctx, point, screen="bench")
            done[t] += 1

    # the same worker threads serve every phase; phases alternate log on / log off
    ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in ts:
        th.start()
    time.sleep(1.0)  # warm-up
    phase = seconds / 10
    for rnd in range(10):
        on = rnd % 2 == 0
        sink.on = on
        time.sleep(0.2)  # let requests begun in the other mode finish
        c0, t0 = sum(done), time.perf_counter()
        time.sleep(phase)
        counts[on] += sum(done) - c0
        elapsed[on] += time.perf_counter() - t0
    stop.set()
    for th in ts:
        th.join()
    demo.close()
    log.close()
    on_rps = counts[True] / elapsed[True]
    off_rps = counts[False] / elapsed[False]
    return {
        "switch_interval_s": sys.getswitchinterval(),
        "gateway_threads": threads,
        "durability": durability,
        "gateway_log_on_rps": on_rps,
        "gateway_log_off_rps": off_rps,
        "gateway_ratio": on_rps / off_rps,
    }


def machine() -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "load_avg": os.getloadavg(),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/gw-audit-bench"))
    ap.add_argument("--batch", type=int, default=10000)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--proof-samples", type=int, default=2000)
    ap.add_argument("--gateway-seconds", type=float, default=20.0)
    ap.add_argument("--gateway-threads", default="4,12")
    ap.add_argument("--skip-verify", action="store_true")
    ap.add_argument(
        "--switch-interval",
        type=float,
        default=None,
        help="sys.setswitchinterval for the gateway phase (Python's default is 0.005 s)",
    )
    ap.add_argument("--skip-gateway", action="store_true")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("results.jsonl"))
    a = ap.parse_args()
    a.workdir.mkdir(parents=True, exist_ok=True)
    signer = note.generate_signer("bench.example/audit")
    log = open_log(a.workdir / "audit.db", max_batch=50000)
    results: list[dict[str, Any]] = []
    for size in [int(float(s)) for s in a.sizes.split(",")]:
        print(f"growing the log to {size:,} …", file=sys.stderr)
        r: dict[str, Any] = {"size": size, **machine(), **grow(log, size, a.batch)}
        r["concurrent_record_per_s"] = concurrent(log, a.threads, 2000)
        n = log.size()
        r.update(proofs(log, n, a.proof_samples))
        log.checkpoint([signer])
        if not a.skip_verify:
            print(f"verifying {n:,} entries …", file=sys.stderr)
            rep = verify_log(log.url, [signer.verifier], workers=2)
            assert rep.ok, rep.problems
            r["verify_seconds"] = rep.seconds
            r["verify_leaves_per_s"] = n / rep.seconds
        r["db_bytes"] = sum(p.stat().st_size for p in a.workdir.glob("audit.db*"))
        print(json.dumps(r), file=sys.stderr)
        results.append(r)
    log.close()
    if not a.skip_gateway:
        print("gateway with the log on vs off …", file=sys.stderr)
        if a.switch_interval is not None:
            sys.setswitchinterval(a.switch_interval)
        for durability in ("fsync", "os"):
            for th in [int(x) for x in a.gateway_threads.split(",")]:
                g = {**machine(), **gateway_bench(a.workdir, th, a.gateway_seconds, durability)}
                print(json.dumps(g), file=sys.stderr)
                results.append(g)
    with a.out.open("a") as f:
        for r in results:
            f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
