"""``gridwall legacy audit``: a legacy system's permission matrix against gridwall's policy."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import typer

from gridwall.errors import CheckFailed, UsageError

if TYPE_CHECKING:
    from gridwall.policy.legacy_audit import LegacyReport

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
    html_out: Path | None = typer.Option(
        None, "--html", help="Also write an HTML report (heat map of roles × screens)."
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
        _write_atomically(csv_out, "--csv", lambda fh: _csv(report, fh))
    if html_out is not None:
        _write_atomically(html_out, "--html", lambda fh: fh.write(_html(report)))
    if as_json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        _print(report)
    if not report.ok:
        raise CheckFailed(
            f"legacy audit of {matrix_file}: {len(report.findings)} cell(s) the legacy system "
            "permits and gridwall's policy denies"
        )


def _write_atomically(path: Path, option: str, write: Callable[[TextIO], object]) -> None:
    """All or nothing: a temporary file beside the target, renamed into place."""
    import os
    import tempfile

    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: folder {parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _csv(report: LegacyReport, fh: TextIO) -> None:
    import csv

    w = csv.DictWriter(fh, fieldnames=report.CSV_COLUMNS)
    w.writeheader()
    w.writerows(report.rows())


def _html(report: LegacyReport) -> str:
    """A self-contained page: the roles × screens heat map, then every finding."""
    from html import escape

    roles = sorted({g.role for g in report.grid})
    screens = sorted({g.screen for g in report.grid})
    at = {(g.role, g.screen): g for g in report.grid}
    worst = max((g.findings for g in report.grid), default=0) or 1
    head = "".join(f"<th>{escape(s)}</th>" for s in screens)
    body = []
    for role in roles:
        tds = []
        for screen in screens:
            g = at.get((role, screen))
            if g is None:
                tds.append('<td class="none">—</td>')
                continue
            # white-green when clean, deeper red with the share of the worst cell's findings
            shade = 0.15 + 0.75 * g.findings / worst if g.findings else 0.0
            colour = f"rgba(200,30,30,{shade:.2f})" if g.findings else "#dff0d8"
            inv = f"<br><small>{escape(', '.join(g.invariants))}</small>" if g.invariants else ""
            title = escape(
                f"{g.findings} of {g.cells} cells denied; held by {', '.join(g.holders)}"
            )
            tds.append(
                f'<td style="background:{colour}" title="{title}">{g.findings}/{g.cells}{inv}</td>'
            )
        body.append(f"<tr><th>{escape(role)}</th>{''.join(tds)}</tr>")
    cols = report.CSV_COLUMNS
    rows = "".join(
        "<tr>" + "".join(f"<td>{escape(r[c])}</td>" for c in cols) + "</tr>" for r in report.rows()
    )
    verdict = "clean" if report.ok else f"{len(report.findings)} finding(s)"
    return f"""<!doctype html>
<html lang="ja"><head><meta charset="utf-8">
<title>gridwall legacy audit: {escape(report.system)}</title>
<style>body{{font-family:sans-serif}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #999;padding:4px 8px;text-align:center}} td.none{{color:#999}}</style>
</head><body>
<h1>gridwall legacy audit: {escape(report.system)}</h1>
<p>{escape(report.source)}: {report.cells} permitted cells, {verdict};
{len(report.asymmetries)} retail permission cell(s) held by one kind of retailer only.</p>
<h2>Roles × screens (denied cells / permitted cells)</h2>
<table><tr><th>role ＼ screen</th>{head}</tr>{"".join(body)}</table>
<h2>Findings</h2>
<table><tr>{"".join(f"<th>{c}</th>" for c in cols)}</tr>{rows}</table>
</body></html>
"""


def _print(report: LegacyReport) -> None:
    from rich.console import Console
    from rich.table import Table

    from gridwall.policy.legacy_audit import Finding

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
