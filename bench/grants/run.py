"""Grant resolver on the gateway's hot path: µs per ``resolve`` (cached snapshot), the cost
of checking the grant version on every call, a snapshot reload, and watermarking/tracing.

    uv run python bench/grants/run.py [--db URL] [--disasters 20] [--agreements 200]

Default store: a throw-away SQLite file. The scenario is deliberately heavy for the cache:
``--disasters`` declarations active at once, ``--agreements`` disaster_support agreements.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from gridwall.grants import (
    PREFECTURES,
    AgreementRegistry,
    ConsentDesk,
    DisasterDesk,
    StoreGrantResolver,
    watermark_export,
)
from gridwall.grants._watermark import trace_text
from gridwall.interfaces import PointContext, Principal, Terminal
from gridwall.interfaces.facts import (
    AccountKind,
    AccountState,
    Action,
    DeviceFacts,
    DeviceKind,
    DeviceOwner,
    OrgKind,
    PrincipalFacts,
    Purpose,
    RetailerKind,
    Role,
)
from gridwall.store import make_engine, upgrade

# the memory audit sink (a test double) lives with the tests
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

T0 = datetime(2026, 9, 1, tzinfo=UTC)


def per_call(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db")
    ap.add_argument("--disasters", type=int, default=20)
    ap.add_argument("--agreements", type=int, default=200)
    a = ap.parse_args()
    from support.doubles import MemoryAuditSink

    url = a.db or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    engine = make_engine(url)
    upgrade(url, engine)
    sink, clock = MemoryAuditSink(), (lambda: T0)
    desk = DisasterDesk(engine, sink, clock)
    for i in range(a.disasters):
        pref = PREFECTURES[i % len(PREFECTURES)]
        desk.declare(f"D{i}", pref, T0 + timedelta(hours=24), timedelta(hours=72), "x")
        desk.approve(f"D{i}", "y")
    reg = AgreementRegistry(engine, sink, clock)
    for i in range(a.agreements):
        reg.register(
            f"AG{i}", f"retail:R{i:04d}", "disaster_support", [], "", date(2026, 1, 1), None, "z"
        )
    point = PointContext("0300000000000000000001", "東京都", "千代田区", False)
    token, _ = ConsentDesk(engine, sink, clock).issue(point.supply_point_id, "R0001", 7, 13, "z")
    facts = PrincipalFacts(
        OrgKind.RETAIL, RetailerKind.INDEPENDENT, Role.CALL_CENTER, AccountKind.PERSONAL,
        AccountState.ACTIVE, True,
    )  # fmt: skip
    p = Principal("a", "p", "retail:R0001", facts)
    t = Terminal(
        "d", "retail:R0001", DeviceFacts(DeviceKind.DISASTER_TERMINAL, DeviceOwner.SAME_ORG, True)
    )
    now = T0 + timedelta(hours=1)
    res = StoreGrantResolver(engine, clock)
    fresh = StoreGrantResolver(engine, clock, refresh_seconds=0)
    rows = [{"supply_point_id": f"03{i:020d}", "contract_name": f"n{i}"} for i in range(10_000)]
    key = b"k" * 32
    print(f"store {engine.dialect.name}; {a.disasters} active declarations, "
          f"{a.agreements} agreements")  # fmt: skip
    v = per_call(
        lambda: res.resolve(p, t, Purpose.DISASTER_SUPPORT, Action.VIEW, point, now), 20_000
    )
    print(f"resolve, disaster view, cached snapshot: {v:.1f} µs")
    v = per_call(
        lambda: res.resolve(
            p, t, Purpose.CONSENT_USAGE, Action.VIEW, point, now, consent_token=token
        ),
        20_000,
    )
    print(f"resolve with a consent token, cached: {v:.1f} µs")
    v = per_call(
        lambda: fresh.resolve(p, t, Purpose.DISASTER_SUPPORT, Action.VIEW, point, now), 2_000
    )
    print(f"resolve, version checked on every call (refresh_seconds=0): {v:.1f} µs")

    def reload() -> None:
        fresh.invalidate()
        fresh.disaster_active(now)

    print(f"snapshot reload: {per_call(reload, 20) / 1000:.1f} ms")
    t0 = time.perf_counter()
    wm = watermark_export(rows, "contractor:c", "AG", "E1", key)
    print(f"watermark 10,000 rows: {(time.perf_counter() - t0) * 1000:.0f} ms")
    from gridwall.grants import register_export

    with engine.begin() as c:
        register_export(c, wm, "x")
    text = wm.to_csv()
    t0 = time.perf_counter()
    found = trace_text(text, engine, key)
    assert found is not None and found.export_id == "E1"
    print(f"trace the whole 10,000-row file: {(time.perf_counter() - t0) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
