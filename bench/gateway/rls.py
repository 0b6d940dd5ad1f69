"""The second wall's cost: gateway reads on PostgreSQL with row-level security on vs off.

    uv run python bench/gateway/rls.py [--size 20000] [--blocks 10] [--block 200]

Builds a throw-away PostgreSQL database (``--pg``, default the local server as postgres)
with the synthetic dataset of ``run.py``, creates an application role (NOSUPERUSER,
NOBYPASSRLS, owns nothing; :func:`gridwall.store.rls.grant_app_role`) and times
``Gateway.read_point`` of an affiliated retailer's agent reading random own customers:

* **on**: as the application role, the gateway setting the wall's settings per transaction
  (one extra statement per read) and every customer row filtered by the policies;
* **off**: as the owner (superuser: row-level security bypassed), no settings.

Blocks of ``--block`` reads alternate on / off over the same points in one run; the ratio of
the medians is the figure (target ≤ 1.15×). Beside wall time each side's CPU time is summed
over its blocks: the benchmark process's own (``time.process_time``) and the PostgreSQL
backends serving that side's pool (``/proc/PID/schedstat``, nanoseconds on a CPU; the server
must be local), so that the ratio can be read apart from the machine's load, which moves wall
time but not the work done. The load average is recorded before and after. Results are
printed as one JSON line and appended to ``bench/gateway/rls.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "tests"))

import run as base  # noqa: E402  (the gateway benchmark's dataset and gateway builder)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=20_000)
    ap.add_argument("--blocks", type=int, default=10)
    ap.add_argument("--block", type=int, default=200)
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--out", type=Path, default=HERE / "rls.jsonl")
    ap.add_argument(
        "--wall",
        choices=("current", "0004"),
        default="current",
        help="the policies to time: the current wall, or customer_0004's (to compare)",
    )
    a = ap.parse_args()

    from sqlalchemy import create_engine

    from gridwall.app.wiring import load_dataset
    from gridwall.gateway import Gateway
    from gridwall.store import make_engine, rls, upgrade

    name = f"gw_bench_rls_{uuid.uuid4().hex[:8]}"
    role = f"gw_bench_app_{uuid.uuid4().hex[:8]}"
    server = a.pg.rsplit("/", 1)[0]
    admin = create_engine(a.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
        c.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS')
    owner_url = f"{server}/{name}"
    app_url = owner_url.replace("://postgres@", f"://{role}@")
    try:
        upgrade(owner_url)
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp) / "ds"
            base.write_dataset(d, a.size)
            owner = make_engine(owner_url)
            load_dataset(d, owner, progress=False)
            with owner.begin() as c:
                rls.grant_app_role(c, role)
                if a.wall == "0004":
                    for stmt in rls.install_sql_0004():
                        c.exec_driver_sql(stmt)
                c.exec_driver_sql("ANALYZE")
            owner.dispose()
        gw_off, token, terminal = base.build_gateway(owner_url, "memory", None)
        gw_off.wall = False
        gw_on, token_on, terminal_on = base.build_gateway(app_url, "memory", None)
        assert isinstance(gw_on, Gateway) and gw_on.wall
        with gw_on.engine.connect() as c:
            problems = rls.check_wall(c)
        assert not problems or a.wall != "current", problems
        ids = base.own_sample(a.size, a.block)
        ctx_off = gw_off.authenticate(token, terminal, "customer_service")
        ctx_on = gw_on.authenticate(token_on, terminal_on, "customer_service")
        for pid in ids[:50]:  # warm both pools and plans
            gw_off.read_point(ctx_off, pid)
            gw_on.read_point(ctx_on, pid)
        samples: dict[str, list[float]] = {"on": [], "off": []}
        client_cpu = {"on": 0.0, "off": 0.0}
        server_cpu = {"on": 0.0, "off": 0.0}
        users = {"on": role, "off": "postgres"}
        load_before = os.getloadavg()
        for b in range(a.blocks * 2):
            side = "on" if b % 2 == 0 else "off"
            gw, ctx = (gw_on, ctx_on) if side == "on" else (gw_off, ctx_off)
            pids = _backends(admin, name, users[side])
            s0, c0 = _cpu_ns(pids), time.process_time()
            for pid in ids:
                t0 = time.perf_counter()
                gw.read_point(ctx, pid)
                samples[side].append(time.perf_counter() - t0)
            client_cpu[side] += time.process_time() - c0
            # backends the pool opened during the block started at 0
            server_cpu[side] += (_cpu_ns(_backends(admin, name, users[side])) - s0) / 1e9
        gw_on.engine.dispose()
        gw_off.engine.dispose()
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            c.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
        admin.dispose()

    def q(xs: list[float], p: float) -> float:
        return sorted(xs)[min(len(xs) - 1, int(p * len(xs)))] * 1e6

    res: dict[str, Any] = {
        "bench": "gateway_rls",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, {platform.python_version()}",
        "loadavg_before": load_before,
        "loadavg": os.getloadavg(),
        "wall": a.wall,
        "size": a.size,
        "reads_per_side": len(samples["on"]),
        "on_p50_us": round(statistics.median(samples["on"]) * 1e6, 1),
        "off_p50_us": round(statistics.median(samples["off"]) * 1e6, 1),
        "on_p99_us": round(q(samples["on"], 0.99), 1),
        "off_p99_us": round(q(samples["off"], 0.99), 1),
    }
    res["ratio_p50"] = round(res["on_p50_us"] / res["off_p50_us"], 3)
    for side in ("on", "off"):
        n = len(samples[side])
        res[f"{side}_client_cpu_us"] = round(client_cpu[side] / n * 1e6, 1)
        res[f"{side}_server_cpu_us"] = round(server_cpu[side] / n * 1e6, 1)
    res["ratio_cpu"] = round(
        (client_cpu["on"] + server_cpu["on"]) / (client_cpu["off"] + server_cpu["off"]), 3
    )
    res["ratio_server_cpu"] = round(server_cpu["on"] / server_cpu["off"], 3)
    print(json.dumps(res, ensure_ascii=False))
    with a.out.open("a", encoding="utf-8") as f:
        f.write(json.dumps(res, ensure_ascii=False) + "\n")


def _backends(admin: Any, db: str, user: str) -> list[int]:
    """The PIDs of the backends serving ``user`` on database ``db`` (the admin engine's own
    connection is on another database)."""
    with admin.connect() as c:
        rows = c.exec_driver_sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = %(d)s AND usename = %(u)s",
            {"d": db, "u": user},
        ).all()
    return [int(r[0]) for r in rows]


def _cpu_ns(pids: list[int]) -> int:
    """Nanoseconds the processes have run on a CPU (``/proc/PID/schedstat``; 0 if gone)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/schedstat", encoding="ascii") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


if __name__ == "__main__":
    main()
