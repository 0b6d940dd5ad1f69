"""A change and its audit event commit together (transactional outbox), on both stores.

Fault injection at the two places an ordering can go wrong:

* the audit log fails after the change committed: the change stands, its event waits in the
  journal and reaches the log, exactly once and in order, at the next delivery (the next
  change, or a restarted service) — commit-then-audit without the journal would lose it;
* the commit itself fails: neither the change nor any event exists anywhere — audit-first
  ordering would leave an event for a change that never happened.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from gridwall.identity import IdentityConfig, IdentityService
from gridwall.identity._models import Account, AuditRecord
from gridwall.identity._passwords import TEST_PARAMS

from .conftest import RETAILERS, World, make_world


def _revoked(w: World, account_id: str) -> bool:
    with Session(w.engine) as s:
        acct = s.get(Account, account_id)
        assert acct is not None
        return acct.revoked_at is not None


def _journal(w: World) -> list[str]:
    with Session(w.engine) as s:
        return list(s.scalars(select(AuditRecord.event_id).order_by(AuditRecord.seq)))


def _restart(w: World) -> IdentityService:
    return IdentityService(
        w.engine, w.sink, IdentityConfig(hash_params=TEST_PARAMS), retailer_kinds=RETAILERS
    )


def test_log_outage_after_commit_loses_nothing(db_world: World) -> None:
    w = db_world
    w.sink.fail = True
    with pytest.raises(OSError):
        w.svc.revoke_account("ret-op", w.tick(minutes=1), reason="transfer")
    assert _revoked(w, "ret-op")  # the change stands ...
    assert w.svc.pending_audit() >= 1  # ... and its event waits in the journal
    assert not w.sink.events
    w.sink.fail = False
    sent = _restart(w).deliver_audit()  # a restarted server delivers the backlog first
    assert sent >= 1 and w.svc.pending_audit() == 0
    assert [e["event_id"] for e in w.sink.events] == _journal(w)[-sent:]
    assert any(e["account_id"] == "ret-op" and e["screen"] == "identity/revoke"
               for e in w.sink.events)  # fmt: skip
    before = len(w.sink.events)
    w.svc.unlock_account("nw-op", w.tick(minutes=1))  # the next change sends only itself
    assert len(w.sink.events) == before + 1
    ids = [e["event_id"] for e in w.sink.events]
    assert len(ids) == len(set(ids))


def test_backlog_is_sent_before_the_next_change(db_world: World) -> None:
    w = db_world
    w.sink.fail = True
    for account in ("ret-op", "nw-op"):
        with pytest.raises(OSError):
            w.svc.revoke_account(account, w.tick(minutes=1))
    w.sink.fail = False
    w.svc.unlock_account("nw-op", w.tick(minutes=1))
    journal = _journal(w)
    assert [e["event_id"] for e in w.sink.events] == journal[-len(w.sink.events) :]
    assert [e["screen"] for e in w.sink.events][-1] == "identity/unlock"
    assert w.svc.pending_audit() == 0


@pytest.fixture
def failing_commit() -> Iterator[dict[str, int]]:
    """Make the next identity commit fail (as a full disk or a lost connection would)."""
    state = {"arm": 0}

    def boom(session: Session) -> None:
        if state["arm"]:
            state["arm"] -= 1
            raise OSError("injected: commit failed")

    event.listen(Session, "before_commit", boom)
    try:
        yield state
    finally:
        event.remove(Session, "before_commit", boom)


def test_failed_commit_leaves_no_change_and_no_event(
    db_world: World, failing_commit: dict[str, int]
) -> None:
    w = db_world
    journal = _journal(w)
    failing_commit["arm"] = 1
    with pytest.raises(OSError, match="injected"):
        w.svc.revoke_account("ret-op", w.tick(minutes=1))
    assert not _revoked(w, "ret-op")
    assert not w.sink.events  # audit-first ordering would have logged a change that never was
    assert _journal(w) == journal


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=6))
def test_any_failure_pattern_ends_with_log_equal_to_journal(
    sqlite_url: str, plan: list[tuple[bool, bool]]
) -> None:
    """Whatever fails when, once the log is back: log == journal, each event once, in order,
    and every committed change (the journal) has its event."""
    w = make_world(sqlite_url.replace(".db", f"-{id(plan)}.db"))
    try:
        base = len(_journal(w))
        for i, (log_down, lock_nw) in enumerate(plan):
            w.sink.fail = log_down
            try:
                if lock_nw:
                    w.svc.unlock_account("nw-op", w.tick(seconds=1))
                else:
                    w.svc.unlock_account("ret-op", w.tick(seconds=1))
            except OSError:
                assert log_down, f"step {i}: failed although the log was up"
        w.sink.fail = False
        _restart(w).deliver_audit()
        journal = _journal(w)[base:]
        sent: list[Any] = [e["event_id"] for e in w.sink.events]
        assert len(journal) == len(plan)
        assert sent == journal
    finally:
        w.engine.dispose()


def test_a_starting_server_delivers_the_backlog_before_serving(db_world: World) -> None:
    """``gridwall serve`` (``create_server_app``) empties identity's journal at start."""
    import json

    from gridwall.app.server import create_server_app

    w = db_world
    w.sink.fail = True
    with pytest.raises(OSError):
        w.svc.revoke_account("ret-op", w.tick(minutes=1), reason="transfer")
    pending = w.svc.pending_audit()
    assert pending >= 1
    url = w.engine.url.render_as_string(hide_password=False)
    app = create_server_app(url, audit_durability="os")
    server = app.state.server
    try:
        assert w.svc.pending_audit() == 0
        log = server.audit_log
        entries = [json.loads(log.entry(i)) for i in range(log.size())]
        assert any("identity/revoke" in json.dumps(e) for e in entries), entries[:2]
    finally:
        server.close()


@pytest.mark.postgres
def test_a_second_server_waits_for_older_events_instead_of_overtaking_them(
    pg_url: str,
) -> None:
    """On PostgreSQL the pending rows are locked while one server sends them; another server
    waits (``FOR UPDATE``) rather than skipping ahead (``SKIP LOCKED`` would let a later
    event reach the log before an older one still being sent)."""
    import threading
    import time

    w = make_world(pg_url)
    try:
        w.sink.fail = True
        for account in ("ret-op", "nw-op"):
            with pytest.raises(OSError):
                w.svc.revoke_account(account, w.tick(minutes=1))
        w.sink.fail = False
        journal = _journal(w)
        with w.engine.connect() as holder:  # "server 1" holds the oldest pending event
            holder.execute(
                select(AuditRecord.seq)
                .where(AuditRecord.delivered.is_(False))
                .order_by(AuditRecord.seq)
                .limit(1)
                .with_for_update()
            ).all()
            other = _restart(w)  # "server 2"
            t = threading.Thread(target=other.deliver_audit)
            t.start()
            time.sleep(1.0)
            assert w.sink.events == []  # it waits: nothing overtook the held event
            holder.rollback()
        t.join(timeout=30)
        assert not t.is_alive()
        assert [e["event_id"] for e in w.sink.events] == journal[-len(w.sink.events) :]
        assert len(w.sink.events) == 2 and w.svc.pending_audit() == 0
    finally:
        w.engine.dispose()
