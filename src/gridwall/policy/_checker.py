"""``gridwall policy check``: prove the invariants over the whole request space.

The space (``_space.DIMS``) has ~10¹¹ field decisions, too many to ask Cedar one
by one. The proof instead rests on three facts, each checked here rather than
assumed (docs/policy.md explains them at length):

1. **What a policy can observe.** ``_analysis`` reads each policy's syntax tree and
   lists the dimensions it reads and the literal values it compares them with.
   Values that fall in the same comparisons form a *class*; the policy cannot
   tell two values of one class apart. Invariant predicates declare what they read
   in the same terms, and ``_invariants.Restricted`` enforces it.
2. **Cedar evaluates each policy once per class.** For every policy, Cedar itself
   (a one-policy ``PolicySet``) decides whether the policy is satisfied, for every
   combination of the classes of the dimensions it reads: its *truth table*.
3. **Cedar's combination rule.** A field is allowed iff some permit is satisfied
   and no forbid is (default deny, forbid beats permit). The checker combines the
   tables with that rule while splitting the space dimension by dimension
   (a decision tree): a region is settled as soon as a forbid is satisfied in all
   of it, no permit can be satisfied in any of it, or a permit is satisfied in
   all of it and no forbid in any of it. Each invariant is then checked on the
   settled region from its own truth table. Every class of the space lies in
   exactly one settled region, so the check is complete.

The combination is cross-checked against the live engine (the full policy set,
the cached path) on sampled classes; any difference is an I11 violation.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cedarpy
import numpy as np
import numpy.typing as npt
from cedarpy import pst

from gridwall.interfaces.facts import FIELDS, AccessRequest, Decision
from gridwall.policy._analysis import FULL, Atoms, UnanalysablePolicy, analyse
from gridwall.policy._cedar import PolicyBundle, cedar_requests
from gridwall.policy._engine import PolicyEngine
from gridwall.policy._invariants import INVARIANTS, Facts, Invariant
from gridwall.policy._space import DIM_INDEX, DIMS, describe, raw_space_size, request_of

BoolArray = npt.NDArray[np.bool_]

#: what every permit must read to be a *rule* rather than a blanket grant (I11)
PERMIT_MUST_READ = ("org_kind", "purpose", "action")
#: … and at least one of these (which field groups it releases)
PERMIT_MUST_READ_ONE_OF = ("field", "covers")

_RK = DIM_INDEX["retailer_kind"]
#: truth-table cell codes over a region: holds nowhere / somewhere / everywhere
NONE, SOME, EVERY = 0, 1, 2


@dataclass
class InvariantResult:
    id: str
    text: str
    classes: int = 0
    violations: int = 0
    counterexample: dict[str, Any] | None = None
    #: the counterexample as a request and the field it is about (None for I11 findings
    #: that are about a policy rather than a request)
    witness: tuple[AccessRequest, str] | None = None


@dataclass
class CheckReport:
    results: list[InvariantResult]
    raw_space: int
    classes: int
    class_counts: dict[str, int]
    regions: int
    cedar_evaluations: int
    engine_samples: int
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and all(r.violations == 0 for r in self.results)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "raw_space": self.raw_space,
            "classes": self.classes,
            "class_counts": self.class_counts,
            "regions": self.regions,
            "cedar_evaluations": self.cedar_evaluations,
            "engine_samples": self.engine_samples,
            "seconds": round(self.seconds, 2),
            "errors": self.errors,
            "invariants": [
                {
                    "id": r.id,
                    "description": r.text,
                    "classes_checked": r.classes,
                    "violations": r.violations,
                    "counterexample": r.counterexample,
                }
                for r in self.results
            ],
        }


# --------------------------------------------------------------------------- partitions


def _partition_from_atoms(values: Sequence[Any], atoms: Atoms) -> list[int]:
    """Local class of each value: values inside the same atoms share a class."""
    if atoms is FULL:
        return list(range(len(values)))
    sigs: dict[tuple[bool, ...], int] = {}
    return [sigs.setdefault(tuple(v in a for a in atoms), len(sigs)) for v in values]


def _partition_from_reads(values: Sequence[Any], allowed: frozenset[Any] | None) -> list[int]:
    if allowed is None:  # ALL
        return list(range(len(values)))
    return _partition_from_atoms(values, [frozenset({a}) for a in allowed])


@dataclass
class _Component:
    """A truth table over the classes of the dimensions one policy / predicate reads."""

    name: str
    dims: tuple[int, ...]  # global dimension indices, ascending (the tree order)
    local: dict[int, list[int]]  # dim → value index → local class
    tables: list[BoolArray] = field(default_factory=list)
    # per table, per j (number of leading dims fixed): reductions over the rest
    # as flat Python lists (row-major over the fixed dims) of codes: NONE / SOME / EVERY
    codes: list[list[list[int]]] = field(default_factory=list)
    # filled once global classes are known: dim → global class → local class
    g2l: dict[int, list[int]] = field(default_factory=dict)
    # during the walk: the local classes of the dims fixed so far, and the matching
    # row-major offsets into ``codes`` (two stacks)
    cur: list[int] = field(default_factory=list)
    flat: list[int] = field(default_factory=lambda: [0])

    def shape(self) -> tuple[int, ...]:
        return tuple(max(self.local[d]) + 1 for d in self.dims)

    def reps(self, d: int) -> list[Any]:
        """A representative value of each local class of dim ``d``."""
        out: dict[int, Any] = {}
        for vi, c in enumerate(self.local[d]):
            out.setdefault(c, DIMS[d].values[vi])
        return [out[c] for c in range(len(out))]

    def finish(self) -> None:
        for t in self.tables:
            anys: list[BoolArray] = []
            alls: list[BoolArray] = []
            for j in range(len(self.dims) + 1):
                axes = tuple(range(j, len(self.dims)))
                anys.append(np.asarray(t.any(axis=axes)) if axes else t)
                alls.append(np.asarray(t.all(axis=axes)) if axes else t)
            self.codes.append(
                [
                    np.where(al, EVERY, np.where(an, SOME, NONE)).ravel().tolist()
                    for an, al in zip(anys, alls, strict=True)
                ]
            )


def _single_policy_set(cid: str, tpl: pst.Template) -> cedarpy.PolicySet:
    return cedarpy.PolicySet.from_pst(
        pst.PolicySet(
            templates=pst.FrozenMap(),
            static_policies=pst.FrozenMap({cid: tpl}),
            template_links=(),
        )
    )


_DEFAULTS = {d.name: d.values[0] for d in DIMS}


def _policy_component(
    bundle: PolicyBundle, cid: str, tpl: pst.Template, errors: list[str]
) -> tuple[_Component, int]:
    """Ask Cedar whether the policy holds, for every class combination it can see."""
    reads = analyse(tpl)
    dims = tuple(sorted(DIM_INDEX[n] for n in reads))
    comp = _Component(
        bundle.policy_id(cid),
        dims,
        {d: _partition_from_atoms(DIMS[d].values, reads[DIMS[d].name]) for d in dims},
    )
    shape = comp.shape()
    combos = list(itertools.product(*(comp.reps(d) for d in dims)))
    reqs = []
    for combo in combos:
        facts = dict(_DEFAULTS)
        facts.update({DIMS[d].name: v for d, v in zip(dims, combo, strict=True)})
        request, fld = request_of(facts)
        reqs.append(cedar_requests(request)[FIELDS.index(fld)])
    ps = _single_policy_set(cid, tpl)
    sat: list[bool] = []
    for i in range(0, len(reqs), 4096):
        for res in cedarpy.is_authorized_batch(
            reqs[i : i + 4096], ps, bundle.entities, bundle.schema
        ):
            if res.diagnostics.errors:
                errors.append(f"{comp.name}: Cedar error {res.diagnostics.errors[0]}")
            sat.append(bool(res.diagnostics.reasons) and not res.diagnostics.errors)
    comp.tables = [np.array(sat, dtype=bool).reshape(shape)]
    comp.finish()
    return comp, len(reqs)


_INVARIANT_TABLES: dict[str, tuple[Invariant, _Component]] = {}


def _invariant_component(inv: Invariant) -> _Component:
    """The predicate's tables (independent of the policies, so built once per process)."""
    hit = _INVARIANT_TABLES.get(inv.id)
    if hit is None or hit[0] is not inv:
        hit = (inv, _build_invariant_component(inv))
        _INVARIANT_TABLES[inv.id] = hit
    return dataclasses.replace(hit[1], g2l={})


def _build_invariant_component(inv: Invariant) -> _Component:
    """The predicate's table for a denied and for an allowed field, per class."""
    dims = tuple(sorted(DIM_INDEX[n] for n in inv.reads))
    comp = _Component(
        inv.id,
        dims,
        {d: _partition_from_reads(DIMS[d].values, inv.reads[DIMS[d].name]) for d in dims},
    )
    shape = comp.shape()
    names = [DIMS[d].name for d in dims]
    # the restricted views of each class representative, built once
    views = [[inv.view_value(n, v) for v in comp.reps(d)] for n, d in zip(names, dims, strict=True)]
    holds = inv.holds
    assert holds is not None
    for allowed in (False, True):
        vals = [
            holds(Facts(dict(zip(names, combo, strict=True))), allowed)
            for combo in itertools.product(*views)
        ]
        comp.tables.append(np.array(vals, dtype=bool).reshape(shape))
    comp.finish()
    return comp


def _global_classes(comps: Iterable[_Component]) -> list[list[int]]:
    """Per dim: value index → global class (the common refinement of all components)."""
    comps = list(comps)
    out = []
    for d, dim in enumerate(DIMS):
        readers = [c for c in comps if d in c.local]
        sigs: dict[tuple[int, ...], int] = {}
        out.append(
            [
                sigs.setdefault(tuple(c.local[d][vi] for c in readers), len(sigs))
                for vi in range(len(dim.values))
            ]
        )
    return out


# --------------------------------------------------------------------------- the proof


class _Walk:
    def __init__(
        self,
        permits: list[_Component],
        forbids: list[_Component],
        invs: list[tuple[Invariant, _Component]],
        gclass: list[list[int]],
        results: dict[str, InvariantResult],
        explain: Callable[[AccessRequest, str], dict[str, Any]],
    ) -> None:
        self.permits, self.forbids, self.invs = permits, forbids, invs
        self.n = [max(g) + 1 for g in gclass]
        self.greps = [
            [DIMS[d].values[g.index(c)] for c in range(self.n[d])] for d, g in enumerate(gclass)
        ]
        self.results = results
        self.explain = explain
        self.regions = 0
        self.assign: list[int] = []
        # per dim: the components that read it, with their global → local class map
        self.readers: list[list[tuple[_Component, list[int], tuple[int, ...]]]] = [[] for _ in DIMS]
        # number of global classes behind each local class (for counting violations)
        self.weight: dict[tuple[int, int], npt.NDArray[np.int64]] = {}
        for c in [*permits, *forbids, *(ic for _, ic in invs)]:
            for d in c.dims:
                c.g2l[d] = [c.local[d][gclass[d].index(k)] for k in range(self.n[d])]
                w = np.zeros(max(c.local[d]) + 1, dtype=np.int64)
                for k in range(self.n[d]):
                    w[c.g2l[d][k]] += 1
                self.weight[(id(c), d)] = w
                self.readers[d].append((c, c.g2l[d], c.shape()))
            c.cur = []
            c.flat = [0]

    def _state(self, depth: int) -> tuple[bool | None, tuple[str, ...]]:
        """(uniform decision of the region or None if mixed, determining policies)."""
        sure_forbids = []
        maybe_forbid = False
        for f in self.forbids:
            code = f.codes[0][len(f.cur)][f.flat[-1]]
            if code == EVERY:
                sure_forbids.append(f.name)
            elif code == SOME:
                maybe_forbid = True
        if sure_forbids:
            return False, tuple(sure_forbids)
        sure_permits = []
        maybe_permit = False
        for p in self.permits:
            code = p.codes[0][len(p.cur)][p.flat[-1]]
            if code == EVERY:
                sure_permits.append(p.name)
            elif code == SOME:
                maybe_permit = True
        if not sure_permits and not maybe_permit:
            return False, ()
        if sure_permits and not maybe_forbid:
            return True, tuple(sure_permits)
        return None, ()

    def run(self, depth: int = 0) -> bool | None:
        decided, _ = self._state(depth)
        if decided is None and depth == len(DIMS):
            raise AssertionError("a fully assigned class has no decision")  # unreachable
        if decided is not None:
            self.regions += 1
            self._check_region(depth, decided)
            return decided
        # mixed: split on the next dimension (never past the last: a full
        # assignment always decides, since every table is then fully indexed)
        kids = []
        readers = self.readers[depth]
        for k in range(self.n[depth]):
            self.assign.append(k)
            for c, g2l, sizes in readers:
                loc = g2l[k]
                c.flat.append(c.flat[-1] * sizes[len(c.cur)] + loc)
                c.cur.append(loc)
            kids.append(self.run(depth + 1))
            for c, _, _ in readers:
                c.cur.pop()
                c.flat.pop()
            self.assign.pop()
        if depth == _RK and len(set(kids)) > 1:
            self._i7_violation(depth, kids)
        return None

    def _check_region(self, depth: int, allowed: bool) -> None:
        for inv, c in self.invs:
            t = 1 if allowed else 0
            j = len(c.cur)
            if c.codes[t][j][c.flat[-1]] == EVERY:
                continue
            idx = tuple(c.cur)
            bad = ~c.tables[t][idx]  # over c's dims not fixed yet
            free = c.dims[j:]
            count = bad.astype(np.int64)
            for axis, d in reversed(list(enumerate(free))):
                count = np.tensordot(count, self.weight[(id(c), d)], axes=([axis], [0]))
            others = math.prod(self.n[d] for d in range(depth, len(DIMS)) if d not in free)
            res = self.results[inv.id]
            res.violations += int(count) * others
            if res.counterexample is None:
                first = tuple(int(x) for x in np.argwhere(bad)[0])
                assign = self._complete(depth, dict(zip(free, first, strict=True)), c)
                res.counterexample = self._example(assign)
                res.witness = self._witness(assign)

    def _complete(self, depth: int, local: Mapping[int, int], c: _Component) -> list[int]:
        out = list(self.assign)
        for d in range(depth, len(DIMS)):
            if d in local:
                out.append(c.g2l[d].index(local[d]))
            else:
                out.append(0)
        return out

    def _witness(self, assign: Sequence[int]) -> tuple[AccessRequest, str]:
        return request_of({DIMS[d].name: self.greps[d][k] for d, k in enumerate(assign)})

    def _example(self, assign: Sequence[int]) -> dict[str, Any]:
        request, fld = self._witness(assign)
        return {"field": fld, "request": describe(request), **self.explain(request, fld)}

    def _i7_violation(self, depth: int, kids: list[bool | None]) -> None:
        res = self.results["I7"]
        res.violations += 1
        if res.counterexample is None:
            a = self._example([*self.assign, kids.index(kids[0])])
            other = next(i for i, k in enumerate(kids) if k != kids[0])
            b = self._example([*self.assign, other])
            res.counterexample = {**a, "differs_from": b}
            res.witness = self._witness([*self.assign, kids.index(kids[0])])


def _explainer(engine: PolicyEngine) -> Callable[[AccessRequest, str], dict[str, Any]]:
    def explain(request: AccessRequest, fld: str) -> dict[str, Any]:
        d = engine.decide_uncached(request)
        return {
            "allowed": d.fields[fld].allowed,
            "policy_ids": list(d.fields[fld].policy_ids),
            "decision": d.explain(),
        }

    return explain


def _check_permits_are_rules(permits: Mapping[str, dict[str, Atoms]], res: InvariantResult) -> None:
    for name, reads in permits.items():
        res.classes += 1
        missing = [n for n in PERMIT_MUST_READ if n not in reads]
        if not any(n in reads for n in PERMIT_MUST_READ_ONE_OF):
            missing.append("field")
        if missing:
            res.violations += 1
            if res.counterexample is None:
                res.counterexample = {
                    "policy": name,
                    "problem": f"permit does not constrain {', '.join(missing)}: a blanket grant",
                }


def _model_decision(
    facts: Mapping[str, Any],
    permits: list[_Component],
    forbids: list[_Component],
) -> tuple[bool, tuple[str, ...]]:
    """The decision the combined tables predict for one field decision."""

    def sat(c: _Component) -> bool:
        idx = tuple(c.local[d][DIMS[d].values.index(facts[DIMS[d].name])] for d in c.dims)
        return bool(c.tables[0][idx])

    fb = tuple(sorted(f.name for f in forbids if sat(f)))
    if fb:
        return False, fb
    pm = tuple(sorted(p.name for p in permits if sat(p)))
    return bool(pm), pm


def _sample_engine(
    engine: PolicyEngine,
    permits: list[_Component],
    forbids: list[_Component],
    samples: int,
    seed: int,
    res: InvariantResult,
) -> None:
    """Compare the live engine with the combined tables on random requests."""
    from gridwall.policy._space import facts_of

    rng = random.Random(seed)
    for _ in range(samples):
        facts = {d.name: rng.choice(d.values) for d in DIMS}
        covered = frozenset(f for f in FIELDS if rng.random() < 0.5)
        request, _fld = request_of(facts)
        request = AccessRequest(
            principal=request.principal,
            device=request.device,
            action=request.action,
            purpose=request.purpose,
            resource=request.resource,
            grants=type(request.grants)(
                disaster=request.grants.disaster,
                agreement=request.grants.agreement,
                agreement_fields=covered,
                consent=request.grants.consent,
                recipient=request.grants.recipient,
            ),
        )
        decision: Decision = engine.decide(request)
        for fld in FIELDS:
            res.classes += 1
            want = _model_decision(facts_of(request, fld), permits, forbids)
            fd = decision.fields[fld]
            if (fd.allowed, fd.policy_ids) != want:
                res.violations += 1
                if res.counterexample is None:
                    res.witness = (request, fld)
                    res.counterexample = {
                        "field": fld,
                        "request": describe(request),
                        "engine": {"allowed": fd.allowed, "policy_ids": list(fd.policy_ids)},
                        "cedar_semantics": {"allowed": want[0], "policy_ids": list(want[1])},
                    }


def check(
    engine: PolicyEngine | None = None,
    *,
    samples: int = 2000,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> CheckReport:
    """Prove every invariant of ``INVARIANTS`` for the engine's policy set."""
    t0 = time.perf_counter()
    engine = engine if engine is not None else PolicyEngine()
    bundle = engine.bundle
    say = progress or (lambda _msg: None)
    results = {inv.id: InvariantResult(inv.id, inv.text) for inv in INVARIANTS}
    errors: list[str] = []

    say("analysing policies")
    permits: list[_Component] = []
    forbids: list[_Component] = []
    permit_reads: dict[str, dict[str, Atoms]] = {}
    evaluations = 0
    for cid, tpl in bundle.pst.static_policies.items():
        try:
            comp, n = _policy_component(bundle, cid, tpl, errors)
        except UnanalysablePolicy as e:
            errors.append(f"{bundle.policy_id(cid)}: {e}")
            continue
        evaluations += n
        if tpl.effect == "permit":
            permits.append(comp)
            permit_reads[comp.name] = analyse(tpl)
        else:
            forbids.append(comp)
    say(f"{evaluations} Cedar evaluations of single policies")
    invs = [(inv, _invariant_component(inv)) for inv in INVARIANTS if inv.holds is not None]
    gclass = _global_classes([*permits, *forbids, *(c for _, c in invs)])
    counts = {DIMS[d].name: max(g) + 1 for d, g in enumerate(gclass)}
    classes = math.prod(counts.values())
    for r in results.values():
        r.classes = classes

    say(f"{classes} classes; walking the space")
    walk = _Walk(permits, forbids, invs, gclass, results, _explainer(engine))
    if not errors:
        walk.run()

    i11 = results["I11"]
    i11.classes = 0
    _check_permits_are_rules(permit_reads, i11)
    say(f"comparing the live engine with the proof on {samples} sampled requests")
    _sample_engine(engine, permits, forbids, samples, seed, i11)

    report = CheckReport(
        results=[results[inv.id] for inv in INVARIANTS],
        raw_space=raw_space_size(),
        classes=classes,
        class_counts=counts,
        regions=walk.regions,
        cedar_evaluations=evaluations,
        engine_samples=samples,
        errors=errors,
    )
    report.seconds = time.perf_counter() - t0
    return report
