"""``gridwall report …``: retailer transparency statements and provable periodic reports.

Both read the store (never create or migrate it) and the audit log up to its latest signed
checkpoint, which each file embeds. Exit codes: 0 written, 2 bad input or an unusable store
(nothing is written then), 3 the store cannot be reached.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import typer

from gridwall.errors import UsageError

sub = typer.Typer(
    name="report",
    help="Reports anyone can check: retailer statements (アクセス開示), provable figures, "
    "disaster after-action reports.",
    no_args_is_help=True,
)

SECRET_HELP = "Operator secret file for NW staff pseudonyms (default: $GRIDWALL_PSEUDONYM_KEY)."
DB_HELP = "SQLAlchemy URL of the store (default: $GRIDWALL_DB or ./gridwall.db)."


def register(app: typer.Typer) -> None:
    """Add the ``report`` sub-command group to the ``gridwall`` app."""
    app.add_typer(sub, name="report")


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option}: expected a date YYYY-MM-DD, got {text!r}") from None


def _write(out: Path, files: Mapping[str, str | bytes]) -> None:
    """Write every file or none (:func:`gridwall.app.reporting.write_files`)."""
    from gridwall.app.reporting import write_files

    write_files(out, files)


def _dump(obj: Any) -> str:
    from gridwall.app.reporting import dump_json

    return dump_json(obj)


@sub.command("statement")
def statement(
    retailer: str = typer.Option(..., "--retailer", help="Retailer code (小売電気事業者)."),
    from_: str = typer.Option(..., "--from", help="First day (JST), YYYY-MM-DD."),
    to: str = typer.Option(..., "--to", help="Last day (JST, included), YYYY-MM-DD."),
    out: Path = typer.Option(..., "--out", help="Folder for the JSON and HTML files."),
    pseudonym_key: Path = typer.Option(None, "--pseudonym-key", help=SECRET_HELP),
    db: str = typer.Option(None, "--db", help=DB_HELP),
    proofs: str = typer.Option(
        "full",
        "--proofs",
        help="full: each row its inclusion proof; compact: one multiproof for all rows "
        "(check with `python -m gridwall.audit.standalone statement-check`).",
    ),
) -> None:
    """A retailer's transparency statement: every outside access to its customers' data."""
    from gridwall.app.cli.stores import existing_store, read_only_engine
    from gridwall.app.reporting import AuditLogView, read_secret, supply_periods
    from gridwall.interfaces.clock import system_clock
    from gridwall.reports import build_statement, statement_html
    from gridwall.reports._statement import PROOF_FORMS

    if proofs not in PROOF_FORMS:
        raise UsageError(f"--proofs: expected one of {', '.join(PROOF_FORMS)}, got {proofs!r}")
    first, last = _day(from_, "--from"), _day(to, "--to")
    secret = read_secret(pseudonym_key)
    url = existing_store(db)
    engine = read_only_engine(url)
    known = _retailers(engine)
    if retailer not in known:
        raise UsageError(f"--retailer: no retailer with code {retailer!r} in the store")
    view = AuditLogView(url)
    try:
        st = build_statement(
            view, supply_periods(engine), retailer, first, last,
            secret=secret, generated_at=system_clock(), proofs=proofs,
        )  # fmt: skip
    finally:
        view.close()
        engine.dispose()
    stem = f"statement-{retailer}-{first.isoformat()}-{last.isoformat()}"
    _write(out, {f"{stem}.json": _dump(st), f"{stem}.html": statement_html(st)})
    print(f"{st['count']} outside accesses; wrote {out / stem}.json and .html", file=sys.stderr)
    print(json.dumps({"json": str(out / f"{stem}.json"), "count": st["count"]}))


def _retailers(engine: Any) -> dict[str, str]:
    from gridwall.gateway import retailer_kinds

    return retailer_kinds(engine)


@sub.command("periodic")
def periodic(
    from_: str = typer.Option(..., "--from", help="First day (JST), YYYY-MM-DD."),
    to: str = typer.Option(..., "--to", help="Last day (JST, included), YYYY-MM-DD."),
    out: Path = typer.Option(
        ..., "--out", help="Folder for report.json, report.html and report.pdf."
    ),
    db: str = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """The periodic report: every figure with its query, provable from an audit export."""
    from gridwall.app.cli.stores import existing_store
    from gridwall.app.reporting import AuditLogView
    from gridwall.interfaces.clock import system_clock
    from gridwall.reports import build_figures_report, report_html, report_pdf

    first, last = _day(from_, "--from"), _day(to, "--to")
    url = existing_store(db)
    view = AuditLogView(url)
    try:
        rep = build_figures_report(view, first, last, generated_at=system_clock())
    finally:
        view.close()
    files: dict[str, str | bytes] = {
        "report.json": _dump(rep),
        "report.html": report_html(rep),
        "report.pdf": report_pdf(rep),
    }
    _write(out, files)
    print(
        f"{len(rep['figures'])} figures over entries 0..{rep['tree_size'] - 1}; "
        f"wrote {out}/report.json, report.html and report.pdf",
        file=sys.stderr,
    )
    print(json.dumps({"json": str(out / "report.json"), "tree_size": rep["tree_size"]}))


@sub.command("disaster")
def disaster(
    declaration: str = typer.Option(
        None, "--declaration", help="Declaration ID: write its after-action report."
    ),
    due: bool = typer.Option(
        False, "--due", help="Write the report of every ended declaration that has none in --out."
    ),
    out: Path = typer.Option(
        None, "--out", help="Folder for disaster-ID.json/.html/.pdf (default $GRIDWALL_REPORT_DIR)."
    ),
    db: str = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """The disaster after-action report (非常災害 事後報告): who accessed what under a
    declaration, inside and outside its area, after its end, and the deletion attestations."""
    from gridwall.app.cli.stores import existing_store, read_only_engine
    from gridwall.app.reporting import due_disasters, report_dir, write_disaster
    from gridwall.interfaces.clock import system_clock

    if (declaration is None) == (not due):
        raise UsageError("--declaration / --due: give exactly one of them")
    folder = report_dir(out)
    if folder is None:
        raise UsageError("--out: no folder given (use --out DIR or $GRIDWALL_REPORT_DIR)")
    url = existing_store(db)
    engine = read_only_engine(url)
    try:
        if declaration is not None:
            path = write_disaster(url, engine, declaration.strip(), folder, system_clock())
            print(f"wrote {path} and its .html and .pdf", file=sys.stderr)
            print(json.dumps({"json": str(path)}))
            return
        done = due_disasters(url, engine, folder, system_clock())
    finally:
        engine.dispose()
    for did, state, what in done:
        print(f"{did}: {state}: {what}", file=sys.stderr)
    print(json.dumps([{"disaster_id": d, "state": s, "detail": w} for d, s, w in done],
                     ensure_ascii=False))  # fmt: skip


@sub.command("statements")
def statements(
    month: str = typer.Option(..., "--month", help="The month (JST), YYYY-MM; it must be over."),
    out: Path = typer.Option(..., "--out", help="Folder for every retailer's files and the index."),
    pseudonym_key: Path = typer.Option(None, "--pseudonym-key", help=SECRET_HELP),
    db: str = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """The monthly statement file: every retailer's statement for a month, one checkpoint."""
    from gridwall.app.cli.stores import existing_store, read_only_engine
    from gridwall.app.reporting import read_secret, write_monthly
    from gridwall.interfaces.clock import system_clock
    from gridwall.reports import parse_month

    parse_month(month)  # a bad --month is named before anything else is read
    secret = read_secret(pseudonym_key)
    url = existing_store(db)
    engine = read_only_engine(url)
    try:
        state, index = write_monthly(url, engine, month, out, secret, system_clock())
    finally:
        engine.dispose()
    n = len(index["retailers"])
    print(
        f"{state}: {n} retailer statements for {index['month']} against checkpoint size "
        f"{index['tree_size']} in {out}",
        file=sys.stderr,
    )
    print(json.dumps({"state": state, "retailers": n, "tree_size": index["tree_size"]}))
