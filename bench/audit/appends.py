"""Durable appends in batches, with what each entry costs (issue 15 target: ≥ 100 000 /s).

    nice -n 5 uv run python bench/audit/appends.py [--entries 200000] [--batch 10000]

Realistic gateway events (``run.event``, ≈ 500 bytes of canonical JSON) are built before
the clock starts (a caller hands over events it already has); each ``record_many`` batch is
one fsynced transaction (SQLite WAL, ``synchronous=FULL``), integration (leaf hashes,
tiles) included before the clock stops. Alternating in each round on fresh logs:
``durability="fsync"`` one ``record_many`` at a time, ``"fsync"`` pipelined (``submit``:
the caller encodes the next batch while the writer commits this one, at most two waiting),
and ``"os"`` (no fsync). Besides the wall-clock rate, the CPU time
per entry of the whole process (caller and writer thread) and, measured alone on the
same events, the canonical-JSON encoding's CPU per entry — the part the caller pays.

Rows are appended as JSON lines to ``bench/audit/results.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import event

from gridwall.audit import open_log
from gridwall.audit._log import canonical_json


def one(
    work: Path, events: list[dict[str, Any]], batch: int, durability: str, pipelined: bool
) -> dict[str, Any]:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log = open_log(work / "audit.db", durability=durability, max_batch=batch)
    try:
        c0, t0 = time.process_time(), time.perf_counter()
        if pipelined:  # encode the next batch while the writer commits this one
            waiting: list[Future[list[int]]] = []
            for b in range(0, len(events), batch):
                waiting.append(log.submit(events[b : b + batch]))
                if len(waiting) > 2:
                    waiting.pop(0).result()
            for f in waiting:
                f.result()
        else:
            for b in range(0, len(events), batch):
                log.record_many(events[b : b + batch])
        log.integrate()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        log.close()
    n = len(events)
    return {
        "durability": durability,
        "pipelined": pipelined,
        "appends_per_s": round(n / wall),
        "cpu_us_per_entry": round(cpu / n * 1e6, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--entries", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/gw-audit-appends"))
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("results.jsonl"))
    a = ap.parse_args()
    events = [event(i) for i in range(a.entries)]
    c0 = time.process_time()
    for e in events:
        canonical_json(e)
    encode_us = (time.process_time() - c0) / len(events) * 1e6
    row: dict[str, Any] = {
        "bench": "audit-appends",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "entries": a.entries,
        "batch": a.batch,
        "encode_cpu_us_per_entry": round(encode_us, 2),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "rounds": [],
    }
    for _ in range(a.rounds):
        for durability, pipelined in (("fsync", False), ("fsync", True), ("os", False)):
            r = one(a.workdir, events, a.batch, durability, pipelined)
            r["load_avg"] = [round(x, 2) for x in os.getloadavg()]
            print(json.dumps(r))
            row["rounds"].append(r)
    shutil.rmtree(a.workdir, ignore_errors=True)
    with a.out.open("a") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
