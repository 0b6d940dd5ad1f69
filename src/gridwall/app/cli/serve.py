"""``gridwall serve``: the composed application over HTTP (uvicorn).

Heavy imports (FastAPI, uvicorn, SQLAlchemy models) stay inside the function so that
``gridwall --help`` is fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer


def serve(
    db: str | None = typer.Option(
        None, "--db", help="SQLAlchemy URL (default $GRIDWALL_DB or ./gridwall.db)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8765, "--port", help="Port."),
    audit_key: Path | None = typer.Option(
        None,
        "--audit-key",
        help="Audit signing key file (default $GRIDWALL_AUDIT_KEY); with it the server "
        "signs a checkpoint every --checkpoint-every seconds and on shutdown.",
    ),
    audit_db: str | None = typer.Option(
        None, "--audit-db", help="SQLAlchemy URL of the audit log (default: the store's)."
    ),
    checkpoint_every: float = typer.Option(
        300.0, "--checkpoint-every", help="Seconds between signed checkpoints (with a key)."
    ),
    trusted_proxies: str | None = typer.Option(
        None,
        "--trusted-proxies",
        help="Reverse proxies (IPs/CIDRs, comma-separated) whose X-Forwarded-For names the "
        "client (default $GRIDWALL_TRUSTED_PROXIES; none: the socket's peer).",
    ),
    canary_every: float = typer.Option(
        3600.0,
        "--canary-every",
        help="Seconds between canary runs through this server (0: none; docs/security.md).",
    ),
    canary_dir: Path = typer.Option(
        Path("gridwall-canary"), "--canary-dir", help="Canary credentials and alert outbox."
    ),
    monitor_every: str = typer.Option(
        "1d",
        "--monitor-every",
        help="Interval of the monitor schedule (30s, 15m, 6h, 1d; 'off': none): the "
        "incremental analysis of the served audit log (with --monitor-reference), cases "
        "opened from its alerts and the deadline clock (docs/monitoring.md).",
    ),
    monitor_reference: Path | None = typer.Option(
        None,
        "--monitor-reference",
        help="The operator's reference tables (HR, accounts, terminals …; a dataset folder) "
        "the analysis joins (default $GRIDWALL_MONITOR_REFERENCE; none: only cases and "
        "deadlines run).",
    ),
    monitor_work: Path = typer.Option(
        Path("gridwall-monitor"),
        "--monitor-work",
        help="The analysis's work folder kept between runs (as `monitor run --work`).",
    ),
    first_line_deadline: str = typer.Option(
        "5d", "--first-line-deadline", help="A case's first line deadline (e.g. 5d, 12h)."
    ),
    second_line_deadline: str = typer.Option(
        "10d", "--second-line-deadline", help="A case's second line deadline (e.g. 10d)."
    ),
    witness_url: list[str] = typer.Option(
        None,
        "--witness-url",
        help="Send each new signed checkpoint to this witness (http(s) URL, or a witness "
        "state file) for its cosignature; repeatable. Needs --witness-key and --audit-key.",
    ),
    witness_key: list[str] = typer.Option(
        None, "--witness-key", help="A witness's public key (cosignature/v1 vkey, text or file)."
    ),
    policies: Path | None = typer.Option(
        None,
        "--policies",
        help="Serve the Cedar policy folder DIR (schema.cedarschema + *.cedar) instead of the "
        "shipped one; run `gridwall policy check --policies DIR` first. The canary runs "
        "catch a set that loads but decides wrong (docs/operations.md).",
    ),
    pseudonym_key: Path | None = typer.Option(
        None,
        "--pseudonym-key",
        help="Operator secret for NW staff pseudonyms in GET /v1/reports/statement "
        "(default $GRIDWALL_PSEUDONYM_KEY; none: statements are refused 503).",
    ),
    report_dir: Path | None = typer.Option(
        None,
        "--report-dir",
        help="Write disaster after-action reports here after each signed checkpoint, and "
        "at once when a declaration is ended through the API (default "
        "$GRIDWALL_REPORT_DIR; none: run `gridwall report disaster --due` from cron).",
    ),
) -> None:
    """Serve the whole gridwall API (gateway, identity, grants, lookup) over one store."""
    from gridwall.app.cli.stores import redact, writable_store
    from gridwall.errors import UsageError

    if not 1 <= port <= 65535:
        raise UsageError("--port: 1..65535")
    if checkpoint_every <= 0:
        raise UsageError("--checkpoint-every: must be > 0 seconds")
    if canary_every < 0:
        raise UsageError("--canary-every: must be >= 0 seconds (0: no canary runs)")
    import os
    from datetime import timedelta

    from gridwall.app.monitoring import parse_interval
    from gridwall.cases import Deadlines

    monitor_seconds = parse_interval(monitor_every, "--monitor-every")
    first = parse_interval(first_line_deadline, "--first-line-deadline", allow_off=False)
    second = parse_interval(second_line_deadline, "--second-line-deadline", allow_off=False)
    assert first is not None and second is not None  # allow_off=False never answers None
    deadlines = Deadlines(timedelta(seconds=first), timedelta(seconds=second))
    if monitor_reference is None and os.environ.get("GRIDWALL_MONITOR_REFERENCE"):
        monitor_reference = Path(os.environ["GRIDWALL_MONITOR_REFERENCE"])
    if monitor_reference is not None and not monitor_reference.is_dir():
        raise UsageError(f"--monitor-reference: not a folder: {monitor_reference}")
    if policies is not None:  # a folder that does not load is refused before anything opens
        from gridwall.errors import InputError
        from gridwall.policy import PolicyEngine

        try:
            PolicyEngine.from_directory(policies)
        except InputError as e:
            raise UsageError(f"--policies {policies}: {e}") from None
    if audit_db is not None:
        writable_store(audit_db, option="--audit-db")
    url = writable_store(db)  # created or migrated; a bad URL or folder is refused (exit 2)

    import uvicorn

    from gridwall.app.reporting import report_dir as resolve_report_dir
    from gridwall.app.server import create_server_app

    print(f"gridwall serve: opening {redact(url)} …", file=sys.stderr)
    app = create_server_app(
        url,
        audit_key=audit_key,
        audit_url=audit_db,
        checkpoint_seconds=checkpoint_every,
        trusted_proxies=trusted_proxies,
        witnesses=list(witness_url or []),
        witness_keys=list(witness_key or []),
        alerts_path=canary_dir / "alerts.jsonl",
        pseudonym_key=pseudonym_key,
        report_dir=resolve_report_dir(report_dir),
        policy_dir=policies,
        case_deadlines=deadlines,
    )
    server = app.state.server
    server.start()
    monitor = None
    if monitor_seconds is not None:
        from gridwall.app.monitoring import MonitorSchedule, MonitorTicker
        from gridwall.audit._db import Conn

        assert server.cases is not None  # the server's one case desk
        server.monitor.interval, server.monitor.reference = monitor_seconds, monitor_reference
        ticker = MonitorTicker(
            server.engine,
            server.cases,
            lambda: Conn(audit_db or url),
            reference=monitor_reference,
            work=monitor_work,
            clock=server.cases.clock,
        )
        monitor = MonitorSchedule(
            ticker, server.monitor, monitor_seconds, first_after=min(5.0, monitor_seconds)
        )
        monitor.start()
    schedule = None
    if canary_every > 0:
        from datetime import UTC, datetime

        import httpx

        from gridwall.app import canary

        canary.setup(server.engine, server.identity, canary_dir, datetime.now(UTC))
        server.canary.interval = canary_every
        local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        base = f"http://[{local}]:{port}" if ":" in local else f"http://{local}:{port}"

        def runner() -> canary.Runner:
            client = httpx.Client(base_url=base, timeout=30.0)
            return canary.Runner(client, canary.Credentials.read(canary_dir))

        # the first run within one interval of start (at most 5 s after it): a bad policy
        # deploy is caught by the first canary run after the restart that loaded it
        schedule = canary.Schedule(
            runner,
            server.canary,
            canary.AlertOutbox(canary_dir / "alerts.jsonl"),
            canary_every,
            first_after=min(5.0, canary_every),
        )
        schedule.start()
    signing = (
        f"every {checkpoint_every:.0f} s" if server.signer else "by `gridwall audit checkpoint`"
    )
    print(
        f"gridwall serve: http://{host}:{port}/docs (OpenAPI); audit checkpoints: {signing}",
        file=sys.stderr,
    )
    import signal

    def _terminate(signum: int, frame: object) -> None:
        # uvicorn shuts down gracefully on SIGTERM and then re-raises the signal with the
        # handler it found installed; Python's default would kill the process before the
        # `finally` below signs the final checkpoint. This one unwinds through it instead.
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)
    try:
        # the app resolves client addresses itself (trusted proxies only) and names no stack
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="warning",
            proxy_headers=False,
            server_header=False,
        )
    finally:
        if schedule is not None:
            schedule.stop()
        if monitor is not None:
            monitor.stop()
        server.close()


def demo(
    supply_points: int = typer.Option(50_000, "--supply-points", help="Size of the operator."),
    port: int = typer.Option(8765, "--port", help="Port on 127.0.0.1."),
    directory: Path = typer.Option(
        Path("gridwall-demo"), "--dir", help="Folder for the dataset, store, audit log, keys."
    ),
    seed: int = typer.Option(2026, "--seed", help="Synthetic operator seed."),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="Start the HTTP server."),
) -> None:
    """Build a synthetic operator in SQLite, create real logins for three kinds of user, and
    serve the whole system on 127.0.0.1."""
    from gridwall.app.demo import run_demo
    from gridwall.errors import UsageError

    if supply_points < 100:
        raise UsageError("--supply-points: at least 100")
    if not 1 <= port <= 65535:
        raise UsageError("--port: 1..65535")
    run_demo(directory, supply_points=supply_points, port=port, seed=seed, serve=serve)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("demo")(demo)
