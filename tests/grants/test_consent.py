"""Customer-consent tokens for usage inquiries (使用量照会, I9 inputs)."""

from __future__ import annotations

import base64
import json
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from gridwall.grants import (
    ConsentDesk,
    GrantRefused,
    StoreGrantResolver,
    usage_from,
)
from gridwall.interfaces import PointContext, Principal
from gridwall.interfaces.facts import Action, ConsentState, Purpose, RetailerKind
from gridwall.store import make_engine
from support.doubles import MemoryAuditSink

from .conftest import T0, FrozenClock
from .helpers import nw_staff, retail_agent, terminal

SP = "0300000000000000000042"
SP2 = "0300000000000000000043"
POINT = PointContext(SP, "東京都", "港区", False)


@pytest.fixture
def desk(engine: Engine, sink: MemoryAuditSink, clock: FrozenClock) -> ConsentDesk:
    return ConsentDesk(engine, sink, clock)


@pytest.mark.parametrize("days", [1, 7, 31])
def test_valid_for_exactly_its_days(
    desk: ConsentDesk, engine: Engine, clock: FrozenClock, days: int
) -> None:
    token, claims = desk.issue(SP, "B0002", days, 13, "nw-clerk")
    assert claims["validity_days"] == days
    end = T0 + timedelta(days=days)
    assert (
        desk.verify(token, SP, "B0002", end - timedelta(microseconds=1)).state is ConsentState.VALID
    )
    assert desk.verify(token, SP, "B0002", end).state is ConsentState.EXPIRED
    assert desk.verify(token, SP, "B0002", T0 - timedelta(seconds=1)).state is ConsentState.NONE
    # the resolver agrees, for the right retailer's principal only
    res = StoreGrantResolver(engine, clock, refresh_seconds=0)
    b = retail_agent("B0002", RetailerKind.INDEPENDENT)
    a = retail_agent("A0001", RetailerKind.AFFILIATED)

    def facts(p: Principal, at: datetime) -> ConsentState:
        return res.resolve(
            p, terminal(p.org), Purpose.CONSENT_USAGE, Action.VIEW, POINT, at,
            consent_token=token,
        ).consent  # fmt: skip

    assert facts(b, T0 + timedelta(hours=1)) is ConsentState.VALID
    assert facts(b, end) is ConsentState.EXPIRED
    assert facts(a, T0 + timedelta(hours=1)) is ConsentState.NONE
    assert facts(nw_staff(), T0 + timedelta(hours=1)) is ConsentState.NONE
    other_point = PointContext(SP2, "東京都", "港区", False)
    assert (
        res.resolve(
            b,
            terminal(b.org),
            Purpose.CONSENT_USAGE,
            Action.VIEW,
            other_point,
            T0 + timedelta(hours=1),
            consent_token=token,
        ).consent
        is ConsentState.NONE
    )


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"days": 2}, "days"),
        ({"days": 30}, "days"),
        ({"days": 0}, "days"),
        ({"months": 14}, "months"),
        ({"months": 0}, "months"),
        ({"sp": "12345"}, "point"),
        ({"sp": "1100000000000000000000"}, "point"),
        ({"rt": "bad code!"}, "retailer"),
    ],
)
def test_bad_issue_refused(
    desk: ConsentDesk, sink: MemoryAuditSink, kw: dict[str, object], field: str
) -> None:
    with pytest.raises(GrantRefused) as e:
        desk.issue(
            str(kw.get("sp", SP)), str(kw.get("rt", "B0002")), int(kw.get("days", 7)),  # type: ignore[call-overload]
            int(kw.get("months", 13)), "nw-clerk",  # type: ignore[call-overload]
        )  # fmt: skip
    assert e.value.where is not None and e.value.where.field == field
    assert [ev["decision"] for ev in sink.events] == ["deny"]


def test_other_point_retailer_and_tampering(desk: ConsentDesk) -> None:
    token, _ = desk.issue(SP, "B0002", 7, 13, "nw-clerk")
    at = T0 + timedelta(hours=1)
    assert desk.verify(token, SP, "B0002", at).state is ConsentState.VALID
    assert desk.verify(token, SP2, "B0002", at).state is ConsentState.NONE
    assert desk.verify(token, SP, "A0001", at).state is ConsentState.NONE
    prefix, body, sig = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    for change in ({"sp": SP2}, {"rt": "A0001"}, {"exp": payload["exp"] + 86400 * 30}, {"m": 13}):
        forged = dict(payload, **change)
        fbody = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
        bad = f"{prefix}.{fbody}.{sig}"
        assert desk.verify(bad, str(forged["sp"]), str(forged["rt"]), at).state is ConsentState.NONE
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert desk.verify(flipped, SP, "B0002", at).state is ConsentState.NONE
    assert desk.verify("garbage", SP, "B0002", at).state is ConsentState.NONE
    # a token signed with another key
    other = ConsentDesk(desk.engine, desk.audit, desk.clock, key=b"k" * 32)
    assert other.verify(token, SP, "B0002", at).state is ConsentState.NONE


def test_revocation(desk: ConsentDesk, clock: FrozenClock) -> None:
    token, claims = desk.issue(SP, "B0002", 31, 6, "nw-clerk")
    clock.advance(days=2)
    desk.revoke(token, "nw-clerk")
    assert desk.verify(token, SP, "B0002", T0 + timedelta(days=1)).state is ConsentState.VALID
    assert desk.verify(token, SP, "B0002").state is ConsentState.EXPIRED
    with pytest.raises(GrantRefused, match="already revoked"):
        desk.revoke(claims["token_id"], "nw-clerk")
    with pytest.raises(GrantRefused, match="no such token"):
        desk.revoke("0" * 32, "nw-clerk")


def test_revocation_holds_at_once_on_every_server_sharing_the_store(
    desk: ConsentDesk, engine: Engine, clock: FrozenClock
) -> None:
    """Issue 11 item 5: a revoked token kept reading usage while resolvers' snapshots
    were fresh. Two resolvers on their own engines stand for two servers; both have read
    the token (warm caches, an hour-long refresh) before the revocation."""
    token, _ = desk.issue(SP, "B0002", 31, 6, "nw-clerk")
    b = retail_agent("B0002", RetailerKind.INDEPENDENT)
    servers = [
        StoreGrantResolver(make_engine(str(engine.url.render_as_string(hide_password=False))),
                           clock, refresh_seconds=3600)
        for _ in range(2)
    ]  # fmt: skip

    def state(res: StoreGrantResolver) -> ConsentState:
        return res.resolve(
            b, terminal(b.org), Purpose.CONSENT_USAGE, Action.VIEW, POINT, clock(),
            consent_token=token,
        ).consent  # fmt: skip

    try:
        clock.advance(hours=1)
        assert [state(r) for r in servers] == [ConsentState.VALID] * 2
        desk.revoke(token, "nw-clerk")  # acknowledged here
        clock.advance(seconds=1)  # the next request, on either server
        assert [state(r) for r in servers] == [ConsentState.EXPIRED] * 2
    finally:
        for r in servers:
            r.engine.dispose()


def test_unregistered_token_refused(desk: ConsentDesk) -> None:
    from gridwall.grants._consent import ConsentClaims, sign_token

    c = ConsentClaims("f" * 32, SP, "B0002", T0, T0 + timedelta(days=7), 7, 13)
    token = sign_token(desk.key, c)  # authentic signature, but never registered
    assert desk.verify(token, SP, "B0002", T0 + timedelta(hours=1)).state is ConsentState.NONE


def test_usage_window() -> None:
    now = T0  # 2026-09-01 09:00 JST
    assert usage_from(now, 13, None) == date(2025, 8, 1)
    assert usage_from(now, 1, None) == date(2026, 8, 1)
    assert usage_from(now, 13, date(2026, 3, 15)) == date(2026, 3, 15)  # holder changed
    assert usage_from(now, 13, date(2020, 1, 1)) == date(2025, 8, 1)
    late = T0.replace(month=3, day=31)
    assert usage_from(late, 1, None) == date(2026, 2, 28)  # day clamped
    with pytest.raises(ValueError):
        usage_from(now, 14, None)


@given(days=st.integers(min_value=0, max_value=2000), months=st.integers(min_value=1, max_value=13))
def test_usage_window_never_more_than_13_months(days: int, months: int) -> None:
    now = T0 + timedelta(days=days)
    start = usage_from(now, months, None)
    today = now.date()
    assert (today.year - start.year) * 12 + today.month - start.month <= 13
    assert start < today
