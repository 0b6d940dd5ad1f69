"""Monitor benchmark: the full rule suite at 10⁶ / 10⁷ / 10⁸ events on DuckDB, three rules as
ibis vs hand-written DuckDB SQL, and Spark at the smaller sizes.

    nice -n 10 uv run python bench/monitor/run.py --sizes 1e6,1e7,1e8 --spark-sizes 1e6,1e7

Datasets come from ``bench/monitor/gen.py`` (Parquet, cached under ``--data``). Each
measurement runs in its own process; peak memory is that process's VmHWM, time is wall-clock,
CPU is user+sys of the process (Spark's JVM is a grandchild and not counted in CPU). The
hand-written SQL and the ibis rules must find the same evidence (checked).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
THREE = ("A-retail-sees-non-public", "C2-foreign-terminal", "R6-bulk-access")

HAND_SQL = """
WITH e AS (
    SELECT event_id, account_id, device_id, action, purpose, supply_point_ids, fields, decision,
           CAST(make_timestamp(epoch_us(ts)) + INTERVAL 9 HOUR AS DATE) AS day
    FROM read_parquet({events})),
j AS (
    SELECT e.*, a.kind AS a_kind, coalesce(p.org, a.org) AS org, d.owner_org AS d_owner,
           d.kind AS d_kind
    FROM e
    LEFT JOIN ref_accounts a ON a.account_id = e.account_id
    LEFT JOIN ref_persons p ON p.person_id = a.holder_person_id
         AND p.valid_from <= e.day AND e.day < p.valid_until
    LEFT JOIN ref_devices d ON d.device_id = e.device_id
         AND d.valid_from <= e.day AND e.day < d.valid_until),
c2 AS (
    SELECT 'C2-foreign-terminal' AS rule, event_id, NULL AS sp FROM j
    WHERE d_owner IS NOT NULL AND org IS NOT NULL AND d_owner <> org),
x AS (
    SELECT event_id, account_id, day, decision, len(supply_point_ids) AS n_points,
           substr(org, 8) AS retailer, unnest(supply_point_ids) AS sp
    FROM j
    WHERE org LIKE 'retail:%' AND action IN ('view', 'search', 'export', 'update')
      AND list_has_any(fields, ['contract_name', 'phone', 'usage', 'retailer',
                                'switching_history', 'contract', 'lrs', 'fit'])
      AND NOT coalesce(a_kind = 'disaster_support' OR purpose = 'disaster_support'
                       OR d_kind = 'disaster_terminal', false)),
xr AS (
    SELECT x.* FROM x LEFT JOIN ref_contracts c ON c.supply_point_id = x.sp
         AND c.start_date <= x.day AND x.day < c.valid_until
    WHERE c.retailer_code IS NULL OR c.retailer_code <> x.retailer),
bulk AS (
    SELECT account_id, day FROM xr GROUP BY account_id, day
    HAVING count(DISTINCT sp) >= 25 OR max(n_points) >= 25)
SELECT * FROM c2
UNION SELECT 'A-retail-sees-non-public', event_id, sp FROM xr WHERE decision = 'allow'
UNION SELECT 'R6-bulk-access', event_id, sp FROM xr SEMI JOIN bulk USING (account_id, day)
"""


def _child(argv: list[str]) -> None:
    """Run one measurement in this process and print JSON."""
    kind, directory = argv[0], Path(argv[1])
    t0 = time.perf_counter()
    if kind == "hand":
        from gridwall.monitor import _input
        from gridwall.monitor._columns import source_columns
        from gridwall.monitor._run import _connect
        from gridwall.monitor.rules import RULES

        duck = _connect()
        cols = source_columns(RULES)  # the same projection as the scan
        _input.register_reference(duck, directory, check=False, columns=cols)
        rows = duck.execute(
            HAND_SQL.format(events=_input.q(str(directory / "events.parquet")))
        ).fetchall()
        ev = sorted({(r[0], r[1]) for r in rows})
        out = {"evidence": len(ev), "digest": hash(tuple(ev)) & 0xFFFFFFFF}
    else:
        from gridwall.monitor._run import scan

        engine = argv[2]
        only = tuple(argv[3].split(",")) if len(argv) > 3 and argv[3] else None
        res = scan(directory, engine=engine, only=only, say=lambda _m: None)
        ev = sorted({(a["rule"], e) for a in res.alerts for e in a["event_ids"]})
        out = {
            "alerts": len(res.alerts),
            "evidence": len(ev),
            "digest": hash(tuple(ev)) & 0xFFFFFFFF,
        }
    out["seconds"] = time.perf_counter() - t0
    out["hwm_mb"] = _hwm_mb()
    print(json.dumps(out))


def _hwm_mb() -> float:
    """This process's peak resident memory (VmHWM: per address space, so unlike ru_maxrss it
    does not inherit the launching process's peak across fork/exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _measure(args: list[str]) -> dict[str, float]:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    t0 = time.perf_counter()
    p = subprocess.Popen(
        [sys.executable, __file__, "--child", *args], stdout=subprocess.PIPE, env=env
    )
    _pid, status, ru = os.wait4(p.pid, 0)
    assert p.stdout is not None
    text = p.stdout.read().decode()
    wall = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"bench: child {args} failed ({status})")
    out = json.loads(text.strip().splitlines()[-1])
    out.update(wall=wall, cpu=ru.ru_utime + ru.ru_stime, peak_mb=out.pop("hwm_mb"))
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1e6,1e7,1e8")
    ap.add_argument("--spark-sizes", default="1e6,1e7")
    ap.add_argument("--data", type=Path, default=Path("/tmp/gridwall-bench-monitor"))
    ap.add_argument("--out", type=Path, default=HERE / "results.json")
    a = ap.parse_args()
    sys.path.insert(0, str(HERE))
    from gen import generate  # type: ignore[import-not-found]

    results: dict[str, object] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') // 2**30} GiB",
        "load_before": os.getloadavg()[0],
        "runs": [],
    }
    runs: list[dict[str, object]] = results["runs"]  # type: ignore[assignment]
    sizes = [int(float(x)) for x in a.sizes.split(",") if x]
    spark = {int(float(x)) for x in a.spark_sizes.split(",") if x}
    for n in sizes:
        d = a.data / f"ev{n}"
        if not (d / "events.parquet").exists():
            t0 = time.perf_counter()
            generate(d, n)
            print(
                f"bench: generated {n} events in {time.perf_counter() - t0:.0f} s", file=sys.stderr
            )
        for label, args in (
            ("duckdb full suite", ["scan", str(d), "duckdb", ""]),
            ("duckdb ibis 3 rules", ["scan", str(d), "duckdb", ",".join(THREE)]),
            ("duckdb hand SQL 3 rules", ["hand", str(d)]),
            *((("spark full suite", ["scan", str(d), "spark", ""]),) if n in spark else ()),
        ):
            r = _measure(args)
            r.update(size=n, what=label, load=os.getloadavg()[0])
            runs.append(r)
            print(
                f"bench: {n:>11,} {label:24} {r['wall']:8.1f} s wall {r['cpu']:8.1f} s cpu "
                f"{r['peak_mb']:7.0f} MB  {n / r['wall']:>12,.0f} ev/s  "
                f"evidence {r['evidence']}",
                file=sys.stderr,
                flush=True,
            )
        ib = next(r for r in runs if r["size"] == n and r["what"] == "duckdb ibis 3 rules")
        hd = next(r for r in runs if r["size"] == n and r["what"] == "duckdb hand SQL 3 rules")
        if (ib["evidence"], ib["digest"]) != (hd["evidence"], hd["digest"]):
            print(f"bench: WARNING ibis and hand SQL disagree at {n}", file=sys.stderr)
        a.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
