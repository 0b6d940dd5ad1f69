"""The invariants of ``shared/spec/invariants.md`` as Python predicates.

Each predicate is *per field decision*: ``holds(facts, allowed)`` where ``facts``
is the view of one request and one field group (``_space.facts_of``) and
``allowed`` whether that field was released. A whole decision satisfies an
invariant when every field does. Every predicate declares what it reads
(``reads``: fact name → the values it may compare against, or ``ALL``). The
checker enforces the declaration: an undeclared fact raises, and a restricted fact
is a :class:`Restricted` value that only supports ``==``/``!=``/``in (tuple)``
against its declared values — so the predicate's answer provably depends only on
which declared value (or "another value") each fact has. That is what lets the
checker evaluate it once per class instead of once per request.

I7 (equal footing) and I11 (default deny, forbid beats permit) are relations
over several decisions and over the policies themselves; the checker proves them
directly (``_checker.py``). Their rows here carry no predicate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gridwall.interfaces.facts import (
    DISASTER_FIELDS,
    NON_PUBLIC,
    AccountKind,
    AccountState,
    Action,
    AgreementState,
    ConsentState,
    DeviceKind,
    DeviceOwner,
    DisasterState,
    Era,
    OrgKind,
    Purpose,
    Recipient,
    Relation,
    Role,
)

#: ``reads`` value meaning "may distinguish every value" (booleans, field groups).
ALL: frozenset[Any] | None = None

#: NW 託送 staff (I3, I10): 託送 operators and call-centre agents.
TAKUSO_STAFF = (Role.TAKUSO_OPERATOR, Role.CALL_CENTER)
#: History field groups (I13): switching applications and contracts.
HISTORY_FIELDS = ("switching_history", "contract")
#: Purposes an NW employee may declare to receive non-public fields (I10).
NW_PURPOSES = (Purpose.TAKUSO, Purpose.FIT, Purpose.LRS_OPERATIONS)


class UndeclaredRead(Exception):
    """A predicate read a fact, or compared against a value, it did not declare."""


class Restricted:
    """A fact value that may only be compared with declared values (no hash, no bool,
    no attributes): ``==``, ``!=`` and ``in (a, b)`` work, anything else raises."""

    __slots__ = ("_allowed", "_name", "_value")

    def __init__(self, name: str, value: Any, allowed: frozenset[Any]) -> None:
        self._name = name
        self._value = value
        self._allowed = allowed

    def __eq__(self, other: object) -> bool:
        if other not in self._allowed:
            raise UndeclaredRead(f"compares {self._name} with undeclared value {other!r}")
        return bool(self._value == other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        raise UndeclaredRead(f"hashes {self._name}: compare with == or a tuple instead")

    def __bool__(self) -> bool:
        raise UndeclaredRead(f"uses {self._name} as a truth value")

    def __repr__(self) -> str:
        return f"Restricted({self._name}={self._value!r})"


class Facts:
    """Attribute view of one field decision's facts, limited to what is declared."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_values", values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise UndeclaredRead(f"reads undeclared fact {name!r}") from None


@dataclass(frozen=True)
class Invariant:
    id: str
    text: str
    #: fact name → the values the predicate compares it with (``ALL``: any)
    reads: Mapping[str, frozenset[Any] | None] = field(default_factory=dict)
    holds: Callable[[Facts, bool], bool] | None = None

    def check(self, facts: Mapping[str, Any], allowed: bool) -> bool:
        """Evaluate on unrestricted facts (e.g. a live request)."""
        if self.holds is None:
            raise ValueError(f"{self.id} is proved by the checker, not per field")
        return self.holds(Facts(facts), allowed)

    def restricted(self, facts: Mapping[str, Any]) -> Facts:
        """The view the predicate gets: declared facts only, restricted where declared."""
        return Facts({name: self.view_value(name, facts[name]) for name in self.reads})

    def view_value(self, name: str, value: Any) -> Any:
        allowed = self.reads[name]
        return value if allowed is None else Restricted(name, value, allowed)


def _s(*values: Any) -> frozenset[Any]:
    return frozenset(values)


def non_public(f: Facts) -> bool:
    """非公開情報: a non-public field, except the address a caller typed into the lookup.
    Reads ``field`` and ``action`` (against LOOKUP)."""
    if f.field not in NON_PUBLIC:
        return False
    return not (f.field == "address" and f.action == Action.LOOKUP)


_NP = {"field": ALL, "action": _s(Action.LOOKUP)}


def _in_disaster_event(f: Facts) -> bool:
    return bool(
        f.purpose == Purpose.DISASTER_SUPPORT
        and f.disaster == DisasterState.ACTIVE_IN_AREA
        and f.agreement == AgreementState.VALID_IN_SCOPE
        and f.device_kind == DeviceKind.DISASTER_TERMINAL
    )


def _i1(f: Facts, allowed: bool) -> bool:
    if not (allowed and f.org_kind == OrgKind.RETAIL and f.relation != Relation.OWN_CUSTOMER):
        return True
    if not non_public(f):
        return True
    via_i4 = _in_disaster_event(f) and f.field in DISASTER_FIELDS
    via_i9 = (
        f.purpose == Purpose.CONSENT_USAGE
        and f.consent == ConsentState.VALID
        and f.field == "usage"
    )
    return via_i4 or via_i9


def _i2(f: Facts, allowed: bool) -> bool:
    if not allowed or f.field != "fit":
        return True
    return bool(f.org_kind == OrgKind.NW and f.role == Role.FIT_TEAM and f.purpose == Purpose.FIT)


def _i3(f: Facts, allowed: bool) -> bool:
    if not (allowed and f.is_lrs and non_public(f)):
        return True
    # an export goes to its recipient: the sender being NW staff does not make it theirs
    nw_staff = f.org_kind == OrgKind.NW and f.role in TAKUSO_STAFF and f.action != Action.EXPORT
    lrs_agreement = (
        f.purpose == Purpose.LRS_OPERATIONS and f.agreement == AgreementState.VALID_IN_SCOPE
    )
    return bool(nw_staff or lrs_agreement)


def _i13(f: Facts, allowed: bool) -> bool:
    # a retailer's view of history (switching, contracts) starts with its relationship
    if not (allowed and f.org_kind == OrgKind.RETAIL):
        return True
    return not (f.era == Era.BEFORE_RELATIONSHIP and f.field in HISTORY_FIELDS)


def _i14(f: Facts, allowed: bool) -> bool:
    if not (allowed and non_public(f)):
        return True
    if f.purpose == Purpose.LRS_OPERATIONS:
        # only last-resort-supply points inside the agreement's area, only its fields
        return bool(f.is_lrs and f.agreement == AgreementState.VALID_IN_SCOPE and f.covers)
    if f.purpose == Purpose.DISASTER_SUPPORT:
        # only points inside an active declaration's area (its fields: I4)
        return bool(
            f.disaster == DisasterState.ACTIVE_IN_AREA
            and f.agreement == AgreementState.VALID_IN_SCOPE
        )
    if f.purpose == Purpose.CONSENT_USAGE:
        # only a valid token (the resolver binds it to its own point and retailer)
        return bool(f.consent == ConsentState.VALID)
    if f.org_kind == OrgKind.CONTRACTOR:
        # every other agreement-based access: a valid agreement covering the point and
        # naming the field (exports: I8)
        return bool(f.agreement == AgreementState.VALID_IN_SCOPE and f.covers)
    return True


def _i4(f: Facts, allowed: bool) -> bool:
    # the disaster purpose: nothing else, nothing outside the window, area or agreement
    in_event = _in_disaster_event(f) and f.field in DISASTER_FIELDS
    if f.purpose == Purpose.DISASTER_SUPPORT and allowed and not in_event:
        return False
    eligible = (
        _in_disaster_event(f)
        and f.org_kind in (OrgKind.RETAIL, OrgKind.CONTRACTOR)
        and f.role != Role.AUDITOR  # I12 first
        and f.account_kind == AccountKind.PERSONAL
        and f.account_state == AccountState.ACTIVE  # I6 first
        and f.training_current  # I10 first
        and f.device_owner == DeviceOwner.SAME_ORG  # I5 first
        and f.device_valid
        and not f.is_lrs  # I3 first
        and f.era == Era.CURRENT  # I13 first
        and f.action in (Action.VIEW, Action.SEARCH)
        and f.principal_canary == f.point_canary  # I17 first
    )
    if eligible:
        return allowed == (f.field in DISASTER_FIELDS)
    return True


def _i5(f: Facts, allowed: bool) -> bool:
    return not allowed or bool(f.device_owner == DeviceOwner.SAME_ORG and f.device_valid)


def _i6(f: Facts, allowed: bool) -> bool:
    return not allowed or bool(f.account_state == AccountState.ACTIVE)


def _i8(f: Facts, allowed: bool) -> bool:
    if not (allowed and f.action == Action.EXPORT):
        return True
    return bool(
        f.recipient == Recipient.AGREEMENT_COUNTERPARTY
        and f.agreement == AgreementState.VALID_IN_SCOPE
        and f.covers
    )


def _i9(f: Facts, allowed: bool) -> bool:
    if not allowed:
        return True
    consented = f.purpose == Purpose.CONSENT_USAGE and f.consent == ConsentState.VALID
    if (
        f.field == "usage"
        and f.org_kind == OrgKind.RETAIL
        and f.relation != Relation.OWN_CUSTOMER
        and not consented
    ):
        return False
    # the consent purpose yields the usage, with a valid token, and nothing else
    return not (f.purpose == Purpose.CONSENT_USAGE and not (consented and f.field == "usage"))


def _i10(f: Facts, allowed: bool) -> bool:
    if not (allowed and non_public(f)):
        return True
    if not f.training_current:  # applied to every organisation
        return False
    if f.org_kind == OrgKind.NW:
        return bool(f.purpose in NW_PURPOSES and f.device_kind == DeviceKind.NW_TERMINAL)
    return True


def _i12(f: Facts, allowed: bool) -> bool:
    if not (allowed and non_public(f)):
        return True
    return not (f.role == Role.AUDITOR or f.org_kind == OrgKind.REGULATOR)


def _i17(f: Facts, allowed: bool) -> bool:
    return not allowed or bool(f.principal_canary == f.point_canary)


_DISASTER_READS = {
    "purpose": _s(Purpose.DISASTER_SUPPORT),
    "disaster": _s(DisasterState.ACTIVE_IN_AREA),
    "agreement": _s(AgreementState.VALID_IN_SCOPE),
    "device_kind": _s(DeviceKind.DISASTER_TERMINAL),
    "field": ALL,
}

INVARIANTS: tuple[Invariant, ...] = (
    Invariant(
        "I1",
        "A retailer never receives a non-public field of a point it does not supply "
        "(another retailer's, or vacant), except through I4 or I9.",
        {
            **_NP,
            **_DISASTER_READS,
            "org_kind": _s(OrgKind.RETAIL),
            "relation": _s(Relation.OWN_CUSTOMER),
            "purpose": _s(Purpose.DISASTER_SUPPORT, Purpose.CONSENT_USAGE),
            "consent": _s(ConsentState.VALID),
        },
        _i1,
    ),
    Invariant(
        "I2",
        "FIT fields go only to NW staff with the FIT role and the FIT purpose.",
        {
            "field": ALL,
            "org_kind": _s(OrgKind.NW),
            "role": _s(Role.FIT_TEAM),
            "purpose": _s(Purpose.FIT),
        },
        _i2,
    ),
    Invariant(
        "I3",
        "Non-public fields of a last-resort-supply point go only to NW 託送 staff and to "
        "the counterparty of a valid lrs_operations agreement, within its scope.",
        {
            **_NP,
            "action": _s(Action.LOOKUP, Action.EXPORT),
            "is_lrs": ALL,
            "org_kind": _s(OrgKind.NW),
            "role": frozenset(TAKUSO_STAFF),
            "purpose": _s(Purpose.LRS_OPERATIONS),
            "agreement": _s(AgreementState.VALID_IN_SCOPE),
        },
        _i3,
    ),
    Invariant(
        "I4",
        "In a declared disaster covering the point, a valid disaster_support agreement "
        "holder on a disaster terminal with the disaster purpose receives exactly "
        "contract_name, address, phone; outside the window or area, nothing.",
        {
            **_DISASTER_READS,
            "org_kind": _s(OrgKind.RETAIL, OrgKind.CONTRACTOR),
            "role": _s(Role.AUDITOR),
            "account_kind": _s(AccountKind.PERSONAL),
            "account_state": _s(AccountState.ACTIVE),
            "training_current": ALL,
            "device_owner": _s(DeviceOwner.SAME_ORG),
            "device_valid": ALL,
            "is_lrs": ALL,
            "era": _s(Era.CURRENT),
            "action": _s(Action.VIEW, Action.SEARCH),
            "principal_canary": ALL,
            "point_canary": ALL,
        },
        _i4,
    ),
    Invariant(
        "I5",
        "A request from a terminal owned by another organisation (or not validly "
        "registered) receives nothing.",
        {"device_owner": _s(DeviceOwner.SAME_ORG), "device_valid": ALL},
        _i5,
    ),
    Invariant(
        "I6",
        "A revoked, expired, locked or transferred-out account receives nothing.",
        {"account_state": _s(AccountState.ACTIVE)},
        _i6,
    ),
    Invariant(
        "I7",
        "Equal footing: changing only the retailer kind (affiliated/independent/none) "
        "never changes a decision.",
    ),
    Invariant(
        "I8",
        "An export goes only to the counterparty of a valid agreement whose purpose and "
        "fields cover it, never to a retailer.",
        {
            "action": _s(Action.EXPORT),
            "recipient": _s(Recipient.AGREEMENT_COUNTERPARTY),
            "agreement": _s(AgreementState.VALID_IN_SCOPE),
            "covers": ALL,
        },
        _i8,
    ),
    Invariant(
        "I9",
        "Usage of a point the caller does not supply needs a valid customer-consent "
        "token; the consent purpose yields the usage only.",
        {
            "field": ALL,
            "org_kind": _s(OrgKind.RETAIL),
            "relation": _s(Relation.OWN_CUSTOMER),
            "purpose": _s(Purpose.CONSENT_USAGE),
            "consent": _s(ConsentState.VALID),
        },
        _i9,
    ),
    Invariant(
        "I10",
        "Non-public fields need current training (every organisation); NW staff also "
        "need a declared NW purpose and an NW terminal.",
        {
            **_NP,
            "training_current": ALL,
            "org_kind": _s(OrgKind.NW),
            "purpose": frozenset(NW_PURPOSES),
            "device_kind": _s(DeviceKind.NW_TERMINAL),
        },
        _i10,
    ),
    Invariant(
        "I11",
        "Whatever no rule permits is denied; a forbid always beats a permit; every "
        "permit names organisation, purpose, action and field.",
    ),
    Invariant(
        "I12",
        "Auditors and the regulator never receive non-public field values.",
        {**_NP, "role": _s(Role.AUDITOR), "org_kind": _s(OrgKind.REGULATOR)},
        _i12,
    ),
    Invariant(
        "I13",
        "A retailer sees a point's switching and contract history only from the later of "
        "its own current supply and the last change of contract holder; nothing earlier.",
        {
            "field": ALL,
            "org_kind": _s(OrgKind.RETAIL),
            "era": _s(Era.BEFORE_RELATIONSHIP),
        },
        _i13,
    ),
    Invariant(
        "I14",
        "A purpose-bound grant opens only its scope: lrs_operations only LRS points in its "
        "area, disaster_support only points in an active declaration's area, a consent "
        "token only its point, an agreement only its fields.",
        {
            **_NP,
            "purpose": _s(Purpose.LRS_OPERATIONS, Purpose.DISASTER_SUPPORT, Purpose.CONSENT_USAGE),
            "is_lrs": ALL,
            "agreement": _s(AgreementState.VALID_IN_SCOPE),
            "covers": ALL,
            "disaster": _s(DisasterState.ACTIVE_IN_AREA),
            "consent": _s(ConsentState.VALID),
            "org_kind": _s(OrgKind.CONTRACTOR),
        },
        _i14,
    ),
    Invariant(
        "I17",
        "The canary fence: a canary principal (gridwall's own self-test requests) receives "
        "nothing of a point that is not a canary point, and no other principal receives "
        "anything of a canary point.",
        {"principal_canary": ALL, "point_canary": ALL},
        _i17,
    ),
)
