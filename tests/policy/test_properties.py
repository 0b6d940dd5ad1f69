"""Property tests: random live requests never violate an invariant predicate; the
predicate sandbox and the policy analysis are sound."""

from __future__ import annotations

from dataclasses import replace

import pytest
from cedarpy import policies_to_pst
from hypothesis import given, settings

from gridwall.policy import FIELDS, AccessRequest, OrgKind, Purpose, RetailerKind, default_engine
from gridwall.policy._analysis import FULL, UnanalysablePolicy, analyse
from gridwall.policy._invariants import INVARIANTS, Restricted, UndeclaredRead
from gridwall.policy._space import facts_of, request_of

from ._requests import requests


@settings(max_examples=300, deadline=None)
@given(requests)
def test_random_requests_never_violate_an_invariant(r: AccessRequest) -> None:
    d = default_engine().decide(r)
    for field in FIELDS:
        facts = facts_of(r, field)
        for inv in INVARIANTS:
            if inv.holds is not None:
                assert inv.check(facts, d.fields[field].allowed), (inv.id, field, d.explain())
    # I7: the retailer kind never matters
    for rk in RetailerKind:
        other = replace(r, principal=replace(r.principal, retailer_kind=rk))
        assert default_engine().decide(other).fields == d.fields


@settings(max_examples=100, deadline=None)
@given(requests)
def test_request_facts_round_trip(r: AccessRequest) -> None:
    for field in FIELDS:
        facts = facts_of(r, field)
        again, f = request_of(facts)
        assert f == field and facts_of(again, field) == facts


def test_restricted_facts_only_compare_with_declared_values() -> None:
    x = Restricted("purpose", Purpose.SALES, frozenset({Purpose.TAKUSO}))
    assert (x == Purpose.TAKUSO) is False
    assert x not in (Purpose.TAKUSO,)  # tuple membership goes through ==
    with pytest.raises(UndeclaredRead):
        _ = x == Purpose.SALES
    with pytest.raises(UndeclaredRead):
        _ = x in {Purpose.SALES}
    with pytest.raises(UndeclaredRead):
        bool(x)


def test_predicates_cannot_read_undeclared_facts() -> None:
    i6 = next(i for i in INVARIANTS if i.id == "I6")
    view = i6.restricted(facts_of(_any_request(), "phone"))
    with pytest.raises(UndeclaredRead):
        _ = view.org_kind


def _any_request() -> AccessRequest:
    from ._requests import make

    return make()


def _reads(text: str) -> dict[str, object]:
    (tpl,) = policies_to_pst(text).static_policies.values()
    return analyse(tpl)  # type: ignore[return-value]


def test_analysis_collects_atoms_and_marks_other_uses_full() -> None:
    r = _reads(
        'permit (principal, action in [Action::"view", Action::"list"], resource) when { '
        'principal.org_kind == OrgKind::"nw" && '
        'context.purpose in [Purpose::"takuso", Purpose::"fit"] && '
        "context.device.valid && resource.non_public };"
    )
    assert r["org_kind"] == [frozenset({"nw"})]
    assert r["purpose"] == [frozenset({"takuso", "fit"})]
    assert r["action"] == [frozenset({"view", "list"})]
    assert r["device_valid"] is FULL and r["field"] is FULL
    assert "retailer_kind" not in r
    # comparing a fact with another fact: both may distinguish every value
    r2 = _reads(
        "permit (principal, action, resource) when { "
        "context.grants.disaster == context.grants.agreement };"
    )
    assert r2["disaster"] is FULL and r2["agreement"] is FULL
    # the principal as a whole: every principal fact
    r3 = _reads('permit (principal == Principal::"x", action, resource);')
    assert all(r3[n] is FULL for n in ("org_kind", "retailer_kind", "role", "account_state"))


def test_analysis_refuses_inputs_outside_the_model() -> None:
    (tpl,) = policies_to_pst(
        "permit (principal, action, resource) when { context.weather == 1 };"
    ).static_policies.values()
    with pytest.raises(UnanalysablePolicy):
        analyse(tpl)


def test_org_kind_enum_is_what_policies_see() -> None:
    # the principal's org kind flows into Cedar unchanged (sanity for the explain CLI)
    assert {o.value for o in OrgKind} == {"nw", "retail", "contractor", "regulator"}
