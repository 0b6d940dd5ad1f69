"""`gridwall monitor run` over one day of a 10 M-point operator's own audit log (issue 13).

The question: can the periodic analysis of gridwall's own audit log keep up with a large
operator? A 10 M-point operator's staff leave about 10⁷ audit events on a working day. This
script

1. writes the reference tables of a 10 M-point operator (``bench/monitor/gen.py`` with
   10⁷ points, 20 000 staff, one day) and the day's 10⁷ events;
2. appends those events to a real gridwall audit log (SQLite file, the Merkle tree built
   as the server builds it; ``durability="os"`` because the load is set-up, not measured);
3. times one ``monitor run`` (:func:`gridwall.monitor._periodic.run_periodic`): reading
   the audit log from the cursor, writing the Parquet part, the incremental scan, storing
   alerts and evidence with their audit-log index — in a child process, so its peak
   memory (``ru_maxrss`` of the child) is the run's alone.

    nice -n 10 uv run python bench/monitor/periodic.py WORK [--events 10000000]
        [--points 10000000] [--staff 20000] [--reuse]

``--reuse`` keeps an existing WORK/audit.db and reference folder (re-times the run only:
the store, cursor and scan state are reset). Prints one JSON line with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent


def make_reference(ref: Path, events: int, points: int, staff: int) -> float:
    sys.path.insert(0, str(HERE))
    import gen  # bench/monitor/gen.py

    gen.POINTS, gen.STAFF, gen.DAYS = points, staff, 1
    t0 = time.perf_counter()
    gen.generate(ref, events)
    return time.perf_counter() - t0


def load_audit(ref: Path, audit_url: str, batch: int = 20_000) -> tuple[int, float]:
    """Append the day's events to the audit log in order (the events file moves aside: the
    run must read them from the audit log, nowhere else)."""
    import pyarrow.parquet as pq

    from gridwall.audit import open_log

    src = ref / "events.parquet"
    log = open_log(audit_url, durability="os")
    t0 = time.perf_counter()
    n = 0
    try:
        for rb in pq.ParquetFile(src).iter_batches(batch_size=batch):
            rows = rb.to_pylist()
            for r in rows:
                r["ts"] = r["ts"].astimezone(UTC).isoformat()
                r["policy_ids"], r["person_id"], r["org"] = [], None, None
            log.record_many(rows)
            n += len(rows)
            if n % 1_000_000 == 0:
                print(f"  {n:,} events in the audit log", file=sys.stderr, flush=True)
    finally:
        log.close()
    src.rename(ref.parent / "events.parquet.loaded")
    return n, time.perf_counter() - t0


def child(ref: Path, audit_url: str, store_url: str, work: Path) -> None:
    """One timed `monitor run` (in its own process)."""
    from gridwall.audit._db import Conn
    from gridwall.monitor._periodic import run_periodic
    from gridwall.store import make_engine, upgrade

    upgrade(store_url)
    engine = make_engine(store_url)
    reader = Conn(audit_url)
    t0 = time.perf_counter()
    r = run_periodic(
        engine, reader, ref, work, now=datetime.now(UTC), say=lambda _m: None, batch=100_000
    )
    dt = time.perf_counter() - t0
    reader.close()
    engine.dispose()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    print(
        json.dumps(
            {
                "seconds": round(dt, 1),
                "peak_rss_gb": round(rss, 2),
                "entries": r.audit_to - r.audit_from,
                "alerts_opened": len(r.opened),
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("work", type=Path)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--points", type=int, default=10_000_000)
    ap.add_argument("--staff", type=int, default=20_000)
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    w = a.work.resolve()
    ref, audit_url = w / "ref", f"sqlite:///{w / 'audit.db'}"
    store_url, run_work = f"sqlite:///{w / 'store.db'}", w / "run"
    if a.child:
        child(ref, audit_url, store_url, run_work)
        return
    out: dict[str, object] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores",
        "events": a.events,
        "points": a.points,
        "staff": a.staff,
    }
    if not a.reuse:
        if w.exists():
            shutil.rmtree(w)
        w.mkdir(parents=True)
        out["gen_seconds"] = round(make_reference(ref, a.events, a.points, a.staff), 1)
        n, dt = load_audit(ref, audit_url)
        out["audit_load_seconds"], out["audit_load_per_s"] = round(dt, 1), round(n / dt)
        (w / "params.json").write_text(json.dumps(out))
    else:  # the sizes the reused folder was generated with
        made = json.loads((w / "params.json").read_text())
        out.update({k: made[k] for k in ("events", "points", "staff")})
    for p in (w / "store.db", run_work):
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    out["loadavg_before"] = [round(x, 2) for x in os.getloadavg()]
    res = subprocess.run(
        [sys.executable, __file__, str(w), "--child"], check=True, capture_output=True, text=True
    )
    out.update(json.loads(res.stdout.strip().splitlines()[-1]))
    out["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
