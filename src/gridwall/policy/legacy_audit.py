"""Audit a legacy system's permission matrix against gridwall's own policy.

Every cell of the matrix — an organisation holding a legacy role, a screen, one of
the operations the legacy system permits on it, one field group the screen shows
unmasked, and one kind of supply point the screen lists — becomes an
:class:`~gridwall.interfaces.facts.AccessRequest` in the *most ordinary* context the
holder's staff work in: an active personal account, current training, the
organisation's own valid terminal, the role's declared purpose, the grants the
organisation really holds (a valid in-scope agreement naming the fields the matrix
lists, or none). The SAME Cedar policies gridwall enforces (the policy engine, its
cache included) decide it. Wherever the legacy system lets the cell through but the
policy denies it, that is a finding, with

* the policy ids that denied it (or "default deny": no permit releases it);
* the invariants (``_invariants.INVARIANTS``, the predicates ``policy check``
  proves) that releasing it would break;
* the equal-footing position (I7): whether only affiliated, or only independent,
  retailers hold that permission in the legacy system.

The legacy system is assumed to check nothing gridwall checks beyond what the matrix
says: it does not look at the retailer of record unless the grant's scope is
``own``, it lists last-resort-supply points unless the screen says otherwise, and it
knows no purposes (the role's purpose is the most favourable reading of its work).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gridwall.interfaces.facts import (
    AccessRequest,
    AccountKind,
    AccountState,
    Action,
    AgreementState,
    DeviceFacts,
    DeviceOwner,
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
from gridwall.policy._engine import PolicyEngine, default_engine
from gridwall.policy._invariants import INVARIANTS
from gridwall.policy._space import describe, facts_of
from gridwall.policy.legacy_matrix import Grant, LegacyRole, Matrix, Organisation, Scope, Screen

_RETAIL_RELATIONS = {
    Scope.ALL: (Relation.OWN_CUSTOMER, Relation.OTHER_RETAILER, Relation.NO_RETAILER),
    Scope.OWN: (Relation.OWN_CUSTOMER,),
}
_INVARIANT_TEXT = {inv.id: inv.text for inv in INVARIANTS}


@dataclass(frozen=True)
class Point:
    """A kind of supply point a legacy screen lists."""

    relation: Relation
    is_lrs: bool
    has_fit: bool

    def label(self) -> str:
        tags = [str(self.relation)]
        if self.is_lrs:
            tags.append("lrs")
        if self.has_fit:
            tags.append("fit")
        return "+".join(tags)


@dataclass(frozen=True)
class Cell:
    """One (principal kind, action, resource kind) cell the legacy matrix permits."""

    organisation: Organisation
    legacy_role: LegacyRole
    screen: Screen
    grant: Grant
    action: Action
    field: str
    columns: tuple[str, ...]
    point: Point

    @property
    def request(self) -> AccessRequest:
        org, lrole = self.organisation, self.legacy_role
        agreement, fields = AgreementState.NONE, frozenset[str]()
        if org.agreement_fields is not None:
            agreement, fields = AgreementState.VALID_IN_SCOPE, org.agreement_fields
        recipient = Recipient.NONE
        if self.action is Action.EXPORT:
            recipient = self.grant.recipient or (
                Recipient.RETAILER if org.kind is OrgKind.RETAIL else Recipient.OTHER
            )
        return AccessRequest(
            principal=PrincipalFacts(
                org_kind=org.kind,
                retailer_kind=org.retailer_kind,
                role=lrole.role,
                account_kind=AccountKind.PERSONAL,
                account_state=AccountState.ACTIVE,
                training_current=lrole.trained,
            ),
            device=DeviceFacts(org.terminal, DeviceOwner.SAME_ORG, True),
            action=self.action,
            purpose=lrole.purpose,
            resource=ResourceFacts(self.point.relation, self.point.is_lrs, self.point.has_fit),
            grants=GrantFacts(agreement=agreement, agreement_fields=fields, recipient=recipient),
        )

    def equal_footing_key(self) -> tuple[Role, Purpose, Action, str, Point]:
        """What a retailer's staff may do, whoever the retailer is (I7 compares these)."""
        return (
            self.legacy_role.role,
            self.legacy_role.purpose,
            self.action,
            self.field,
            self.point,
        )


@dataclass(frozen=True)
class Finding:
    cell: Cell
    policy_ids: tuple[str, ...]
    invariants: tuple[str, ...]
    #: "affiliated only", "independent only", "both kinds" (retailers), "" otherwise
    equal_footing: str

    @property
    def why(self) -> str:
        policy = ", ".join(self.policy_ids) or "default deny (no permit releases it)"
        return policy if not self.invariants else f"{policy}; breaks {', '.join(self.invariants)}"

    def key(self) -> tuple[str, ...]:
        """Identity of the finding, independent of where rows sit in the file."""
        c = self.cell
        return (
            c.organisation.id,
            c.legacy_role.id,
            c.screen.id,
            str(c.action),
            c.field,
            c.point.label(),
        )

    def to_json(self) -> dict[str, Any]:
        c = self.cell
        return {
            "organisation": {
                "id": c.organisation.id,
                "name": c.organisation.name,
                "kind": str(c.organisation.kind),
                "retailer_kind": str(c.organisation.retailer_kind),
            },
            "legacy_role": c.legacy_role.id,
            "screen": c.screen.id,
            "columns": list(c.columns),
            "operation": str(c.action),
            "field": c.field,
            "point": {
                "relation": str(c.point.relation),
                "is_lrs": c.point.is_lrs,
                "has_fit": c.point.has_fit,
            },
            "grant_line": c.grant.line,
            "policy_ids": list(self.policy_ids),
            "default_deny": not self.policy_ids,
            "invariants": [{"id": i, "text": _INVARIANT_TEXT[i]} for i in self.invariants],
            "equal_footing": self.equal_footing,
            "request": describe(c.request),
        }


@dataclass(frozen=True)
class Asymmetry:
    """A retail permission the legacy system gives one kind of retailer and not the other."""

    holders: RetailerKind  # the kind that holds it
    role: Role
    purpose: Purpose
    action: Action
    field: str
    point: Point
    organisations: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "held_only_by": str(self.holders),
            "organisations": list(self.organisations),
            "role": str(self.role),
            "purpose": str(self.purpose),
            "operation": str(self.action),
            "field": self.field,
            "point": self.point.label(),
        }


@dataclass(frozen=True)
class GridCell:
    """One legacy role × screen of the matrix: how many of its cells the policy denies."""

    role: str
    screen: str
    holders: tuple[str, ...]
    cells: int
    findings: int
    invariants: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "screen": self.screen,
            "holders": list(self.holders),
            "cells": self.cells,
            "findings": self.findings,
            "invariants": list(self.invariants),
        }


@dataclass(frozen=True)
class LegacyReport:
    system: str
    source: str
    cells: int
    findings: tuple[Finding, ...]
    asymmetries: tuple[Asymmetry, ...]
    #: role × screen summary (the heat map), sorted by role then screen
    grid: tuple[GridCell, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.findings

    #: the columns of :meth:`rows` (one CSV line per failing cell)
    CSV_COLUMNS = (
        "organisation",
        "org_kind",
        "retailer_kind",
        "equal_footing",
        "legacy_role",
        "screen",
        "columns",
        "operation",
        "field",
        "relation",
        "is_lrs",
        "has_fit",
        "grant_line",
        "denied_by",
        "invariants",
    )

    def rows(self) -> list[dict[str, str]]:
        """The findings as flat rows (for a CSV report)."""
        out = []
        for f in self.findings:
            c = f.cell
            out.append(
                {
                    "organisation": c.organisation.id,
                    "org_kind": str(c.organisation.kind),
                    "retailer_kind": str(c.organisation.retailer_kind),
                    "equal_footing": f.equal_footing,
                    "legacy_role": c.legacy_role.id,
                    "screen": c.screen.id,
                    "columns": " ".join(c.columns),
                    "operation": str(c.action),
                    "field": c.field,
                    "relation": str(c.point.relation),
                    "is_lrs": str(c.point.is_lrs).lower(),
                    "has_fit": str(c.point.has_fit).lower(),
                    "grant_line": str(c.grant.line),
                    "denied_by": " ".join(f.policy_ids) or "default-deny",
                    "invariants": " ".join(f.invariants),
                }
            )
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "matrix": self.source,
            "ok": self.ok,
            "cells_checked": self.cells,
            "findings": [f.to_json() for f in self.findings],
            "asymmetries": [a.to_json() for a in self.asymmetries],
            "grid": [g.to_json() for g in self.grid],
        }


def points(org: Organisation, grant: Grant, screen: Screen) -> Iterator[Point]:
    """The kinds of supply point a grant lets this organisation's staff reach."""
    relations = (
        _RETAIL_RELATIONS[grant.scope] if org.kind is OrgKind.RETAIL else (Relation.NOT_APPLICABLE,)
    )
    for relation in relations:
        for is_lrs in (False, True) if screen.includes_lrs else (False,):
            for has_fit in (True,) if screen.fit_only else (False, True):
                yield Point(relation, is_lrs, has_fit)


def cells(matrix: Matrix) -> Iterator[Cell]:
    """Every cell the legacy matrix permits."""
    for grant in matrix.grants:
        lrole = matrix.roles[grant.role]
        screen = matrix.screens[grant.screen]
        for oid in lrole.held_by:
            org = matrix.organisations[oid]
            for action in grant.operations:
                for point in points(org, grant, screen):
                    for fg, cols in screen.shown.items():
                        if fg == "fit" and not point.has_fit:
                            continue  # a point without a FIT contract shows no FIT data
                        yield Cell(org, lrole, screen, grant, action, fg, cols, point)


def broken_invariants(request: AccessRequest, field: str) -> tuple[str, ...]:
    """The invariants that releasing ``field`` for ``request`` would break."""
    facts = facts_of(request, field)
    return tuple(
        inv.id for inv in INVARIANTS if inv.holds is not None and not inv.check(facts, True)
    )


def audit(matrix: Matrix, engine: PolicyEngine | None = None) -> LegacyReport:
    """Decide every permitted cell with gridwall's policy; report where it denies."""
    eng = engine if engine is not None else default_engine()
    all_cells = list(cells(matrix))
    # I7 in the legacy system: which retailer kinds hold each retail permission
    holders: dict[tuple[Role, Purpose, Action, str, Point], dict[RetailerKind, set[str]]] = {}
    for c in all_cells:
        if c.organisation.kind is OrgKind.RETAIL:
            by_kind = holders.setdefault(c.equal_footing_key(), {})
            by_kind.setdefault(c.organisation.retailer_kind, set()).add(c.organisation.id)

    def footing(c: Cell) -> str:
        if c.organisation.kind is not OrgKind.RETAIL:
            return ""
        kinds = holders[c.equal_footing_key()]
        if len(kinds) > 1:
            return "both kinds"
        return f"{next(iter(kinds))} only"

    seen: dict[tuple[str, ...], Finding] = {}
    for c in all_cells:
        request = c.request
        decision = eng.decide(request).fields[c.field]
        if decision.allowed:
            continue
        f = Finding(c, decision.policy_ids, broken_invariants(request, c.field), footing(c))
        # a key is unique per cell (duplicate cells are refused when the matrix is read)
        seen.setdefault(f.key(), f)
    asym = [
        Asymmetry(kind, *key[:4], key[4], tuple(sorted(by_kind[kind])))
        for key, by_kind in holders.items()
        if len(by_kind) == 1
        for kind in by_kind
    ]
    asym.sort(
        key=lambda a: (
            str(a.holders),
            str(a.role),
            str(a.purpose),
            str(a.action),
            a.field,
            a.point.label(),
        )
    )
    findings = tuple(seen[k] for k in sorted(seen))
    return LegacyReport(
        system=matrix.system,
        source=matrix.source,
        cells=len(all_cells),
        findings=findings,
        asymmetries=tuple(asym),
        grid=_grid(all_cells, findings),
    )


def _grid(all_cells: list[Cell], findings: tuple[Finding, ...]) -> tuple[GridCell, ...]:
    counts: dict[tuple[str, str], list[int]] = {}
    holders: dict[tuple[str, str], set[str]] = {}
    invariants: dict[tuple[str, str], set[str]] = {}
    for c in all_cells:
        key = (c.legacy_role.id, c.screen.id)
        counts.setdefault(key, [0, 0])[0] += 1
        holders.setdefault(key, set()).add(c.organisation.id)
    for f in findings:
        key = (f.cell.legacy_role.id, f.cell.screen.id)
        counts[key][1] += 1
        invariants.setdefault(key, set()).update(f.invariants)
    return tuple(
        GridCell(
            role,
            screen,
            tuple(sorted(holders[(role, screen)])),
            n,
            bad,
            tuple(sorted(invariants.get((role, screen), ()), key=lambda i: int(i[1:]))),
        )
        for (role, screen), (n, bad) in sorted(counts.items())
    )
