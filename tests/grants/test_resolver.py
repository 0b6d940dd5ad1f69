"""StoreGrantResolver: the facts the policy decides from (I3, I4, I7, I8 inputs)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, insert

from gridwall.grants import AgreementRegistry, DisasterDesk, StoreGrantResolver
from gridwall.grants._models import Agreement
from gridwall.interfaces import PointContext, Principal
from gridwall.interfaces.facts import (
    DISASTER_FIELDS,
    Action,
    AgreementState,
    DisasterState,
    GrantFacts,
    Purpose,
    Recipient,
    RetailerKind,
)
from support.doubles import MemoryAuditSink

from .conftest import T0, FrozenClock
from .helpers import (
    CHIYODA,
    HAKODATE,
    LRS_POINT,
    MINATO,
    SAPPORO_KITA,
    contractor,
    nw_staff,
    retail_agent,
    terminal,
)

H = timedelta(hours=1)


@pytest.fixture
def world(engine: Engine, sink: MemoryAuditSink, clock: FrozenClock) -> StoreGrantResolver:
    """A typhoon over 札幌市 and 千代田区 (T0+1h … T0+25h); two retailers (one affiliated, one
    independent) with disaster_support agreements; a third retailer without one; an LRS
    contractor for 東京都; a maintenance contractor for the whole area until 2026-09-30."""
    desk = DisasterDesk(engine, sink, clock)
    desk.declare(
        "TY-1", "北海道/札幌市;東京都/千代田区", T0 + 25 * H, 72 * H, "nw-alice", start=T0 + H
    )
    desk.approve("TY-1", "nw-bob")
    reg = AgreementRegistry(engine, sink, clock)
    start = date(2026, 4, 1)
    reg.register("DS-A", "retail:A0001", "disaster_support", [], "", start, None, "nw-carol")
    reg.register("DS-B", "retail:B0002", "disaster_support", [], "", start, None, "nw-carol")
    reg.register(
        "LRS-1", "contractor:lrsco", "lrs_operations", ["contract_name", "address", "lrs"],
        "東京都", start, None, "nw-carol",
    )  # fmt: skip
    reg.register(
        "MT-1", "contractor:itco", "system_maintenance", ["contract_name", "equipment"], "",
        start, date(2026, 9, 30), "nw-carol",
    )  # fmt: skip
    return StoreGrantResolver(engine, clock, refresh_seconds=0)


def _facts(
    res: StoreGrantResolver,
    principal: Principal,
    point: PointContext,
    at: datetime,
    purpose: Purpose = Purpose.DISASTER_SUPPORT,
    **kw: Any,
) -> GrantFacts:
    return res.resolve(
        principal, terminal(principal.org), purpose, kw.pop("action", Action.VIEW), point, at, **kw
    )


def test_equal_footing_affiliated_and_independent(world: StoreGrantResolver) -> None:
    aff = retail_agent("A0001", RetailerKind.AFFILIATED)
    ind = retail_agent("B0002", RetailerKind.INDEPENDENT)
    for point, at, disaster in [
        (CHIYODA, T0 + 2 * H, DisasterState.ACTIVE_IN_AREA),
        (SAPPORO_KITA, T0 + 2 * H, DisasterState.ACTIVE_IN_AREA),
        (MINATO, T0 + 2 * H, DisasterState.ACTIVE_OUT_OF_AREA),
        (HAKODATE, T0 + 2 * H, DisasterState.ACTIVE_OUT_OF_AREA),
        (CHIYODA, T0 + 25 * H, DisasterState.NONE),  # at the end
        (CHIYODA, T0, DisasterState.NONE),  # before the start
    ]:
        fa, fi = _facts(world, aff, point, at), _facts(world, ind, point, at)
        assert fa == fi
        assert fa.disaster is disaster
        assert fa.agreement is AgreementState.VALID_IN_SCOPE
        assert fa.agreement_fields == DISASTER_FIELDS
        assert fa.recipient is Recipient.NONE
    # the same retailer code with the other kind gets the same facts (kind is never consulted)
    swapped = retail_agent("A0001", RetailerKind.INDEPENDENT)
    assert _facts(world, swapped, CHIYODA, T0 + 2 * H) == _facts(world, aff, CHIYODA, T0 + 2 * H)


def test_retailer_without_agreement(world: StoreGrantResolver) -> None:
    other = retail_agent("C0003", RetailerKind.INDEPENDENT)
    f = _facts(world, other, CHIYODA, T0 + 2 * H)
    assert f.disaster is DisasterState.ACTIVE_IN_AREA
    assert f.agreement is AgreementState.NONE and f.agreement_fields == frozenset()


def test_lrs_agreement_scope(world: StoreGrantResolver) -> None:
    lrs = contractor("lrsco")
    at = T0 + 2 * H
    f = _facts(world, lrs, LRS_POINT, at, Purpose.LRS_OPERATIONS)
    assert f.agreement is AgreementState.VALID_IN_SCOPE
    assert f.agreement_fields == {"contract_name", "address", "lrs"}
    f = _facts(world, lrs, HAKODATE, at, Purpose.LRS_OPERATIONS)
    assert f.agreement is AgreementState.VALID_OUT_OF_SCOPE
    # the wrong purpose is no agreement
    assert _facts(world, lrs, LRS_POINT, at, Purpose.TAKUSO).agreement is AgreementState.NONE


def test_agreement_expires_at_end_of_its_last_jst_day(world: StoreGrantResolver) -> None:
    it = contractor("itco")
    last = T0.replace(month=9, day=30, hour=14, minute=59, second=59, microsecond=999999)
    f = _facts(world, it, MINATO, last, Purpose.SYSTEM_MAINTENANCE)
    assert f.agreement is AgreementState.VALID_IN_SCOPE  # 2026-09-30 23:59:59.999999 JST
    f = _facts(world, it, MINATO, last + timedelta(microseconds=1), Purpose.SYSTEM_MAINTENANCE)
    assert f.agreement is AgreementState.EXPIRED and f.agreement_fields == frozenset()
    # not yet valid before its first JST day
    early = T0.replace(month=3, day=31, hour=14, minute=59)
    f = _facts(world, it, MINATO, early, Purpose.SYSTEM_MAINTENANCE)
    assert f.agreement is AgreementState.EXPIRED


def test_export_recipients(world: StoreGrantResolver) -> None:
    nw = nw_staff()
    at = T0 + 2 * H

    def exp(to: str | None, purpose: Purpose = Purpose.SYSTEM_MAINTENANCE) -> GrantFacts:
        return _facts(world, nw, MINATO, at, purpose, action=Action.EXPORT, recipient_org=to)

    f = exp("contractor:itco")
    assert f.recipient is Recipient.AGREEMENT_COUNTERPARTY
    assert f.agreement is AgreementState.VALID_IN_SCOPE
    assert f.agreement_fields == {"contract_name", "equipment"}
    assert exp("contractor:lrsco").recipient is Recipient.OTHER  # no agreement for the purpose
    # NW's own 託送 work: whatever any valid agreement of the recipient covers
    f = exp("contractor:lrsco", Purpose.TAKUSO)
    assert f.recipient is Recipient.AGREEMENT_COUNTERPARTY
    assert f.agreement_fields == {"contract_name", "address", "lrs"}
    f = _facts(world, nw, HAKODATE, at, Purpose.TAKUSO, action=Action.EXPORT,
               recipient_org="contractor:lrsco")  # fmt: skip
    assert f.agreement is AgreementState.VALID_OUT_OF_SCOPE  # LRS-1 covers 東京都 only
    assert exp("contractor:nobody").recipient is Recipient.OTHER
    assert exp(None).recipient is Recipient.OTHER
    for retailer in ("retail:A0001", "retail:B0002", "retail:C0003"):
        f = exp(retailer, Purpose.DISASTER_SUPPORT)  # even a disaster_support holder
        assert f.recipient is Recipient.RETAILER
        assert f.agreement is AgreementState.NONE and f.agreement_fields == frozenset()
    # expired agreement: not a counterparty any more
    late = T0.replace(month=10, day=1)
    f = _facts(
        world, nw, MINATO, late, Purpose.SYSTEM_MAINTENANCE, action=Action.EXPORT,
        recipient_org="contractor:itco",
    )  # fmt: skip
    assert f.recipient is Recipient.OTHER and f.agreement is AgreementState.EXPIRED


def test_retailer_non_disaster_agreement_is_ignored_at_decision(
    world: StoreGrantResolver, engine: Engine
) -> None:
    """Even if a row were slipped into the table past registration, a retailer holds nothing
    but disaster support (C①)."""
    with engine.begin() as c:
        c.execute(
            insert(Agreement).values(
                agreement_id="EVIL", counterparty_org="retail:A0001", purpose="system_maintenance",
                fields="contract_name;phone;usage", area="", valid_from=date(2026, 1, 1),
                valid_to=None, onward_transfer_forbidden=True, registered_by="x",
                registered_at=T0, source="registered",
            )
        )  # fmt: skip
    world.invalidate()
    aff = retail_agent("A0001", RetailerKind.AFFILIATED)
    f = _facts(world, aff, MINATO, T0 + 2 * H, Purpose.SYSTEM_MAINTENANCE)
    assert f.agreement is AgreementState.NONE


def test_new_grants_seen_after_version_bump(
    world: StoreGrantResolver, engine: Engine, sink: MemoryAuditSink, clock: FrozenClock
) -> None:
    cached = StoreGrantResolver(engine, clock, refresh_seconds=0)
    assert cached.disaster_state(MINATO, T0 + 2 * H) is DisasterState.ACTIVE_OUT_OF_AREA
    DisasterDesk(engine, sink, clock).declare("EQ-1", "東京都/港区", T0 + 9 * H, 9 * H, "nw-a")
    DisasterDesk(engine, sink, clock).approve("EQ-1", "nw-b")
    assert cached.disaster_state(MINATO, T0 + 2 * H) is DisasterState.ACTIVE_IN_AREA
    DisasterDesk(engine, sink, clock).end("EQ-1", "nw-b")
    assert cached.disaster_state(MINATO, T0 + 2 * H) is DisasterState.ACTIVE_OUT_OF_AREA


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    minutes=st.integers(min_value=-600, max_value=2000),
    which=st.sampled_from([CHIYODA, SAPPORO_KITA, MINATO, HAKODATE, None]),
    code=st.sampled_from(["A0001", "B0002", "C0003"]),
    purpose=st.sampled_from(list(Purpose)),
    action=st.sampled_from(list(Action)),
)
def test_property_kind_never_changes_facts_and_window_is_exact(
    world: StoreGrantResolver, minutes: int, which: Any, code: str, purpose: Purpose, action: Action
) -> None:
    at = T0 + timedelta(minutes=minutes)
    a = retail_agent(code, RetailerKind.AFFILIATED)
    i = retail_agent(code, RetailerKind.INDEPENDENT)
    fa = _facts(world, a, which, at, purpose, action=action, recipient_org="contractor:itco")
    fi = _facts(world, i, which, at, purpose, action=action, recipient_org="contractor:itco")
    assert fa == fi
    active = T0 + H <= at < T0 + 25 * H
    in_area = which in (CHIYODA, SAPPORO_KITA)
    expected = (
        DisasterState.NONE
        if not active
        else DisasterState.ACTIVE_IN_AREA
        if in_area
        else DisasterState.ACTIVE_OUT_OF_AREA
    )
    assert fa.disaster is expected
