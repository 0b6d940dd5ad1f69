"""Loading the Cedar schema and policies, and translating an AccessRequest into
Cedar requests (one per field group).

This module is the single place where the Python request types meet Cedar: the
live engine and the invariant checker both go through :func:`principal_uid`,
:func:`context_json` and :class:`PolicyBundle`, so the checker proves exactly what
the engine decides.

Every Cedar input value is a function of exactly one request fact (a
"dimension"), which the checker relies on (see ``_checker.py``):

* ``principal`` → ``Principal::"<org_kind>/<retailer_kind>/<role>/…/<training>"``, an
  entity whose attributes are those facts (all principal classes are built once);
* ``action`` → ``Action::"<action>"``; ``resource`` → ``Field::"<field group>"``;
* ``context`` → purpose, device, point (resource facts) and grants, with
  ``grants.agreement_covers_field`` = the field is in ``agreement_fields``.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import cedarpy
from cedarpy import pst

from gridwall.errors import InputError, Location
from gridwall.interfaces.facts import (
    FIELDS,
    NON_PUBLIC,
    AccessRequest,
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
    RetailerKind,
    Role,
)

SCHEMA_FILE = "schema.cedarschema"

#: Cedar enumerated entity type name → the Python enum it must mirror exactly.
ENUM_TYPES: dict[str, type[StrEnum]] = {
    "OrgKind": OrgKind,
    "RetailerKind": RetailerKind,
    "Role": Role,
    "AccountKind": AccountKind,
    "AccountState": AccountState,
    "DeviceKind": DeviceKind,
    "DeviceOwner": DeviceOwner,
    "Purpose": Purpose,
    "Relation": Relation,
    "Era": Era,
    "DisasterState": DisasterState,
    "AgreementState": AgreementState,
    "ConsentState": ConsentState,
    "Recipient": Recipient,
}

_ENUM_DECL = re.compile(r"^\s*entity\s+(\w+)\s+enum\s*\[(.*?)\]\s*;", re.S | re.M)
_COMMENT = re.compile(r"//[^\n]*")


def _ref(type_name: str, value: str) -> dict[str, dict[str, str]]:
    return {"__entity": {"type": type_name, "id": value}}


def principal_id(
    org_kind: str,
    retailer_kind: str,
    role: str,
    account_kind: str,
    account_state: str,
    training_current: bool,
    canary: bool = False,
) -> str:
    """The id of the Principal entity of one principal class (a canary principal's ends in
    ``/canary``; the grant-management space has no canary fact and uses the plain ids)."""
    t = "trained" if training_current else "untrained"
    base = f"{org_kind}/{retailer_kind}/{role}/{account_kind}/{account_state}/{t}"
    return f"{base}/canary" if canary else base


def _principal_entities() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for org, rk, role, ak, st, tr, cy in itertools.product(
        OrgKind, RetailerKind, Role, AccountKind, AccountState, (False, True), (False, True)
    ):
        out.append(
            {
                "uid": {"type": "Principal", "id": principal_id(org, rk, role, ak, st, tr, cy)},
                "attrs": {
                    "org_kind": _ref("OrgKind", org),
                    "retailer_kind": _ref("RetailerKind", rk),
                    "role": _ref("Role", role),
                    "account_kind": _ref("AccountKind", ak),
                    "account_state": _ref("AccountState", st),
                    "training_current": tr,
                    "canary": cy,
                },
                "parents": [],
            }
        )
    return out


def _field_entities() -> list[dict[str, Any]]:
    return [
        {"uid": {"type": "Field", "id": f}, "attrs": {"non_public": f in NON_PUBLIC}, "parents": []}
        for f in FIELDS
    ]


def context_json(
    purpose: str,
    device: tuple[str, str, bool],
    point: tuple[str, bool, bool, str, bool],
    grants: tuple[str, str, str, str],
    covers_field: bool,
) -> str:
    """The Cedar context of one field decision, as JSON text."""
    kind, owner, valid = device
    relation, is_lrs, has_fit, era, canary = point
    disaster, agreement, consent, recipient = grants
    return json.dumps(
        {
            "purpose": _ref("Purpose", purpose),
            "device": {
                "kind": _ref("DeviceKind", kind),
                "owner": _ref("DeviceOwner", owner),
                "valid": valid,
            },
            "point": {
                "relation": _ref("Relation", relation),
                "is_lrs": is_lrs,
                "has_fit": has_fit,
                "era": _ref("Era", era),
                "canary": canary,
            },
            "grants": {
                "disaster": _ref("DisasterState", disaster),
                "agreement": _ref("AgreementState", agreement),
                "consent": _ref("ConsentState", consent),
                "recipient": _ref("Recipient", recipient),
                "agreement_covers_field": covers_field,
            },
        },
        separators=(",", ":"),
    )


def cedar_requests(request: AccessRequest) -> list[dict[str, Any]]:
    """One Cedar request per field group of ``FIELDS``, in that order.

    Every fact is converted through its enum, so a request holding a value that
    is not part of the model raises ``ValueError`` (and the engine denies).
    """
    p, d, r, g = request.principal, request.device, request.resource, request.grants
    pid = principal_id(
        OrgKind(p.org_kind),
        RetailerKind(p.retailer_kind),
        Role(p.role),
        AccountKind(p.account_kind),
        AccountState(p.account_state),
        _bool(p.training_current),
        _bool(p.canary),
    )
    args = (
        Purpose(request.purpose).value,
        (DeviceKind(d.kind).value, DeviceOwner(d.owner).value, _bool(d.valid)),
        (
            Relation(r.relation).value,
            _bool(r.is_lrs),
            _bool(r.has_fit),
            Era(r.era).value,
            _bool(r.canary),
        ),
        (
            DisasterState(g.disaster).value,
            AgreementState(g.agreement).value,
            ConsentState(g.consent).value,
            Recipient(g.recipient).value,
        ),
    )
    ctx = {False: context_json(*args, False), True: context_json(*args, True)}
    principal = {"type": "Principal", "id": pid}
    action = {"type": "Action", "id": Action(request.action).value}
    return [
        {
            "principal": principal,
            "action": action,
            "resource": {"type": "Field", "id": f},
            "context": ctx[f in g.agreement_fields],
        }
        for f in FIELDS
    ]


def _bool(v: object) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"expected a bool, got {v!r}")
    return v


@dataclass(frozen=True)
class PolicySource:
    """One policy file's text and where it came from (for diagnostics)."""

    name: str
    text: str


class PolicyBundle:
    """The schema and policies, parsed and validated once.

    Refuses (``InputError``) a schema whose enumerations differ from the model, a
    policy set that does not validate against the schema, a policy without a unique
    ``@id``, templates, or a ``Field::"…"`` literal that is not a field group.
    """

    def __init__(self, schema_text: str, sources: Iterable[PolicySource]) -> None:
        self.sources = tuple(sources)
        self.schema_text = schema_text
        _check_enums(schema_text)
        self.policy_text = "\n".join(s.text for s in self.sources)
        where = Location(", ".join(s.name for s in self.sources) or "<no policies>")
        result = cedarpy.validate_policies(self.policy_text, schema_text)
        if not result.validation_passed:
            msgs = "; ".join(str(e) for e in result.errors)
            raise InputError(f"Cedar policies do not validate against the schema: {msgs}", where)
        try:
            self.schema = cedarpy.Schema.from_str(schema_text)
            self.policy_set = cedarpy.PolicySet.from_str(self.policy_text)
            self.pst = cedarpy.policies_to_pst(self.policy_text)
        except ValueError as e:
            raise InputError(f"cannot parse Cedar policies: {e}", where) from e
        if self.pst.templates:
            raise InputError("policy templates are not used by gridwall", where)
        #: Cedar's positional id (policy0 …) → the policy's @id annotation
        self.ids: dict[str, str] = {}
        for cid, tpl in self.pst.static_policies.items():
            ann = tpl.annotations.get("id")
            if not ann:
                raise InputError(f'policy {cid} has no @id("…") annotation', where)
            if ann in self.ids.values():
                raise InputError(f"duplicate policy @id {ann!r}", where)
            self.ids[cid] = ann
        for uid in pst.entity_uids(self.pst):
            if uid.type.basename == "Field" and uid.id not in FIELDS:
                raise InputError(f"unknown field group Field::{uid.id!r} in a policy", where)
        entities = json.dumps(_principal_entities() + _field_entities())
        self.entities = cedarpy.Entities.from_json_str(entities, self.schema)

    @classmethod
    def from_directory(cls, path: Path | None = None) -> PolicyBundle:
        """Load ``schema.cedarschema`` and every ``*.cedar`` file (sorted) of ``path``
        (default: the policies shipped in ``gridwall/policy/cedar``)."""
        if path is None:
            root = resources.files("gridwall.policy") / "cedar"
            schema = (root / SCHEMA_FILE).read_text(encoding="utf-8")
            names = sorted(
                e.name for e in root.iterdir() if e.is_file() and e.name.endswith(".cedar")
            )
            srcs = [PolicySource(n, (root / n).read_text(encoding="utf-8")) for n in names]
            return cls(schema, srcs)
        if not (path / SCHEMA_FILE).is_file():
            raise InputError(f"no {SCHEMA_FILE} in the policy folder", Location(str(path)))
        files = sorted(path.glob("*.cedar"))
        if not files:
            raise InputError("no *.cedar policy files in the policy folder", Location(str(path)))
        srcs = [PolicySource(str(f), f.read_text(encoding="utf-8")) for f in files]
        return cls((path / SCHEMA_FILE).read_text(encoding="utf-8"), srcs)

    @classmethod
    def from_texts(cls, schema_text: str, policies: Mapping[str, str]) -> PolicyBundle:
        """Build from in-memory texts (``{name: cedar text}``), e.g. in tests."""
        return cls(schema_text, [PolicySource(n, t) for n, t in policies.items()])

    def policy_id(self, cedar_id: str) -> str:
        return self.ids.get(cedar_id, cedar_id)


def _check_enums(
    schema_text: str,
    enum_types: Mapping[str, type[StrEnum]] = ENUM_TYPES,
    schema_file: str = SCHEMA_FILE,
) -> None:
    """Refuse a schema whose enumerated entity types differ from the Python enums."""
    found = {m.group(1): m.group(2) for m in _ENUM_DECL.finditer(_COMMENT.sub("", schema_text))}
    for name, enum in enum_types.items():
        if name not in found:
            raise InputError(f"the schema lacks `entity {name} enum [...]`", Location(schema_file))
        values = re.findall(r'"([^"]*)"', found[name])
        if sorted(values) != sorted(e.value for e in enum):
            raise InputError(
                f"schema enum {name} lists {sorted(values)}, the model has "
                f"{sorted(e.value for e in enum)}",
                Location(schema_file),
            )
