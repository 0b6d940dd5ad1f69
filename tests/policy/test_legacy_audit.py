"""The legacy permission-matrix audit: findings come from gridwall's own Cedar policy.

Each test covers a class: every retailer kind and every non-public field for the
type A grant, every shipped example, every kind of point, and any order of rows.
"""

from __future__ import annotations

import csv
import itertools
import json
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gridwall.interfaces.facts import NON_PUBLIC, Relation, RetailerKind
from gridwall.policy import PolicyEngine
from gridwall.policy.legacy_audit import LegacyReport, audit
from gridwall.policy.legacy_matrix import Matrix, load_matrix, parse_matrix

from .test_engine import CEDAR

EXAMPLES = Path(str(resources.files("gridwall.policy.legacy_examples")))
TYPE_A = EXAMPLES / "type_a.yaml"
COMPLIANT = EXAMPLES / "compliant.yaml"

#: The customer fields a retailer's own-customer screen may show (permit-retail-own-customer).
CUSTOMER_FIELDS = sorted(NON_PUBLIC - {"lrs", "fit"})


def matrix_doc(
    retailer_kind: str,
    fields: list[str],
    scope: str,
    *,
    includes_lrs: bool = False,
) -> dict[str, Any]:
    """One retailer whose sales role sees a customer table with ``fields``."""
    return {
        "system": "shared customer table",
        "organisations": [
            {"id": "r", "kind": "retail", "retailer_kind": retailer_kind},
        ],
        "roles": [{"id": "sales", "role": "sales", "purpose": "sales", "held_by": ["r"]}],
        "screens": [
            {
                "id": "customers",
                "columns": {f"col_{f}": f for f in fields},
                "includes_lrs": includes_lrs,
            }
        ],
        "grants": [
            {"role": "sales", "screen": "customers", "operations": ["view"], "scope": scope}
        ],
    }


def run_doc(doc: dict[str, Any], engine: PolicyEngine | None = None) -> LegacyReport:
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    return audit(parse_matrix(text, "test.yaml"), engine)


@pytest.mark.parametrize("retailer_kind", ["affiliated", "independent"])
@pytest.mark.parametrize("field", CUSTOMER_FIELDS)
def test_unfiltered_customer_table_is_an_i1_finding(retailer_kind: str, field: str) -> None:
    report = run_doc(matrix_doc(retailer_kind, [field], "all"))
    assert not report.ok
    bad = {f.cell.point.relation for f in report.findings}
    # the points it does not supply, never its own
    assert bad == {Relation.OTHER_RETAILER, Relation.NO_RETAILER}
    for f in report.findings:
        assert "I1" in f.invariants
        assert "forbid-other-retailers-customers" in f.policy_ids
        assert f.equal_footing == f"{retailer_kind} only"
        assert f.cell.organisation.retailer_kind == RetailerKind(retailer_kind)


@pytest.mark.parametrize("retailer_kind", ["affiliated", "independent"])
def test_own_customer_filter_is_clean(retailer_kind: str) -> None:
    report = run_doc(matrix_doc(retailer_kind, [*CUSTOMER_FIELDS, "equipment"], "own"))
    assert report.ok and report.cells == len([*CUSTOMER_FIELDS, "equipment"]) * 2


def test_both_kinds_are_judged_alike() -> None:
    """I7 at the level of the audit: the retailer kind changes nothing but the label."""

    def shape(kind: str) -> set[tuple[str, ...]]:
        report = run_doc(matrix_doc(kind, CUSTOMER_FIELDS, "all", includes_lrs=True))
        return {(*f.key(), *f.policy_ids, *f.invariants) for f in report.findings}

    assert shape("affiliated") == shape("independent")


def test_lrs_points_on_a_retail_screen_break_i3() -> None:
    report = run_doc(matrix_doc("affiliated", ["contract_name"], "own", includes_lrs=True))
    assert {f.cell.point.is_lrs for f in report.findings} == {True}
    assert all("I3" in f.invariants for f in report.findings)


def test_equal_footing_flags_permissions_one_kind_holds() -> None:
    doc = matrix_doc("affiliated", ["contract_name"], "all")
    doc["organisations"].append({"id": "i", "kind": "retail", "retailer_kind": "independent"})
    doc["roles"].append(
        {"id": "window", "role": "call_center", "purpose": "customer_service", "held_by": ["i"]}
    )
    doc["grants"].append(
        {"role": "window", "screen": "customers", "operations": ["view"], "scope": "all"}
    )
    report = run_doc(doc)
    footing = {(f.cell.organisation.id, f.equal_footing) for f in report.findings}
    # the two hold different gridwall roles, so neither permission is shared
    assert footing == {("r", "affiliated only"), ("i", "independent only")}
    doc["roles"][0]["held_by"] = ["r", "i"]
    report = run_doc(doc)
    both = {f.equal_footing for f in report.findings if f.cell.legacy_role.id == "sales"}
    assert both == {"both kinds"}


def _expected_type_a() -> set[tuple[tuple[str, ...], tuple[str, ...]]]:
    """The violations type_a.yaml was built with (see the comment at its top)."""
    out: set[tuple[tuple[str, ...], tuple[str, ...]]] = set()
    v1 = {"contract_name": ("I1",), "address": ("I1",), "usage": ("I1", "I9"), "equipment": ()}
    for (fg, inv), op, rel, fit in itertools.product(
        v1.items(), ("view", "search"), ("other_retailer", "no_retailer"), ("", "+fit")
    ):
        out.add((("group_retail", "営業担当", "需要家照会(小売用)", op, fg, rel + fit), inv))
    for fg, fit in itertools.product(
        ("contract_name", "address", "retailer", "contract"), ("", "+fit")
    ):
        key = ("group_retail", "営業担当", "契約一覧帳票", "export", fg, "own_customer" + fit)
        out.add((key, ("I8",)))
    return out


def test_type_a_example_yields_exactly_its_violations() -> None:
    report = audit(load_matrix(TYPE_A))
    got = {(f.key(), f.invariants) for f in report.findings}
    assert got == _expected_type_a()
    assert {f.equal_footing for f in report.findings} == {"affiliated only"}
    defaults = {f.cell.field for f in report.findings if not f.policy_ids}
    assert defaults == {"equipment"}  # public, but no permit releases other points' meters


def test_compliant_example_is_clean() -> None:
    report = audit(load_matrix(COMPLIANT))
    assert report.ok and report.cells > 0 and report.asymmetries == ()


def test_nw_auditor_and_contractor_cells() -> None:
    doc: dict[str, Any] = {
        "system": "s",
        "organisations": [
            {"id": "nw", "kind": "nw"},
            {"id": "v", "kind": "contractor", "agreement": ["equipment"]},
        ],
        "roles": [
            {"id": "ops", "role": "takuso_operator", "purpose": "takuso", "held_by": ["nw"]},
            {"id": "audit", "role": "auditor", "purpose": "audit", "held_by": ["nw"]},
            {
                "id": "maint",
                "role": "it_maintenance",
                "purpose": "system_maintenance",
                "held_by": ["v"],
            },
        ],
        "screens": [{"id": "all", "columns": {"name": "contract_name", "meter": "equipment"}}],
        "grants": [
            {"role": r, "screen": "all", "operations": ["view"]} for r in ("ops", "audit", "maint")
        ],
    }
    report = run_doc(doc)
    by_role = {
        (f.cell.legacy_role.id, f.cell.field, f.cell.point.is_lrs): f for f in report.findings
    }
    assert not any(r == "ops" for r, _, _ in by_role)  # 託送 staff may see it all
    assert "I12" in by_role[("audit", "contract_name", False)].invariants
    assert not any(k[:2] == ("maint", "equipment") for k in by_role)  # its agreement names it
    assert by_role[("maint", "contract_name", False)].policy_ids == ()  # default deny
    assert "I3" in by_role[("maint", "contract_name", True)].invariants  # an LRS point


def test_audit_asks_the_policy_it_is_given(tmp_path: Path) -> None:
    """Remove the own-customer permit: the compliant example must now fail."""
    for f in CEDAR.iterdir():
        if not f.is_file():
            continue
        text = f.read_text()
        if f.name == "permits.cedar":
            start = text.index('@id("permit-retail-own-customer")')
            text = text[:start] + text[text.index("};", start) + 2 :]
        (tmp_path / f.name).write_text(text)
    report = audit(load_matrix(COMPLIANT), PolicyEngine.from_directory(tmp_path))
    assert report.findings
    assert {f.cell.organisation.kind.value for f in report.findings} == {"retail"}
    assert all(f.policy_ids == () for f in report.findings)


def _normal(report: LegacyReport) -> tuple[Any, ...]:
    """A report without file positions (which move when rows move), in report order:
    the order of findings must not depend on the order of rows either."""
    findings = [(f.key(), f.policy_ids, f.invariants, f.equal_footing) for f in report.findings]
    return report.cells, findings, [a.to_json() for a in report.asymmetries]


_TYPE_A_DOC = yaml.safe_load(TYPE_A.read_text(encoding="utf-8"))
_TYPE_A_NORMAL = _normal(audit(load_matrix(TYPE_A)))


@st.composite
def permuted(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(json.dumps(_TYPE_A_DOC))
    for key in ("organisations", "roles", "screens", "grants"):
        doc[key] = draw(st.permutations(doc[key]))
    for role in doc["roles"]:
        role["held_by"] = draw(st.permutations(role["held_by"]))
    for grant in doc["grants"]:
        grant["operations"] = draw(st.permutations(grant["operations"]))
    for screen in doc["screens"]:
        screen["columns"] = dict(draw(st.permutations(list(screen["columns"].items()))))
    return doc


def _as_csv(doc: dict[str, Any], folder: Path) -> Matrix:
    """The document with its grants moved to a CSV sheet beside it."""
    with (folder / "g.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["scope", "operations", "screen", "role"])
        for g in doc["grants"]:
            w.writerow([g.get("scope", ""), " ".join(g["operations"]), g["screen"], g["role"]])
    rest = {k: v for k, v in doc.items() if k != "grants"} | {"grants_csv": "g.csv"}
    path = folder / "m.yaml"
    path.write_text(yaml.safe_dump(rest, allow_unicode=True), encoding="utf-8")
    return load_matrix(path)


@settings(max_examples=40, deadline=None)
@given(doc=permuted(), form=st.sampled_from(["yaml", "json", "csv"]))
def test_permuting_rows_does_not_change_findings(doc: dict[str, Any], form: str) -> None:
    if form == "csv":
        with tempfile.TemporaryDirectory() as d:
            matrix = _as_csv(doc, Path(d))
    elif form == "json":
        matrix = parse_matrix(json.dumps(doc, ensure_ascii=False, indent=2), "permuted.json")
    else:
        text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
        matrix = parse_matrix(text, "permuted.yaml")
    assert _normal(audit(matrix)) == _TYPE_A_NORMAL


def test_grid_counts_every_role_screen_pair() -> None:
    report = audit(load_matrix(TYPE_A))
    grid = {(g.role, g.screen): (g.cells, g.findings, g.invariants) for g in report.grid}
    assert sum(c for c, _, _ in grid.values()) == report.cells
    assert sum(f for _, f, _ in grid.values()) == len(report.findings)
    assert grid[("営業担当", "需要家照会(小売用)")] == (48, 32, ("I1", "I9"))
    assert grid[("営業担当", "契約一覧帳票")] == (8, 8, ("I8",))
    assert all(f == 0 for (role, _), (_, f, _) in grid.items() if role != "営業担当")


def test_untrained_role_breaks_i10_on_non_public_fields_only() -> None:
    doc: dict[str, Any] = {
        "system": "s",
        "organisations": [{"id": "nw", "kind": "nw"}],
        "roles": [
            {
                "id": "new",
                "role": "call_center",
                "purpose": "takuso",
                "held_by": ["nw"],
                "trained": False,
            },
        ],
        "screens": [{"id": "all", "columns": {f: f for f in [*CUSTOMER_FIELDS, "equipment"]}}],
        "grants": [{"role": "new", "screen": "all", "operations": ["view"]}],
    }
    report = run_doc(doc)
    assert {f.cell.field for f in report.findings} == set(CUSTOMER_FIELDS)
    assert all(
        "I10" in f.invariants and "forbid-untrained" in f.policy_ids for f in report.findings
    )
    doc["roles"][0]["trained"] = True
    assert run_doc(doc).ok
