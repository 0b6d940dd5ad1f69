"""A seeded scenario: the tiny operator (tests/gateway/tiny.py), the real gateway writing to
the real audit log in the same store, and a month of accesses by NW staff, retailers and a
contractor, some allowed, some refused, one of them before and one after a point changed
retailer (P_MOVED: AFF until 2026-03-14, IND from 2026-03-15)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from gridwall.app.wiring import load_dataset
from gridwall.audit import AuditLog, note, open_log
from gridwall.gateway import Gateway, GatewayError, SearchCriteria
from gridwall.policy import default_engine
from gridwall.store import make_engine, upgrade
from support.doubles import NoGrants

gateway_tests = pytest.importorskip("gateway.conftest")  # tests/gateway (same test tree)
tiny = pytest.importorskip("gateway.tiny")

FIRST, LAST = date(2026, 3, 1), date(2026, 3, 31)


def jst(day: int, hour: int = 12, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour - 9, 0, tzinfo=UTC)


@dataclass
class Access:
    """What the test did: who, when, which points the gateway named, the expected answer."""

    when: datetime
    account: str
    org: str
    points: list[str]
    decision: str


@dataclass
class Scenario:
    url: str
    engine: Engine
    log: AuditLog
    signer: note.Signer
    accesses: list[Access] = field(default_factory=list)
    #: the self-reports filed (when, kind): the voluntary figure's oracle
    selfreports: list[tuple[datetime, str]] = field(default_factory=list)


def build(url: str, tmp_path: Path) -> Scenario:
    upgrade(url)
    engine = make_engine(url)
    load_dataset(tiny.write(tmp_path / "ds"), engine, progress=False)
    log = open_log(url, migrate=False)
    world = gateway_tests.make_world()
    clock: list[datetime] = [jst(1)]
    gw = Gateway(
        engine, default_engine(), auth=world.auth, grants=NoGrants(), audit=log,
        clock=lambda: clock[0],
    )  # fmt: skip
    sc = Scenario(url, engine, log, note.generate_signer("test.example/audit"))
    orgs = {
        "nw-op": "nw",
        "aff-agent": f"retail:{tiny.AFF}",
        "ind-agent": f"retail:{tiny.IND}",
        "ind2-agent": f"retail:{tiny.IND2}",
        "contractor": "contractor:IT1",
    }
    terminals = {
        "nw-op": "T-NW",
        "aff-agent": "T-AFF",
        "ind-agent": "T-IND",
        "ind2-agent": "T-IND2",
        "contractor": "T-CON",
    }

    def ctx(account: str, purpose: str) -> Any:
        return gw.authenticate(world.tokens[account], world.terminals[terminals[account]], purpose)

    def do(when: datetime, account: str, purpose: str, call: Callable[[Any], Any]) -> None:
        clock[0] = when
        before = log.size()
        try:
            call(ctx(account, purpose))
            decision = "allow"
        except GatewayError:
            decision = "deny"
        assert log.size() == before + 1
        ev = _last_event(log)
        assert ev["decision"] == decision
        sc.accesses.append(Access(when, account, orgs[account], ev["supply_point_ids"], decision))

    def read(point: str) -> Callable[[Any], Any]:
        return lambda c: gw.read_point(c, point)

    def town(c: Any) -> Any:
        return gw.search(c, SearchCriteria(town="一番町"), limit=50)

    # outside the period (February): never in a March statement
    do(jst(20, month=2), "nw-op", "takuso", read(tiny.P_AFF))
    # 10 March: P_MOVED is still AFF's
    do(jst(10), "nw-op", "takuso", read(tiny.P_MOVED))
    do(jst(10, 13), "nw-op", "takuso", read(tiny.P_IND))
    do(jst(10, 14), "ind-agent", "customer_service", read(tiny.P_MOVED))  # refused: AFF's
    do(jst(10, 15), "aff-agent", "customer_service", read(tiny.P_MOVED))  # AFF's own
    do(jst(12), "nw-op", "takuso", read(tiny.P_FIT))  # IND2's (the FIT contract withheld)
    # 20 March: P_MOVED is IND's now
    do(jst(20), "nw-op", "takuso", read(tiny.P_MOVED))
    do(jst(20, 13), "aff-agent", "customer_service", read(tiny.P_MOVED))  # refused: IND's
    do(jst(20, 14), "ind-agent", "customer_service", read(tiny.P_IND))  # IND's own
    do(jst(20, 15), "ind2-agent", "sales", read(tiny.P_AFF))  # refused: AFF's
    do(jst(20, 16), "contractor", "system_maintenance", read(tiny.P_IND))  # no agreement
    do(jst(21), "nw-op", "takuso", town)  # NW search over everyone's points in 一番町
    do(jst(22), "aff-agent", "customer_service", town)  # AFF's own customers only
    # a point read by the NW twice on 25 March (one pseudonym in the period)
    do(jst(25), "nw-op", "takuso", read(tiny.P_AFF))
    # April: the next period
    do(jst(2, month=4), "nw-op", "takuso", read(tiny.P_AFF))
    # self-reports (自主申告): two kinds in March, one in February, one in April
    from gridwall.app.selfreports import SelfReportDesk

    desk = SelfReportDesk(engine, log, clock=lambda: clock[0], console=True)
    for when, kind in ((jst(15, month=2), "other"), (jst(11), "shared_password"),
                       (jst(18), "shared_password"), (jst(27), "terminal_left_open"),
                       (jst(3, month=4), "own_misuse")):  # fmt: skip
        clock[0] = when
        desk.submit(kind=kind, text="申告", contact="内線 9")
        sc.selfreports.append((when, kind))
    log.checkpoint([sc.signer])
    return sc


def _last_event(log: AuditLog) -> dict[str, Any]:
    import json

    return dict(json.loads(log.entry(log.size() - 1))["event"])


def supplier(point: str, day: date) -> str | None:
    """Who supplied ``point`` on ``day`` according to the tiny dataset (the test's oracle)."""
    for c in tiny.CONTRACTS:
        if c["supply_point_id"] != point or c["kind"] != "retail":
            continue
        start = date.fromisoformat(c["start_date"])
        end = date.fromisoformat(c["end_date"]) if c.get("end_date") else None
        if start <= day and (end is None or day < end):
            return str(c["retailer_code"])
    return None
