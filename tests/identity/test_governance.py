"""Access reviews lapse at the deadline, training attestation, two-person change control."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gridwall.errors import UsageError
from gridwall.identity import (
    add_entitlement,
    attest_training,
    close_review,
    current_value,
    decide_change,
    decide_review,
    list_changes,
    request_change,
    review_report,
    set_owner,
    start_review,
)
from gridwall.identity._models import Change
from gridwall.interfaces.clock import jst_date
from gridwall.interfaces.facts import AccountState

from .conftest import World


def _state(w: World, token: str) -> AccountState:
    p, _ = w.svc.authenticate(token, w.term("t-nw"), w.now)
    return p.facts.account_state


@pytest.fixture
def managed(world: World) -> World:
    w = world
    w.svc.create_person("mgr", "Manager", "nw", "manager", w.now)
    w.svc.create_person("cmp", "Compliance", "nw", "compliance", w.now)
    set_owner(w.svc, "nw-op", "mgr", w.now)
    set_owner(w.svc, "ret-op", "cmp", w.now)
    return w


def test_review_not_recertified_lapses_at_deadline(managed: World) -> None:
    w = managed
    token = w.login("nw-op", "t-nw")
    deadline = w.now + timedelta(minutes=10)
    assert start_review(w.svc, "2026Q2", deadline, "cmp", w.now) == 2
    with pytest.raises(UsageError, match="owned by mgr"):
        decide_review(w.svc, "2026Q2", "nw-op", "cmp", w.now, keep=True)
    with pytest.raises(UsageError, match="own access"):
        decide_review(w.svc, "2026Q2", "nw-op", "p-nw", w.now, keep=True)
    w.tick(minutes=9)
    assert _state(w, token) is AccountState.ACTIVE
    w.now = deadline  # nobody recertified nw-op: it lapses now, no job needed
    assert _state(w, token) is AccountState.EXPIRED
    with pytest.raises(UsageError, match="deadline"):
        decide_review(w.svc, "2026Q2", "nw-op", "mgr", w.now, keep=True)
    rep = review_report(w.svc, "2026Q2", w.now)
    assert rep["totals"] == {"recertified": 0, "revoked": 0, "lapsed": 2, "pending": 0}
    assert close_review(w.svc, "2026Q2", "cmp", w.now)["lapsed"] == 2
    assert _state(w, token) is AccountState.EXPIRED


def test_recertified_access_survives_and_revoked_access_ends(managed: World) -> None:
    w = managed
    token = w.login("nw-op", "t-nw")
    deadline = w.now + timedelta(minutes=10)
    start_review(w.svc, "R1", deadline, "cmp", w.now)
    assert decide_review(w.svc, "R1", "nw-op", "mgr", w.now, keep=True) == 1
    assert decide_review(w.svc, "R1", "ret-op", "cmp", w.now, keep=False) == 1
    w.now = deadline + timedelta(minutes=1)
    assert _state(w, token) is AccountState.ACTIVE
    rep = review_report(w.svc, "R1", w.now)
    assert rep["totals"] == {"recertified": 1, "revoked": 1, "lapsed": 0, "pending": 0}
    assert [(i["account_id"], i["outcome"], i["decided_by"]) for i in rep["items"]] == [
        ("nw-op", "recertified", "mgr"),
        ("ret-op", "revoked", "cmp"),
    ]


def test_grant_entitlements_are_reviewed_too(managed: World) -> None:
    w = managed
    add_entitlement(w.svc, "nw-op", "grant", "agreement:AG-1", "mgr", w.now)
    assert start_review(w.svc, "R2", w.now + timedelta(days=1), "cmp", w.now) == 3
    assert decide_review(w.svc, "R2", "nw-op", "mgr", w.now, keep=True, kind="grant") == 1
    rep = review_report(w.svc, "R2", w.now)
    assert rep["totals"]["pending"] == 2


def test_training_current_follows_attestation(world: World) -> None:
    w = world
    w.svc.create_person("trainer", "Trainer", "nw", "compliance", w.now)
    token = w.login("nw-op", "t-nw")
    p, _ = w.svc.authenticate(token, w.term("t-nw"), w.now)
    assert p.facts.training_current is False
    with pytest.raises(UsageError, match="own training"):
        attest_training(w.svc, "p-nw", jst_date(w.now), "p-nw", w.now)
    with pytest.raises(UsageError, match="future"):
        attest_training(w.svc, "p-nw", jst_date(w.now) + timedelta(days=1), "trainer", w.now)
    attest_training(w.svc, "p-nw", jst_date(w.now) - timedelta(days=364), "trainer", w.now)
    p, _ = w.svc.authenticate(token, w.term("t-nw"), w.now)
    assert p.facts.training_current is True
    w.tick(days=1)  # 365 days after completion: lapsed (validity 365 days)
    token = w.login("nw-op", "t-nw")
    p, _ = w.svc.authenticate(token, w.term("t-nw"), w.now)
    assert p.facts.training_current is False
    from gridwall.identity._state import training_current

    with Session(w.engine) as s:
        assert training_current(s, "p-nw", w.now, 365) is False
        assert training_current(s, "p-nw", w.now, 400) is True
        assert training_current(s, "p-nw", w.now - timedelta(days=1), 365) is True


def test_two_person_rule_for_policy_changes(world: World) -> None:
    w = world
    w.svc.create_person("alice", "Alice", "nw", "compliance", w.now)
    w.svc.create_person("bob", "Bob", "nw", "manager", w.now)
    cid = request_change(
        w.svc,
        "policy",
        "policy:takuso-purpose",
        "v2 text",
        "alice",
        w.now,
        reason="tighten purpose",
    )
    assert current_value(w.svc, "policy:takuso-purpose") == (None, 0)
    with pytest.raises(UsageError, match="two-person"):
        decide_change(w.svc, cid, "alice", w.now, approve=True)
    with pytest.raises(UsageError, match="unknown person"):
        decide_change(w.svc, cid, "mallory", w.now, approve=True)
    v = decide_change(w.svc, cid, "bob", w.now, approve=True)
    assert (v.status, v.version, v.old_value, v.new_value, v.requested_by, v.decided_by) == (
        "applied",
        1,
        None,
        "v2 text",
        "alice",
        "bob",
    )
    assert current_value(w.svc, "policy:takuso-purpose") == ("v2 text", 1)
    # a second change records the old value; a stale one cannot be approved
    c2 = request_change(w.svc, "policy", "policy:takuso-purpose", "v3", "bob", w.now)
    c3 = request_change(w.svc, "policy", "policy:takuso-purpose", "v3b", "bob", w.now)
    decide_change(w.svc, c2, "alice", w.now, approve=True)
    with pytest.raises(UsageError, match="stale"):
        decide_change(w.svc, c3, "alice", w.now, approve=True)
    decide_change(w.svc, c3, "alice", w.now, approve=False)
    hist = list_changes(w.svc, "policy:takuso-purpose")
    assert [(c.status, c.version, c.old_value) for c in hist] == [
        ("applied", 1, None),
        ("applied", 2, "v2 text"),
        ("rejected", None, "v2 text"),
    ]
    screens = [e["screen"] for e in w.sink.events]
    assert screens.count("identity/change") == 6


def test_two_person_rule_is_a_database_constraint(db_world: World) -> None:
    w = db_world
    with Session(w.engine) as s:
        s.add(
            Change(
                kind="role",
                subject="role:x",
                requested_by="a",
                requested_at=w.now,
                status="applied",
                decided_by="a",
                decided_at=w.now,
            )
        )
        with pytest.raises(IntegrityError):
            s.commit()


def test_no_account_without_holder_is_a_database_constraint(db_world: World) -> None:
    from gridwall.identity._models import Account

    w = db_world
    with Session(w.engine) as s:
        s.add(
            Account(
                account_id="shared-1",
                system="gridwall",
                holder_person_id=None,
                kind="personal",
                org="nw",
                failed_count=0,
                lockouts=0,
                source="t",
            )
        )
        with pytest.raises(IntegrityError):
            s.commit()
    with Session(w.engine) as s:
        s.add(
            Account(
                account_id="shared-2",
                system="gridwall",
                holder_person_id="p-nw",
                kind="shared",
                org="nw",
                failed_count=0,
                lockouts=0,
                source="t",
            )
        )
        with pytest.raises(IntegrityError):
            s.commit()
