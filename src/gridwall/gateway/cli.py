"""Commands of the gateway: ``gridwall load`` and ``gridwall demo``.

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
    """Load a dataset's reference tables into the store (all or nothing; idempotent)."""
    from gridwall.config import database_url
    from gridwall.gateway._loader import load_dataset
    from gridwall.store import make_engine, upgrade

    url = database_url(db)
    engine = make_engine(url)
    try:
        upgrade(url, engine)
        report = load_dataset(directory, engine, progress=not quiet)
    finally:
        engine.dispose()
    for name, n in report.read.items():
        changed = report.changed.get(name)
        extra = f", {changed} inserted/updated" if changed is not None else ""
        print(f"gridwall load: {name}: {n} rows{extra}", file=sys.stderr)


def demo(
    supply_points: int = typer.Option(50_000, "--supply-points", help="Size of the operator."),
    port: int = typer.Option(8765, "--port", help="Port on 127.0.0.1."),
    directory: Path = typer.Option(
        Path("gridwall-demo"), "--dir", help="Folder for the dataset, store and audit log."
    ),
    seed: int = typer.Option(2026, "--seed", help="Synthetic operator seed."),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="Start the HTTP server."),
) -> None:
    """Build a small synthetic operator in SQLite and serve it on 127.0.0.1."""
    from gridwall.errors import UsageError
    from gridwall.gateway._demo import build_demo, describe

    if supply_points < 100:
        raise UsageError("--supply-points: at least 100")
    if not 1 <= port <= 65535:
        raise UsageError("--port: 1..65535")
    d = build_demo(directory, supply_points=supply_points, seed=seed)
    try:
        print(describe(d, port))
        sys.stdout.flush()
        if serve:
            import uvicorn

            from gridwall.gateway import create_app

            uvicorn.run(create_app(d.gateway), host="127.0.0.1", port=port, log_level="warning")
    finally:
        d.close()


def register(app: typer.Typer) -> None:
    app.command("load")(load)
    app.command("demo")(demo)
