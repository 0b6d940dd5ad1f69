"""Reports over a big audit log: the periodic report, ``report-check`` and statements.

    nice -n 10 uv run python bench/reports/run.py --events 1000000,10000000 \\
        --workdir /tmp/gw-report-bench

For each size N (each in its own cached store ``WORKDIR/N/gridwall.db``, reused when it is
already complete):

1. **build** — a store with ``--points`` synthetic supply points (the ``bench/gateway``
   dataset: one affiliated retailer ``A0001`` with 60 % of the points, 40 independents
   with 1 % each), then N audit events appended through the real ``AuditLog.record_many``
   (so the log is a real, verifiable Merkle log: entries, tiles, a signed checkpoint).
   The events are a realistic mix of a large operator over ``--days`` days (see
   :func:`make_event`): NW 託送 staff views and searches, retailers' agents on their own
   customers, refused reads of other retailers' customers, equal-footing lookups with
   and without name verification, logins and refused logins, contractors, exports,
   grant steps, disaster, consent and last-resort work, and unaudited HTTP requests.
2. **export** — ``gridwall audit export --from 0 --to N`` (JSON Lines).
3. **timed** (each a fresh process, as an operator or auditor runs it; wall time and the
   child's peak RSS from ``wait4``):
   ``gridwall report periodic``, ``python -m gridwall.audit.standalone report-check``
   (the standalone checker), ``gridwall report statement`` for the largest retailer and
   for a small one.

One JSON line per operation is appended to ``--out`` (default ``bench/reports/results.jsonl``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gateway"))

import run as gateway_bench

from gridwall.audit import note, open_log

AFF = gateway_bench.AFF
INDEPENDENTS = gateway_bench.INDEPENDENTS
#: the independents that supply points in the dataset (16 of the 40, 2.5 % of points each)
SUPPLYING = sorted({INDEPENDENTS[i % 40] for i in range(400) if i % 10 >= 6 and i % 100 != 7})
SMALL = SUPPLYING[3]
FIRST_DAY = datetime(2026, 11, 2, tzinfo=UTC) - timedelta(hours=9)  # 00:00 JST
NW_FIELDS = [
    "address",
    "contract",
    "contract_name",
    "equipment",
    "lrs",
    "phone",
    "retailer",
    "switching_history",
]
RETAIL_FIELDS = [
    "address",
    "contract",
    "contract_name",
    "equipment",
    "phone",
    "retailer",
    "switching_history",
]
BIN = Path(sys.executable).parent


_OWNED: dict[str, list[int]] = {}


def owned(n_points: int) -> dict[str, list[int]]:
    """Point numbers per retailer in the dataset (only retailers that supply points)."""
    if not _OWNED:
        for i in range(n_points):
            code, kind = gateway_bench.retailer_of(i)
            if kind == "retail":
                _OWNED.setdefault(code, []).append(i)
    return _OWNED


def point_of(rng: random.Random, n_points: int, retailer: str | None) -> tuple[str, int]:
    """A random point (one ``retailer`` supplies, when given) and its number."""
    i = rng.randrange(n_points) if retailer is None else rng.choice(owned(n_points)[retailer])
    return gateway_bench.pid(i), i


def retailer_weighted(rng: random.Random) -> str:
    """A retailer's agent, by the retailer's share of the points."""
    return AFF if rng.random() < 0.6 else rng.choice(SUPPLYING)


def make_event(i: int, rng: random.Random, ts: datetime, n_points: int) -> dict[str, Any]:
    """Event ``i`` of the mix (shares of all events in brackets)."""
    r = rng.random()
    base: dict[str, Any] = {
        "ts": ts.isoformat(),
        "system": "gridwall",
        "source_ip": f"10.{i % 7}.{i % 250}.{i % 199}",
        "query": None,
        "recipient_org": None,
        "result_count": None,
        "supply_point_ids": [],
        "fields": [],
        "policy_ids": [],
    }

    def nw(kind: str = "op") -> dict[str, Any]:
        k = rng.randrange(3000)
        return {
            "account_id": f"nw-{kind}-{k:04d}",
            "person_id": f"P-NW-{k:04d}",
            "org": "nw",
            "device_id": f"T-NW-{k % 900:04d}",
            "session_id": f"s-nw-{k}-{i // 5000}",
        }

    def agent(code: str) -> dict[str, Any]:
        k = rng.randrange(4000 if code == AFF else 60)
        return {
            "account_id": f"{code}-ag-{k:04d}",
            "person_id": f"P-{code}-{k:04d}",
            "org": f"retail:{code}",
            "device_id": f"T-{code}-{k % 300:03d}",
            "session_id": f"s-{code}-{k}-{i // 5000}",
        }

    def gw(who: dict[str, Any], **kw: Any) -> dict[str, Any]:
        return {
            **base,
            "event_id": f"gw-{i:032x}",
            "screen": "read_point",
            "action": "view",
            **who,
            **kw,
        }

    if r < 0.30:  # NW 託送 view of any point (30 %)
        p, _ = point_of(rng, n_points, None)
        fit = rng.random() < 0.03
        return gw(
            nw(),
            purpose="fit" if fit else "takuso",
            supply_point_ids=[p],
            fields=NW_FIELDS + (["fit"] if fit else []),
            result_count=1,
            decision="allow",
            policy_ids=[
                "forbid-fit-outside-fit-team",
                "permit-nw-fit" if fit else "permit-nw-takuso",
            ],
        )
    if r < 0.33:  # NW search over several points (3 %)
        pts = sorted({point_of(rng, n_points, None)[0] for _ in range(rng.randint(2, 20))})
        return gw(
            nw(),
            screen="search",
            action="search",
            purpose="takuso",
            query=f"town=本町{rng.randrange(4000)}丁目",
            supply_point_ids=pts,
            fields=NW_FIELDS[:-1],
            result_count=len(pts),
            decision="allow",
            policy_ids=["forbid-fit-outside-fit-team", "permit-nw-takuso"],
        )
    if r < 0.55:  # retailer agent, own customer (22 %)
        code = retailer_weighted(rng)
        p, _ = point_of(rng, n_points, code)
        return gw(
            agent(code),
            purpose="customer_service",
            supply_point_ids=[p],
            fields=RETAIL_FIELDS,
            result_count=1,
            decision="allow",
            policy_ids=["forbid-fit-outside-fit-team", "permit-retail-own-customer"],
        )
    if r < 0.57:  # retailer agent refused another retailer's customer (2 %)
        code = retailer_weighted(rng)
        while True:
            p, j = point_of(rng, n_points, None)
            if gateway_bench.retailer_of(j)[0] != code:
                break
        return gw(
            agent(code),
            purpose=rng.choice(["customer_service", "sales"]),
            supply_point_ids=[p],
            decision="deny",
            policy_ids=["forbid-fit-outside-fit-team", "forbid-other-retailers-customers"],
        )
    if r < 0.75:  # equal-footing lookup (18 %), independents look up more (switching)
        code = AFF if rng.random() < 0.3 else rng.choice(SUPPLYING)
        p, _ = point_of(rng, n_points, None)
        nv = rng.random()
        deny = rng.random() < 0.03
        ev = {
            **base,
            **agent(code),
            "event_id": f"lk-{i:032x}",
            "screen": "lookup",
            "action": "search",
            "purpose": "switching",
            "query": f"大阪府大阪市北区本町{rng.randrange(4000)}丁目{rng.randrange(97)}",
            "supply_point_ids": [] if deny else [p],
            "fields": ["address", "equipment"],
            "result_count": 0 if deny else 1,
            "decision": "deny" if deny else "allow",
            "policy_ids": ["permit-lookup"],
        }
        if deny:
            ev["denial"] = "rate_limit"
        else:
            ev["name_verification"] = (
                None if nv < 0.5 else "checked" if nv < 0.88 else "not_confident"
            )
        return ev
    if r < 0.87:  # login (12 %)
        who = nw() if rng.random() < 0.5 else agent(retailer_weighted(rng))
        return {
            **base,
            **who,
            "event_id": f"idn-{i:032x}",
            "screen": "login",
            "action": "login",
            "decision": "allow",
        }
    if r < 0.885:  # refused login (1.5 %)
        who = nw() if rng.random() < 0.5 else agent(retailer_weighted(rng))
        return {
            **base,
            **who,
            "event_id": f"idn-{i:032x}",
            "screen": "login",
            "action": "login_failed",
            "decision": "deny",
            "reason": rng.choice(
                [
                    "bad_password",
                    "bad_totp",
                    "terminal_not_enrolled",
                    "account_locked",
                    "terminal_revoked",
                ]
            ),
        }
    if r < 0.905:  # contractor view (2 %)
        k = rng.randrange(5)
        p, _ = point_of(rng, n_points, None)
        ok = rng.random() < 0.9
        who = {
            "account_id": f"con{k}-{rng.randrange(40):02d}",
            "person_id": f"P-CON{k}",
            "org": f"contractor:IT{k}",
            "device_id": f"T-CON{k}",
            "session_id": f"s-c{k}",
        }
        return gw(
            who,
            purpose=rng.choice(["system_maintenance", "meter_reading"]),
            supply_point_ids=[p],
            fields=["address", "equipment"] if ok else [],
            result_count=1 if ok else None,
            decision="allow" if ok else "deny",
            policy_ids=["permit-contractor-agreement" if ok else "forbid-no-agreement"],
        )
    if r < 0.91:  # contractor export (0.5 %)
        k = rng.randrange(5)
        ok = rng.random() < 0.95
        return {
            **base,
            **nw("exp"),
            "event_id": f"grants-{i:032x}",
            "screen": "export",
            "action": "export",
            "purpose": "system_maintenance",
            "recipient_org": f"contractor:IT{k}",
            "fields": ["address", "equipment"],
            "result_count": rng.randint(100, 5000) if ok else None,
            "decision": "allow" if ok else "deny",
            "grant_kind": "export",
            "policy_ids": ["permit-export-agreement"],
        }
    if r < 0.913:  # grant-management step (0.3 %)
        kind = rng.choice(["consent", "agreement", "disaster", "access_review"])
        return {
            **base,
            **nw("mgr"),
            "event_id": f"grants-{i:032x}",
            "screen": f"grants/{kind}",
            "action": "update",
            "purpose": "management",
            "grant_kind": kind,
            "decision": "allow" if rng.random() < 0.97 else "deny",
        }
    if r < 0.918:  # disaster-time view by a retailer's responder (0.5 %)
        code = AFF if rng.random() < 0.7 else SUPPLYING[0]
        p, _ = point_of(rng, n_points, None)
        return gw(
            agent(code),
            purpose="disaster_support",
            supply_point_ids=[p],
            fields=["address", "contract_name", "phone"],
            result_count=1,
            decision="allow",
            policy_ids=["permit-disaster-support"],
        )
    if r < 0.921:  # usage with the customer's consent (0.3 %)
        code = rng.choice(SUPPLYING)
        p, _ = point_of(rng, n_points, None)
        return gw(
            agent(code),
            purpose="consent_usage",
            supply_point_ids=[p],
            fields=["usage"],
            result_count=1,
            decision="allow",
            policy_ids=["permit-consent-usage"],
        )
    if r < 0.923:  # last-resort supply work (0.2 %)
        p, _ = point_of(rng, n_points, None)
        return gw(
            nw("lrs"),
            purpose="lrs_operations",
            supply_point_ids=[p],
            fields=["address", "contract_name", "lrs"],
            result_count=1,
            decision="allow",
            policy_ids=["permit-nw-lrs"],
        )
    # an HTTP request no capability audited (7.7 %)
    who = nw() if rng.random() < 0.5 else agent(retailer_weighted(rng))
    status = rng.choice([200, 200, 200, 304, 401, 404])
    return {
        **base,
        **who,
        "event_id": f"web-{i:032x}",
        "screen": "web",
        "action": "view",
        "route": rng.choice(["GET /console/", "GET /console/search", "GET /v1/me"]),
        "status": str(status),
        "decision": "allow" if status < 400 else "deny",
    }


def build(d: Path, n: int, n_points: int, days: float, batch: int) -> dict[str, Any]:
    """The store with the dataset and N events (cached: reused when ``done.json`` exists)."""
    done = d / "done.json"
    if done.exists():
        return dict(json.loads(done.read_text()))
    from gridwall.app.wiring import load_dataset
    from gridwall.store import make_engine, upgrade

    for p in d.glob("gridwall.db*"):
        p.unlink()
    d.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{d / 'gridwall.db'}"
    t0 = time.perf_counter()
    upgrade(url)
    engine = make_engine(url)
    gateway_bench.write_dataset(d / "dataset", n_points)
    load_dataset(d / "dataset", engine, progress=False)
    engine.dispose()
    t_store = time.perf_counter() - t0
    print(f"  store: {n_points:,} points in {t_store:.0f} s", file=sys.stderr)
    clock = [FIRST_DAY.timestamp()]
    log = open_log(url, migrate=False, max_batch=batch, clock=lambda: clock[0])
    rng = random.Random(n)
    step = days * 86400 / n
    t1 = time.perf_counter()
    last = t1
    i = 0
    while i < n:
        b = min(batch, n - i)
        evs = []
        for k in range(i, i + b):
            ts = FIRST_DAY + timedelta(seconds=k * step - rng.random() * 2)  # queued ≤ 2 s
            evs.append(make_event(k, rng, ts, n_points))
        clock[0] = FIRST_DAY.timestamp() + (i + b) * step
        log.record_many(evs)
        i += b
        if time.perf_counter() - last > 15:
            last = time.perf_counter()
            print(f"  {i:,} events, {i / (last - t1):,.0f} appends/s", file=sys.stderr)
    t_append = time.perf_counter() - t1
    signer = note.generate_signer("bench.example/gridwall-audit")
    log.checkpoint([signer])
    log.close()
    (d / "audit.key").write_text(signer.text() + "\n")
    (d / "audit.pub").write_text(signer.verifier.text() + "\n")
    (d / "pseudonym.key").write_text(os.urandom(32).hex() + "\n")
    info = {
        "events": n,
        "points": n_points,
        "days": days,
        "store_s": round(t_store, 1),
        "append_s": round(t_append, 1),
        "append_per_s": round(n / t_append),
        "db_bytes": sum(p.stat().st_size for p in d.glob("gridwall.db*")),
    }
    done.write_text(json.dumps(info))
    return info


def timed_rss(cmd: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``cmd`` in a fresh process: wall seconds, CPU seconds, exit status and its peak
    RSS (``VmHWM`` of the child, sampled every 0.1 s: it is a high-water mark)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    hwm = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.1):
            try:
                with open(f"/proc/{p.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            hwm[0] = max(hwm[0], int(line.split()[1]))
            except OSError:
                return

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    assert p.stdout is not None
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    stop.set()
    th.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    return {
        "seconds": round(wall, 2),
        "peak_rss_mb": round(hwm[0] / 1024),
        "cpu_s": round(ru.ru_utime + ru.ru_stime, 1),
        "rc": p.returncode,
        "output": out.decode(errors="replace")[-600:],
    }


def machine() -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", default="10000000", help="sizes, comma-separated")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/gw-report-bench"))
    ap.add_argument("--points", type=int, default=200_000)
    ap.add_argument("--days", type=float, default=3.0)
    ap.add_argument("--batch", type=int, default=50_000)
    ap.add_argument("--only", default="periodic,check,statement-large,statement-small")
    ap.add_argument("--label", default="")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("results.jsonl"))
    a = ap.parse_args()
    only = set(a.only.split(","))
    gridwall = str(BIN / "gridwall")
    for n in [int(float(s)) for s in a.events.split(",")]:
        d = a.workdir / str(n)
        print(f"size {n:,}: building (or reusing) {d} …", file=sys.stderr)
        info = build(d, n, a.points, a.days, a.batch)
        print(f"  {json.dumps(info)}", file=sys.stderr)
        url = f"sqlite:///{d / 'gridwall.db'}"
        env = {**os.environ, "GRIDWALL_DB": url, "GRIDWALL_PSEUDONYM_KEY": str(d / "pseudonym.key")}
        first = FIRST_DAY.astimezone(gateway_bench_jst()).date()
        last = (
            (FIRST_DAY + timedelta(days=a.days, seconds=-1)).astimezone(gateway_bench_jst()).date()
        )
        period = ["--from", first.isoformat(), "--to", last.isoformat()]
        exp = d / "export.jsonl"
        if not exp.exists() and only & {"periodic", "check"}:  # statements need no export
            print("  exporting …", file=sys.stderr)
            r = timed_rss(
                [gridwall, "audit", "export", "--from", "0", "--to", str(n), "--out", str(exp)], env
            )
            assert r["rc"] == 0, r
            _record(
                a,
                {
                    "op": "export",
                    "events": n,
                    **info,
                    **machine(),
                    **r,
                    "export_bytes": exp.stat().st_size,
                },
            )
        ops: list[tuple[str, list[str]]] = [
            ("periodic", [gridwall, "report", "periodic", *period, "--out", str(d / "report")]),
            (
                "check",
                [
                    sys.executable,
                    "-m",
                    "gridwall.audit.standalone",
                    "report-check",
                    str(exp),
                    str(d / "report" / "report.json"),
                    str(d / "audit.pub"),
                ],
            ),
            (
                "statement-large",
                [
                    gridwall,
                    "report",
                    "statement",
                    "--retailer",
                    AFF,
                    *period,
                    "--out",
                    str(d / "statement"),
                ],
            ),
            (
                "statement-small",
                [
                    gridwall,
                    "report",
                    "statement",
                    "--retailer",
                    SMALL,
                    *period,
                    "--out",
                    str(d / "statement"),
                ],
            ),
        ]
        for base in ("statement-large", "statement-small"):  # the compact proof form
            ops.append((f"{base}-compact", [*dict(ops)[base], "--proofs", "compact"]))
        for op, cmd in ops:
            if op not in only:
                continue
            print(f"  {op} …", file=sys.stderr)
            r = timed_rss(cmd, env)
            row = {"op": op, "events": n, "label": a.label, **info, **machine(), **r}
            if op.startswith("statement") and r["rc"] == 0:
                code = AFF if op.startswith("statement-large") else SMALL
                f = d / "statement" / f"statement-{code}-{period[1]}-{period[3]}.json"
                row["statement_bytes"] = f.stat().st_size
                row["statement_rows"] = json.loads(r["output"].strip().splitlines()[-1])["count"]
            print(f"  {json.dumps(row)}", file=sys.stderr)
            _record(a, row)


def gateway_bench_jst() -> Any:
    from gridwall.interfaces.clock import JST

    return JST


def _record(a: Any, row: dict[str, Any]) -> None:
    with a.out.open("a") as f:
        f.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
