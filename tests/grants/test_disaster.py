"""Disaster declarations (非常災害): lifecycle, refusals, audit, report, attestation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from gridwall.grants import (
    AuditPending,
    DisasterDesk,
    GrantRefused,
    StoreGrantResolver,
    pending_audit,
)
from gridwall.grants._models import DisasterDeclaration
from gridwall.interfaces.facts import DisasterState
from support.doubles import FlakyAuditSink, MemoryAuditSink

from .conftest import T0, FrozenClock
from .helpers import CHIYODA, HAKODATE, MINATO, SAPPORO_KITA

H = timedelta(hours=1)
AREA = "北海道/札幌市;東京都/千代田区"


def _desk(engine: Engine, sink: MemoryAuditSink, clock: FrozenClock) -> DisasterDesk:
    return DisasterDesk(engine, sink, clock)


def _count(engine: Engine) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(DisasterDeclaration)).scalar_one())


def test_active_only_between_approval_and_end_exact_instants(
    engine: Engine, sink: MemoryAuditSink, clock: FrozenClock
) -> None:
    desk = _desk(engine, sink, clock)
    res = StoreGrantResolver(engine, clock, refresh_seconds=3600)  # a long-lived cache
    d = desk.declare("TY-1", AREA, T0 + 24 * H, 72 * H, "nw-alice", start=T0 + H)
    assert d["status"] == "pending_approval"
    res.invalidate()
    assert res.disaster_state(CHIYODA, T0 + 2 * H) is DisasterState.NONE  # not approved
    clock.advance(minutes=30)
    desk.approve("TY-1", "nw-bob")
    res.invalidate()
    # approved before the start: active exactly from the start
    assert res.disaster_state(CHIYODA, T0 + H - timedelta(microseconds=1)) is DisasterState.NONE
    assert res.disaster_state(CHIYODA, T0 + H) is DisasterState.ACTIVE_IN_AREA
    # the cache is never used past an expiry instant: the planned end decides, to the microsecond
    end = T0 + 24 * H
    assert (
        res.disaster_state(CHIYODA, end - timedelta(microseconds=1)) is DisasterState.ACTIVE_IN_AREA
    )
    assert res.disaster_state(CHIYODA, end) is DisasterState.NONE
    assert res.disaster_active(end - timedelta(microseconds=1))
    assert not res.disaster_active(end)


def test_approval_after_start_activates_from_approval(
    engine: Engine, sink: MemoryAuditSink, clock: FrozenClock
) -> None:
    desk = _desk(engine, sink, clock)
    desk.declare("TY-1", AREA, T0 + 24 * H, 72 * H, "nw-alice")
    clock.advance(hours=2)
    d = desk.approve("TY-1", "nw-bob")
    assert d["active_from"] == "2026-09-01T02:00:00Z"
    res = StoreGrantResolver(engine, clock, refresh_seconds=0)
    assert res.disaster_state(CHIYODA, T0 + H) is DisasterState.NONE
    assert res.disaster_state(CHIYODA, T0 + 2 * H) is DisasterState.ACTIVE_IN_AREA


def test_area_membership_pref_wide_and_city(
    engine: Engine, sink: MemoryAuditSink, clock: FrozenClock
) -> None:
    desk = _desk(engine, sink, clock)
    desk.declare("TY-1", AREA, T0 + 24 * H, 72 * H, "nw-alice")
    desk.approve("TY-1", "nw-bob")
    desk.declare("EQ-1", "沖縄県", T0 + 24 * H, 72 * H, "nw-alice")
    desk.approve("EQ-1", "nw-bob")
    res = StoreGrantResolver(engine, clock, refresh_seconds=0)
    now = T0 + H
    assert res.disaster_state(SAPPORO_KITA, now) is DisasterState.ACTIVE_IN_AREA  # ward of 札幌市
    assert res.disaster_state(CHIYODA, now) is DisasterState.ACTIVE_IN_AREA
    assert res.disaster_state(MINATO, now) is DisasterState.ACTIVE_OUT_OF_AREA
    assert res.disaster_state(HAKODATE, now) is DisasterState.ACTIVE_OUT_OF_AREA
    from gridwall.interfaces import PointContext

    naha = PointContext("1000000000000000000009", "沖縄県", "那覇市", False)
    assert res.disaster_state(naha, now) is DisasterState.ACTIVE_IN_AREA  # pref-wide
    assert res.disaster_state(None, now) is DisasterState.ACTIVE_OUT_OF_AREA  # no point: not in


def test_extend_within_hard_max_only_and_end_early(
    engine: Engine, sink: MemoryAuditSink, clock: FrozenClock
) -> None:
    desk = _desk(engine, sink, clock)
    desk.declare("TY-1", AREA, T0 + 24 * H, 48 * H, "nw-alice")
    desk.approve("TY-1", "nw-bob")
    with pytest.raises(GrantRefused, match="hard maximum") as e:
        desk.extend("TY-1", T0 + 48 * H + timedelta(seconds=1), "nw-alice")
    assert e.value.where is not None and e.value.where.field == "until"
    with pytest.raises(GrantRefused, match="not after"):
        desk.extend("TY-1", T0 + 12 * H, "nw-alice")
    assert desk.extend("TY-1", T0 + 48 * H, "nw-alice")["effective_end"] == "2026-09-03T00:00:00Z"
    res = StoreGrantResolver(engine, clock, refresh_seconds=0)
    assert res.disaster_state(CHIYODA, T0 + 47 * H) is DisasterState.ACTIVE_IN_AREA
    clock.advance(hours=5)
    desk.end("TY-1", "nw-bob")
    assert res.disaster_state(CHIYODA, T0 + 5 * H) is DisasterState.NONE
    assert res.disaster_state(CHIYODA, T0 + 5 * H - timedelta(microseconds=1)) is (
        DisasterState.ACTIVE_IN_AREA
    )
    with pytest.raises(GrantRefused, match="ended"):
        desk.extend("TY-1", T0 + 30 * H, "nw-alice")
    with pytest.raises(GrantRefused, match="already ended"):
        desk.end("TY-1", "nw-bob")


@pytest.mark.parametrize(
    ("kw", "field", "match"),
    [
        ({"area": "東京都/ほげ市"}, "area", "unknown city"),
        ({"area": "東京県"}, "area", "unknown prefecture"),
        ({"area": ""}, "area", "at least one"),
        ({"start": T0 - timedelta(hours=1)}, "start", "retroactive"),
        ({"until": T0 + 100 * H}, "until", "hard maximum"),
        ({"max": timedelta(days=40)}, "max_hours", "at most 31 days"),
        ({"until": T0 - H}, "until", "after the start"),
        ({"by": " "}, "by", "requester"),
        ({"id": "bad id!"}, "disaster_id", "disaster_id"),
    ],
)
def test_bad_declarations_refused_and_audited_nothing_written(
    sqlite_engine: Engine,
    sink: MemoryAuditSink,
    clock: FrozenClock,
    kw: dict[str, object],
    field: str,
    match: str,
) -> None:
    desk = _desk(sqlite_engine, sink, clock)
    with pytest.raises(GrantRefused, match=match) as e:
        desk.declare(
            str(kw.get("id", "TY-9")),
            str(kw.get("area", AREA)),
            kw.get("until", T0 + 24 * H),  # type: ignore[arg-type]
            kw.get("max", 72 * H),  # type: ignore[arg-type]
            str(kw.get("by", "nw-alice")),
            start=kw.get("start"),  # type: ignore[arg-type]
        )
    assert e.value.where is not None and e.value.where.field == field
    assert _count(sqlite_engine) == 0
    assert [ev["decision"] for ev in sink.events] == ["deny"]
    assert sink.events[0]["screen"] == "grants.disaster.declare"


def test_overlap_refused_same_area_only(
    engine: Engine, sink: MemoryAuditSink, clock: FrozenClock
) -> None:
    desk = _desk(engine, sink, clock)
    desk.declare("TY-1", AREA, T0 + 24 * H, 72 * H, "nw-alice")
    # pref-wide over one of its cities, the same designated city's ward, the same city
    for i, area in enumerate(("東京都", "北海道/札幌市北区", "東京都/千代田区;大阪府")):
        with pytest.raises(GrantRefused, match="overlaps"):
            desk.declare(f"X-{i}", area, T0 + 10 * H, 72 * H, "nw-alice")
    # another area at the same time, the same area after the end: fine
    desk.declare("TY-2", "東京都/港区", T0 + 24 * H, 72 * H, "nw-alice")
    desk.declare("TY-3", AREA, T0 + 30 * H, 72 * H, "nw-alice", start=T0 + 24 * H)
    # an extension into TY-3 is refused
    with pytest.raises(GrantRefused, match="overlap"):
        desk.extend("TY-1", T0 + 26 * H, "nw-alice")
    assert _count(engine) == 3


def test_second_person_and_approval_rules(
    engine: Engine, sink: MemoryAuditSink, clock: FrozenClock
) -> None:
    desk = _desk(engine, sink, clock)
    desk.declare("TY-1", AREA, T0 + 2 * H, 72 * H, "nw-alice")
    with pytest.raises(GrantRefused, match="second person"):
        desk.approve("TY-1", "nw-alice")
    with pytest.raises(GrantRefused, match="no such"):
        desk.approve("TY-404", "nw-bob")
    clock.advance(hours=3)
    with pytest.raises(GrantRefused, match="has passed"):
        desk.approve("TY-1", "nw-bob")
    res = StoreGrantResolver(engine, clock, refresh_seconds=0)
    assert not res.disaster_active(T0 + H)
    decisions = [(e["screen"].rsplit(".", 1)[1], e["decision"]) for e in sink.events]
    assert decisions == [
        ("declare", "allow"),
        ("approve", "deny"),
        ("approve", "deny"),
        ("approve", "deny"),
    ]


def test_cancel_pending(engine: Engine, sink: MemoryAuditSink, clock: FrozenClock) -> None:
    desk = _desk(engine, sink, clock)
    desk.declare("TY-1", AREA, T0 + 24 * H, 72 * H, "nw-alice")
    assert desk.end("TY-1", "nw-alice")["status"] == "cancelled"
    with pytest.raises(GrantRefused, match="cancelled"):
        desk.approve("TY-1", "nw-bob")
    # a cancelled declaration does not block the area
    desk.declare("TY-2", AREA, T0 + 24 * H, 72 * H, "nw-alice")


def test_audit_failure_fails_closed_and_the_event_waits(
    sqlite_engine: Engine, clock: FrozenClock
) -> None:
    """A declaration the audit log cannot take is not acknowledged; it stands with its event,
    which the next step delivers first (the outbox rule: tests/grants/test_audit_outbox.py)."""
    log = FlakyAuditSink()
    log.fail = True
    desk = DisasterDesk(sqlite_engine, log, clock)
    with pytest.raises(AuditPending, match="not acknowledged"):
        desk.declare("TY-1", AREA, T0 + 24 * H, 72 * H, "nw-alice")
    assert _count(sqlite_engine) == 1 and pending_audit(sqlite_engine) == 1
    log.fail = False
    desk.approve("TY-1", "nw-bob")
    assert [e["screen"] for e in log.events] == [
        "grants.disaster.declare", "grants.disaster.approve",
    ]  # fmt: skip


def test_report_and_deletion_attestation(
    engine: Engine, sink: MemoryAuditSink, clock: FrozenClock
) -> None:
    desk = _desk(engine, sink, clock)
    desk.declare("TY-1", AREA, T0 + 24 * H, 72 * H, "nw-alice")
    desk.approve("TY-1", "nw-bob")

    def ev(
        i: int, ts: str, org: str, decision: str = "allow", purpose: str = "disaster_support"
    ) -> dict[str, Any]:
        return {
            "event_id": f"e{i}", "ts": ts, "account_id": f"a-{org}", "org": org,
            "action": "view", "purpose": purpose, "decision": decision,
            "supply_point_ids": [CHIYODA.supply_point_id],
            "fields": ["contract_name", "address", "phone"] if decision == "allow" else [],
        }  # fmt: skip

    events = [
        ev(1, "2026-09-01T09:30:00+09:00", "retail:A0001"),
        ev(2, "2026-09-01T10:00:00+09:00", "retail:B0002"),
        ev(3, "2026-09-01T10:05:00+09:00", "retail:B0002", "deny"),
        ev(4, "2026-09-01T08:59:00+09:00", "retail:B0002"),  # before the approval
        ev(5, "2026-09-02T09:00:00+09:00", "retail:B0002"),  # at the end: outside
        ev(6, "2026-09-01T10:00:00+09:00", "retail:B0002", purpose="sales"),
        *sink.events,  # management events are not accesses
    ]
    with pytest.raises(GrantRefused, match="not ended"):
        desk.attest_deletion("TY-1", "retail:A0001", "a-boss", copies=1, statement="shredded")
    clock.advance(hours=24)
    r = desk.report("TY-1", events)
    assert r["total_events"] == 3
    by_org = {o["org"]: o for o in r["organisations"]}
    assert by_org["retail:A0001"]["allowed"] == 1
    assert by_org["retail:B0002"]["allowed"] == 1 and by_org["retail:B0002"]["denied"] == 1
    assert by_org["retail:B0002"]["fields"] == ["address", "contract_name", "phone"]
    assert r["attestations_outstanding"] == ["retail:A0001", "retail:B0002"]
    desk.attest_deletion("TY-1", "retail:A0001", "a-boss", copies=2, statement="shredded")
    with pytest.raises(GrantRefused, match="already attested"):
        desk.attest_deletion("TY-1", "retail:A0001", "a-boss", copies=2, statement="again")
    r = desk.report("TY-1", events)
    assert r["attestations_outstanding"] == ["retail:B0002"]
    legacy = [{k: v for k, v in e.items() if k != "org"} for e in events]
    r = desk.report("TY-1", legacy, {"a-retail:A0001": "retail:A0001"})
    assert {o["org"] for o in r["organisations"]} == {"retail:A0001", "unknown"}
    assert r["attestations"][0]["copies"] == 2


def test_concurrent_overlapping_declarations_only_one_wins(
    engine: Engine, sink: MemoryAuditSink, clock: FrozenClock
) -> None:
    """The grant version row serialises changes: two desks racing to declare overlapping
    areas cannot both pass the overlap check."""
    import threading

    barrier = threading.Barrier(4)
    results: dict[str, str] = {}

    def declare(did: str, area: str) -> None:
        desk = DisasterDesk(engine, MemoryAuditSink(), clock)
        barrier.wait()
        try:
            desk.declare(did, area, T0 + 24 * H, 72 * H, f"nw-{did}")
            results[did] = "ok"
        except GrantRefused:
            results[did] = "refused"

    threads = [
        threading.Thread(target=declare, args=(f"R{i}", a))
        for i, a in enumerate(("東京都", "東京都/千代田区", "東京都/港区", "東京都"))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results.values()).count("ok") in (1, 2)
    ok = [d for d, r in results.items() if r == "ok"]
    # whatever won, no two accepted declarations overlap
    with engine.connect() as c:
        rows = c.execute(select(DisasterDeclaration.disaster_id, DisasterDeclaration.area)).all()
    assert sorted(r[0] for r in rows) == sorted(ok)
    from gridwall.grants import parse_area

    areas = [parse_area(r[1]) for r in rows]
    assert not any(a.overlaps(b) for i, a in enumerate(areas) for b in areas[i + 1 :])
