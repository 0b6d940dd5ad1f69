"""``gridwall canary setup`` and ``gridwall canary run``: the canary requests of
:mod:`gridwall.app.canary` (issue 17 item 2)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

canary_app = typer.Typer(help="Canary requests that prove the walls hold (docs/security.md).")

DIR_HELP = "Folder of the canary principals' credentials (canary.json, mode 600)."


@canary_app.command("setup")
def setup(
    db: str | None = typer.Option(
        None, "--db", help="SQLAlchemy URL (default $GRIDWALL_DB or ./gridwall.db)."
    ),
    directory: Path = typer.Option(Path("gridwall-canary"), "--dir", help=DIR_HELP),
) -> None:
    """Create the canary points, organisations, agreement, principals and terminals
    (idempotent; credentials already in --dir are kept)."""
    from datetime import UTC, datetime

    from gridwall.app.canary import setup as do_setup
    from gridwall.app.cli.stores import writable_store
    from gridwall.app.wiring import identity_service
    from gridwall.store import make_engine

    url = writable_store(db)
    engine = make_engine(url)
    try:
        for line in do_setup(engine, identity_service(engine, None), directory, datetime.now(UTC)):
            print(f"canary setup: {line}", file=sys.stderr)
    finally:
        engine.dispose()


@canary_app.command("run")
def run(
    url: str = typer.Option(..., "--url", help="Base URL of the served gridwall."),
    directory: Path = typer.Option(Path("gridwall-canary"), "--dir", help=DIR_HELP),
    alerts: Path | None = typer.Option(
        None, "--alerts", help="Critical-alert outbox (JSON Lines; default DIR/alerts.jsonl)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the run as JSON."),
) -> None:
    """Send every canary request through --url; exit 1 (and a critical alert) if any answer
    is not the expected one."""
    import httpx

    from gridwall.app.canary import AlertOutbox, Credentials, Runner, run_and_report
    from gridwall.errors import CheckFailed, UsageError

    if not url.startswith(("http://", "https://")):
        raise UsageError(f"--url {url!r}: must be an http:// or https:// URL")
    creds = Credentials.read(directory)
    with httpx.Client(base_url=url, timeout=30.0) as client:
        report = run_and_report(
            Runner(client, creds), None, AlertOutbox(alerts or directory / "alerts.jsonl")
        )
    if as_json:
        print(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        for r in report.results:
            print(f"{'ok  ' if r.ok else 'FAIL'} {r.name}: HTTP {r.status}"
                  f"{'' if r.ok else ' — ' + str(r.problem)}")  # fmt: skip
    if not report.ok:
        raise CheckFailed(f"canary run failed: {report.error or len(report.failures)} problem(s)")


def register(app: typer.Typer) -> None:
    app.add_typer(canary_app, name="canary")
