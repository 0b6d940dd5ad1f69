"""The served gateway over HTTP: durable audit log (fsync) versus an in-memory sink.

    nice -n 10 uv run python bench/audit/served.py [--clients 64] [--blocks 10] [--block-s 3]

One uvicorn server (a subprocess) serves ``create_app(gateway)`` on a synthetic store of
``--size`` supply points; its audit sink switches between the durable log
(``open_log(…, durability="fsync")``, SQLite WAL, every sequencing commit fsynced) and an
in-memory sink through a benchmark-only route. ``--clients`` client threads, each with its
own keep-alive connection (``http.client``), read random own-customer points without
pause; the sink alternates every block (durable first, then memory, …) over the same
requests, so both sides see the same load on the shared machine. Per side: requests/s,
p50/p99 latency; the ratio durable ÷ memory; appends the log took, and how far its
integration lagged.

In the same run, the hashing limit (a ``hashlib`` loop over the log's own entries, one
core) and ``audit verify`` of the log the benchmark wrote (all cores), as leaves/s.

Per side also the server's CPU per answered request (all its threads, and the audit
writer thread's alone, from ``/proc``) and how many cores it kept busy. With
``GW_SERVED_PROFILE=<file>`` the server's event-loop thread runs under cProfile (stats
written at shutdown).

Results are appended as JSON lines to ``bench/audit/served.jsonl``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "bench" / "gateway"))  # the gateway bench's dataset + doubles
sys.path.insert(0, str(ROOT / "tests"))


class SwitchSink:
    """BENCHMARK ONLY: forwards to the durable log or keeps nothing (in-memory sink)."""

    def __init__(self, log: Any) -> None:
        self.log = log
        self.durable = True
        self.memory = 0
        self.lock = threading.Lock()

    def record(self, event: Mapping[str, Any]) -> None:
        if self.durable:
            self.log.record(event)
        else:
            dict(event)  # what MemoryAuditSink does, minus keeping it (flat memory)
            with self.lock:
                self.memory += 1

    def submit(self, events: Sequence[Mapping[str, Any]]) -> Future[list[int]]:
        """The handlers' path (issue 15 item 1): a future the event loop awaits."""
        if self.durable:
            fut: Future[list[int]] = self.log.submit(events)
            return fut
        done: Future[list[int]] = Future()
        for e in events:
            self.record(e)
        done.set_result([])
        return done


def serve(db_url: str, port: int, audit_path: str) -> None:
    import uvicorn
    from fastapi.responses import JSONResponse
    from run import build_gateway  # bench/gateway/run.py

    from gridwall.app.http.gateway import create_app
    from gridwall.audit import open_log

    gw, _token, _term = build_gateway(db_url, "memory", None)
    log = open_log(audit_path, durability="fsync")
    sink = SwitchSink(log)
    gw.audit = sink
    app = create_app(gw)

    @app.put("/bench/sink/{mode}")
    def switch(mode: str) -> Any:
        sink.durable = mode == "durable"
        return JSONResponse({"mode": mode})

    @app.get("/bench/stats")
    def stats() -> Any:
        return JSONResponse(
            {"size": log.size(), "unintegrated": log.unintegrated(), "memory": sink.memory,
             "cpu_s": time.process_time(), "writer_cpu_s": thread_cpu(log)}
        )  # fmt: skip

    prof_out = os.environ.get("GW_SERVED_PROFILE")  # cProfile of the event loop thread
    if prof_out:
        import cProfile

        prof = cProfile.Profile()

        def dump() -> None:
            prof.disable()
            prof.dump_stats(prof_out)

        app.router.on_shutdown.append(dump)  # uvicorn re-raises SIGTERM after shutdown
        prof.enable()
    try:
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    finally:
        log.close()


def thread_cpu(log: Any) -> float:
    """CPU seconds of the audit log's writer thread (Linux ``/proc``; 0 before it starts)."""
    w = log._writer
    if w is None or w.native_id is None:
        return 0.0
    try:
        fields = Path(f"/proc/self/task/{w.native_id}/stat").read_text().rsplit(")", 1)[1]
    except OSError:
        return 0.0
    utime, stime = fields.split()[11:13]
    return (int(utime) + int(stime)) / os.sysconf("SC_CLK_TCK")


def headers() -> dict[str, str]:
    from run import AFF, SECRET

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
    from support.doubles import TokenAuthenticator

    auth = TokenAuthenticator(SECRET)
    facts = PrincipalFacts(OrgKind.RETAIL, RetailerKind.AFFILIATED, Role.CALL_CENTER,
                           AccountKind.PERSONAL, AccountState.ACTIVE, True)  # fmt: skip
    token = auth.register(Principal("bench-aff", "P-bench", f"retail:{AFF}", facts, "s1"))
    term = auth.enroll_terminal("T-bench", f"retail:{AFF}", DeviceKind.RETAIL_TERMINAL)
    return {"Authorization": f"Bearer {token}", "X-Gridwall-Terminal": term,
            "X-Gridwall-Purpose": "customer_service"}  # fmt: skip


def prepare(work: Path, n: int) -> str:
    from run import write_dataset

    from gridwall.app.wiring import load_dataset
    from gridwall.store import make_engine, upgrade

    work.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite:///{work / 'gridwall.db'}"
    marker = work / "loaded"
    if not marker.exists():
        write_dataset(work / "ds", n)
        upgrade(db_url)
        engine = make_engine(db_url)
        load_dataset(work / "ds", engine, progress=False)
        engine.dispose()
        marker.write_text("ok")
    return db_url


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))] if xs else float("nan")


def run_clients(
    port: int, hdrs: dict[str, str], ids: list[str], clients: int, blocks: int, block_s: float
) -> dict[str, Any]:
    lat: dict[str, list[float]] = {"durable": [], "memory": []}
    count = {"durable": 0, "memory": 0}
    wall = {"durable": 0.0, "memory": 0.0}
    phase = {"mode": "warmup", "measuring": False}
    stop = threading.Event()
    errors: list[str] = []
    lock = threading.Lock()

    def client(j: int) -> None:
        rng = random.Random(j)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: dict[str, list[float]] = {"durable": [], "memory": []}
        try:
            while not stop.is_set():
                i = ids[rng.randrange(len(ids))]
                mode, measuring = phase["mode"], phase["measuring"]
                s = time.perf_counter()
                conn.request("GET", f"/v1/supply-points/{i}", headers=hdrs)
                r = conn.getresponse()
                r.read()
                d = time.perf_counter() - s
                if r.status != 200:
                    errors.append(f"{r.status}")
                    return
                # counted only if the whole request ran inside one measured phase
                if measuring and phase["measuring"] and phase["mode"] == mode:
                    mine[mode].append(d)
        finally:
            conn.close()
            with lock:
                for k, v in mine.items():
                    lat[k].extend(v)

    ctl = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def switch(mode: str) -> None:
        ctl.request("PUT", f"/bench/sink/{mode}")
        ctl.getresponse().read()

    def server_cpu() -> tuple[float, float]:
        ctl.request("GET", "/bench/stats")
        st = json.loads(ctl.getresponse().read())
        return float(st["cpu_s"]), float(st["writer_cpu_s"])

    cpu = {"durable": 0.0, "memory": 0.0}
    wcpu = {"durable": 0.0, "memory": 0.0}

    ts = [threading.Thread(target=client, args=(j,), daemon=True) for j in range(clients)]
    for t in ts:
        t.start()
    time.sleep(2.0)  # warm-up (durable)
    for b in range(blocks):
        mode = "durable" if b % 2 == 0 else "memory"
        phase["measuring"] = False
        switch(mode)
        time.sleep(0.3)  # requests begun in the other mode finish
        phase["mode"] = mode
        before = sum(len(v) for v in lat.values())
        del before
        c0, w0 = server_cpu()
        phase["measuring"] = True
        t0 = time.perf_counter()
        time.sleep(block_s)
        phase["measuring"] = False
        wall[mode] += time.perf_counter() - t0
        c1, w1 = server_cpu()
        cpu[mode] += c1 - c0
        wcpu[mode] += w1 - w0
    stop.set()
    for t in ts:
        t.join()
    ctl.close()
    if errors:
        raise RuntimeError(f"non-200 answers: {errors[:5]}")
    out: dict[str, Any] = {}
    for k in ("durable", "memory"):
        count[k] = len(lat[k])
        out[k] = {
            "requests": count[k],
            "rps": round(count[k] / wall[k], 1),
            "p50_ms": round(statistics.median(lat[k]) * 1e3, 2),
            "p99_ms": round(pct(lat[k], 0.99) * 1e3, 2),
            # the server's CPU per answered request (all its threads; the audit writer's)
            "server_cpu_ms_per_req": round(cpu[k] / max(1, count[k]) * 1e3, 3),
            "writer_cpu_ms_per_req": round(wcpu[k] / max(1, count[k]) * 1e3, 3),
            "server_cores_busy": round(cpu[k] / wall[k], 2),
        }
    out["ratio_rps"] = round(out["durable"]["rps"] / out["memory"]["rps"], 3)
    out["ratio_p99"] = round(out["durable"]["p99_ms"] / out["memory"]["p99_ms"], 3)
    return out


def hashing_limit(entries: list[bytes]) -> float:
    """Leaf hashes/s of a bare hashlib loop over the given entries (one core)."""
    import hashlib

    sha = hashlib.sha256
    t = time.perf_counter()
    for e in entries:
        sha(b"\x00" + e).digest()
    return len(entries) / (time.perf_counter() - t)


def machine() -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=20_000, help="supply points")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--blocks", type=int, default=10, help="alternating blocks (even)")
    ap.add_argument("--block-s", type=float, default=3.0)
    ap.add_argument("--port", type=int, default=8893)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/gw-audit-http"))
    ap.add_argument(
        "--verify-log", type=Path, default=None, help="also verify this (larger) log file"
    )
    ap.add_argument("--out", type=Path, default=HERE / "served.jsonl")
    ap.add_argument("--serve", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--audit-path", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve:
        serve(a.serve, a.port, a.audit_path)
        return
    from run import own_sample

    from gridwall.audit import note, open_log
    from gridwall.audit._db import Conn
    from gridwall.audit._verify import verify_log

    db_url = prepare(a.workdir / str(a.size), a.size)
    audit_db = a.workdir / f"http-audit-{os.getpid()}.db"
    result: dict[str, Any] = {"bench": "audit-http", **machine(), "supply_points": a.size}
    result.update(clients=a.clients, block_s=a.block_s, blocks=a.blocks)
    cmd = [sys.executable, __file__, "--serve", db_url, "--port", str(a.port),
           "--audit-path", str(audit_db)]  # fmt: skip
    srv = subprocess.Popen(cmd)
    try:
        hdrs = headers()
        ids = own_sample(a.size, 2000)
        for _ in range(240):
            try:
                c = http.client.HTTPConnection("127.0.0.1", a.port, timeout=5)
                c.request("GET", f"/v1/supply-points/{ids[0]}", headers=hdrs)
                assert c.getresponse().status == 200
                c.close()
                break
            except (OSError, http.client.HTTPException):
                time.sleep(0.25)
        result["http"] = run_clients(a.port, hdrs, ids, a.clients, a.blocks, a.block_s)
        c = http.client.HTTPConnection("127.0.0.1", a.port, timeout=5)
        c.request("GET", "/bench/stats")
        result["log_after_http"] = json.loads(c.getresponse().read())
        c.close()
    finally:
        srv.terminate()
        srv.wait(timeout=60)
    result["load_avg_after_http"] = [round(x, 2) for x in os.getloadavg()]
    signer = note.generate_signer("bench.example/audit")
    targets = [audit_db] + ([a.verify_log] if a.verify_log else [])
    result["verify"] = []
    for path in targets:
        with open_log(path, migrate=False) as log:
            log.checkpoint([signer])
            n = log.size()
        c2 = Conn(f"sqlite:///{path}")
        sample = c2.entry_bytes(0, min(n, 1 << 18))
        c2.close()
        limit = hashing_limit(sample)
        rep = verify_log(f"sqlite:///{path}", [signer.verifier], workers=os.cpu_count())
        assert rep.ok, rep.problems
        rate = n / rep.seconds
        result["verify"].append({
            "leaves": n, "seconds": round(rep.seconds, 2), "leaves_per_s": round(rate),
            "hashlib_leaves_per_s_one_core": round(limit),
            "share_of_limit_all_cores": round(rate / (limit * (os.cpu_count() or 1)), 3),
            "load_avg": [round(x, 2) for x in os.getloadavg()],
        })  # fmt: skip
    print(json.dumps(result, indent=2))
    with a.out.open("a") as f:
        f.write(json.dumps(result) + "\n")
    audit_db.unlink(missing_ok=True)
    for p in a.workdir.glob(f"http-audit-{os.getpid()}.db-*"):
        p.unlink()


if __name__ == "__main__":
    main()
