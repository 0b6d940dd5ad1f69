"""Commands of the gateway: ``gridwall load`` (``gridwall demo`` lives in ``gridwall.app``).

Heavy imports (sqlalchemy models, fastapi, uvicorn) stay inside the functions so
that ``gridwall --help`` is fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer


def load(
    directory: Path = typer.Argument(..., help="Dataset folder (shared dataset layout)."),
    db: str | None = typer.Option(
        None, "--db", help="SQLAlchemy URL (default $GRIDWALL_DB or ./gridwall.db)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Load a dataset's reference tables into the store (all or nothing; idempotent) and
    bring the lookup's index up to date in the same transaction."""
    from gridwall.app.cli.stores import writable_store
    from gridwall.app.wiring import load_and_index
    from gridwall.store import make_engine

    url = writable_store(db)  # URL and folder checked, schema migrated (exit 2 / 3 otherwise)
    engine = make_engine(url)
    try:
        report, index = load_and_index(directory, engine, progress=not quiet)
    finally:
        engine.dispose()
    for name, n in report.read.items():
        changed = report.changed.get(name)
        extra = f", {changed} inserted/updated" if changed is not None else ""
        print(f"gridwall load: {name}: {n} rows{extra}", file=sys.stderr)
    if index.refresh is not None:
        r = index.refresh
        print(
            f"gridwall load: lookup index refreshed: {r.inserted} added, {r.updated} updated, "
            f"{r.removed} removed, {r.unchanged} unchanged of {report.changed_points} changed "
            f"supply points in {r.seconds:.2f} s",
            file=sys.stderr,
        )
    elif index.build is not None:
        b = index.build
        why = {"missing": "there was none", "stale": "it was stale", "large": "large change"}
        print(
            f"gridwall load: lookup index built ({why.get(index.reason, index.reason)}): "
            f"{b.points:,} points in {b.places:,} places in {b.seconds:.1f} s",
            file=sys.stderr,
        )


def register(app: typer.Typer) -> None:
    app.command("load")(load)
    # ``gridwall demo`` is the composed system's (gridwall.app.cli.serve): real logins, every route
