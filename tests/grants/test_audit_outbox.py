"""A grant change and its audit event commit together (grants' transactional outbox), on both
stores, proven by fault injection at each step of a grant step:

1. the event's write into the outbox fails, or the commit fails: neither the change nor any
   event exists anywhere (audit-first ordering would leave an "allow" for a change that
   never happened);
2. the audit log fails after the commit (down before it keeps the event, or mid-backlog):
   the change stands, the call raises :class:`AuditPending` (not acknowledged), the event
   waits and reaches the log at the next step, or from a fresh process, in order and once
   (commit-then-audit without the outbox would lose it);
3. the log keeps the event but its answer is lost: the same ``event_id`` is sent again (the
   one documented repeat), nothing is lost or reordered.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event, select
from sqlalchemy.engine import Connection

from gridwall.grants import (
    AgreementRegistry,
    AuditPending,
    ConsentDesk,
    DisasterDesk,
    ExportDesk,
    GrantRefused,
    deliver_audit,
    pending_audit,
)
from gridwall.grants._models import Agreement, ConsentRecord, DisasterDeclaration, ExportRecord
from gridwall.grants._models import GrantAuditEvent as Outbox
from gridwall.store import make_engine
from support.doubles import FlakyAuditSink

from .conftest import T0, FrozenClock

START = date(2026, 4, 1)


def _outbox(engine: Engine) -> list[tuple[str, bool]]:
    """(event_id, delivered) of every outbox row, in delivery order."""
    with engine.connect() as c:
        q = select(Outbox.event_id, Outbox.delivered).order_by(Outbox.seq)
        return [(str(i), bool(d)) for i, d in c.execute(q)]


def _ids(sink: FlakyAuditSink) -> list[str]:
    return [str(e["event_id"]) for e in sink.events]


def _agreements(engine: Engine) -> dict[str, bool]:
    """agreement_id → ended?"""
    with engine.connect() as c:
        q = select(Agreement.agreement_id, Agreement.ended_at)
        return {str(a): e is not None for a, e in c.execute(q)}


def _register(reg: AgreementRegistry, aid: str) -> dict[str, Any]:
    return reg.register(
        aid, "contractor:itco", "system_maintenance", ["contract_name", "address"], "",
        START, None, "nw-carol",
    )  # fmt: skip


def _grant_id(ev: dict[str, Any]) -> str:
    return str(ev["grant_id"])


@pytest.fixture
def flaky() -> FlakyAuditSink:
    return FlakyAuditSink()


@pytest.fixture
def reg(engine: Engine, flaky: FlakyAuditSink, clock: FrozenClock) -> AgreementRegistry:
    return AgreementRegistry(engine, flaky, clock)


class CommitFault:
    """Makes the next ``arm`` commits on ``engine`` fail (a full disk, a lost connection)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.arm = 0
        event.listen(engine, "commit", self._boom)

    def _boom(self, conn: Connection) -> None:
        if self.arm:
            self.arm -= 1
            raise OSError("injected: commit failed")

    def close(self) -> None:
        event.remove(self.engine, "commit", self._boom)


@pytest.fixture
def commit_fault(engine: Engine) -> Iterator[CommitFault]:
    f = CommitFault(engine)
    try:
        yield f
    finally:
        f.close()


# -- 1. the write fails: no change, no event ------------------------------------------------


def test_failed_commit_leaves_neither_change_nor_event(
    engine: Engine, reg: AgreementRegistry, flaky: FlakyAuditSink, commit_fault: CommitFault
) -> None:
    _register(reg, "MT-0")
    before, sent = _outbox(engine), _ids(flaky)
    commit_fault.arm = 1
    with pytest.raises(OSError, match="injected: commit failed"):
        _register(reg, "MT-1")
    assert "MT-1" not in _agreements(engine)
    assert _outbox(engine) == before  # no event for a change that rolled back ...
    assert _ids(flaky) == sent  # ... anywhere (audit-first would have logged an "allow")
    commit_fault.arm = 1
    with pytest.raises(OSError, match="injected: commit failed"):
        reg.end("MT-0", "nw-carol")
    assert _agreements(engine) == {"MT-0": False}
    assert _outbox(engine) == before and _ids(flaky) == sent
    _register(reg, "MT-1")  # the store and the log are fine afterwards
    assert [_grant_id(e) for e in flaky.events] == ["MT-0", "MT-1"]


def test_failed_event_write_rolls_the_change_back(
    engine: Engine, reg: AgreementRegistry, flaky: FlakyAuditSink
) -> None:
    """The event's INSERT is in the change's transaction: if it fails, so does the change."""

    def boom(conn: Connection, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO GRANT_AUDIT_OUTBOX"):
            raise OSError("injected: outbox write failed")

    event.listen(engine, "before_cursor_execute", boom)
    try:
        with pytest.raises(OSError, match="outbox write failed"):
            _register(reg, "MT-1")
    finally:
        event.remove(engine, "before_cursor_execute", boom)
    assert _agreements(engine) == {}
    assert _outbox(engine) == [] and flaky.calls == 0


# -- 2. the log fails after the commit: the change stands, its event waits -------------------


def test_log_down_after_commit_fails_closed_and_loses_nothing(
    engine: Engine, reg: AgreementRegistry, flaky: FlakyAuditSink
) -> None:
    flaky.fail = True
    for i, aid in enumerate(["MT-1", "MT-2"], 1):
        with pytest.raises(AuditPending) as err:
            _register(reg, aid)
        assert err.value.pending == i and isinstance(err.value.__cause__, OSError)
        assert "not acknowledged" in str(err.value)
    assert set(_agreements(engine)) == {"MT-1", "MT-2"}  # the changes stand ...
    assert [d for _, d in _outbox(engine)] == [False, False]  # ... with their events
    assert flaky.events == [] and pending_audit(engine) == 2
    flaky.fail = False
    _register(reg, "MT-3")  # the next step sends the backlog first, then itself
    assert _ids(flaky) == [i for i, _ in _outbox(engine)]
    assert [_grant_id(e) for e in flaky.events] == ["MT-1", "MT-2", "MT-3"]
    assert all(e["decision"] == "allow" for e in flaky.events)
    assert pending_audit(engine) == 0
    assert deliver_audit(engine, flaky) == 0  # exactly once: nothing is sent again


def test_log_taking_part_of_the_backlog_keeps_order(
    engine: Engine, reg: AgreementRegistry, flaky: FlakyAuditSink
) -> None:
    flaky.fail = True
    for aid in ("MT-1", "MT-2", "MT-3"):
        with pytest.raises(AuditPending):
            _register(reg, aid)
    flaky.fail, flaky.budget = False, 1  # takes one event, then fails again
    with pytest.raises(AuditPending) as err:
        reg.end("MT-1", "nw-carol")
    assert err.value.pending == 3
    assert [_grant_id(e) for e in flaky.events] == ["MT-1"]
    flaky.budget = None
    assert deliver_audit(engine, flaky) == 3
    assert _ids(flaky) == [i for i, _ in _outbox(engine)]
    steps = [(e["screen"], _grant_id(e)) for e in flaky.events]
    assert steps == [("grants.agreement.register", a) for a in ("MT-1", "MT-2", "MT-3")] + [
        ("grants.agreement.end", "MT-1")
    ]


def test_crash_between_commit_and_delivery_recovers_in_a_fresh_process(
    engine: Engine, reg: AgreementRegistry, flaky: FlakyAuditSink, clock: FrozenClock
) -> None:
    """The process dies after the commit, before the log has the event (here: the log
    refuses, then the engine is dropped); a fresh engine and desk deliver it once."""
    flaky.fail = True
    with pytest.raises(AuditPending):
        _register(reg, "MT-1")
    url = engine.url.render_as_string(hide_password=False)
    fresh_engine = make_engine(url)
    try:
        fresh_log = FlakyAuditSink()
        assert deliver_audit(fresh_engine, fresh_log) == 1  # what a starting server does
        assert deliver_audit(fresh_engine, fresh_log) == 0
        _register(AgreementRegistry(fresh_engine, fresh_log, clock), "MT-2")
        assert [_grant_id(e) for e in fresh_log.events] == ["MT-1", "MT-2"]
        assert _ids(fresh_log) == [i for i, _ in _outbox(fresh_engine)]
    finally:
        fresh_engine.dispose()
    assert flaky.events == []


def test_a_starting_server_delivers_the_grants_backlog_before_serving(
    engine: Engine, reg: AgreementRegistry, flaky: FlakyAuditSink
) -> None:
    """``gridwall serve`` (``create_server_app``) empties grants' outbox at start."""
    from gridwall.app.server import create_server_app
    from gridwall.grants._outbox import audit_log_events

    flaky.fail = True
    with pytest.raises(AuditPending):
        _register(reg, "MT-1")
    url = engine.url.render_as_string(hide_password=False)
    app = create_server_app(url, audit_durability="os")
    server = app.state.server
    try:
        assert pending_audit(engine) == 0
        logged = [e["event_id"] for e in audit_log_events(server.audit_log) if "grant_kind" in e]
        assert logged == [i for i, _ in _outbox(engine)]
    finally:
        server.close()


def test_refusal_is_audited_and_fails_closed_when_the_log_is_down(
    engine: Engine, reg: AgreementRegistry, flaky: FlakyAuditSink
) -> None:
    with pytest.raises(GrantRefused, match="no such agreement"):
        reg.end("NOPE", "nw-carol")
    assert [(e["decision"], _grant_id(e)) for e in flaky.events] == [("deny", "NOPE")]
    flaky.fail = True
    with pytest.raises(AuditPending) as err:  # a refusal the log did not take is not answered
        reg.end("NOPE-2", "nw-carol")
    assert isinstance(err.value.__context__, GrantRefused)
    assert _agreements(engine) == {}
    flaky.fail = False
    _register(reg, "MT-1")
    assert [(e["decision"], _grant_id(e)) for e in flaky.events] == [
        ("deny", "NOPE"), ("deny", "NOPE-2"), ("allow", "MT-1"),
    ]  # fmt: skip
    assert _ids(flaky) == [i for i, _ in _outbox(engine)]


# -- 3. the log keeps the event but its answer is lost: one repeat, same event_id ------------


def test_lost_acknowledgement_repeats_the_same_event_id_only(
    engine: Engine, reg: AgreementRegistry, flaky: FlakyAuditSink
) -> None:
    flaky.lose_ack = True
    with pytest.raises(AuditPending):
        _register(reg, "MT-1")
    flaky.lose_ack = False
    _register(reg, "MT-2")
    first = _outbox(engine)[0][0]
    assert _ids(flaky) == [first, *(i for i, _ in _outbox(engine))]
    assert pending_audit(engine) == 0


# -- every desk goes through the outbox ------------------------------------------------------


def _declare(engine: Engine, sink: FlakyAuditSink, clock: FrozenClock) -> str:
    DisasterDesk(engine, sink, clock).declare(
        "TY-1", "東京都/千代田区", T0 + timedelta(hours=24), timedelta(hours=72), "nw-alice"
    )
    return "TY-1"


def _agreement(engine: Engine, sink: FlakyAuditSink, clock: FrozenClock) -> str:
    _register(AgreementRegistry(engine, sink, clock), "MT-9")
    return "MT-9"


def _consent(engine: Engine, sink: FlakyAuditSink, clock: FrozenClock) -> str:
    _, claims = ConsentDesk(engine, sink, clock).issue(
        "0300000000000000000042", "B0002", 7, 13, "nw-clerk"
    )
    return str(claims["token_id"])


def _export(engine: Engine, sink: FlakyAuditSink, clock: FrozenClock) -> str:
    healthy = FlakyAuditSink()
    _register(AgreementRegistry(engine, healthy, clock), "MT-1")
    rows = [{"supply_point_id": f"03{i:020d}", "contract_name": f"需要家 {i}"} for i in range(5)]
    ExportDesk(engine, sink, clock, key=b"w" * 32).export(
        rows, recipient_org="contractor:itco", agreement_id="MT-1",
        purpose="system_maintenance", actor="nw-carol", export_id="EXP-1",
    )  # fmt: skip
    return "EXP-1"


def _stored(engine: Engine, kind: str, key: str) -> bool:
    table, col = {
        "disaster": (DisasterDeclaration, DisasterDeclaration.disaster_id),
        "agreement": (Agreement, Agreement.agreement_id),
        "consent": (ConsentRecord, ConsentRecord.token_id),
        "export": (ExportRecord, ExportRecord.export_id),
    }[kind]
    with engine.connect() as c:
        return c.execute(select(table).where(col == key)).first() is not None


STEPS: dict[str, Callable[[Engine, FlakyAuditSink, FrozenClock], str]] = {
    "disaster": _declare,
    "agreement": _agreement,
    "consent": _consent,
    "export": _export,
}


@pytest.mark.parametrize("kind", sorted(STEPS))
def test_every_desk_commits_its_event_with_its_change(
    engine: Engine, flaky: FlakyAuditSink, clock: FrozenClock, kind: str
) -> None:
    flaky.fail = True
    with pytest.raises(AuditPending):
        STEPS[kind](engine, flaky, clock)
    with engine.connect() as c:
        last = c.execute(select(Outbox.event_json).order_by(Outbox.seq.desc())).first()
    assert last is not None
    ev = json.loads(last[0])
    assert ev["grant_kind"] == kind and ev["decision"] == "allow"
    if kind == "consent":  # a consent's event names the point, not the token
        with engine.connect() as c:
            key = str(c.execute(select(ConsentRecord.token_id)).scalar_one())
        assert ev["supply_point_ids"] == ["0300000000000000000042"]
    else:
        key = ev["export_id"] if kind == "export" else ev["grant_id"]
    assert _stored(engine, kind, key)  # the change stands with its pending event
    assert pending_audit(engine) == 1
    flaky.fail = False
    assert deliver_audit(engine, flaky) == 1
    assert flaky.events[-1]["event_id"] == ev["event_id"]


# -- SQLite's single writer and an audit log in the same database ---------------------------


def test_audit_log_in_the_same_database_under_concurrent_steps(
    engine: Engine, clock: FrozenClock
) -> None:
    """The real audit log in the store's own database (as ``gridwall serve`` defaults to).
    The log is written only after the grant transaction committed and while no grants
    transaction is open, so SQLite's one writer never waits on itself; with steps from
    several threads every event reaches the log once, in outbox order."""
    from gridwall.audit import open_log
    from gridwall.grants._outbox import audit_log_events

    url = engine.url.render_as_string(hide_password=False)
    log = open_log(url, durability="os")
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        reg = AgreementRegistry(engine, log, clock)
        try:
            for i in range(4):
                _register(reg, f"MT-{n}-{i}")
                with pytest.raises(GrantRefused):
                    _register(reg, f"MT-{n}-{i}")  # a refusal writes too
        except BaseException as e:  # collected, asserted below
            errors.append(e)

    try:
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        logged = [e["event_id"] for e in audit_log_events(log) if e.get("grant_kind")]
        assert logged == [i for i, _ in _outbox(engine)]
        assert len(logged) == len(set(logged)) == 3 * 4 * 2
        assert pending_audit(engine) == 0 and len(_agreements(engine)) == 12
    finally:
        log.close()


# -- any sequence of steps and faults ------------------------------------------------------

OPS = st.sampled_from(["register", "end", "refuse"])
FAULTS = st.sampled_from(["none", "none", "log_down", "lose_ack", "partial", "commit_fails"])


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=st.lists(st.tuples(OPS, FAULTS), min_size=1, max_size=8))
def test_any_sequence_of_steps_and_faults(
    engine: Engine, clock: FrozenClock, plan: list[tuple[str, str]]
) -> None:
    """Whatever fails when, once the log is back: every committed change has exactly its
    event, no event exists for a change that rolled back, the log has the outbox's events in
    its order, each once (a lost acknowledgement repeats one event, under its own id)."""
    tag = uuid.uuid4().hex[:8]
    assert pending_audit(engine) == 0
    base = len(_outbox(engine))
    sink = FlakyAuditSink()
    reg = AgreementRegistry(engine, sink, clock)
    fault = CommitFault(engine)
    live: list[str] = []  # registered, not ended (model)
    changes: list[tuple[str, str]] = []  # committed (step, agreement) in order (model)
    refusals: list[str] = []
    lost_acks = 0
    try:
        for n, (op, what) in enumerate(plan):
            clock.advance(seconds=1)
            sink.fail, sink.lose_ack = what == "log_down", what == "lose_ack"
            # "partial": the log takes half the backlog (if any), then fails
            sink.budget = pending_audit(engine) // 2 if what == "partial" else None
            fault.arm = 1 if what == "commit_fails" else 0
            if op == "end" and live:
                aid, step = live[0], "end"
            elif op == "refuse":
                aid, step = f"NOPE-{tag}-{n}", "refuse"
            else:
                aid, step = f"MT-{tag}-{n}", "register"
            try:
                if step == "register":
                    _register(reg, aid)
                else:  # an end, or a refused end of an agreement that does not exist
                    reg.end(aid, "nw-carol")
                outcome = "ok"
            except GrantRefused:
                outcome = "refused"
            except AuditPending:
                outcome = "pending"
            except OSError as e:
                assert "commit failed" in str(e)
                outcome = "rolled back"
            expected = {
                "none": "refused" if step == "refuse" else "ok",
                "log_down": "pending",
                "lose_ack": "pending",
                "partial": "pending",
                "commit_fails": "rolled back",
            }[what]
            assert outcome == expected, (n, op, what, outcome)
            if outcome != "rolled back":
                if step == "register":
                    live.append(aid)
                    changes.append(("register", aid))
                elif step == "end":
                    live.remove(aid)
                    changes.append(("end", aid))
                else:
                    refusals.append(aid)
            lost_acks += what == "lose_ack"
        sink.fail, sink.lose_ack, sink.budget, fault.arm = False, False, None, 0
        deliver_audit(engine, sink)
    finally:
        fault.close()
    outbox = [i for i, _ in _outbox(engine)][base:]
    sent = _ids(sink)
    first_seen = list(dict.fromkeys(sent))
    assert first_seen == outbox  # nothing lost, nothing extra, in order
    assert len(sent) - len(first_seen) == lost_acks  # the only repeats: lost answers
    mine = {e["event_id"]: e for e in sink.events}
    events = [mine[i] for i in outbox]
    assert [
        (e["screen"].rsplit(".", 1)[1], e["grant_id"]) for e in events if e["decision"] == "allow"
    ] == changes
    assert [e["grant_id"] for e in events if e["decision"] == "deny"] == refusals
    stored = {a: ended for a, ended in _agreements(engine).items() if tag in a}
    assert stored == {a: a not in live for _, a in changes}


# -- the faces: HTTP answers an error, the migration goes both ways -------------------------


def test_http_step_the_log_did_not_take_is_not_acknowledged(
    engine: Engine, flaky: FlakyAuditSink, clock: FrozenClock
) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from gridwall.app.http.grants import create_router
    from gridwall.interfaces import Principal
    from gridwall.interfaces.facts import (
        AccountKind,
        AccountState,
        DeviceKind,
        OrgKind,
        PrincipalFacts,
        RetailerKind,
        Role,
    )
    from support.doubles import TokenAuthenticator

    auth = TokenAuthenticator()
    app = FastAPI()
    app.include_router(create_router(engine, auth, flaky, clock))
    facts = PrincipalFacts(
        OrgKind.NW, RetailerKind.NONE, Role.TAKUSO_OPERATOR, AccountKind.PERSONAL,
        AccountState.ACTIVE, True,
    )  # fmt: skip
    op = Principal("nw-op", "p-nw-op", "nw", facts)
    headers = {
        "Authorization": f"Bearer {auth.register(op)}",
        "X-Gridwall-Terminal": auth.enroll_terminal("t-nw-op", "nw", DeviceKind.NW_TERMINAL),
    }
    body = {
        "disaster_id": "TY-1", "area": ["東京都/千代田区"], "max_hours": 72,
        "planned_end": (T0 + timedelta(hours=24)).isoformat(),
    }  # fmt: skip
    flaky.fail = True
    r = TestClient(app, raise_server_exceptions=False).post(
        "/v1/grants/disasters", json=body, headers=headers
    )
    assert r.status_code == 500, r.text  # not acknowledged
    assert "TY-1" not in r.text
    assert _stored(engine, "disaster", "TY-1") and pending_audit(engine) == 1
    flaky.fail = False
    assert deliver_audit(engine, flaky) == 1
    assert flaky.events[0]["screen"] == "grants.disaster.declare"


def test_the_outbox_migration_goes_down_and_up(engine: Engine) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from gridwall.store import upgrade
    from gridwall.store.db import alembic_config

    url = engine.url.render_as_string(hide_password=False)
    with engine.begin() as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "grants_0001")
    assert "grant_audit_outbox" not in inspect(engine).get_table_names()
    upgrade(url, engine)
    columns = {c["name"] for c in inspect(engine).get_columns("grant_audit_outbox")}
    assert columns == {c.name for c in Outbox.__table__.columns}
    indexes = {i["name"] for i in inspect(engine).get_indexes("grant_audit_outbox")}
    assert "ix_grant_audit_outbox_pending" in indexes


# -- a backlog delivered inside a later request stays as it was written ----------------------


def test_backlog_delivered_inside_a_later_request_keeps_its_own_address(
    engine: Engine, flaky: FlakyAuditSink, clock: FrozenClock
) -> None:
    """Events an outage left behind are an earlier step's: the request that happens to
    deliver them stamps only its own event with its client address."""
    from gridwall.app.http import audit as request_audit

    sink = request_audit.RequestAuditSink(flaky)
    reg = AgreementRegistry(engine, sink, clock)
    flaky.fail = True
    with pytest.raises(AuditPending):
        _register(reg, "MT-1")  # outside any request: no address known
    flaky.fail = False
    rq = request_audit.RequestAudit("POST", "/v1/grants/agreements", "192.0.2.7", None)
    token = request_audit._current.set(rq)
    try:
        _register(reg, "MT-2")
    finally:
        request_audit._current.reset(token)
    by_grant = {_grant_id(e): e for e in flaky.events}
    assert [_grant_id(e) for e in flaky.events] == ["MT-1", "MT-2"]
    assert by_grant["MT-2"]["source_ip"] == "192.0.2.7"
    assert not by_grant["MT-1"].get("source_ip")  # not the later request's address
    assert rq.recorded == 1  # the request's own event only


def _door_app(
    engine: Engine, flaky: FlakyAuditSink, clock: FrozenClock
) -> tuple[Any, dict[str, str]]:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from gridwall.app.http.grants import create_router
    from gridwall.interfaces import Principal
    from gridwall.interfaces.facts import (
        AccountKind,
        AccountState,
        DeviceKind,
        OrgKind,
        PrincipalFacts,
        RetailerKind,
        Role,
    )
    from support.doubles import TokenAuthenticator

    auth = TokenAuthenticator()
    app = FastAPI()
    app.include_router(create_router(engine, auth, flaky, clock))
    facts = PrincipalFacts(
        OrgKind.RETAIL, RetailerKind.INDEPENDENT, Role.SALES, AccountKind.PERSONAL,
        AccountState.ACTIVE, True,
    )  # fmt: skip
    agent = Principal("ret-op", "p-ret-op", "retail:R1", facts)
    headers = {
        "Authorization": f"Bearer {auth.register(agent)}",
        "X-Gridwall-Terminal": auth.enroll_terminal(
            "t-ret-op", "retail:R1", DeviceKind.RETAIL_TERMINAL
        ),
    }
    return TestClient(app, raise_server_exceptions=False), headers


def test_a_refusal_at_the_door_queues_behind_the_backlog(
    engine: Engine, reg: AgreementRegistry, flaky: FlakyAuditSink, clock: FrozenClock
) -> None:
    """The management policy's 403 (retailers never manage grants) is written through the
    outbox like every other grant event: it never reaches the log ahead of an older one."""
    flaky.fail = True
    with pytest.raises(AuditPending):
        _register(reg, "MT-1")
    flaky.fail = False
    client, headers = _door_app(engine, flaky, clock)
    r = client.post(
        "/v1/grants/disasters",
        json={"disaster_id": "TY-9", "area": ["東京都/千代田区"], "max_hours": 72,
              "planned_end": (T0 + timedelta(hours=24)).isoformat()},
        headers=headers,
    )  # fmt: skip
    assert r.status_code == 403, r.text
    assert [(e["screen"], e["decision"]) for e in flaky.events] == [
        ("grants.agreement.register", "allow"),
        ("grants.disaster.declare", "deny"),
    ]
    assert _ids(flaky) == [i for i, _ in _outbox(engine)]  # the refusal is in the journal
    assert pending_audit(engine) == 0


@pytest.mark.postgres
def test_outbox_writers_take_turns_so_seq_order_is_commit_order(
    pg_url: str, clock: FrozenClock
) -> None:
    """An event whose ``seq`` was taken by a transaction still open cannot be overtaken by
    a later one committed and delivered meanwhile: writers of the outbox take turns."""
    import time

    from gridwall.grants._outbox import enqueue, grant_event, record_refusal
    from gridwall.store import upgrade

    upgrade(pg_url)
    engine = make_engine(pg_url)
    sink = FlakyAuditSink()

    def deny(n: int) -> Any:
        return grant_event(now=clock(), actor="nw-carol", actor_org="nw",
                           screen="grants.agreement.register", purpose="", decision="deny",
                           query=f"refused {n}")  # fmt: skip

    first, second = deny(1), deny(2)
    try:
        with engine.connect() as conn:
            conn.begin()
            enqueue(conn, first)  # taken its seq, not committed yet
            t = threading.Thread(target=record_refusal, args=(engine, sink, second))
            t.start()
            time.sleep(1.0)
            assert sink.events == []  # the later writer waits for the earlier commit
            conn.commit()
        t.join(timeout=30)
        assert not t.is_alive()
        assert [e["query"] for e in sink.events] == ["refused 1", "refused 2"]
    finally:
        engine.dispose()
