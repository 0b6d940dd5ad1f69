"""``gridwall report …``: retailer transparency statements and provable periodic reports.

Both read the store (never create or migrate it) and the audit log up to its latest signed
checkpoint, which each file embeds. Exit codes: 0 written, 2 bad input or an unusable store
(nothing is written then), 3 the store cannot be reached.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import typer

from gridwall.errors import UsageError

sub = typer.Typer(
    name="report",
    help="Reports anyone can check: retailer statements (アクセス開示), provable figures.",
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
    """Write every file or none (each through a temporary name, renamed at the end)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--out {out}: cannot create the folder ({e.strerror})") from e
    tmps = []
    try:
        for name, text in files.items():
            tmp = out / f".{name}.partial"
            data = text.encode("utf-8") if isinstance(text, str) else text
            with tmp.open("wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            tmps.append((tmp, out / name))
    except OSError as e:
        for tmp, _ in tmps:
            tmp.unlink(missing_ok=True)
        raise UsageError(f"--out {out}: cannot write ({e.strerror})") from e
    for tmp, final in tmps:
        tmp.replace(final)


def _dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=1) + "\n"


@sub.command("statement")
def statement(
    retailer: str = typer.Option(..., "--retailer", help="Retailer code (小売電気事業者)."),
    from_: str = typer.Option(..., "--from", help="First day (JST), YYYY-MM-DD."),
    to: str = typer.Option(..., "--to", help="Last day (JST, included), YYYY-MM-DD."),
    out: Path = typer.Option(..., "--out", help="Folder for the JSON and HTML files."),
    pseudonym_key: Path = typer.Option(None, "--pseudonym-key", help=SECRET_HELP),
    db: str = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """A retailer's transparency statement: every outside access to its customers' data."""
    from gridwall.app.cli.stores import existing_store, read_only_engine
    from gridwall.app.reporting import AuditLogView, read_secret, supply_periods
    from gridwall.interfaces.clock import system_clock
    from gridwall.reports import build_statement, statement_html

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
            secret=secret, generated_at=system_clock(),
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
