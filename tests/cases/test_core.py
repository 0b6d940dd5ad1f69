"""The case core: folding, routing with dedup, frozen-clock escalation, sampling, pseudonyms."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from gridwall.cases import (
    AlertRef,
    CaseError,
    Deadlines,
    Entry,
    due_escalations,
    fold,
    needs_sampling,
    pseudonym,
    route_alerts,
)

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
KEY = b"k" * 32


def _alert(
    aid: str, subject: str = "E001", kind: str = "after_hours", sev: str = "high"
) -> AlertRef:
    return AlertRef(aid, subject, kind, sev, T0)


def _open(aid: str = "a1", sev: str = "high") -> list[Entry]:
    return route_alerts([_alert(aid, sev=sev)], [], "monitor", T0)


def _add(entries: list[Entry], kind: str, **data: str) -> list[Entry]:
    e = entries[-1]
    nxt = Entry(e.case_id, e.seq + 1, kind, "someone", e.at + timedelta(hours=1), data)
    return [*entries, nxt]


def test_workflow_end_to_end() -> None:
    es = _open()
    assert fold(es).status == "first_line"
    es = _add(es, "confirmed", text="the access was not needed")
    assert fold(es).status == "second_line"
    es = _add(es, "decided", decision="violation", incident_type="after_hours", rule="R-3")
    es = _add(es, "outcome", outcome="written warning")
    state = fold(es)
    assert (state.status, state.decision, state.outcome) == (
        "closed",
        "violation",
        "written warning",
    )
    es = _add(es, "signed_off")
    assert fold(es).status == "signed_off"
    es = _add(es, "reopened", reason="evidence missing")
    state = fold(es)
    assert (state.status, state.decision) == ("second_line", None)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"decision": "no_issue"}, "reason"),
        ({"decision": "violation", "rule": "R-3"}, "incident_type"),
        ({"decision": "violation", "incident_type": "x"}, "rule"),
        ({}, "decision"),
    ],
)
def test_decision_needs_its_fields(data: dict[str, str], field: str) -> None:
    es = _add(_open(), "explained", text="on call that night")
    with pytest.raises(CaseError, match=f"field '{field}' is required"):
        fold(_add(es, "decided", **data))


def test_unknown_decision_and_out_of_order_steps_are_refused() -> None:
    es = _add(_open(), "explained", text="x")
    with pytest.raises(CaseError, match="expected one of"):
        fold(_add(es, "decided", decision="maybe"))
    with pytest.raises(CaseError, match="signs off closed cases only"):
        fold(_add(es, "signed_off"))
    with pytest.raises(CaseError, match="first line acts only"):
        fold(_add(es, "confirmed", text="again"))
    gap = [*es[:1], replace(es[1], seq=5)]
    with pytest.raises(CaseError, match="sequence is 5, expected 2"):
        fold(gap)


def test_reveal_needs_a_reason_and_is_in_the_history() -> None:
    with pytest.raises(CaseError, match="field 'reason' is required"):
        fold(_add(_open(), "revealed"))
    state = fold(_add(_open(), "revealed", reason="subject asked for a hearing"))
    assert state.reveals == [("someone", "subject asked for a hearing")]


def test_opening_from_the_same_alerts_twice_opens_nothing_twice() -> None:
    alerts = [_alert("a1"), _alert("a2"), _alert("b1", subject="E002")]
    first = route_alerts(alerts, [], "monitor", T0)
    assert [e.kind for e in first] == ["opened", "alert_joined", "opened"]
    cases: dict[str, list[Entry]] = {}
    for e in first:
        cases.setdefault(e.case_id, []).append(e)
    states = [fold(v) for v in cases.values()]
    assert route_alerts(alerts, states, "monitor", T0) == []
    later = route_alerts([*alerts, _alert("a3", sev="critical")], states, "monitor", T0)
    assert [(e.kind, e.seq) for e in later] == [("alert_joined", 3)]
    joined = fold([*cases[later[0].case_id], *later])
    assert joined.alerts == ["a1", "a2", "a3"] and joined.critical


def test_escalation_is_decided_at_the_given_time() -> None:
    d = Deadlines(first_line=timedelta(days=5), second_line=timedelta(days=10))
    es = _open()
    state = fold(es)
    assert due_escalations([state], T0 + timedelta(days=5) - timedelta(seconds=1), d) == []
    [esc] = due_escalations([state], T0 + timedelta(days=5), d)
    es = [*es, esc]
    state = fold(es)
    assert (state.status, state.audit_escalated) == ("second_line", False)
    assert due_escalations([state], T0 + timedelta(days=14), d) == []
    [esc2] = due_escalations([state], T0 + timedelta(days=15), d)
    state = fold([*es, esc2])
    assert state.audit_escalated
    assert due_escalations([state], T0 + timedelta(days=99), d) == []


def test_sampling_takes_every_violation_and_critical_no_issue_and_a_stable_share() -> None:
    def closed(aid: str, decision: str, sev: str = "high", **data: str) -> bool:
        es = _add(
            _add(_open(aid, sev), "explained", text="x"), "decided", decision=decision, **data
        )
        return needs_sampling(fold(es), 0.0)

    assert closed("v", "violation", incident_type="t", rule="r")
    assert closed("c", "no_issue", "critical", reason="ok")
    assert not closed("h", "no_issue", reason="ok")
    states = []
    for i in range(400):
        es = _add(
            _add(_open(f"s{i}"), "explained", text="x"), "decided", decision="no_issue", reason="ok"
        )
        states.append(fold(es))
    picked = [s.case_id for s in states if needs_sampling(s, 0.25)]
    assert 60 < len(picked) < 140
    assert picked == [s.case_id for s in states if needs_sampling(s, 0.25)]
    with pytest.raises(CaseError, match="sample share"):
        needs_sampling(states[0], 1.5)


def test_pseudonym_is_stable_per_case_and_differs_across_cases() -> None:
    assert pseudonym(KEY, "case-1", "E001") == pseudonym(KEY, "case-1", "E001")
    assert pseudonym(KEY, "case-1", "E001") != pseudonym(KEY, "case-2", "E001")
    assert "E001" not in pseudonym(KEY, "case-1", "E001")
    with pytest.raises(CaseError, match="at least 16 bytes"):
        pseudonym(b"short", "case-1", "E001")
