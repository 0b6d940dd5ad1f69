"""Grant management decided by Cedar (I15): the shipped policies prove every clause, each
clause fails on a policy set broken for it, the engine fails closed, and the HTTP routes
ask the engine (tests/grants/test_manage_http.py)."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from gridwall.interfaces.facts import (
    GRANTING_STEPS,
    AccountKind,
    AccountState,
    DeviceFacts,
    DeviceKind,
    DeviceOwner,
    GrantStep,
    ManageRequest,
    OrgKind,
    PrincipalFacts,
    RetailerKind,
    Role,
)
from gridwall.policy import ManagementEngine, check_management
from gridwall.policy._manage import MANAGE_INVARIANTS, ManagementBundle

_ROOT = resources.files("gridwall.policy") / "cedar" / "manage"
SCHEMA = (_ROOT / "schema.cedarschema").read_text(encoding="utf-8")
SHIPPED = (_ROOT / "grants.cedar").read_text(encoding="utf-8")
CONSOLE = (_ROOT / "console.cedar").read_text(encoding="utf-8")


def _without(policy_id: str, text: str = SHIPPED) -> str:
    """The shipped policies without the one whose @id is ``policy_id``."""
    parts = re.split(r"(?=@id\()", text)
    kept = [p for p in parts if not p.startswith(f'@id("{policy_id}")')]
    assert len(kept) == len(parts) - 1, policy_id
    return "".join(kept)


def _engine(text: str, console: str = CONSOLE) -> ManagementEngine:
    return ManagementEngine(
        ManagementBundle(SCHEMA, {"grants.cedar": text, "console.cedar": console})
    )


def _nw(role: Role = Role.MANAGER, training: bool = True) -> PrincipalFacts:
    return PrincipalFacts(
        OrgKind.NW, RetailerKind.NONE, role, AccountKind.PERSONAL, AccountState.ACTIVE, training
    )


NW_TERM = DeviceFacts(DeviceKind.NW_TERMINAL, DeviceOwner.SAME_ORG, True)


def test_shipped_management_policies_prove_i15() -> None:
    report = check_management()
    assert report.ok, [r for r in report.results if r.violations] or report.errors
    assert {r.id for r in report.results} == {i.id for i in MANAGE_INVARIANTS}
    assert report.classes > 10_000 and report.raw_space > report.classes
    # the steps an invariant names are classes of their own; no policy reads the
    # retailer kind (one class: equal footing holds by construction)
    assert 4 <= report.class_counts["step"] <= len(GrantStep)
    assert report.class_counts["retailer_kind"] == 1


BROKEN = {
    "I15a": _without("manage-forbid-self-approval"),
    "I15b": SHIPPED
    + """
@id("broken-compliance-approves")
permit (principal, action == Action::"manage", resource == Step::"disaster.approve")
when { principal.org_kind == OrgKind::"nw" && principal.role == Role::"compliance" };
""",
    "I15c": _without("manage-forbid-outside-nw-granting")
    + """
@id("broken-retail-consents")
permit (principal, action == Action::"manage", resource == Step::"consent.issue")
when { principal.org_kind == OrgKind::"retail" && principal.role == Role::"manager" };
""",
    "I15d": _without("manage-forbid-attest-for-another-org"),
    "I15e": _without("manage-forbid-inactive-or-impersonal"),
    "I15f": _without("manage-forbid-nw-off-terminal-or-untrained"),
    "I15g": SHIPPED
    + """
@id("broken-affiliated-lists-agreements")
permit (principal, action == Action::"manage", resource == Step::"agreement.list")
when { principal.retailer_kind == RetailerKind::"affiliated" };
""",
}


#: the console's steps (console.cedar) broken for their invariants
BROKEN_CONSOLE = {
    "I15i": _without("manage-forbid-own-change-approval", CONSOLE),
    "I15c": _without("manage-forbid-outside-nw-administration", CONSOLE)
    + """
@id("broken-retail-admin-retires-terminals")
permit (principal, action == Action::"manage", resource == Step::"terminal.retire")
when { principal.org_kind == OrgKind::"retail" && principal.role == Role::"it_maintenance" };
""",
}


@pytest.mark.parametrize(
    ("invariant", "broken_console"),
    [(i, False) for i in sorted(BROKEN)] + [(i, True) for i in sorted(BROKEN_CONSOLE)],
)
def test_each_clause_fails_on_a_policy_set_broken_for_it(
    invariant: str, broken_console: bool
) -> None:
    engine = (
        _engine(SHIPPED, BROKEN_CONSOLE[invariant])
        if broken_console
        else _engine(BROKEN[invariant])
    )
    report = check_management(engine)
    res = {r.id: r for r in report.results}[invariant]
    assert res.violations > 0 and res.counterexample is not None
    assert not report.ok
    assert res.counterexample["decision"] == "allow"


def test_engine_fails_closed_on_a_value_outside_the_model() -> None:
    eng = ManagementEngine()
    bogus = ManageRequest(_nw(), NW_TERM, "disaster.nuke")  # type: ignore[arg-type]
    d = eng.decide(bogus)
    assert not d.allowed and d.policy_ids[0].startswith("error:")
    ok = eng.decide(ManageRequest(_nw(), NW_TERM, GrantStep.DISASTER_APPROVE))
    assert ok.allowed and "manage-permit-nw-approve" in ok.policy_ids


def test_decisions_match_the_roles_people_expect() -> None:
    eng = ManagementEngine()

    def may(p: PrincipalFacts, step: GrantStep, **kw: bool) -> bool:
        return eng.decide(ManageRequest(p, NW_TERM, step, **kw)).allowed

    op = _nw(Role.TAKUSO_OPERATOR)
    assert may(op, GrantStep.DISASTER_DECLARE) and not may(op, GrantStep.DISASTER_APPROVE)
    assert may(_nw(), GrantStep.DISASTER_APPROVE)
    assert not may(_nw(), GrantStep.DISASTER_APPROVE, own_request=True)
    assert not may(_nw(training=False), GrantStep.DISASTER_DECLARE)
    retail = PrincipalFacts(
        OrgKind.RETAIL, RetailerKind.AFFILIATED, Role.MANAGER, AccountKind.PERSONAL,
        AccountState.ACTIVE, True,
    )  # fmt: skip
    rterm = DeviceFacts(DeviceKind.RETAIL_TERMINAL, DeviceOwner.SAME_ORG, True)
    for step in GRANTING_STEPS:
        assert not eng.decide(ManageRequest(retail, rterm, step)).allowed, step
    attest = GrantStep.DISASTER_ATTEST_DELETION
    for step in (GrantStep.CONSOLE_MANAGER, GrantStep.REVIEW_DECIDE):
        assert eng.decide(ManageRequest(retail, rterm, step)).allowed, step
    assert may(_nw(), GrantStep.CHANGE_APPROVE)
    assert not may(_nw(), GrantStep.CHANGE_APPROVE, own_request=True)
    admin = _nw(Role.IT_MAINTENANCE)
    for step in (GrantStep.CONSOLE_ADMIN, GrantStep.TERMINAL_RETIRE, GrantStep.TERMINAL_ENROL,
                 GrantStep.HR_IMPORT,
                 GrantStep.TRAINING_ATTEST):  # fmt: skip
        assert may(admin, step) and not may(_nw(), step), step
    assert may(_nw(Role.COMPLIANCE), GrantStep.CONSOLE_COMPLIANCE)
    assert not may(_nw(), GrantStep.CONSOLE_COMPLIANCE)
    assert eng.decide(ManageRequest(retail, rterm, attest, for_own_org=True)).allowed
    assert not eng.decide(ManageRequest(retail, rterm, attest, for_own_org=False)).allowed
