"""The finite request space, one dimension per fact.

A *field decision* depends on an :class:`AccessRequest` and one field group. Its
inputs are the 23 dimensions below; ``covers`` is the single bit "the agreement
names this field group" (``field in request.grants.agreement_fields``), which is
all that Cedar is shown of ``agreement_fields`` for that field (see
``_cedar.cedar_requests``). The order of :data:`DIMS` is the order in which the
checker splits the space: facts that most often decide alone come first, and the
retailer kind comes last so that equal footing (I7) is compared sibling against
sibling.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gridwall.interfaces.facts import (
    FIELDS,
    AccessRequest,
    AccountKind,
    AccountState,
    Action,
    AgreementState,
    ConsentState,
    DeviceFacts,
    DeviceKind,
    DeviceOwner,
    DisasterState,
    Era,
    GrantFacts,
    OrgKind,
    PrincipalFacts,
    Purpose,
    Recipient,
    Relation,
    ResourceFacts,
    RetailerKind,
    Role,
)


@dataclass(frozen=True)
class Dim:
    """One fact: its name, its finite domain and the Cedar input path it becomes."""

    name: str
    values: tuple[Any, ...]
    cedar_path: tuple[str, ...]


def _enum(name: str, enum: type[StrEnum], *path: str) -> Dim:
    return Dim(name, tuple(enum), path)


_BOOL = (False, True)

DIMS: tuple[Dim, ...] = (
    # the canary fence (I17) decides alone wherever the two differ: split on it first
    Dim("principal_canary", _BOOL, ("principal", "canary")),
    Dim("point_canary", _BOOL, ("context", "point", "canary")),
    _enum("account_state", AccountState, "principal", "account_state"),
    _enum("account_kind", AccountKind, "principal", "account_kind"),
    _enum("device_owner", DeviceOwner, "context", "device", "owner"),
    Dim("device_valid", _BOOL, ("context", "device", "valid")),
    _enum("org_kind", OrgKind, "principal", "org_kind"),
    _enum("role", Role, "principal", "role"),
    Dim("training_current", _BOOL, ("principal", "training_current")),
    _enum("device_kind", DeviceKind, "context", "device", "kind"),
    _enum("action", Action, "action"),
    _enum("purpose", Purpose, "context", "purpose"),
    Dim("field", FIELDS, ("resource",)),
    _enum("relation", Relation, "context", "point", "relation"),
    Dim("is_lrs", _BOOL, ("context", "point", "is_lrs")),
    Dim("has_fit", _BOOL, ("context", "point", "has_fit")),
    _enum("era", Era, "context", "point", "era"),
    _enum("disaster", DisasterState, "context", "grants", "disaster"),
    _enum("agreement", AgreementState, "context", "grants", "agreement"),
    _enum("consent", ConsentState, "context", "grants", "consent"),
    _enum("recipient", Recipient, "context", "grants", "recipient"),
    Dim("covers", _BOOL, ("context", "grants", "agreement_covers_field")),
    _enum("retailer_kind", RetailerKind, "principal", "retailer_kind"),
)
DIM_INDEX: dict[str, int] = {d.name: i for i, d in enumerate(DIMS)}


def facts_of(request: AccessRequest, field: str) -> dict[str, Any]:
    """The 23 facts of one field decision of ``request``."""
    p, d, r, g = request.principal, request.device, request.resource, request.grants
    return {
        "principal_canary": p.canary,
        "point_canary": r.canary,
        "account_state": p.account_state,
        "account_kind": p.account_kind,
        "device_owner": d.owner,
        "device_valid": d.valid,
        "org_kind": p.org_kind,
        "role": p.role,
        "training_current": p.training_current,
        "device_kind": d.kind,
        "action": request.action,
        "purpose": request.purpose,
        "field": field,
        "relation": r.relation,
        "is_lrs": r.is_lrs,
        "has_fit": r.has_fit,
        "era": r.era,
        "disaster": g.disaster,
        "agreement": g.agreement,
        "consent": g.consent,
        "recipient": g.recipient,
        "covers": field in g.agreement_fields,
        "retailer_kind": p.retailer_kind,
    }


def request_of(facts: Mapping[str, Any]) -> tuple[AccessRequest, str]:
    """An AccessRequest (and field) with these facts; ``agreement_fields`` is
    ``{field}`` when ``covers`` else empty."""
    field = facts["field"]
    req = AccessRequest(
        principal=PrincipalFacts(
            org_kind=facts["org_kind"],
            retailer_kind=facts["retailer_kind"],
            role=facts["role"],
            account_kind=facts["account_kind"],
            account_state=facts["account_state"],
            training_current=facts["training_current"],
            canary=facts["principal_canary"],
        ),
        device=DeviceFacts(facts["device_kind"], facts["device_owner"], facts["device_valid"]),
        action=facts["action"],
        purpose=facts["purpose"],
        resource=ResourceFacts(
            facts["relation"],
            facts["is_lrs"],
            facts["has_fit"],
            facts["era"],
            facts["point_canary"],
        ),
        grants=GrantFacts(
            disaster=facts["disaster"],
            agreement=facts["agreement"],
            agreement_fields=frozenset({field}) if facts["covers"] else frozenset(),
            consent=facts["consent"],
            recipient=facts["recipient"],
        ),
    )
    return req, field


def describe(request: AccessRequest) -> dict[str, Any]:
    """A JSON-friendly rendering of a request (for counterexamples)."""
    p, d, r, g = request.principal, request.device, request.resource, request.grants
    return {
        "principal": {
            "org_kind": str(p.org_kind),
            "retailer_kind": str(p.retailer_kind),
            "role": str(p.role),
            "account_kind": str(p.account_kind),
            "account_state": str(p.account_state),
            "training_current": p.training_current,
            "canary": p.canary,
        },
        "device": {"kind": str(d.kind), "owner": str(d.owner), "valid": d.valid},
        "action": str(request.action),
        "purpose": str(request.purpose),
        "resource": {
            "relation": str(r.relation),
            "is_lrs": r.is_lrs,
            "has_fit": r.has_fit,
            "era": str(r.era),
            "canary": r.canary,
        },
        "grants": {
            "disaster": str(g.disaster),
            "agreement": str(g.agreement),
            "agreement_fields": sorted(g.agreement_fields),
            "consent": str(g.consent),
            "recipient": str(g.recipient),
        },
    }


def raw_space_size() -> int:
    """How many (request, field) pairs there are, counting every subset of
    ``agreement_fields`` (the space the proof covers)."""
    n: int = 1
    for d in DIMS:
        if d.name not in ("covers", "field"):
            n *= len(d.values)
    return n * (1 << len(FIELDS)) * len(FIELDS)
