"""``gridwall legacy audit``: a legacy system's permission matrix against gridwall's policy."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import typer

from gridwall.errors import CheckFailed, UsageError

legacy_app = typer.Typer(
    help="Legacy systems: audit their permission matrices against gridwall's policy.",
    no_args_is_help=True,
)

_EXAMPLES = ("type_a", "compliant")


def register(app: typer.Typer) -> None:
    app.add_typer(legacy_app, name="legacy")


@legacy_app.command("audit")
def audit_cmd(
    matrix_file: Path = typer.Argument(..., help="The matrix (.yaml, .yml or .json)."),
    policies: Path | None = typer.Option(
        None, "--policies", help="Folder with schema.cedarschema and *.cedar (default: shipped)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    csv_out: Path | None = typer.Option(
        None, "--csv", help="Also write the findings to this CSV file (one line per cell)."
    ),
) -> None:
    """Report every cell the legacy system permits and gridwall's policy denies; exit 1 if any."""
    from gridwall.policy import PolicyEngine, default_engine
    from gridwall.policy.legacy_audit import audit
    from gridwall.policy.legacy_matrix import load_matrix

    if policies is not None and not policies.is_dir():
        raise UsageError(f"--policies {policies}: not a folder")
    matrix = load_matrix(matrix_file)
    engine = default_engine() if policies is None else PolicyEngine.from_directory(policies)
    report = audit(matrix, engine)
    if csv_out is not None:
        _write_csv(report, csv_out)
    if as_json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        _print(report)
    if not report.ok:
        raise CheckFailed(
            f"legacy audit of {matrix_file}: {len(report.findings)} cell(s) the legacy system "
            "permits and gridwall's policy denies"
        )


def _write_csv(report: object, path: Path) -> None:
    """All or nothing: a temporary file beside the target, renamed into place."""
    import csv
    import os
    import tempfile

    from gridwall.policy.legacy_audit import LegacyReport

    assert isinstance(report, LegacyReport)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"--csv {path}: folder {parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=LegacyReport.CSV_COLUMNS)
            w.writeheader()
            w.writerows(report.rows())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _print(report: object) -> None:
    from rich.console import Console
    from rich.table import Table

    from gridwall.policy.legacy_audit import Finding, LegacyReport

    assert isinstance(report, LegacyReport)
    out = Console()
    # one line per organisation × role × screen × operation × field; the kinds of point
    # where it fails are listed together (the JSON has one entry per cell)
    groups: dict[tuple[str, ...], list[Finding]] = {}
    for f in report.findings:
        groups.setdefault(f.key()[:5], []).append(f)
    t = Table(title=f"gridwall legacy audit: {report.system}")
    for col in ("holder", "role × screen × operation", "field", "points", "why"):
        t.add_column(col, overflow="fold")
    for fs in groups.values():
        c = fs[0].cell
        holder = f"{c.organisation.name} [{c.organisation.kind}"
        if c.organisation.retailer_kind.value != "none":
            holder += f", {c.organisation.retailer_kind}"
        holder += "]"
        if fs[0].equal_footing.endswith(" only"):
            holder += f"\n[yellow]{fs[0].equal_footing}[/yellow]"
        # the FIT status of a point rarely matters: show each relation (and LRS) once
        pts: dict[str, None] = {}
        for f in fs:
            p = f.cell.point
            pts[f"{p.relation}{'+lrs' if p.is_lrs else ''}"] = None
        invariants = sorted({i for f in fs for i in f.invariants}, key=lambda i: int(i[1:]))
        why = ", ".join(fs[0].policy_ids) or "default deny"
        if invariants:
            why += f"\n[red]breaks {', '.join(invariants)}[/red]"
        t.add_row(
            holder,
            f"{c.legacy_role.id} × {c.screen.id} × {c.action}",
            f"{c.field}\n({', '.join(c.columns)})",
            ", ".join(pts),
            why,
        )
    if report.findings:
        out.print(t)
    style = "red" if report.findings else "green"
    out.print(
        f"[{style}]{len(report.findings)} finding(s)[/{style}] in {report.cells} permitted "
        f"cells of {report.source}"
    )
    if report.asymmetries:
        kinds = sorted({str(a.holders) for a in report.asymmetries})
        out.print(
            f"[yellow]equal footing (I7):[/yellow] {len(report.asymmetries)} retail "
            f"permission cell(s) held only by {' / '.join(kinds)} retailers (see --json)"
        )


@legacy_app.command("example")
def example_cmd(
    name: str = typer.Argument("type_a", help=f"One of: {', '.join(_EXAMPLES)}."),
) -> None:
    """Print a shipped example matrix (a starting point for your own)."""
    if name not in _EXAMPLES:
        raise UsageError(f"example {name!r}: expected one of {', '.join(_EXAMPLES)}")
    pkg = resources.files("gridwall.policy.legacy_examples")
    print((pkg / f"{name}.yaml").read_text(encoding="utf-8"), end="")
