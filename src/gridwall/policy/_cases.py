"""The case workflow decided by Cedar, and its proof (I16: separation of duties).

Who may list, view, confirm, explain, decide, record discipline, reveal, sample, sign off,
reopen and escalate a case is decided here by the Cedar policies of ``cedar/cases/`` on
the same loader, the same fail-closed rule and the same ``gridwall policy check`` as the
other decisions. The app layer computes the facts of a :class:`CaseRequest` (is the
subject the caller, the caller's manager, a person the caller approved; is the caller the
case's first line; does the caller work in the subject's unit) from HR data and identity's
approvals, and asks :meth:`CaseEngine.decide`.

Every fact is finite, so :func:`check_cases` decides one request per class of the whole
space with the live engine (classes merged by the same syntax-tree analysis as the other
proofs) and checks I16's clauses on the answers.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import cedarpy
import numpy as np

from gridwall.errors import InputError, Location
from gridwall.interfaces.facts import (
    FIRST_LINE_STEPS,
    SECOND_LINE_STEPS,
    THIRD_LINE_STEPS,
    AccountKind,
    AccountState,
    CaseDecision,
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
from gridwall.policy._analysis import FULL, Atoms, UnanalysablePolicy, analyse
from gridwall.policy._cedar import SCHEMA_FILE, _check_enums, principal_id
from gridwall.policy._manage import (
    ERROR_PREFIX,
    ManageReport,
    ManageResult,
    _bool,
    _classes,
    _Dim,
    _one,
    _principal_entities,
    _ref,
)

#: the folder of the case policies, beside the access policies
CASES_DIR = "cases"

_ENUMS: dict[str, type[StrEnum]] = {
    "OrgKind": OrgKind,
    "RetailerKind": RetailerKind,
    "Role": Role,
    "AccountKind": AccountKind,
    "AccountState": AccountState,
    "DeviceKind": DeviceKind,
    "DeviceOwner": DeviceOwner,
    "CaseStep": CaseStep,
}

#: the context facts of a case request, in the order of :class:`CaseRequest`
CASE_FACTS = (
    "about_self",
    "about_own_manager",
    "approved_subject",
    "first_line",
    "in_subject_unit",
)


class CaseBundle:
    """The case schema and policies, parsed and validated once (``InputError`` for a
    schema whose enumerations differ from the model, a policy set that does not validate,
    or a policy without a unique ``@id``)."""

    def __init__(self, schema_text: str, sources: Mapping[str, str]) -> None:
        self.sources = dict(sources)
        where = Location(", ".join(self.sources) or "<no case policies>")
        _check_enums(schema_text, _ENUMS, f"{CASES_DIR}/{SCHEMA_FILE}")
        self.policy_text = "\n".join(self.sources.values())
        result = cedarpy.validate_policies(self.policy_text, schema_text)
        if not result.validation_passed:
            msgs = "; ".join(str(e) for e in result.errors)
            raise InputError(f"case policies do not validate: {msgs}", where)
        try:
            self.schema = cedarpy.Schema.from_str(schema_text)
            self.policy_set = cedarpy.PolicySet.from_str(self.policy_text)
            self.pst = cedarpy.policies_to_pst(self.policy_text)
        except ValueError as e:
            raise InputError(f"cannot parse the case policies: {e}", where) from e
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
    def from_directory(cls, path: Path | None = None) -> CaseBundle:
        """``path/schema.cedarschema`` and ``path/*.cedar`` (default: the shipped ones)."""
        if path is None:
            root = resources.files("gridwall.policy") / "cedar" / CASES_DIR
            names = sorted(
                e.name for e in root.iterdir() if e.is_file() and e.name.endswith(".cedar")
            )
            return cls(
                (root / SCHEMA_FILE).read_text(encoding="utf-8"),
                {n: (root / n).read_text(encoding="utf-8") for n in names},
            )
        if not (path / SCHEMA_FILE).is_file():
            raise InputError(f"no {SCHEMA_FILE} in the case policy folder", Location(str(path)))
        files = sorted(path.glob("*.cedar"))
        if not files:
            raise InputError("no *.cedar files in the case policy folder", Location(str(path)))
        return cls(
            (path / SCHEMA_FILE).read_text(encoding="utf-8"),
            {str(f): f.read_text(encoding="utf-8") for f in files},
        )

    def policy_id(self, cedar_id: str) -> str:
        return self.ids.get(cedar_id, cedar_id)


def _cedar_request(r: CaseRequest) -> dict[str, Any]:
    p, d = r.principal, r.device
    pid = principal_id(
        OrgKind(p.org_kind),
        RetailerKind(p.retailer_kind),
        Role(p.role),
        AccountKind(p.account_kind),
        AccountState(p.account_state),
        _bool(p.training_current),
    )
    context: dict[str, Any] = {
        "device": {
            "kind": _ref("DeviceKind", DeviceKind(d.kind).value),
            "owner": _ref("DeviceOwner", DeviceOwner(d.owner).value),
            "valid": _bool(d.valid),
        },
    }
    for name in CASE_FACTS:
        context[name] = _bool(getattr(r, name))
    return {
        "principal": {"type": "Principal", "id": pid},
        "action": {"type": "Action", "id": "act"},
        "resource": {"type": "CaseStep", "id": CaseStep(r.step).value},
        "context": json.dumps(context, separators=(",", ":")),
    }


class CaseEngine:
    """Decides :class:`CaseRequest` s with Cedar; memoised per request class; any error
    denies."""

    def __init__(self, bundle: CaseBundle | None = None) -> None:
        self.bundle = bundle if bundle is not None else CaseBundle.from_directory()
        self._cache: dict[CaseRequest, CaseDecision] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_directory(cls, path: Path) -> CaseEngine:
        return cls(CaseBundle.from_directory(path))

    def decide(self, request: CaseRequest) -> CaseDecision:
        hit = self._cache.get(request)
        if hit is not None:
            return hit
        [decision], ok = self._evaluate([request])
        if ok:
            with self._lock:
                self._cache[request] = decision
        return decision

    def decide_many(self, requests: Sequence[CaseRequest]) -> list[CaseDecision]:
        """Ask Cedar now for every request in one batch (the proof's path; not cached)."""
        return self._evaluate(requests)[0]

    def _evaluate(self, requests: Sequence[CaseRequest]) -> tuple[list[CaseDecision], bool]:
        b = self.bundle
        try:
            reqs = [_cedar_request(r) for r in requests]
            results = cedarpy.is_authorized_batch(reqs, b.policy_set, b.entities, b.schema)
            if len(results) != len(requests):
                raise RuntimeError(f"Cedar answered {len(results)} of {len(requests)} requests")
            out: list[CaseDecision] = []
            for r, res in zip(requests, results, strict=True):
                diag = res.diagnostics
                if diag.errors:
                    raise RuntimeError(f"Cedar error on {r.step}: {'; '.join(diag.errors)}")
                ids = tuple(sorted(b.policy_id(x) for x in diag.reasons))
                if res.decision is cedarpy.Decision.Allow:
                    if not ids:
                        raise RuntimeError(f"Cedar allowed {r.step} without a determining policy")
                    out.append(CaseDecision(r, True, ids))
                elif res.decision is cedarpy.Decision.Deny:
                    out.append(CaseDecision(r, False, ids))
                else:
                    raise RuntimeError(f"Cedar gave no decision for {r.step}")
            return out, True
        except Exception as e:  # fail closed on anything at all
            reason = f"{ERROR_PREFIX}{type(e).__name__}: {e}"[:300]
            return [CaseDecision(r, False, (reason,)) for r in requests], False


_default: CaseEngine | None = None
_default_lock = threading.Lock()


def default_case_engine() -> CaseEngine:
    """The process-wide engine over the shipped case policies."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = CaseEngine()
    return _default


# --------------------------------------------------------------------------- the proof

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
    _Dim("action", ("act",), ("action",)),
    _Dim("step", tuple(CaseStep), ("resource",)),
    *(_Dim(n, _B, ("context", n)) for n in CASE_FACTS),
    _Dim("retailer_kind", tuple(RetailerKind), ("principal", "retailer_kind")),
)
_BY_PATH = {d.cedar_path: d.name for d in DIMS}

_FIRST = frozenset(s.value for s in FIRST_LINE_STEPS)
_SECOND = frozenset(s.value for s in SECOND_LINE_STEPS)
_THIRD = frozenset(s.value for s in THIRD_LINE_STEPS)

#: What the invariants below single out (see ``_manage._INVARIANT_ATOMS``); an invariant
#: added below must add what it reads here. The retailer kind is absent on purpose (I16h).
_INVARIANT_ATOMS: dict[str, list[frozenset[Any]] | None] = {
    "account_state": [_one(AccountState.ACTIVE)],
    "account_kind": [_one(AccountKind.PERSONAL)],
    "device_owner": [_one(DeviceOwner.SAME_ORG)],
    "device_kind": [_one(DeviceKind.NW_TERMINAL)],
    "org_kind": [_one(OrgKind.NW)],
    "role": [_one(Role.MANAGER), _one(Role.COMPLIANCE), _one(Role.AUDITOR)],
    "step": [_FIRST, _SECOND, _THIRD, _one(CaseStep.VIEW)],
    "device_valid": FULL,
    "training_current": FULL,
    **{n: FULL for n in CASE_FACTS},
}

Facts = dict[str, Any]


@dataclass(frozen=True)
class CaseInvariant:
    id: str
    text: str
    holds: Callable[[Facts, bool, Callable[[Facts], bool]], bool]


def _deny_if(cond: Callable[[Facts], bool]) -> Callable[[Facts, bool, Any], bool]:
    return lambda f, allowed, _decide: not (cond(f) and allowed)


def _equal_footing(f: Facts, allowed: bool, decide: Callable[[Facts], bool]) -> bool:
    return all(decide({**f, "retailer_kind": rk}) == allowed for rk in RetailerKind)


def _wrong_line(f: Facts) -> bool:
    step, role = f["step"], f["role"]
    if step in _FIRST:
        return bool(role != Role.MANAGER or not f["first_line"])
    if step in _SECOND:
        return bool(role != Role.COMPLIANCE)
    if step in _THIRD:
        return bool(role != Role.AUDITOR)
    return False


CASE_INVARIANTS: tuple[CaseInvariant, ...] = (
    CaseInvariant(
        "I16a",
        "Retailers' staff, contractors and the regulator never see or act on a case",
        _deny_if(lambda f: f["org_kind"] != OrgKind.NW),
    ),
    CaseInvariant(
        "I16b",
        "Nobody acts on (or views) a case about themselves",
        _deny_if(lambda f: f["about_self"]),
    ),
    CaseInvariant(
        "I16c",
        "Nobody acts on (or views) a case about their own manager (or anyone above them)",
        _deny_if(lambda f: f["about_own_manager"]),
    ),
    CaseInvariant(
        "I16d",
        "Nobody acts on (or views) a case about a person they approved a change for "
        "(a reactivation, a role)",
        _deny_if(lambda f: f["approved_subject"]),
    ),
    CaseInvariant(
        "I16e",
        "The second and third lines (compliance, internal audit) are independent of the "
        "subject's organisation: nobody from the subject's unit decides, records "
        "discipline, reveals, samples, signs off, reopens or views as compliance or audit",
        _deny_if(
            lambda f: (
                f["in_subject_unit"]
                and f["role"] in (Role.COMPLIANCE, Role.AUDITOR)
                and (f["step"] in _SECOND | _THIRD or f["step"] == CaseStep.VIEW)
            )
        ),
    ),
    CaseInvariant(
        "I16f",
        "Line roles per step: only the case's first-line manager confirms or explains, "
        "only compliance decides, records discipline or reveals, only internal audit "
        "samples, signs off or reopens",
        _deny_if(_wrong_line),
    ),
    CaseInvariant(
        "I16g",
        "No case step for an account that is not an active personal account, from a "
        "terminal that is not the caller's own valid NW terminal, or without current "
        "training",
        _deny_if(
            lambda f: (
                f["account_state"] != AccountState.ACTIVE
                or f["account_kind"] != AccountKind.PERSONAL
                or f["device_owner"] != DeviceOwner.SAME_ORG
                or not f["device_valid"]
                or f["device_kind"] != DeviceKind.NW_TERMINAL
                or not f["training_current"]
            )
        ),
    ),
    CaseInvariant(
        "I16h",
        "Equal footing: no case decision depends on the retailer kind",
        _equal_footing,
    ),
)


def request_of(f: Facts) -> CaseRequest:
    return CaseRequest(
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
        **{n: f[n] for n in CASE_FACTS},
    )


def _describe(f: Facts, decision: CaseDecision) -> dict[str, Any]:
    out: dict[str, Any] = {
        k: (v if isinstance(v, bool) else str(v)) for k, v in f.items() if k != "action"
    }
    out["decision"] = "allow" if decision.allowed else "deny"
    out["policies"] = list(decision.policy_ids)
    return out


def _single(cid: str, tpl: Any) -> cedarpy.PolicySet:
    from cedarpy import pst

    return cedarpy.PolicySet.from_pst(
        pst.PolicySet(
            templates=pst.FrozenMap(),
            static_policies=pst.FrozenMap({cid: tpl}),
            template_links=(),
        )
    )


def check_cases(
    engine: CaseEngine | None = None,
    invariants: Iterable[CaseInvariant] = CASE_INVARIANTS,
    *,
    samples: int = 500,
    seed: int = 16,
) -> ManageReport:
    """Prove the invariants over every class of the case space.

    Each policy is evaluated alone (a one-policy set) on every combination of the classes
    of the facts it reads (the syntax-tree analysis shows it can read nothing else); the
    decision of each class of the whole space is then Cedar's rule over those answers
    (allow iff some permit holds and no forbid does). ``samples`` classes drawn at random
    are also decided by the live engine (the whole policy set) and must agree."""
    engine = engine if engine is not None else CaseEngine()
    b = engine.bundle
    invs = tuple(invariants)
    errors: list[str] = []
    atoms: dict[str, list[frozenset[Any]] | None] = {
        k: (None if v is FULL else list(v)) for k, v in _INVARIANT_ATOMS.items()
    }
    policy_reads: dict[str, dict[str, Atoms]] = {}
    for cid, tpl in b.pst.static_policies.items():
        try:
            policy_reads[cid] = analyse(tpl, _BY_PATH, resource_dim="step")
        except UnanalysablePolicy as e:
            errors.append(f"{b.policy_id(cid)}: {e}")
            continue
        for name, a in policy_reads[cid].items():
            cur = atoms.get(name, [])
            atoms[name] = None if a is FULL or cur is None else [*cur, *a]
    names = [d.name for d in DIMS]
    per_dim = [_classes(d, atoms.get(d.name, [])) for d in DIMS]
    reps = [[c[0] for c in cs] for cs in per_dim]
    class_of = [{v: i for i, c in enumerate(cs) for v in c} for cs in per_dim]
    shape = tuple(len(r) for r in reps)
    default = {n: r[0] for n, r in zip(names, reps, strict=True)}
    permit = np.zeros(shape, dtype=bool)
    forbid = np.zeros(shape, dtype=bool)
    for cid, reads in policy_reads.items():
        tpl = b.pst.static_policies[cid]
        dims = [i for i, n in enumerate(names) if n in reads]
        combos = list(itertools.product(*(range(shape[i]) for i in dims)))
        reqs = []
        for combo in combos:
            f = dict(default)
            f.update({names[i]: reps[i][k] for i, k in zip(dims, combo, strict=True)})
            reqs.append(_cedar_request(request_of(f)))
        sat = np.zeros([shape[i] for i in dims], dtype=bool)
        answers = cedarpy.is_authorized_batch(reqs, _single(cid, tpl), b.entities, b.schema)
        for combo, res in zip(combos, answers, strict=True):
            if res.diagnostics.errors:
                errors.append(f"{b.policy_id(cid)}: Cedar error {res.diagnostics.errors[0]}")
                break
            sat[combo] = bool(res.diagnostics.reasons)
        view = sat.reshape([shape[i] if i in dims else 1 for i in range(len(names))])
        full = np.broadcast_to(view, shape)
        if tpl.effect == "permit":
            permit |= full
        else:
            forbid |= full
    allowed_table = permit & ~forbid

    def idx(f: Facts) -> tuple[int, ...]:
        return tuple(class_of[i][f[n]] for i, n in enumerate(names))

    def decide(f: Facts) -> bool:
        return bool(allowed_table[idx(f)])

    rng = random.Random(seed)
    every = list(itertools.product(*(range(s) for s in shape)))
    picked = rng.sample(every, min(samples, len(every)))
    live = engine.decide_many(
        [request_of({n: reps[i][k] for i, (n, k) in enumerate(zip(names, c, strict=True))})
         for c in picked]
    )  # fmt: skip
    for c, dec in zip(picked, live, strict=True):
        if dec.policy_ids and dec.policy_ids[0].startswith(ERROR_PREFIX):
            errors.append(f"the engine could not decide: {dec.policy_ids[0]}")
            break
        if dec.allowed != bool(allowed_table[c]):
            errors.append(f"the live engine disagrees with the proof on class {c}")
            break
    results = [ManageResult(i.id, i.text, classes=len(every)) for i in invs]
    for c in every:
        f = {n: reps[i][k] for i, (n, k) in enumerate(zip(names, c, strict=True))}
        ok = bool(allowed_table[c])
        for inv, out in zip(invs, results, strict=True):
            if not inv.holds(f, ok, decide):
                out.violations += 1
                if out.counterexample is None:
                    [live_dec] = engine.decide_many([request_of(f)])
                    out.counterexample = _describe(f, live_dec)
    raw = 1
    for d in DIMS:
        raw *= len(d.values)
    return ManageReport(
        results=results,
        raw_space=raw,
        classes=len(every),
        class_counts={n: len(cs) for n, cs in zip(names, per_dim, strict=True)},
        errors=errors,
    )
