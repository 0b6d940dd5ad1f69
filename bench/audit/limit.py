"""Verification beside the hashing limit, in one run (issue 15 item 3).

    nice -n 5 uv run python bench/audit/limit.py --db /tmp/gw-audit-bench/audit.db [--rounds 2]

On the same stored log, alternating in each round:

* ``hashlib`` — a bare loop of RFC 9162 leaf hashes ``sha256(0x00 ‖ entry)`` over the
  log's own entries (read beforehand, one core): the Python hashing limit;
* ``openssl`` — ``openssl speed -evp sha256`` at the entries' mean size (one core), when
  the ``openssl`` binary is present: the native hashing limit;
* ``verify`` — ``verify_log`` (every entry re-hashed, every tile recomputed and compared,
  the signed root checked) with ``--workers`` processes.

Wall-clock rates depend on what else runs on the shared machine, so each side is also
given in CPU time per leaf (``resource.getrusage`` of this process and its reaped worker
processes): ``cpu_share`` = hashlib CPU per leaf ÷ verify CPU per leaf is the fraction of
the per-core hashing limit verify reaches per core it gets. The log needs a signed
checkpoint (``bench/audit/run.py`` writes one; so does ``--sign``).

Rows are appended as JSON lines to ``bench/audit/results.jsonl``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import sqlite3
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gridwall.audit import note
from gridwall.audit._verify import verify_log


def cpu_s() -> float:
    """CPU seconds of this process and its reaped children (verify's workers)."""
    a = resource.getrusage(resource.RUSAGE_SELF)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def hashlib_loop(entries: list[bytes]) -> dict[str, float]:
    sha = hashlib.sha256
    c0, t0 = cpu_s(), time.perf_counter()
    for e in entries:
        sha(b"\x00" + e).digest()
    wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    return {"leaves_per_s": len(entries) / wall, "cpu_us_per_leaf": cpu / len(entries) * 1e6}


def openssl_speed(nbytes: int) -> dict[str, float] | None:
    """``openssl speed -evp sha256`` at ``nbytes`` per message: leaves/s on one core."""
    exe = shutil.which("openssl")
    if exe is None:
        return None
    out = subprocess.run(
        [exe, "speed", "-evp", "sha256", "-bytes", str(nbytes), "-seconds", "2"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    m = re.search(r"^sha256\s+([\d.]+)k\s*$", out, re.M)
    if m is None:
        return None
    bytes_per_s = float(m.group(1)) * 1000
    return {"bytes_per_s": bytes_per_s, "leaves_per_s": bytes_per_s / nbytes}


def verify(url: str, verifiers: list[note.Verifier] | None, workers: int) -> dict[str, Any]:
    c0, t0 = cpu_s(), time.perf_counter()
    rep = verify_log(url, verifiers, workers=workers)
    wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    if not rep.ok:
        raise SystemExit(f"verify failed: {rep.problems[:3]}")
    return {
        "leaves": rep.size,
        "seconds": round(wall, 3),
        "leaves_per_s": rep.size / wall,
        "cpu_us_per_leaf": cpu / rep.size * 1e6,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", type=Path, required=True, help="an SQLite audit log file")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--sample", type=int, default=300_000, help="entries for the hashlib loop")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("results.jsonl"))
    a = ap.parse_args()
    url = f"sqlite:///{a.db.resolve()}"
    con = sqlite3.connect(f"file:{a.db.resolve()}?mode=ro", uri=True)
    entries = [e for (e,) in con.execute("SELECT entry FROM audit_entry LIMIT ?", (a.sample,))]
    con.close()
    mean = sum(map(len, entries)) / len(entries)
    row: dict[str, Any] = {
        "bench": "audit-verify-limit",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "workers": a.workers,
        "mean_entry_bytes": round(mean, 1),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "rounds": [],
    }
    for _ in range(a.rounds):
        r = {
            "hashlib": hashlib_loop(entries),
            "openssl": openssl_speed(round(mean) + 1),
            "verify": verify(url, None, a.workers),
            "load_avg": [round(x, 2) for x in os.getloadavg()],
        }
        cores = min(a.workers, os.cpu_count() or 1)
        r["share_of_hashlib_limit"] = r["verify"]["leaves_per_s"] / (
            cores * r["hashlib"]["leaves_per_s"]
        )
        r["cpu_share"] = r["hashlib"]["cpu_us_per_leaf"] / r["verify"]["cpu_us_per_leaf"]
        print(json.dumps(r))
        row["rounds"].append(r)
    with a.out.open("a") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
