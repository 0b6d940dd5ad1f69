"""``gridwall monitor …``: periodic analysis of access logs (アクセスログの定期分析)."""

from __future__ import annotations

from pathlib import Path

import typer

monitor_app = typer.Typer(
    name="monitor",
    help="Analyse access logs for every incident type; import legacy logs.",
    no_args_is_help=True,
)


@monitor_app.command("scan")
def scan_cmd(
    directory: Path = typer.Argument(..., help="Dataset folder (events + reference tables)."),
    out: Path = typer.Option(Path("alerts.jsonl"), "--out", help="Where to write alerts.jsonl."),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb (default) or spark."),
    state: Path | None = typer.Option(
        None, "--state", help="Incremental state file: analyse only what arrived since."
    ),
    memory_limit: str | None = typer.Option(
        None, "--memory-limit", help="DuckDB memory limit (default 4GB); it spills beyond."
    ),
) -> None:
    """Scan DIR's events against its reference tables and write alerts.jsonl."""
    import sys
    from collections import Counter

    from gridwall.monitor._run import scan, write_alerts

    result = scan(directory, engine=engine, state=state, memory_limit=memory_limit)
    write_alerts(result.alerts, out)
    by_type = Counter(a["incident_type"] for a in result.alerts)
    listing = ", ".join(f"{k}={v}" for k, v in sorted(by_type.items())) or "none"
    print(f"monitor: {len(result.alerts)} alert(s) written to {out} ({listing})", file=sys.stderr)


@monitor_app.command("import-log")
def import_log_cmd(
    log: Path = typer.Argument(..., help="The legacy log file."),
    mapping: Path = typer.Option(..., "--mapping", help="Mapping file (YAML)."),
    out: Path = typer.Option(..., "--out", help="Events file to write (.parquet or .csv)."),
    rejects: Path | None = typer.Option(
        None, "--rejects", help="Where rejected rows go (default: OUT.rejects.jsonl)."
    ),
) -> None:
    """Map a legacy system's log onto the events layout; rejected rows go to a rejects file."""
    import sys

    from gridwall.monitor._mapping import import_log, load_mapping

    m = load_mapping(mapping)
    rej = rejects or out.with_name(out.name + ".rejects.jsonl")
    res = import_log(log, m, out, rej)
    print(
        f"monitor: {res.accepted} row(s) written to {out}, {res.rejected} rejected"
        + (f" (see {rej})" if res.rejected else ""),
        file=sys.stderr,
    )


@monitor_app.command("run")
def run_cmd(
    reference: Path = typer.Option(
        ..., "--reference", help="Dataset folder with the reference tables (HR, accounts …)."
    ),
    work: Path = typer.Option(
        ..., "--work", help="Work folder kept between runs (audit parts, scan state)."
    ),
    legacy: list[Path] = typer.Option(
        [], "--legacy", help="A legacy log already mapped by `monitor import-log` (repeatable)."
    ),
    db: str | None = typer.Option(None, "--db", help="SQLAlchemy URL of the store."),
    audit_db: str | None = typer.Option(
        None, "--audit-db", help="SQLAlchemy URL of the audit log (default: the store's)."
    ),
    memory_limit: str | None = typer.Option(
        None, "--memory-limit", help="DuckDB memory limit (default 4GB); it spills beyond."
    ),
) -> None:
    """Analyse gridwall's audit log since the last run; store the alerts (opened once)."""
    import sys

    from gridwall.app.cli.stores import writable_store
    from gridwall.audit._db import Conn
    from gridwall.interfaces.clock import system_clock
    from gridwall.monitor._periodic import run_periodic
    from gridwall.store import make_engine

    url = writable_store(db)
    audit_url = writable_store(audit_db, option="--audit-db") if audit_db else url
    engine = make_engine(url)
    reader = Conn(audit_url)
    try:
        r = run_periodic(
            engine,
            reader,
            reference,
            work,
            now=system_clock(),
            legacy=legacy,
            memory_limit=memory_limit,
        )
    finally:
        reader.close()
        engine.dispose()
    print(
        f"monitor: run {r.run_id}: audit entries {r.audit_from}…{r.audit_to}, "
        f"{r.legacy_files} legacy file(s); {len(r.opened)} alert(s) opened, "
        f"{len(r.updated)} updated, {r.unchanged} unchanged",
        file=sys.stderr,
    )


@monitor_app.command("rules")
def rules_cmd(
    as_json: bool = typer.Option(False, "--json", help="One JSON object per rule."),
) -> None:
    """List every rule with its incident type, severity and description (ja / en)."""
    import json

    from gridwall.monitor.rules import RULES

    for r in RULES:
        if as_json:
            print(
                json.dumps(
                    {
                        "id": r.id,
                        "incident_type": r.incident_type,
                        "severity": r.severity,
                        "description_ja": r.description_ja,
                        "description_en": r.description_en,
                        "rationale": r.rationale,
                    },
                    ensure_ascii=False,
                )
            )
        else:
            print(f"{r.id:40} {r.incident_type:8} sev {r.severity}  {r.description_ja}")


def register(app: typer.Typer) -> None:
    app.add_typer(monitor_app, name="monitor")
