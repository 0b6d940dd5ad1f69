"""The invariant checker proves the shipped policies, and can fail.

For every invariant, a deliberately broken policy set (a leaking permit added, a
guard removed) must make the checker report a violation of THAT invariant with a
counterexample that really violates it when replayed through the live engine.
"""

from __future__ import annotations

import pytest

from gridwall.policy import AccessRequest, Decision, PolicyEngine
from gridwall.policy._checker import CheckReport, check
from gridwall.policy._invariants import INVARIANTS
from gridwall.policy._space import facts_of

from .test_engine import engine_with

BY_ID = {inv.id: inv for inv in INVARIANTS}


@pytest.fixture(scope="module")
def shipped() -> CheckReport:
    return check(PolicyEngine(), samples=300)


def test_shipped_policies_satisfy_every_invariant(shipped: CheckReport) -> None:
    assert shipped.ok, shipped.to_json()
    assert [r.id for r in shipped.results] == [f"I{i}" for i in range(1, 15)] + ["I17"]
    assert all(r.classes > 0 for r in shipped.results)
    # the proof covers every (request, field) pair, agreement_fields subsets included
    assert shipped.raw_space > 10**13
    assert shipped.class_counts["retailer_kind"] == 1  # no policy can see it (I7)


def _drop_from(engine: PolicyEngine, pid: str) -> PolicyEngine:
    from gridwall.policy._cedar import PolicyBundle

    from .test_engine import _drop

    schema, pols = engine.bundle.schema_text, {s.name: s.text for s in engine.bundle.sources}
    assert any(f'@id("{pid}")' in t for t in pols.values()), pid
    return PolicyEngine(
        PolicyBundle.from_texts(schema, {n: _drop(t, pid) for n, t in pols.items()})
    )


def _replays(report: CheckReport, inv_id: str) -> None:
    """The witness, decided by the live engine, violates the invariant's predicate."""
    res = next(r for r in report.results if r.id == inv_id)
    assert res.witness is not None
    request, field = res.witness
    inv = BY_ID[inv_id]
    decision: Decision = _engine_of(report).decide(request)
    assert inv.check(facts_of(request, field), decision.fields[field].allowed) is False


_ENGINES: dict[int, PolicyEngine] = {}


def _engine_of(report: CheckReport) -> PolicyEngine:
    return _ENGINES[id(report)]


def _run(inv_id: str, *, extra: str = "", drop: tuple[str, ...] = ()) -> CheckReport:
    engine = engine_with(extra)
    for pid in drop:
        engine = _drop_from(engine, pid)
    report = check(engine, samples=0)
    _ENGINES[id(report)] = engine
    res = next(r for r in report.results if r.id == inv_id)
    assert res.violations > 0, f"{inv_id} not violated"
    assert res.counterexample is not None
    # a finding about a policy itself (a blanket permit, I11) has no single request
    assert res.witness is not None or "policy" in res.counterexample
    assert not report.ok
    return report


RETAIL_SALES = (
    'context.device.kind == DeviceKind::"retail_terminal" && context.purpose == Purpose::"sales"'
)


def test_i1_leaking_phone_to_another_retailers_customer_is_caught() -> None:
    r = _run(
        "I1",
        extra=(
            '@id("leak-phone") permit (principal, action == Action::"view", '
            'resource == Field::"phone") when { principal.org_kind == OrgKind::"retail" && '
            f'context.point.relation == Relation::"other_retailer" && {RETAIL_SALES} }};'
        ),
        drop=("forbid-other-retailers-customers",),
    )
    _replays(r, "I1")
    cx = next(x for x in r.results if x.id == "I1").counterexample
    assert cx is not None and cx["field"] == "phone" and cx["allowed"] is True
    assert "leak-phone" in cx["policy_ids"]


def test_i2_fit_to_retail_is_caught() -> None:
    r = _run(
        "I2",
        extra=(
            '@id("leak-fit") permit (principal, action == Action::"view", '
            'resource == Field::"fit") when { principal.org_kind == OrgKind::"retail" && '
            f'context.point.relation == Relation::"own_customer" && {RETAIL_SALES} }};'
        ),
        drop=("forbid-fit-outside-fit-team",),
    )
    _replays(r, "I2")


def test_i17_without_the_canary_fence_is_caught() -> None:
    r = _run("I17", drop=("forbid-canary-fence",))
    _replays(r, "I17")
    cx = next(x for x in r.results if x.id == "I17").counterexample
    assert cx is not None and cx["allowed"] is True
    req = cx["request"]
    assert req["principal"]["canary"] != req["resource"]["canary"]


def test_i17_a_permit_for_canary_principals_on_real_points_is_caught() -> None:
    """A permit keyed on the canary fact itself (someone 'helping' the canaries) cannot
    open real points to them: the checker reports I17 if the fence is also weakened."""
    r = _run(
        "I17",
        extra=(
            '@id("canary-reads-all") permit (principal, action == Action::"view", '
            'resource == Field::"contract_name") when { principal.canary && '
            'principal.org_kind == OrgKind::"nw" && context.purpose == Purpose::"takuso" };'
        ),
        drop=("forbid-canary-fence",),
    )
    _replays(r, "I17")


def test_i3_without_the_lrs_guard_is_caught() -> None:
    _replays(_run("I3", drop=("forbid-lrs-point",)), "I3")


# The I3 guard as it stood before exports were judged on their recipient: NW 託送 staff
# with the 託送 purpose were let through, so an LRS point's contract went out to any
# contractor holding some agreement that named the field (issue 11, item 2).
_OLD_LRS_GUARD = """
@id("old-forbid-lrs-point")
forbid (principal, action, resource)
when { context.point.is_lrs && resource.non_public }
unless {
  (principal.org_kind == OrgKind::"nw" &&
   principal.role in [Role::"takuso_operator", Role::"call_center"] &&
   context.purpose == Purpose::"takuso") ||
  (context.purpose == Purpose::"lrs_operations" &&
   context.grants.agreement == AgreementState::"valid_in_scope")
};
"""


def test_i3_export_of_an_lrs_point_judged_on_the_sender_is_caught() -> None:
    r = _run("I3", extra=_OLD_LRS_GUARD, drop=("forbid-lrs-point",))
    _replays(r, "I3")
    request, _ = next(x for x in r.results if x.id == "I3").witness or (None, None)
    assert request is not None and request.action.value == "export"
    assert request.resource.is_lrs


def test_i13_history_before_the_relationship_is_caught() -> None:
    r = _run("I13", drop=("forbid-retailer-before-relationship",))
    _replays(r, "I13")
    request, field = next(x for x in r.results if x.id == "I13").witness or (None, "")
    assert request is not None and request.resource.era.value == "before_relationship"
    assert field in ("switching_history", "contract")


def test_i14_lrs_agreement_opening_ordinary_points_is_caught() -> None:
    r = _run("I14", drop=("forbid-lrs-purpose-outside-lrs",))
    _replays(r, "I14")
    request, _ = next(x for x in r.results if x.id == "I14").witness or (None, None)
    assert request is not None and request.purpose.value == "lrs_operations"
    assert not request.resource.is_lrs


def test_i14_agreement_beyond_its_fields_is_caught() -> None:
    r = _run(
        "I14",
        extra=(
            '@id("contractor-any-field") permit (principal, action == Action::"view", '
            'resource) when { principal.org_kind == OrgKind::"contractor" && '
            'context.device.kind == DeviceKind::"contractor_terminal" && '
            'context.purpose == Purpose::"meter_reading" && '
            'context.grants.agreement == AgreementState::"valid_in_scope" };'
        ),
    )
    _replays(r, "I14")


def test_i4_without_the_disaster_permit_is_caught() -> None:
    # eligible disaster helpers now get nothing: "receives exactly" fails
    _replays(_run("I4", drop=("permit-disaster-support",)), "I4")


def test_i4_disaster_view_of_usage_is_caught() -> None:
    r = _run(
        "I4",
        extra=(
            '@id("disaster-usage") permit (principal, action == Action::"view", '
            'resource == Field::"usage") when { principal.org_kind == OrgKind::"nw" && '
            'context.purpose == Purpose::"disaster_support" && '
            'context.device.kind == DeviceKind::"nw_terminal" };'
        ),
        drop=("forbid-disaster-outside-event",),
    )
    _replays(r, "I4")


def test_i5_without_the_terminal_guard_is_caught() -> None:
    _replays(_run("I5", drop=("forbid-foreign-or-invalid-terminal",)), "I5")


def test_i6_without_the_account_state_guard_is_caught() -> None:
    _replays(_run("I6", drop=("forbid-inactive-account",)), "I6")


def test_i7_favouring_affiliated_retailers_is_caught() -> None:
    r = _run(
        "I7",
        extra=(
            '@id("favour-affiliated") permit (principal, action == Action::"view", '
            'resource == Field::"usage") when { principal.org_kind == OrgKind::"retail" && '
            'principal.retailer_kind == RetailerKind::"affiliated" && '
            'context.point.relation == Relation::"own_customer" && '
            'context.device.kind == DeviceKind::"retail_terminal" && '
            'context.purpose == Purpose::"switching" };'
        ),
    )
    res = next(x for x in r.results if x.id == "I7")
    assert res.witness is not None and res.counterexample is not None
    request, field = res.witness
    engine = _engine_of(r)
    flipped = _with_retailer_kind(request, res.counterexample["differs_from"]["request"])
    assert engine.decide(request).fields[field] != engine.decide(flipped).fields[field]


def _with_retailer_kind(request: AccessRequest, other: dict[str, object]) -> AccessRequest:
    from dataclasses import replace

    from gridwall.policy import RetailerKind

    rk = RetailerKind(str(other["principal"]["retailer_kind"]))  # type: ignore[index]
    return replace(request, principal=replace(request.principal, retailer_kind=rk))


def test_i8_export_to_a_retailer_is_caught() -> None:
    r = _run(
        "I8",
        extra=(
            '@id("export-to-retail") permit (principal, action == Action::"export", resource) '
            'when { principal.org_kind == OrgKind::"nw" && '
            'principal.role == Role::"takuso_operator" && '
            'context.purpose == Purpose::"takuso" && '
            'context.device.kind == DeviceKind::"nw_terminal" && '
            'context.grants.recipient == Recipient::"retailer" && resource == Field::"usage" };'
        ),
        drop=("forbid-export-outside-agreement",),
    )
    _replays(r, "I8")


def test_i9_usage_without_consent_is_caught() -> None:
    r = _run(
        "I9",
        extra=(
            '@id("usage-without-consent") permit (principal, action == Action::"view", '
            'resource == Field::"usage") when { principal.org_kind == OrgKind::"retail" && '
            'context.purpose == Purpose::"consent_usage" && '
            'context.device.kind == DeviceKind::"retail_terminal" };'
        ),
        drop=("forbid-consent-without-token",),
    )
    _replays(r, "I9")


def test_i10_without_the_training_guard_is_caught() -> None:
    _replays(_run("I10", drop=("forbid-untrained",)), "I10")


def test_i11_blanket_permit_is_caught() -> None:
    r = _run("I11", extra='@id("allow-everything") permit (principal, action, resource);')
    res = next(x for x in r.results if x.id == "I11")
    assert res.counterexample is not None and res.counterexample["policy"] == "allow-everything"


def test_i11_engine_deviating_from_cedar_semantics_is_caught() -> None:
    class FailsOpen(PolicyEngine):
        """An engine that lets an allow through despite a forbid (a broken engine)."""

        def decide(self, request: AccessRequest) -> Decision:
            d = super().decide(request)
            from gridwall.policy import FieldDecision

            return Decision(request, {f: FieldDecision(True, ("oops",)) for f in d.fields})

    report = check(FailsOpen(), samples=5)
    res = next(x for x in report.results if x.id == "I11")
    assert res.violations > 0 and res.counterexample is not None
    assert res.counterexample["engine"]["policy_ids"] == ["oops"]


def test_i12_auditor_reading_customer_data_is_caught() -> None:
    r = _run(
        "I12",
        extra=(
            '@id("auditor-peek") permit (principal, action == Action::"view", resource) '
            'when { principal.role == Role::"auditor" && principal.org_kind == OrgKind::"nw" && '
            'context.purpose == Purpose::"takuso" && '
            'context.device.kind == DeviceKind::"nw_terminal" };'
        ),
        drop=("forbid-audit-roles-customer-data",),
    )
    _replays(r, "I12")
