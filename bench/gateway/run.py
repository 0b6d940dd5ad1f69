"""Gateway benchmark: authorized masked reads vs the unprotected read of the same rows.

    uv run python bench/gateway/run.py --sizes 1000000 [--requests 4000] [--audit memory]

For each size N: writes a synthetic dataset (retailers, supply points, contracts,
FIT; simple values, realistic shape), times ``gridwall load`` on it, then measures

* in-process: decision + masking alone (facts → cached Cedar decision → masked
  dict), the full ``Gateway.read_point`` (store read, grants, decision, audit,
  masking) and the unprotected read (store read + every field);
* over HTTP: uvicorn in a subprocess serving ``create_app(..., unprotected=True)``;
  one keep-alive httpx client alternates blocks of gateway and unprotected reads
  of the same rows; throughput, p50, p99 per side, and the ratio;
* peak memory (VmHWM) of the bench process and of the server.

Results are printed and appended as JSON lines to ``--out``. Run big sizes under
``nice -n 10``; the machine is shared, so compare the ratios measured side by side.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# the in-process test doubles (token authenticator, no grants, memory sink) live with the tests
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

SECRET = b"gridwall-bench-secret"
AFF = "A0001"
NW_CODE = "T0000"
INDEPENDENTS = [f"B{i:04d}" for i in range(1, 41)]
PREFS = [("大阪府", "大阪市北区"), ("京都府", "京都市中京区"), ("兵庫県", "神戸市中央区"),
         ("奈良県", "奈良市"), ("滋賀県", "大津市")]  # fmt: skip


def pid(i: int) -> str:
    return f"06{i:020d}"


def retailer_of(i: int) -> tuple[str, str]:
    if i % 100 == 7:
        return NW_CODE, "lrs"
    if i % 10 < 6:
        return AFF, "retail"
    return INDEPENDENTS[i % len(INDEPENDENTS)], "retail"


def write_dataset(d: Path, n: int) -> None:
    d.mkdir(parents=True, exist_ok=True)
    with (d / "retailers.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["retailer_code", "name", "kind"])
        w.writerow([AFF, "関西グループ電力販売", "affiliated"])
        for c in INDEPENDENTS:
            w.writerow([c, f"新電力{c}", "independent"])
    with (
        (d / "supply_points.csv").open("w", newline="", encoding="utf-8") as fp,
        (d / "supply_contracts.csv").open("w", newline="", encoding="utf-8") as fc,
        (d / "fit_contracts.csv").open("w", newline="", encoding="utf-8") as ff,
    ):
        wp, wc, wf = csv.writer(fp), csv.writer(fc), csv.writer(ff)
        wp.writerow(["supply_point_id", "pref", "city", "town", "banchi", "building", "room",
                     "contract_name", "phone", "voltage", "meter_id", "status"])  # fmt: skip
        wc.writerow(["supply_point_id", "retailer_code", "start_date", "end_date", "kind"])
        wf.writerow(["supply_point_id", "generator_name", "capacity_kw", "start_date", "end_date"])
        for i in range(n):
            p = pid(i)
            pref, city = PREFS[i % len(PREFS)]
            wp.writerow([p, pref, city, f"本町{i % 4000}丁目", f"{i % 97 + 1}-{i % 13 + 1}",
                         "", "", f"顧客 {i}", f"06-{i % 10000:04d}-{i // 10000 % 10000:04d}",
                         "low", f"M{i:010d}", "active"])  # fmt: skip
            code, kind = retailer_of(i)
            if kind == "retail" and i % 3 == 0:  # a previous contract with another retailer
                prev = INDEPENDENTS[(i + 1) % len(INDEPENDENTS)] if code == AFF else AFF
                wc.writerow([p, prev, "2015-04-01", "2020-04-01", "retail"])
                wc.writerow([p, code, "2020-04-01", "", kind])
            else:
                wc.writerow([p, code, "2018-04-01", "", kind])
            if i % 50 == 3:
                wf.writerow([p, f"太陽光 {i}", 5.5, "2019-04-01", ""])


# ---------------------------------------------------------------------------


def peak_rss_mb(pid_: int | None = None) -> float:
    path = f"/proc/{pid_ or 'self'}/status"
    with open(path) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def summary(samples_s: list[float], wall: float) -> dict[str, float]:
    xs = sorted(samples_s)
    q = statistics.quantiles(xs, n=100, method="inclusive")
    return {
        "n": len(xs),
        "p50_us": round(q[49] * 1e6, 1),
        "p99_us": round(q[98] * 1e6, 1),
        "mean_us": round(statistics.fmean(xs) * 1e6, 1),
        "throughput_per_s": round(len(xs) / wall, 1),
    }


def build_gateway(db_url: str, audit_kind: str, audit_path: Path | None) -> tuple[Any, Any, Any]:
    from gridwall.gateway import Gateway
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
    from support.doubles import MemoryAuditSink, NoGrants, TokenAuthenticator

    engine = make_engine(db_url)
    auth = TokenAuthenticator(SECRET)
    facts = PrincipalFacts(OrgKind.RETAIL, RetailerKind.AFFILIATED, Role.CALL_CENTER,
                           AccountKind.PERSONAL, AccountState.ACTIVE, True)  # fmt: skip
    token = auth.register(Principal("bench-aff", "P-bench", f"retail:{AFF}", facts, "s1"))
    terminal = auth.enroll_terminal("T-bench", f"retail:{AFF}", DeviceKind.RETAIL_TERMINAL)
    audit: Any
    if audit_kind == "log":
        from gridwall.audit import open_log

        assert audit_path is not None
        audit = open_log(audit_path)
    else:
        audit = MemoryAuditSink()
        audit.events = _Discard()  # keep memory flat over long runs
    gw = Gateway(engine, default_engine(), auth=auth, grants=NoGrants(), audit=audit)
    return gw, token, terminal


class _Discard(list):  # type: ignore[type-arg]
    def append(self, _x: Any) -> None:
        return None


def own_sample(n: int, k: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < k:
        i = rng.randrange(n)
        if retailer_of(i) == (AFF, "retail"):
            out.append(pid(i))
    return out


def bench_inprocess(gw: Any, token: str, terminal: str, ids: list[str]) -> dict[str, Any]:
    from gridwall.gateway import mask_point
    from gridwall.gateway._store import fetch_point, fetch_point_detail
    from gridwall.interfaces.facts import FIELDS, AccessRequest, Action, GrantFacts, ResourceFacts

    ctx = gw.authenticate(token, terminal, "customer_service")
    today = ctx.today
    with gw.engine.connect() as conn:
        rows = [fetch_point(conn, i, today) for i in ids]
    grants = GrantFacts()
    # warm the decision cache (one Cedar call per request class)
    for r in rows[:50]:
        gw.read_point(ctx, r.supply_point_id)
    out: dict[str, Any] = {}

    dm: list[float] = []
    t0 = time.perf_counter()
    for r in rows:
        s = time.perf_counter()
        rel = gw.relation(ctx.principal, r)
        req = AccessRequest(ctx.principal.facts, ctx.terminal.facts, Action.VIEW, ctx.purpose,
                            ResourceFacts(rel, r.is_lrs, r.has_fit), grants)  # fmt: skip
        d = gw.decide(req)
        v = mask_point(r, d.allowed_fields)
        dm.append(time.perf_counter() - s)
        assert "fit" not in v
    out["decision_and_masking"] = summary(dm, time.perf_counter() - t0)

    full: list[float] = []
    t0 = time.perf_counter()
    for i in ids:
        s = time.perf_counter()
        gw.read_point(ctx, i)
        full.append(time.perf_counter() - s)
    out["gateway_read_point"] = summary(full, time.perf_counter() - t0)

    everything = frozenset(FIELDS)
    unp: list[float] = []
    t0 = time.perf_counter()
    for i in ids:
        s = time.perf_counter()
        with gw.engine.connect() as conn:
            det = fetch_point_detail(conn, i, today)
        v = mask_point(det.row, everything)
        v["switching_history"], v["fit"] = det.switching_history, det.fit
        unp.append(time.perf_counter() - s)
    out["unprotected_read"] = summary(unp, time.perf_counter() - t0)
    return out


def serve(db_url: str, port: int, audit_kind: str, audit_path: str | None) -> None:
    import uvicorn

    from gridwall.app.http.gateway import create_app

    gw, _t, _term = build_gateway(db_url, audit_kind, Path(audit_path) if audit_path else None)
    app = create_app(gw)
    add_unprotected_route(app, gw)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def add_unprotected_route(app: Any, gw: Any) -> None:
    """BENCHMARK ONLY (never shipped): the same row as the gateway's read with no policy, no
    grants and no audit, to measure what the firewall costs."""
    from datetime import UTC, datetime

    from fastapi.responses import JSONResponse

    from gridwall.gateway import mask_point
    from gridwall.gateway._store import fetch_point_detail
    from gridwall.interfaces.clock import JST
    from gridwall.interfaces.facts import FIELDS

    everything = frozenset(FIELDS)

    @app.get("/unprotected/supply-points/{supply_point_id}")
    def unprotected_read(supply_point_id: str) -> Any:
        today = datetime.now(UTC).astimezone(JST).date()
        with gw.engine.connect() as conn:
            detail = fetch_point_detail(conn, supply_point_id, today)
        if detail is None:
            return JSONResponse({"error": "not_found"}, 404)
        out = mask_point(detail.row, everything)
        out["switching_history"] = detail.switching_history
        out["fit"] = detail.fit
        return JSONResponse(out)


def _concurrent(base: str, headers: dict[str, str], ids: list[str], k: int,
                lat: dict[str, list[float]], wall: dict[str, float]) -> None:  # fmt: skip
    """k client threads (own keep-alive connection each); sides alternate in 4 rounds."""
    import threading

    import httpx

    rounds = 4
    per = max(1, len(ids) // rounds)
    for rnd in range(rounds):
        chunk = ids[rnd * per : (rnd + 1) * per]
        sides = ("gateway", "unprotected") if rnd % 2 == 0 else ("unprotected", "gateway")
        for side in sides:
            parts = [chunk[j::k] for j in range(k)]
            out: list[list[float]] = [[] for _ in range(k)]

            def worker(j: int, side: str = side, parts: list[list[str]] = parts,
                       out: list[list[float]] = out) -> None:  # fmt: skip
                with httpx.Client(base_url=base, timeout=60) as c:
                    for i in parts[j]:
                        s = time.perf_counter()
                        if side == "gateway":
                            r = c.get(f"/v1/supply-points/{i}", headers=headers)
                        else:
                            r = c.get(f"/unprotected/supply-points/{i}")
                        out[j].append(time.perf_counter() - s)
                        if r.status_code != 200:
                            raise RuntimeError(f"{side} {r.status_code}")

            threads = [threading.Thread(target=worker, args=(j,)) for j in range(k)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall[side] += time.perf_counter() - t0
            for o in out:
                lat[side].extend(o)


def bench_http(db_url: str, ids: list[str], audit_kind: str, workdir: Path,
               port: int, block: int = 200, concurrency: int = 1) -> dict[str, Any]:  # fmt: skip
    import httpx

    cmd = [sys.executable, __file__, "--serve", db_url, "--port", str(port), "--audit", audit_kind,
           "--audit-path", str(workdir / "bench-audit.db")]  # fmt: skip
    srv = subprocess.Popen(cmd)
    try:
        base = f"http://127.0.0.1:{port}"
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
        headers = {"Authorization": f"Bearer {token}", "X-Gridwall-Terminal": term,
                   "X-Gridwall-Purpose": "customer_service"}  # fmt: skip
        with httpx.Client(base_url=base, timeout=30) as c:
            for _ in range(200):
                try:
                    c.get(f"/unprotected/supply-points/{ids[0]}")
                    break
                except httpx.TransportError:
                    time.sleep(0.25)
            for i in ids[:100]:  # warm-up both paths
                assert c.get(f"/v1/supply-points/{i}", headers=headers).status_code == 200
                assert c.get(f"/unprotected/supply-points/{i}").status_code == 200
            lat: dict[str, list[float]] = {"gateway": [], "unprotected": []}
            wall = {"gateway": 0.0, "unprotected": 0.0}
            if concurrency > 1:
                _concurrent(base, headers, ids, concurrency, lat, wall)
                ids = []  # measured above
            for b in range(0, len(ids), block):
                chunk = ids[b : b + block]
                order = ("gateway", "unprotected") if (b // block) % 2 == 0 else (
                    "unprotected", "gateway")  # fmt: skip
                for side in order:
                    t0 = time.perf_counter()
                    for i in chunk:
                        s = time.perf_counter()
                        if side == "gateway":
                            r = c.get(f"/v1/supply-points/{i}", headers=headers)
                        else:
                            r = c.get(f"/unprotected/supply-points/{i}")
                        lat[side].append(time.perf_counter() - s)
                        if r.status_code != 200:
                            raise RuntimeError(f"{side} {r.status_code} {r.text[:200]}")
                    wall[side] += time.perf_counter() - t0
        res: dict[str, Any] = {k: summary(v, wall[k]) for k, v in lat.items()}
        res["ratio_p50"] = round(res["gateway"]["p50_us"] / res["unprotected"]["p50_us"], 3)
        res["ratio_throughput"] = round(
            res["unprotected"]["throughput_per_s"] / res["gateway"]["throughput_per_s"], 3
        )
        res["server_peak_rss_mb"] = round(peak_rss_mb(srv.pid), 1)
        res["concurrency"] = concurrency
        return res
    finally:
        srv.terminate()
        srv.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000000", help="comma-separated supply point counts")
    ap.add_argument("--requests", type=int, default=4000, help="reads per measured side")
    ap.add_argument("--workdir", default="/tmp/gridwall-bench")
    ap.add_argument("--db", default=None, help="SQLAlchemy URL (default: SQLite in workdir)")
    ap.add_argument("--audit", default="memory", choices=("memory", "log"))
    ap.add_argument("--port", type=int, default=8877)
    ap.add_argument("--concurrency", type=int, default=1, help="HTTP client threads")
    ap.add_argument("--out", default=str(Path(__file__).with_name("results.jsonl")))
    ap.add_argument("--serve", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--audit-path", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve:
        serve(a.serve, a.port, a.audit, a.audit_path)
        return
    from gridwall.app.wiring import load_dataset
    from gridwall.store import make_engine, upgrade

    for n in [int(x) for x in a.sizes.split(",")]:
        work = Path(a.workdir) / str(n)
        work.mkdir(parents=True, exist_ok=True)
        db_url = a.db or f"sqlite:///{work / 'gridwall.db'}"
        result: dict[str, Any] = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpu "
                       f"{platform.python_implementation()} {platform.python_version()}",
            "supply_points": n, "db": db_url.split(":", 1)[0], "audit": a.audit,
        }  # fmt: skip
        marker = work / "loaded.json"
        if not marker.exists():
            t0 = time.perf_counter()
            write_dataset(work / "ds", n)
            result["write_csv_s"] = round(time.perf_counter() - t0, 1)
            upgrade(db_url)
            engine = make_engine(db_url)
            t0 = time.perf_counter()
            load_dataset(work / "ds", engine, progress=True)
            result["load_s"] = round(time.perf_counter() - t0, 1)
            t0 = time.perf_counter()
            load_dataset(work / "ds", engine, progress=False)
            result["reload_unchanged_s"] = round(time.perf_counter() - t0, 1)
            engine.dispose()
            keys = ("write_csv_s", "load_s", "reload_unchanged_s")
            marker.write_text(json.dumps({k: result.get(k) for k in keys}))
        else:
            result.update(json.loads(marker.read_text()))
        ids = own_sample(n, a.requests)
        gw, token, term = build_gateway(db_url, a.audit, work / "bench-audit-inproc.db")
        result["in_process"] = bench_inprocess(gw, token, term, ids)
        gw.engine.dispose()
        result["http"] = bench_http(db_url, own_sample(n, a.requests, seed=2), a.audit, work,
                                    a.port, concurrency=a.concurrency)  # fmt: skip
        result["bench_peak_rss_mb"] = round(peak_rss_mb(), 1)
        print(json.dumps(result, ensure_ascii=False, indent=2))
        with open(a.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(result, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
