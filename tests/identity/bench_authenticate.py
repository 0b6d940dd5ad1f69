"""Measure identity's request path and login cost (not a test; run by hand).

    uv run python tests/identity/bench_authenticate.py [--pg]

Prints Argon2id hash/verify time with the production parameters and the p50/p99 of
``IdentityService.authenticate`` (session token + terminal token → facts) on SQLite and,
with ``--pg``, on a throw-away PostgreSQL database.
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gridwall.identity._passwords import HashParams, PasswordHashing
from identity.conftest import make_world


def _auth(url: str, n: int = 500) -> str:
    w = make_world(url)
    token = w.login("nw-op", "t-nw")
    term = w.term("t-nw")
    for _ in range(20):
        w.svc.authenticate(token, term, w.now)
    lat = []
    for _ in range(n):
        t = time.perf_counter()
        w.svc.authenticate(token, term, w.now)
        lat.append(time.perf_counter() - t)
    w.engine.dispose()
    lat.sort()
    return f"p50 {1e3 * lat[n // 2]:.2f} ms, p99 {1e3 * lat[int(n * 0.99)]:.2f} ms"


def main() -> None:
    ph = PasswordHashing(HashParams())
    t0 = time.perf_counter()
    h = ph.hash("correct horse battery staple")
    t1 = time.perf_counter()
    ph.verify(h, "correct horse battery staple")
    t2 = time.perf_counter()
    print(
        f"argon2id (t=3, 64 MiB, p=4): hash {1e3 * (t1 - t0):.0f} ms, "
        f"verify {1e3 * (t2 - t1):.0f} ms"
    )
    print("authenticate, SQLite:", _auth(f"sqlite:///{tempfile.mkdtemp()}/bench.db"))
    if "--pg" in sys.argv:
        from sqlalchemy import create_engine, text

        admin = create_engine(
            "postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
        )
        name = f"gw_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            print(
                "authenticate, PostgreSQL:",
                _auth(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"),
            )
        finally:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
