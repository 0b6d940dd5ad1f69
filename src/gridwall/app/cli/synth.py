"""``gridwall synth DIR --supply-points N --days D --seed S [--incidents]``."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer

from gridwall.errors import UsageError


def synth(
    directory: Path = typer.Argument(..., metavar="DIR", help="Output folder (new or empty)."),
    supply_points: int = typer.Option(..., "--supply-points", help="Number of supply points."),
    days: int = typer.Option(..., "--days", help="Days of access events."),
    seed: int = typer.Option(..., "--seed", help="Random seed (same seed → same bytes)."),
    area: str = typer.Option("06", "--area", help="Service area code 01–10 (06 = 関西)."),
    start: str = typer.Option("2026-04-01", "--start", help="First day of events, YYYY-MM-DD."),
    incidents: bool = typer.Option(
        False, "--incidents", help="Inject misuse of every incident type; write incidents.jsonl."
    ),
    fmt: str = typer.Option("csv", "--format", help="csv or parquet."),
    events_fmt: str | None = typer.Option(
        None, "--events-format", help="csv, parquet or jsonl for events (default: --format)."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing dataset in DIR."),
    independents: int = typer.Option(40, "--independents", help="Number of 新電力."),
    events_per_person_day: float = typer.Option(
        30.0, "--events-per-person-day", help="Mean events per working day of a 託送 operator."
    ),
) -> None:
    """Write a synthetic operator dataset (dataset.md layout) to DIR."""
    try:
        start_day = date.fromisoformat(start)
    except ValueError:
        raise UsageError(f"--start: not a date (YYYY-MM-DD): {start!r}") from None
    import time

    from gridwall.synth import generate

    t0 = time.perf_counter()
    w = generate(
        directory,
        supply_points,
        days,
        seed,
        area,
        incidents,
        start=start_day,
        fmt=fmt,
        events_fmt=events_fmt,
        force=force,
        independents=independents,
        events_per_person_day=events_per_person_day,
        progress=True,
    )
    typer.echo(
        f"synth: wrote {w.n_points} supply points, {len(w.retailers)} retailers "
        f"(affiliated {w.affiliated_code}), {len({p.person_id for p in w.persons})} persons, "
        f"{days} days of events to {directory} in {time.perf_counter() - t0:.1f} s",
        err=True,
    )


def register(app: typer.Typer) -> None:
    app.command("synth")(synth)
