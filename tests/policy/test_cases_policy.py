"""The case workflow's Cedar policies (I16, separation of duties): the engine's answers,
and ``check_cases`` failing on a deliberately broken policy for every invariant."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridwall.interfaces.facts import (
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
from gridwall.policy._cases import CASE_INVARIANTS, CaseBundle, CaseEngine, check_cases

CASES = Path(__file__).resolve().parents[2] / "src/gridwall/policy/cedar/cases"
SCHEMA = (CASES / "schema.cedarschema").read_text()
POLICIES = (CASES / "cases.cedar").read_text()


def _without(policy_id: str, text: str = POLICIES) -> str:
    start = text.index(f'@id("{policy_id}")')
    return text[:start] + text[text.index("};", start) + 2 :]


def _replace(old: str, new: str) -> str:
    assert old in POLICIES, old
    return POLICIES.replace(old, new)


#: one deliberately broken policy set per invariant
BROKEN: dict[str, str] = {
    "I16a": _without("case-forbid-outside-operator"),
    "I16b": _without("case-forbid-about-self"),
    "I16c": _without("case-forbid-about-own-manager"),
    "I16d": _without("case-forbid-approved-subject"),
    "I16e": _without("case-forbid-second-third-line-not-independent"),
    "I16f": _replace(
        'principal.role == Role::"manager" && context.first_line',
        'principal.role == Role::"manager"',
    ),
    "I16g": _without("case-forbid-off-terminal-or-untrained"),
    "I16h": _replace(
        '[Role::"manager", Role::"compliance", Role::"auditor"].contains(principal.role) };',
        '[Role::"manager", Role::"compliance", Role::"auditor"].contains(principal.role) ||\n'
        '  principal.retailer_kind == RetailerKind::"affiliated" };',
    ),
}


def test_every_invariant_has_a_broken_policy() -> None:
    assert sorted(BROKEN) == [i.id for i in CASE_INVARIANTS]


def test_shipped_policies_prove_every_invariant() -> None:
    report = check_cases(CaseEngine())
    assert report.errors == []
    assert [(r.id, r.violations) for r in report.results] == [(i.id, 0) for i in CASE_INVARIANTS]
    assert report.classes > 10_000 and report.raw_space > report.classes


@pytest.mark.parametrize("inv", sorted(BROKEN))
def test_check_fails_on_broken_policy(inv: str) -> None:
    engine = CaseEngine(CaseBundle(SCHEMA, {"cases.cedar": BROKEN[inv]}))
    report = check_cases(engine)
    by_id = {r.id: r for r in report.results}
    assert not report.ok
    assert by_id[inv].violations > 0, inv
    example = by_id[inv].counterexample
    assert example is not None and example["decision"] == "allow"


def _req(
    step: CaseStep, role: Role = Role.COMPLIANCE, org: OrgKind = OrgKind.NW, **facts: bool
) -> CaseRequest:
    return CaseRequest(
        PrincipalFacts(
            org, RetailerKind.NONE, role, AccountKind.PERSONAL, AccountState.ACTIVE, True
        ),
        DeviceFacts(DeviceKind.NW_TERMINAL, DeviceOwner.SAME_ORG, True),
        step,
        **facts,
    )


def test_engine_names_the_forbid() -> None:
    e = CaseEngine()
    assert e.decide(_req(CaseStep.DECIDE)).allowed
    d = e.decide(_req(CaseStep.DECIDE, approved_subject=True))
    assert not d.allowed and d.policy_ids == ("case-forbid-approved-subject",)
    d = e.decide(_req(CaseStep.CONFIRM, Role.MANAGER))
    assert not d.allowed and d.policy_ids == ()  # not routed to them: default deny
    assert e.decide(_req(CaseStep.CONFIRM, Role.MANAGER, first_line=True)).allowed
    d = e.decide(_req(CaseStep.LIST, Role.MANAGER, OrgKind.RETAIL))
    assert not d.allowed and "case-forbid-outside-operator" in d.policy_ids


def test_live_engine_disagreement_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """The composed proof is compared with the whole policy set: an engine answering
    otherwise (here: allowing everything) makes the check fail."""
    engine = CaseEngine()
    real = engine.decide_many

    def lying(reqs: list[CaseRequest]) -> list[object]:
        return [type(d)(d.request, True, ("x",)) for d in real(reqs)]

    monkeypatch.setattr(engine, "decide_many", lying)
    report = check_cases(engine, samples=200)
    assert any("disagrees" in e for e in report.errors)
