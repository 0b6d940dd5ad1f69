"""The engine: Cedar decides each field group; cached == fresh; fail closed."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings

from gridwall.errors import InputError
from gridwall.policy import (
    FIELDS,
    AccessRequest,
    AccountState,
    Action,
    AgreementState,
    DeviceKind,
    DisasterState,
    GrantFacts,
    OrgKind,
    PolicyEngine,
    Purpose,
    Recipient,
    Relation,
    Role,
    default_engine,
)
from gridwall.policy._cedar import SCHEMA_FILE, PolicyBundle
from gridwall.policy._engine import ERROR_PREFIX

from ._requests import make, requests

CEDAR = Path(__file__).resolve().parents[2] / "src" / "gridwall" / "policy" / "cedar"


def texts() -> tuple[str, dict[str, str]]:
    schema = (CEDAR / SCHEMA_FILE).read_text()
    return schema, {p.name: p.read_text() for p in sorted(CEDAR.glob("*.cedar"))}


def engine_with(extra: str = "", drop: str | None = None) -> PolicyEngine:
    """The shipped policies, plus ``extra`` and minus the policy with @id ``drop``."""
    schema, pols = texts()
    if drop is not None:
        pols = {n: _drop(t, drop) for n, t in pols.items()}
    if extra:
        pols["extra.cedar"] = extra
    return PolicyEngine(PolicyBundle.from_texts(schema, pols))


def _drop(text: str, policy_id: str) -> str:
    marker = f'@id("{policy_id}")'
    if marker not in text:
        return text
    start = text.index(marker)
    end = text.index("};", start) + 2
    return text[:start] + text[end:]


def test_default_engine_is_a_singleton() -> None:
    assert default_engine() is default_engine()
    assert "permit-nw-takuso" in default_engine().policy_ids


def test_takuso_staff_see_all_but_fit() -> None:
    d = default_engine().decide(make(has_fit=True))
    assert d.allowed_fields == frozenset(FIELDS) - {"fit"}
    assert d.fields["fit"].policy_ids == ("forbid-fit-outside-fit-team",)


def test_default_deny_names_no_policy() -> None:
    # a meter-reading NW employee with the meter-reading purpose: no permit matches
    d = default_engine().decide(make(role=Role.METER_READING, purpose=Purpose.METER_READING))
    assert not d.any_allowed
    # every field but FIT is a default deny (no policy fired); FIT also meets its forbid
    assert all(fd.policy_ids == () for f, fd in d.fields.items() if f != "fit")


def test_forbid_beats_permit() -> None:
    d = default_engine().decide(make(state=AccountState.LOCKED))
    assert not d.any_allowed
    # the same request but active is allowed by permit-nw-takuso: the forbid wins
    assert all("forbid-inactive-account" in fd.policy_ids for fd in d.fields.values())
    assert default_engine().decide(make()).fields["phone"].policy_ids == ("permit-nw-takuso",)


def test_other_retailers_customer_refused_but_lookup_allowed() -> None:
    def retail(purpose: Purpose, action: Action) -> AccessRequest:
        return make(
            OrgKind.RETAIL,
            Role.SALES,
            purpose,
            DeviceKind.RETAIL_TERMINAL,
            action,
            Relation.OTHER_RETAILER,
        )

    assert not default_engine().decide(retail(Purpose.SALES, Action.VIEW)).any_allowed
    look = default_engine().decide(retail(Purpose.SWITCHING, Action.LOOKUP))
    assert look.allowed_fields == {"equipment", "address"}


def test_lookup_never_returns_more_than_the_key_even_for_own_customers() -> None:
    extra = (
        '@id("lookup-usage") permit (principal, action == Action::"lookup", resource) '
        'when { principal.org_kind == OrgKind::"retail" };'
    )
    d = engine_with(extra).decide(
        make(
            OrgKind.RETAIL,
            Role.SALES,
            Purpose.SWITCHING,
            DeviceKind.RETAIL_TERMINAL,
            Action.LOOKUP,
            Relation.OWN_CUSTOMER,
        )
    )
    assert d.allowed_fields == {"equipment", "address"}
    assert "forbid-lookup-beyond-key" in d.fields["usage"].policy_ids


def test_disaster_exactly_three_fields() -> None:
    g = GrantFacts(disaster=DisasterState.ACTIVE_IN_AREA, agreement=AgreementState.VALID_IN_SCOPE)
    r = make(
        OrgKind.RETAIL,
        Role.CALL_CENTER,
        Purpose.DISASTER_SUPPORT,
        DeviceKind.DISASTER_TERMINAL,
        relation=Relation.OTHER_RETAILER,
        grants=g,
    )
    assert default_engine().decide(r).allowed_fields == {"contract_name", "address", "phone"}


def test_export_only_agreed_fields_to_counterparty() -> None:
    g = GrantFacts(
        agreement=AgreementState.VALID_IN_SCOPE,
        agreement_fields=frozenset({"address", "usage"}),
        recipient=Recipient.AGREEMENT_COUNTERPARTY,
    )
    r = make(action=Action.EXPORT, grants=g)
    assert default_engine().decide(r).allowed_fields == {"address", "usage"}
    to_retailer = make(
        action=Action.EXPORT,
        grants=GrantFacts(
            agreement=g.agreement, agreement_fields=g.agreement_fields, recipient=Recipient.RETAILER
        ),
    )
    assert not default_engine().decide(to_retailer).any_allowed


@settings(max_examples=150, deadline=None)
@given(requests)
def test_cached_equals_fresh_and_allow_names_a_permit(r: AccessRequest) -> None:
    e = default_engine()
    cached = e.decide(r)
    again = e.decide(r)
    fresh = e.decide_uncached(r)
    assert cached.fields == fresh.fields == again.fields
    for fd in cached.fields.values():
        assert not any(p.startswith(ERROR_PREFIX) for p in fd.policy_ids)
        if fd.allowed:
            assert fd.policy_ids and all(p.startswith("permit-") for p in fd.policy_ids)


def test_cache_is_used_and_decisions_are_copies() -> None:
    e = PolicyEngine()
    r = make()
    d1 = e.decide(r)
    d1.fields.clear()  # a caller mutating its decision does not touch the cache
    d2 = e.decide(r)
    assert e.cedar_calls == 1 and e.cache_size == 1
    assert d2.fields and d2.allowed_fields == frozenset(FIELDS) - {"fit"}


def test_malformed_request_fails_closed() -> None:
    good = make()
    bad = AccessRequest(
        principal=good.principal,
        device=good.device,
        action="steal",  # type: ignore[arg-type]
        purpose=good.purpose,
        resource=good.resource,
    )
    e = PolicyEngine()
    d = e.decide(bad)
    assert not d.any_allowed
    assert all(fd.policy_ids[0].startswith(ERROR_PREFIX) for fd in d.fields.values())
    assert e.cache_size == 0  # errors are not cached


def test_engine_error_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    import cedarpy

    def boom(*a: object, **k: object) -> None:
        raise RuntimeError("cedar is down")

    e = PolicyEngine()
    monkeypatch.setattr(cedarpy, "is_authorized_batch", boom)
    d = e.decide(make())
    assert not d.any_allowed
    assert "cedar is down" in d.fields["phone"].policy_ids[0]


def test_invalid_policy_fails_loudly_at_load() -> None:
    with pytest.raises(InputError, match="validate"):
        engine_with(
            '@id("typo") permit (principal, action, resource) '
            'when { principal.role == Role::"takuso" };'
        )
    with pytest.raises(InputError, match="@id"):
        engine_with("permit (principal, action, resource);")
    with pytest.raises(InputError, match="duplicate"):
        engine_with('@id("permit-nw-takuso") permit (principal, action, resource);')
    with pytest.raises(InputError, match="unknown field"):
        engine_with('@id("x") permit (principal, action, resource == Field::"phnoe");')


def test_schema_enum_mismatch_fails_loudly() -> None:
    schema, pols = texts()
    bad = schema.replace('"regulator"];', '"regulator", "alien"];')
    with pytest.raises(InputError, match="OrgKind"):
        PolicyBundle.from_texts(bad, pols)


def test_cache_is_bounded_and_shares_equal_decisions() -> None:
    e = PolicyEngine(cache_limit=2)
    a = make(role=Role.METER_READING, purpose=Purpose.METER_READING)
    b = make(role=Role.MANAGER, purpose=Purpose.METER_READING)  # decides like a
    c = make()
    da, db = e.decide(a), e.decide(b)
    assert da.fields == db.fields and e.cache_size == 2
    assert e._cache[a] is e._cache[b]  # one shared field map
    dc = e.decide(c)  # over the limit: the cache starts over
    assert e.cache_size == 1 and dc.allowed_fields == frozenset(FIELDS) - {"fit"}
    assert e.decide(a).fields == da.fields
