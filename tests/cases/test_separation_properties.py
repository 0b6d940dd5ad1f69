"""Separation of duties over random organisations (hypothesis): whatever the HR graph, the
case engine never lets anyone act on a case about themselves, anyone in their manager chain
or a person they approved, never lets compliance or internal audit from the subject's unit
take a second- or third-line step, and only the routed manager takes a first-line step.
The expected relations are computed here by brute force, independently of ``_routing``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from gridwall.cases import line_manager, relation
from gridwall.interfaces import HrPosition
from gridwall.interfaces.facts import (
    FIRST_LINE_STEPS,
    SECOND_LINE_STEPS,
    THIRD_LINE_STEPS,
    AccountKind,
    AccountState,
    CaseRequest,
    CaseStep,
    DeviceFacts,
    DeviceKind,
    DeviceOwner,
    OrgKind,
    PrincipalFacts,
    RetailerKind,
    Role,
)
from gridwall.policy import default_case_engine

AT = datetime(2026, 6, 1, tzinfo=UTC)
DEPTS = ["A", "A/B", "A/B/C", "A/D", "E", "E/F"]
ROLES = ["manager", "compliance", "auditor", "takuso_operator"]


class Hr:
    def __init__(self, people: Mapping[str, HrPosition], approvals: Mapping[str, str]) -> None:
        self.people, self.approvals = people, approvals

    def position(self, person_id: str, at: datetime) -> HrPosition | None:
        return self.people.get(person_id)

    def positions(self, org: str, at: datetime) -> Sequence[HrPosition]:
        return [p for p in self.people.values() if p.org == org]

    def person_of(self, account_id: str) -> str | None:
        return None

    def approvals_by(self, person_id: str) -> Mapping[str, str]:
        return {s: "x" for a, s in self.approvals.items() if a == person_id}


@st.composite
def orgs(draw: st.DrawFn) -> tuple[Hr, str, str]:
    n = draw(st.integers(2, 9))
    people = {}
    for i in range(n):
        org = draw(st.sampled_from(["nw", "nw", "nw", "retail:R1"]))
        people[f"p{i}"] = HrPosition(f"p{i}", org, draw(st.sampled_from(DEPTS)),
                                     draw(st.sampled_from(ROLES)))  # fmt: skip
    names = sorted(people)
    approvals = dict(draw(st.lists(st.tuples(st.sampled_from(names), st.sampled_from(names)),
                                   max_size=3)))  # fmt: skip
    return Hr(people, approvals), draw(st.sampled_from(names)), draw(st.sampled_from(names))


def _brute_manager(hr: Hr, pid: str) -> str | None:
    me = hr.people[pid]
    mine = me.department.split("/") if me.department else []
    best = None
    for p in hr.people.values():
        if p.person_id == pid or p.org != me.org or p.role != "manager":
            continue
        theirs = p.department.split("/") if p.department else []
        if mine[: len(theirs)] != theirs or (me.role == "manager" and len(theirs) >= len(mine)):
            continue
        if best is None or (-len(theirs), p.person_id) < best:
            best = (-len(theirs), p.person_id)
    return best[1] if best else None


def _chain(hr: Hr, pid: str) -> set[str]:
    seen: set[str] = set()
    cur: str | None = pid
    while cur is not None:
        cur = _brute_manager(hr, cur)
        if cur is None or cur in seen or cur == pid:
            break
        seen.add(cur)
    return seen


def _unit(a: HrPosition, b: HrPosition) -> bool:
    pa, pb = a.department or "", b.department or ""
    return a.org == b.org and (
        pa == pb or pb.startswith(pa + "/") or pa.startswith(pb + "/") or not pa or not pb
    )


@settings(max_examples=300, deadline=None)
@given(orgs(), st.sampled_from(list(CaseStep)))
def test_no_forbidden_step_is_ever_allowed(graph: tuple[Hr, str, str], step: CaseStep) -> None:
    hr, actor, subject = graph
    me = hr.people[actor]
    routed = _brute_manager(hr, subject)
    assert line_manager(hr, subject, AT) == routed
    rel = relation(hr, actor, subject, routed, [AT])
    facts = PrincipalFacts(
        OrgKind.NW if me.org == "nw" else OrgKind.RETAIL,
        RetailerKind.NONE if me.org == "nw" else RetailerKind.AFFILIATED,
        Role(str(me.role)), AccountKind.PERSONAL, AccountState.ACTIVE, True,
    )  # fmt: skip
    allowed = default_case_engine().decide(
        CaseRequest(
            facts, DeviceFacts(DeviceKind.NW_TERMINAL, DeviceOwner.SAME_ORG, True), step,
            about_self=rel.about_self, about_own_manager=rel.about_own_manager,
            approved_subject=rel.approved_subject, first_line=rel.first_line,
            in_subject_unit=rel.in_subject_unit,
        )
    ).allowed  # fmt: skip
    caseless = (CaseStep.LIST, CaseStep.NOTIFICATIONS, CaseStep.ESCALATE)
    if allowed and step in caseless:
        # steps about no case (the app decides them without a subject; each listed case,
        # and each notification's case, is then a case.view decision of its own): only
        # the operator's three lines take them, the clock only compliance and audit
        assert me.org == "nw" and me.role in ("manager", "compliance", "auditor")
        if step == CaseStep.ESCALATE:
            assert me.role in ("compliance", "auditor")
    if not allowed or step in caseless:
        return
    assert me.org == "nw"
    assert actor != subject
    assert subject not in _chain(hr, actor)
    assert hr.approvals.get(actor) != subject
    if step in SECOND_LINE_STEPS | THIRD_LINE_STEPS or me.role in ("compliance", "auditor"):
        assert not _unit(me, hr.people[subject])
    if step in FIRST_LINE_STEPS:
        assert me.role == "manager" and actor == routed
    if step in SECOND_LINE_STEPS:
        assert me.role == "compliance"
    if step in THIRD_LINE_STEPS:
        assert me.role == "auditor"
