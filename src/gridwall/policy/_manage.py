"""Grant management decided by Cedar, and its proof (I15).

Who may declare, approve, extend and end disasters, register and end agreements, issue and
revoke consents, list grants, read disaster reports and attest deletions is decided here,
by Cedar policies (``cedar/manage/``) on the same loader, the same fail-closed rule and
the same ``gridwall policy check`` as the decisions about customer data. Nothing else
decides it: the app layer's routes and commands ask :meth:`ManagementEngine.decide`.

The management space is small enough to enumerate: every fact of a
:class:`~gridwall.interfaces.facts.ManageRequest` is finite, and the facts that no policy
and no invariant can tell apart are merged into classes by the same syntax-tree analysis
as the access proof (``_analysis``), so one request per class covers the whole space.
:func:`check_management` asks the live engine (the full policy set) for every class and
checks I15's clauses on the answers.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import cedarpy

from gridwall.errors import InputError, Location
from gridwall.interfaces.facts import (
    GRANTING_STEPS,
    AccountKind,
    AccountState,
    DeviceFacts,
    DeviceKind,
    DeviceOwner,
    GrantStep,
    ManageDecision,
    ManageRequest,
    OrgKind,
    PrincipalFacts,
    RetailerKind,
    Role,
)
from gridwall.policy._analysis import FULL, Atoms, UnanalysablePolicy, analyse
from gridwall.policy._cedar import SCHEMA_FILE, _check_enums, principal_id

#: the folder of the management policies, below the access policies' folder
MANAGE_DIR = "manage"

_ENUMS: dict[str, type[StrEnum]] = {
    "OrgKind": OrgKind,
    "RetailerKind": RetailerKind,
    "Role": Role,
    "AccountKind": AccountKind,
    "AccountState": AccountState,
    "DeviceKind": DeviceKind,
    "DeviceOwner": DeviceOwner,
    "Step": GrantStep,
}

ERROR_PREFIX = "error:"


def _ref(type_name: str, value: str) -> dict[str, dict[str, str]]:
    return {"__entity": {"type": type_name, "id": value}}


def _principal_entities() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for org, rk, role, ak, st, tr in itertools.product(
        OrgKind, RetailerKind, Role, AccountKind, AccountState, (False, True)
    ):
        out.append(
            {
                "uid": {"type": "Principal", "id": principal_id(org, rk, role, ak, st, tr)},
                "attrs": {
                    "org_kind": _ref("OrgKind", org),
                    "retailer_kind": _ref("RetailerKind", rk),
                    "role": _ref("Role", role),
                    "account_kind": _ref("AccountKind", ak),
                    "account_state": _ref("AccountState", st),
                    "training_current": tr,
                },
                "parents": [],
            }
        )
    return out


class ManagementBundle:
    """The management schema and policies, parsed and validated once (``InputError``
    for a schema whose enumerations differ from the model, a policy set that does not
    validate, or a policy without a unique ``@id``)."""

    def __init__(self, schema_text: str, sources: Mapping[str, str]) -> None:
        self.sources = dict(sources)
        where = Location(", ".join(self.sources) or "<no management policies>")
        _check_enums(schema_text, _ENUMS, f"{MANAGE_DIR}/{SCHEMA_FILE}")
        self.policy_text = "\n".join(self.sources.values())
        result = cedarpy.validate_policies(self.policy_text, schema_text)
        if not result.validation_passed:
            msgs = "; ".join(str(e) for e in result.errors)
            raise InputError(f"management policies do not validate: {msgs}", where)
        try:
            self.schema = cedarpy.Schema.from_str(schema_text)
            self.policy_set = cedarpy.PolicySet.from_str(self.policy_text)
            self.pst = cedarpy.policies_to_pst(self.policy_text)
        except ValueError as e:
            raise InputError(f"cannot parse the management policies: {e}", where) from e
        if self.pst.templates:
            raise InputError("policy templates are not used by gridwall", where)
        self.ids: dict[str, str] = {}
        for cid, tpl in self.pst.static_policies.items():
            ann = tpl.annotations.get("id")
            if not ann:
                raise InputError(f'policy {cid} has no @id("…") annotation', where)
            if ann in self.ids.values():
                raise InputError(f"duplicate policy @id {ann!r}", where)
            self.ids[cid] = ann
        self.entities = cedarpy.Entities.from_json_str(
            json.dumps(_principal_entities()), self.schema
        )

    @classmethod
    def from_directory(cls, path: Path | None = None) -> ManagementBundle:
        """``path/schema.cedarschema`` and ``path/*.cedar`` (default: the shipped ones)."""
        if path is None:
            root = resources.files("gridwall.policy") / "cedar" / MANAGE_DIR
            names = sorted(
                e.name for e in root.iterdir() if e.is_file() and e.name.endswith(".cedar")
            )
            return cls(
                (root / SCHEMA_FILE).read_text(encoding="utf-8"),
                {n: (root / n).read_text(encoding="utf-8") for n in names},
            )
        if not (path / SCHEMA_FILE).is_file():
            raise InputError(
                f"no {SCHEMA_FILE} in the management policy folder", Location(str(path))
            )
        files = sorted(path.glob("*.cedar"))
        if not files:
            raise InputError(
                "no *.cedar files in the management policy folder", Location(str(path))
            )
        return cls(
            (path / SCHEMA_FILE).read_text(encoding="utf-8"),
            {str(f): f.read_text(encoding="utf-8") for f in files},
        )

    def policy_id(self, cedar_id: str) -> str:
        return self.ids.get(cedar_id, cedar_id)


def _cedar_request(r: ManageRequest) -> dict[str, Any]:
    """The Cedar request of one management request (every fact through its enum, so a
    value outside the model raises ``ValueError`` and the engine denies)."""
    p, d = r.principal, r.device
    pid = principal_id(
        OrgKind(p.org_kind),
        RetailerKind(p.retailer_kind),
        Role(p.role),
        AccountKind(p.account_kind),
        AccountState(p.account_state),
        _bool(p.training_current),
    )
    context = {
        "device": {
            "kind": _ref("DeviceKind", DeviceKind(d.kind).value),
            "owner": _ref("DeviceOwner", DeviceOwner(d.owner).value),
            "valid": _bool(d.valid),
        },
        "own_request": _bool(r.own_request),
        "for_own_org": _bool(r.for_own_org),
    }
    return {
        "principal": {"type": "Principal", "id": pid},
        "action": {"type": "Action", "id": "manage"},
        "resource": {"type": "Step", "id": GrantStep(r.step).value},
        "context": json.dumps(context, separators=(",", ":")),
    }


def _bool(v: object) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"expected a bool, got {v!r}")
    return v


class ManagementEngine:
    """Decides :class:`ManageRequest` s with Cedar; memoised per request class (the
    request is a complete decision class); any error denies."""

    def __init__(self, bundle: ManagementBundle | None = None) -> None:
        self.bundle = bundle if bundle is not None else ManagementBundle.from_directory()
        self._cache: dict[ManageRequest, ManageDecision] = {}
        self.cedar_calls = 0

    @classmethod
    def from_directory(cls, path: Path) -> ManagementEngine:
        return cls(ManagementBundle.from_directory(path))

    def decide(self, request: ManageRequest) -> ManageDecision:
        hit = self._cache.get(request)
        if hit is not None:
            return hit
        [decision], ok = self._evaluate([request])
        if ok:  # errors are not cached: the next request asks Cedar again
            self._cache[request] = decision
        return decision

    def decide_many(self, requests: Sequence[ManageRequest]) -> list[ManageDecision]:
        """Ask Cedar now for every request in one batch (the proof's path; not cached)."""
        return self._evaluate(requests)[0]

    def clear_cache(self) -> None:
        self._cache.clear()

    def _evaluate(self, requests: Sequence[ManageRequest]) -> tuple[list[ManageDecision], bool]:
        b = self.bundle
        try:
            reqs = [_cedar_request(r) for r in requests]
            self.cedar_calls += 1
            results = cedarpy.is_authorized_batch(reqs, b.policy_set, b.entities, b.schema)
            if len(results) != len(requests):
                raise RuntimeError(f"Cedar answered {len(results)} of {len(requests)} requests")
            out: list[ManageDecision] = []
            for r, res in zip(requests, results, strict=True):
                diag = res.diagnostics
                if diag.errors:
                    raise RuntimeError(f"Cedar error on {r.step}: {'; '.join(diag.errors)}")
                ids = tuple(sorted(b.policy_id(x) for x in diag.reasons))
                if res.decision is cedarpy.Decision.Allow:
                    if not ids:
                        raise RuntimeError(f"Cedar allowed {r.step} without a determining policy")
                    out.append(ManageDecision(r, True, ids))
                elif res.decision is cedarpy.Decision.Deny:
                    out.append(ManageDecision(r, False, ids))
                else:
                    raise RuntimeError(f"Cedar gave no decision for {r.step}")
            return out, True
        except Exception as e:  # fail closed on anything at all
            reason = f"{ERROR_PREFIX}{type(e).__name__}: {e}"[:300]
            return [ManageDecision(r, False, (reason,)) for r in requests], False


_default: ManagementEngine | None = None
_default_lock = threading.Lock()


def default_management_engine() -> ManagementEngine:
    """The process-wide engine over the shipped management policies."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = ManagementEngine()
    return _default


# --------------------------------------------------------------------------- the proof


@dataclass(frozen=True)
class _Dim:
    name: str
    values: tuple[Any, ...]
    cedar_path: tuple[str, ...]


_B = (False, True)
DIMS: tuple[_Dim, ...] = (
    _Dim("account_state", tuple(AccountState), ("principal", "account_state")),
    _Dim("account_kind", tuple(AccountKind), ("principal", "account_kind")),
    _Dim("device_owner", tuple(DeviceOwner), ("context", "device", "owner")),
    _Dim("device_valid", _B, ("context", "device", "valid")),
    _Dim("org_kind", tuple(OrgKind), ("principal", "org_kind")),
    _Dim("role", tuple(Role), ("principal", "role")),
    _Dim("training_current", _B, ("principal", "training_current")),
    _Dim("device_kind", tuple(DeviceKind), ("context", "device", "kind")),
    _Dim("action", ("manage",), ("action",)),
    _Dim("step", tuple(GrantStep), ("resource",)),
    _Dim("own_request", _B, ("context", "own_request")),
    _Dim("for_own_org", _B, ("context", "for_own_org")),
    _Dim("retailer_kind", tuple(RetailerKind), ("principal", "retailer_kind")),
)
_BY_PATH = {d.cedar_path: d.name for d in DIMS}


def _one(v: StrEnum) -> frozenset[Any]:
    return frozenset({v.value})


#: What the invariants below single out, in the same terms as the policy analysis (a
#: value set, or FULL for a fact tested as a boolean), so that no class mixes values an
#: invariant tells apart; an invariant added below must add what it reads here. The
#: retailer kind is absent on purpose: I15g
#: compares the classes the policies make of it, and one class means no policy reads it.
_INVARIANT_ATOMS: dict[str, list[frozenset[Any]] | None] = {
    "account_state": [_one(AccountState.ACTIVE)],
    "account_kind": [_one(AccountKind.PERSONAL)],
    "device_owner": [_one(DeviceOwner.SAME_ORG)],
    "device_kind": [_one(DeviceKind.NW_TERMINAL)],
    "org_kind": [_one(OrgKind.NW)],
    "step": [
        _one(GrantStep.DISASTER_APPROVE),
        _one(GrantStep.DISASTER_DECLARE),
        _one(GrantStep.DISASTER_ATTEST_DELETION),
        _one(GrantStep.CHANGE_APPROVE),
        frozenset(s.value for s in GRANTING_STEPS),
    ],
    "device_valid": FULL,
    "training_current": FULL,
    "own_request": FULL,
    "for_own_org": FULL,
}

Facts = dict[str, Any]


@dataclass(frozen=True)
class ManageInvariant:
    id: str
    text: str
    #: (facts, decide) → a violation message, or None; ``decide(facts)`` answers any
    #: other class (for relational clauses)
    holds: Callable[[Facts, bool, Callable[[Facts], bool]], bool]


def _deny_if(cond: Callable[[Facts], bool]) -> Callable[[Facts, bool, Any], bool]:
    return lambda f, allowed, _decide: not (cond(f) and allowed)


def _approver_may_declare(f: Facts, allowed: bool, decide: Callable[[Facts], bool]) -> bool:
    if f["step"] != GrantStep.DISASTER_APPROVE or not allowed:
        return True
    return decide({**f, "step": GrantStep.DISASTER_DECLARE, "own_request": False})


def _equal_footing(f: Facts, allowed: bool, decide: Callable[[Facts], bool]) -> bool:
    return all(decide({**f, "retailer_kind": rk}) == allowed for rk in RetailerKind)


_GRANTING = {s.value for s in GRANTING_STEPS}

MANAGE_INVARIANTS: tuple[ManageInvariant, ...] = (
    ManageInvariant(
        "I15a",
        "Nobody approves their own request (a disaster declaration they or their other "
        "account made)",
        _deny_if(lambda f: f["step"] == GrantStep.DISASTER_APPROVE and f["own_request"]),
    ),
    ManageInvariant(
        "I15b",
        "Only the roles that may declare disasters may approve them",
        _approver_may_declare,
    ),
    ManageInvariant(
        "I15c",
        "Retailers, contractors and the regulator never grant or change access (declare, "
        "approve, extend, end, register or end agreements, issue or revoke consents)",
        _deny_if(lambda f: f["org_kind"] != OrgKind.NW and f["step"] in _GRANTING),
    ),
    ManageInvariant(
        "I15d",
        "Outside the operator, an organisation attests deletion only for itself",
        _deny_if(
            lambda f: (
                f["step"] == GrantStep.DISASTER_ATTEST_DELETION
                and f["org_kind"] != OrgKind.NW
                and not f["for_own_org"]
            )
        ),
    ),
    ManageInvariant(
        "I15e",
        "No management step for an account that is not an active personal account, or from "
        "a terminal that is not the caller's own valid one",
        _deny_if(
            lambda f: (
                f["account_state"] != AccountState.ACTIVE
                or f["account_kind"] != AccountKind.PERSONAL
                or f["device_owner"] != DeviceOwner.SAME_ORG
                or not f["device_valid"]
            )
        ),
    ),
    ManageInvariant(
        "I15f",
        "NW staff manage grants only from an NW terminal and with current training",
        _deny_if(
            lambda f: (
                f["org_kind"] == OrgKind.NW
                and (f["device_kind"] != DeviceKind.NW_TERMINAL or not f["training_current"])
            )
        ),
    ),
    ManageInvariant(
        "I15g",
        "Equal footing: no management decision depends on the retailer kind",
        _equal_footing,
    ),
    ManageInvariant(
        "I15h",
        "A retailer reads only its own organisation's transparency statement, and no "
        "contractor reads one",
        _deny_if(
            lambda f: (
                f["step"] == GrantStep.REPORT_STATEMENT
                and (
                    f["org_kind"] == OrgKind.CONTRACTOR
                    or (f["org_kind"] == OrgKind.RETAIL and not f["for_own_org"])
                )
            )
        ),
    ),
    ManageInvariant(
        "I15i",
        "Two-person rule for identity administration: nobody approves their own change "
        "request (a reactivation, role, permission or policy change they or their other "
        "account requested)",
        _deny_if(lambda f: f["step"] == GrantStep.CHANGE_APPROVE and f["own_request"]),
    ),
    ManageInvariant(
        "I15j",
        "Self-reports are anonymous towards everyone but compliance: only NW compliance "
        "sees who reported or writes to the reporter, and nobody outside the operator "
        "reads the self-report queue",
        _deny_if(
            lambda f: (
                (
                    f["step"] in (GrantStep.SELFREPORT_IDENTITY, GrantStep.SELFREPORT_NOTE)
                    and not (f["org_kind"] == OrgKind.NW and f["role"] == Role.COMPLIANCE)
                )
                or (f["step"] == GrantStep.SELFREPORT_QUEUE and f["org_kind"] != OrgKind.NW)
            )
        ),
    ),
)


@dataclass
class ManageResult:
    id: str
    text: str
    classes: int = 0
    violations: int = 0
    counterexample: dict[str, Any] | None = None


@dataclass
class ManageReport:
    results: list[ManageResult]
    raw_space: int
    classes: int
    class_counts: dict[str, int]
    errors: list[str]

    @property
    def ok(self) -> bool:
        return not self.errors and all(r.violations == 0 for r in self.results)


def _classes(dim: _Dim, atoms: Atoms | list[frozenset[Any]]) -> list[list[Any]]:
    """The values of ``dim`` grouped by which atoms hold them (one class per group)."""
    if atoms is FULL:
        return [[v] for v in dim.values]
    groups: dict[tuple[bool, ...], list[Any]] = {}
    for v in dim.values:
        key = tuple(str(v) in a or v in a for a in atoms)
        groups.setdefault(key, []).append(v)
    return list(groups.values())


def request_of(f: Facts) -> ManageRequest:
    return ManageRequest(
        principal=PrincipalFacts(
            org_kind=f["org_kind"],
            retailer_kind=f["retailer_kind"],
            role=f["role"],
            account_kind=f["account_kind"],
            account_state=f["account_state"],
            training_current=f["training_current"],
        ),
        device=DeviceFacts(f["device_kind"], f["device_owner"], f["device_valid"]),
        step=f["step"],
        own_request=f["own_request"],
        for_own_org=f["for_own_org"],
    )


def _describe(f: Facts, decision: ManageDecision) -> dict[str, Any]:
    out: dict[str, Any] = {
        k: (v if isinstance(v, bool) else str(v)) for k, v in f.items() if k != "action"
    }
    out["decision"] = "allow" if decision.allowed else "deny"
    out["policies"] = list(decision.policy_ids)
    return out


def check_management(
    engine: ManagementEngine | None = None,
    invariants: Iterable[ManageInvariant] = MANAGE_INVARIANTS,
) -> ManageReport:
    """Decide every class of the management space with the live engine and check each
    invariant on it (a counterexample per violated invariant)."""
    engine = engine if engine is not None else ManagementEngine()
    invs = tuple(invariants)
    errors: list[str] = []
    atoms: dict[str, list[frozenset[Any]] | None] = {
        k: (None if v is FULL else list(v)) for k, v in _INVARIANT_ATOMS.items()
    }
    for cid, tpl in engine.bundle.pst.static_policies.items():
        try:
            reads = analyse(tpl, _BY_PATH, resource_dim="step")
        except UnanalysablePolicy as e:
            errors.append(f"{engine.bundle.policy_id(cid)}: {e}")
            continue
        for name, a in reads.items():
            cur = atoms.get(name, [])
            atoms[name] = None if a is FULL or cur is None else [*cur, *a]
    per_dim = [_classes(d, atoms.get(d.name, [])) for d in DIMS]
    reps = [[c[0] for c in cs] for cs in per_dim]
    class_of = [{v: i for i, c in enumerate(cs) for v in c} for cs in per_dim]
    names = [d.name for d in DIMS]
    combos = list(itertools.product(*reps))
    decisions = engine.decide_many([request_of(dict(zip(names, c, strict=True))) for c in combos])
    allowed = {c: d.allowed for c, d in zip(combos, decisions, strict=True)}
    for dec in decisions:
        if dec.policy_ids and dec.policy_ids[0].startswith(ERROR_PREFIX):
            errors.append(f"the engine could not decide: {dec.policy_ids[0]}")
            break

    def decide(f: Facts) -> bool:
        key = tuple(reps[i][class_of[i][f[n]]] for i, n in enumerate(names))
        return allowed[key]

    results = [ManageResult(i.id, i.text, classes=len(combos)) for i in invs]
    for c, dec in zip(combos, decisions, strict=True):
        f = dict(zip(names, c, strict=True))
        for inv, res in zip(invs, results, strict=True):
            if not inv.holds(f, dec.allowed, decide):
                res.violations += 1
                if res.counterexample is None:
                    res.counterexample = _describe(f, dec)
    raw = 1
    for d in DIMS:
        raw *= len(d.values)
    return ManageReport(
        results=results,
        raw_space=raw,
        classes=len(combos),
        class_counts={n: len(cs) for n, cs in zip(names, per_dim, strict=True)},
        errors=errors,
    )
