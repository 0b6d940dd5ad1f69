"""The case workflow through the app's desk, on SQLite and PostgreSQL: routing from HR data
valid on the alert's date, every step a Cedar decision with one audit event written with
its entry, refusals naming their reason, pseudonyms until a reveal, escalation."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from gridwall.app.casework import Caller, CaseDesk, CaseInvalid, CaseNotFound, CaseRefused, StoreHr
from gridwall.cases import AlertRef, load_entries, notifications
from gridwall.cases._outbox import CASE_AUDIT_OUTBOX, pending_audit
from gridwall.identity._models import Account, Assignment, Change, Person
from gridwall.interfaces import Principal, Terminal
from gridwall.interfaces.facts import (
    AccountKind,
    AccountState,
    CaseStep,
    DeviceFacts,
    DeviceKind,
    DeviceOwner,
    OrgKind,
    PrincipalFacts,
    RetailerKind,
    Role,
)
from gridwall.store.db import make_engine, upgrade

T0 = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)
ALERT_AT = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 6, 12, 9, 0, tzinfo=UTC)
TRANSFER = datetime(2026, 6, 11, 0, 0, tzinfo=UTC)  # after the alert, before now

#: person → (org, department, role): an NW section, its department head, compliance with
#: its head, internal audit, a compliance officer inside the operators' department, a
#: retailer's manager
STAFF = {
    "op1": ("nw", "託送業務部/託送一課", "takuso_operator"),
    "mgr1": ("nw", "託送業務部/託送一課", "manager"),
    "head": ("nw", "託送業務部", "manager"),
    "chead": ("nw", "コンプライアンス推進室", "manager"),
    "comp1": ("nw", "コンプライアンス推進室", "compliance"),
    "comp2": ("nw", "コンプライアンス推進室", "compliance"),
    "comp3": ("nw", "託送業務部", "compliance"),
    "aud1": ("nw", "内部監査室", "auditor"),
    "rmgr": ("retail:R1", "管理部", "manager"),
}


class Sink:
    def __init__(self) -> None:
        self.events: list[Mapping[str, Any]] = []
        self.down = False

    def record(self, event: Mapping[str, Any]) -> None:
        if self.down:
            raise OSError("audit log unavailable")
        self.events.append(dict(event))


class Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t


def _people(engine: sa.Engine) -> None:
    with Session(engine) as s:
        for pid, (org, dept, role) in STAFF.items():
            s.add(Person(person_id=pid, name=pid.upper(), created_at=T0))
            s.flush()
            until = TRANSFER if pid == "mgr1" else None
            s.add(Assignment(person_id=pid, org=org, department=dept, role=role,
                             valid_from=T0, valid_to=until, source="test"))  # fmt: skip
            s.add(Account(account_id=f"gw-{pid}", system="gridwall", holder_person_id=pid,
                          org=org, created_at=T0, source="test"))  # fmt: skip
        # mgr1 moves away after the alert; the case stays with the manager on its date
        s.add(Assignment(person_id="mgr1", org="nw", department="再エネ業務グループ",
                         role="manager", valid_from=TRANSFER, source="test"))  # fmt: skip
        s.add(Person(person_id="mgr2", name="MGR2", created_at=T0))
        s.flush()
        s.add(Assignment(person_id="mgr2", org="nw", department="託送業務部/託送一課",
                         role="manager", valid_from=TRANSFER, source="test"))  # fmt: skip
        s.add(Account(account_id="gw-mgr2", system="gridwall", holder_person_id="mgr2",
                      org="nw", created_at=T0, source="test"))  # fmt: skip
        # comp2 approved op1's account reactivation
        s.add(Change(kind="account_reactivate", subject="gw-op1", old_value="revoked:x",
                     new_value="active", requested_by="head", requested_at=T0,
                     status="applied", decided_by="comp2", decided_at=T0))  # fmt: skip
        s.commit()


def caller(pid: str) -> Caller:
    org, _, role = STAFF.get(pid, ("nw", "", "manager"))
    kind = OrgKind.NW if org == "nw" else OrgKind.RETAIL
    facts = PrincipalFacts(
        kind, RetailerKind.NONE if kind == OrgKind.NW else RetailerKind.AFFILIATED,
        Role(role), AccountKind.PERSONAL, AccountState.ACTIVE, True,
    )  # fmt: skip
    dev = DeviceKind.NW_TERMINAL if kind == OrgKind.NW else DeviceKind.RETAIL_TERMINAL
    return Caller(
        Principal(f"gw-{pid}", pid, org, facts),
        Terminal(f"t-{pid}", org, DeviceFacts(dev, DeviceOwner.SAME_ORG, True)),
    )


@pytest.fixture
def desk(db_url: str) -> Iterator[tuple[CaseDesk, Sink, Clock]]:
    upgrade(db_url)
    engine = make_engine(db_url)
    _people(engine)
    sink, clock = Sink(), Clock(NOW)
    yield CaseDesk(engine, sink, StoreHr(engine), clock=clock), sink, clock
    engine.dispose()


def _notes(d: CaseDesk) -> list[Any]:
    with d.engine.connect() as c:
        return notifications(c)


def _entries(d: CaseDesk, cid: str) -> list[Any]:
    with d.engine.connect() as c:
        return load_entries(c)[cid]


def _open(d: CaseDesk, subject: str = "op1", alert: str = "al-1", kind: str = "A") -> str:
    [cid] = d.open_from_alerts([AlertRef(alert, subject, kind, "critical", ALERT_AT)])
    return cid


def test_three_lines_end_to_end(desk: tuple[CaseDesk, Sink, Clock]) -> None:
    d, sink, _clock = desk
    cid = _open(d)
    assert d.open_from_alerts([AlertRef("al-1", "op1", "A", "critical", ALERT_AT)]) == []
    # routed to the manager of op1's section on the alert's date (mgr1), not today's (mgr2)
    first = d.show(caller("mgr1"), cid)
    assert first["first_line"] == "mgr1" and first["subject"] == "op1"
    with pytest.raises(CaseRefused, match="not routed to you"):
        d.act(caller("mgr2"), cid, CaseStep.CONFIRM, {"text": "seen"})
    d.act(caller("mgr1"), cid, CaseStep.CONFIRM, {"text": "the screen was opened at night"})
    # second line: pseudonym until the reveal, which is kept in the history
    triage = d.show(caller("comp1"), cid)
    assert triage["pseudonymised"] and triage["subject"].startswith("P-")
    assert "op1" not in str(triage["history"]) and "mgr1" not in str(triage["history"])
    with pytest.raises(CaseInvalid, match="field 'reason' is required"):
        d.act(caller("comp1"), cid, CaseStep.REVEAL, {})
    revealed = d.act(caller("comp1"), cid, CaseStep.REVEAL, {"reason": "decision needs it"})
    assert revealed["subject"] == "op1" and revealed["reveals"] == [
        {"by": "gw-comp1", "reason": "decision needs it"}
    ]
    d.act(caller("comp1"), cid, CaseStep.DECIDE,
          {"decision": "violation", "incident_type": "A", "rule": "行動規範 3.2"})  # fmt: skip
    d.act(caller("comp1"), cid, CaseStep.DISCIPLINE, {"outcome": "譴責"})
    [sampled] = d.sample(caller("aud1"))
    assert sampled["case_id"] == cid and sampled["needs_sampling"]
    reopened = d.act(caller("aud1"), cid, CaseStep.REOPEN, {"reason": "rule misread"})
    assert reopened["status"] == "second_line"
    d.act(caller("comp1"), cid, CaseStep.DECIDE,
          {"decision": "violation", "incident_type": "A", "rule": "行動規範 3.3"})  # fmt: skip
    done = d.act(caller("aud1"), cid, CaseStep.SIGNOFF, {})
    assert done["status"] == "signed_off"
    kinds = [h["kind"] for h in done["history"]]
    assert kinds == ["opened", "routed", "confirmed", "revealed", "decided", "outcome",
                     "reopened", "decided", "signed_off"]  # fmt: skip
    # every step one audit event, written with its entry (seq), nothing left pending
    steps = [(e["screen"], e["decision"]) for e in sink.events]
    assert ("case.open", "allow") in steps and ("case.confirm", "deny") in steps
    acting = [e for e in sink.events if e["action"] == "update" and e["decision"] == "allow"]
    assert [e["case_seq"] for e in acting] == [2, 3, 4, 5, 6, 7, 8, 9]
    assert pending_audit(d.engine) == 0
    recipients = [(n.recipient, n.kind) for n in _notes(d)]
    assert ("person:mgr1", "case.routed") in recipients
    assert ("role:auditor", "case.to_sample") in recipients


@pytest.mark.parametrize(
    ("who", "step", "subject", "reason"),
    [
        ("op1", CaseStep.VIEW, "op1", "the case is about you"),
        ("comp2", CaseStep.DECIDE, "op1", "you approved this person's reactivation"),
        ("comp1", CaseStep.VIEW, "chead", "the case is about your own manager"),
        ("comp3", CaseStep.DECIDE, "op1", "subject's organisation unit"),
        ("rmgr", CaseStep.LIST, "op1", "retailers'"),
        ("mgr1", CaseStep.DECIDE, "op1", "not a step of your role"),
        ("aud1", CaseStep.REVEAL, "op1", "not a step of your role"),
    ],
)
def test_forbidden_steps_are_refused_with_their_reason(
    desk: tuple[CaseDesk, Sink, Clock], who: str, step: CaseStep, subject: str, reason: str
) -> None:
    d, sink, _ = desk
    cid = _open(d, subject)
    before = len(_entries(d, cid))
    with pytest.raises(CaseRefused, match=reason):
        if step == CaseStep.VIEW:
            d.show(caller(who), cid)
        elif step == CaseStep.LIST:
            d.queue(caller(who))
        else:
            fields = {"reason": "r"} | ({"decision": "no_issue"} if step == CaseStep.DECIDE else {})
            d.act(caller(who), cid, step, fields)
    last = sink.events[-1]
    assert (last["decision"], last["screen"], last["account_id"]) == (
        "deny",
        step.value,
        f"gw-{who}",
    )
    assert reason.split(";")[0] in str(last["reason"])
    assert len(_entries(d, cid)) == before  # nothing written


def test_queue_lists_only_viewable_cases(desk: tuple[CaseDesk, Sink, Clock]) -> None:
    d, _, _ = desk
    a, b = _open(d, "op1", "al-1"), _open(d, "chead", "al-2")
    assert {c["case_id"] for c in d.queue(caller("comp1"))} == {a}  # chead is comp1's manager
    assert {c["case_id"] for c in d.queue(caller("mgr1"))} == {a}
    assert {c["case_id"] for c in d.queue(caller("aud1"))} == {a, b}


def test_missed_deadline_escalates_to_the_next_line(desk: tuple[CaseDesk, Sink, Clock]) -> None:
    d, _, clock = desk
    cid = _open(d)
    assert d.escalate(None) == []
    clock.t = NOW + timedelta(days=5)
    assert d.escalate(caller("comp1")) == [
        {"case_id": cid, "from": "first_line", "to": "role:compliance"}
    ]
    with pytest.raises(CaseInvalid, match="first line acts only while"):
        d.act(caller("mgr1"), cid, CaseStep.CONFIRM, {"text": "late"})
    clock.t += timedelta(days=10)
    assert d.escalate(None) == [{"case_id": cid, "from": "second_line", "to": "role:auditor"}]
    with pytest.raises(CaseRefused, match="not a step of your role"):
        d.escalate(caller("mgr1"))
    recipients = [(n.recipient, n.kind) for n in _notes(d)]
    assert ("role:compliance", "case.escalated") in recipients
    assert ("role:auditor", "case.escalated") in recipients


def test_subject_without_nw_manager_goes_to_compliance(desk: tuple[CaseDesk, Sink, Clock]) -> None:
    d, _, _ = desk
    with Session(d.engine) as s:
        s.add(Person(person_id="rag", name="RAG", created_at=T0))
        s.flush()
        s.add(Assignment(person_id="rag", org="retail:R1", department="管理部/受付",
                         role="call_center", valid_from=T0, source="test"))  # fmt: skip
        s.commit()
    cid = _open(d, "rag")
    view = d.show(caller("comp1"), cid)
    assert view["status"] == "second_line" and view["first_line"] is None
    routed = next(h for h in view["history"] if h["kind"] == "routed")
    assert "outside the operator" in routed["data"]["reason"]


def test_history_is_append_only_including_reveals(desk: tuple[CaseDesk, Sink, Clock]) -> None:
    d, _, _ = desk
    cid = _open(d)
    d.act(caller("comp1"), cid, CaseStep.REVEAL, {"reason": "needed"})
    with d.engine.connect() as c, pytest.raises(sa.exc.DBAPIError):
        c.execute(sa.text("DELETE FROM case_entries WHERE kind = 'revealed'"))
    with d.engine.connect() as c, pytest.raises(sa.exc.DBAPIError):
        c.execute(sa.text("UPDATE case_entries SET data = '{}' WHERE kind = 'revealed'"))
    assert d.show(caller("aud1"), cid)["reveals"] == [{"by": "gw-comp1", "reason": "needed"}]


def test_audit_outage_keeps_the_event_and_delivers_it_first(
    desk: tuple[CaseDesk, Sink, Clock],
) -> None:
    d, sink, _ = desk
    cid = _open(d)
    sink.down = True
    with pytest.raises(Exception, match="audit log"):
        d.act(caller("mgr1"), cid, CaseStep.CONFIRM, {"text": "ok"})
    assert pending_audit(d.engine) == 1
    sink.down = False
    d.show(caller("comp1"), cid)
    assert [e["screen"] for e in sink.events[-2:]] == ["case.confirm", "case.view"]
    with d.engine.connect() as c:
        assert c.scalar(sa.select(sa.func.count()).select_from(CASE_AUDIT_OUTBOX)) == len(
            sink.events
        )


def test_unknown_case_is_audited_and_named(desk: tuple[CaseDesk, Sink, Clock]) -> None:
    d, sink, _ = desk
    with pytest.raises(CaseNotFound, match="no case 'case-nope'"):
        d.show(caller("comp1"), "case-nope")
    assert sink.events[-1]["decision"] == "deny"


def test_a_lost_race_writes_nothing_and_says_so(
    desk: tuple[CaseDesk, Sink, Clock], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two steps racing for the same entry number: the primary key refuses the second;
    it is told to look again, and neither its entry nor its event is written."""
    d, sink, _ = desk
    cid = _open(d)
    real = d._entries
    stale = real(cid)
    d.act(caller("mgr1"), cid, CaseStep.CONFIRM, {"text": "first"})
    monkeypatch.setattr(d, "_entries", lambda _cid: list(stale))  # the racer's stale read
    events = len(sink.events)
    # the store's own check sees the entry the racer missed
    with pytest.raises(CaseInvalid, match=r"entry 3 \(revealed\): sequence is 3, expected 4"):
        d.act(caller("comp1"), cid, CaseStep.REVEAL, {"reason": "r"})
    # both read before either wrote: the primary key refuses the second insert
    from gridwall.cases._store import CASE_ENTRIES

    def blind_append(conn: sa.Connection, entries: list[Any]) -> None:
        conn.execute(sa.insert(CASE_ENTRIES), [
            {"case_id": e.case_id, "seq": e.seq, "kind": e.kind, "actor": e.actor,
             "at": e.at.isoformat(), "data": "{}"} for e in entries
        ])  # fmt: skip

    monkeypatch.setattr("gridwall.app.casework.append_entries", blind_append)
    with pytest.raises(CaseInvalid, match="another step was recorded at the same time"):
        d.act(caller("comp1"), cid, CaseStep.REVEAL, {"reason": "r"})
    assert len(sink.events) == events and pending_audit(d.engine) == 0
    assert [e.kind for e in _entries(d, cid)] == [
        "opened",
        "routed",
        "confirmed",
    ]
