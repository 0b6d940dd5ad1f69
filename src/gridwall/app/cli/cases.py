"""``gridwall case …``: the case workflow at the server console (docs/cases.md).

Every step signs ``--by`` in (password + TOTP of an existing account, the console counting
as an NW terminal of the operator, as for grant management), is decided by the case
policies (Cedar, I16) and writes one audit event with its case entry; a refusal names its
reason (exit 1) and is audited; a step that does not fit the case names the case, entry
and field (exit 2) and writes no entry. ``case open`` turns the monitor's stored alerts
into cases (routed from HR data valid on each alert's date).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import typer

from gridwall.errors import AccessDenied, UsageError

case_app = typer.Typer(
    help="三線防御: cases from alerts to closure (first line, compliance, internal audit).",
    no_args_is_help=True,
)

DB_HELP = "SQLAlchemy URL (default $GRIDWALL_DB or ./gridwall.db)."
BY_HELP = (
    "Your account ID. You sign in with its password and TOTP code (prompted, or see "
    "--password-stdin); the step is decided by the case policy and audited."
)
STDIN_HELP = "Read the password, then the TOTP code, from standard input (one line each)."
JSON_HELP = "Print JSON."


notifications_app = typer.Typer(
    help="通知: your own case notifications (the outbox a mail or chat integration reads).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(case_app, name="case")
    app.add_typer(notifications_app, name="notifications")


@contextmanager
def _desk(
    db: str | None, *, first_days: float = 5, second_days: float = 10, share: float = 0.1
) -> Iterator[Any]:
    from gridwall.app.casework import CaseDesk, StoreHr
    from gridwall.app.cli.grants import _store
    from gridwall.cases import Deadlines

    if first_days <= 0 or second_days <= 0:
        raise UsageError("--first-line-days / --second-line-days: must be more than 0")
    if not 0 <= share <= 1:
        raise UsageError(f"--share: {share} is not between 0 and 1")
    deadlines = Deadlines(timedelta(days=first_days), timedelta(days=second_days))
    with _store(db) as (engine, log):
        yield (
            CaseDesk(engine, log, StoreHr(engine), deadlines=deadlines, sample_share=share),
            engine,
            log,
        )


def _caller(engine: Any, log: Any, by: str, stdin: bool) -> Any:
    """Sign ``--by`` in at the console; the caller of the step (its terminal the console)."""
    from gridwall.app.casework import Caller
    from gridwall.app.cli.grants import _console_now, _credentials
    from gridwall.app.management import console_terminal
    from gridwall.app.wiring import identity_service
    from gridwall.identity import LoginRefused

    password, code = _credentials(by, stdin)
    svc = identity_service(engine, log)
    try:
        principal = svc.verify_operator(by.strip(), password, code, _console_now())
    except LoginRefused as e:
        why = e.reason if e.status == 403 else "unknown account, wrong password or TOTP code"
        raise AccessDenied(f"--by {by}: sign-in refused: {why}") from None
    return Caller(principal, console_terminal(principal))


def _print(obj: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(obj, ensure_ascii=False, indent=2, default=str))
        return
    rows = obj if isinstance(obj, list) else [obj]
    for c in rows:
        if "case_id" in c and "status" in c:
            print(
                f"{c['case_id']}  {c['status']:<11} {c['incident_type']:<6} "
                f"subject={c['subject']}{' (pseudonym)' if c.get('pseudonymised') else ''}  "
                f"decision={c.get('decision') or '-'}  alerts={len(c.get('alerts', []))}"
                + ("  voluntary (自主申告)" if c.get("voluntary") else "")
            )
            if c.get("report"):
                r = c["report"]
                print(f"  self-report {r['report_id']} ({r['kind']}): {r['text']}")
            for r in c.get("reveals", []):
                print(f"  revealed by {r['by']}: {r['reason']}")
            for h in c.get("history", []):
                data = ", ".join(f"{k}={v}" for k, v in sorted(h["data"].items()))
                print(f"  #{h['seq']:<3} {h['at']}  {h['kind']:<12} {h['actor']}  {data}")
        else:
            print("  ".join(f"{k}={v}" for k, v in c.items()))
    if not rows:
        print("(none)")


_By = typer.Option(..., "--by", help=BY_HELP)
_Stdin = typer.Option(False, "--password-stdin", help=STDIN_HELP)
_Db = typer.Option(None, "--db", help=DB_HELP)
_Json = typer.Option(False, "--json", help=JSON_HELP)


@case_app.command("list")
def list_cmd(
    origin: str | None = typer.Option(
        None, "--origin", help="Only the cases opened by: alert | self_report (自主申告)."
    ),
    by: str = _By, stdin: bool = _Stdin, db: str | None = _Db, as_json: bool = _Json,
) -> None:  # fmt: skip
    """Your queue: the cases you may view (pseudonyms until a reveal)."""
    from gridwall.cases._core import SOURCES

    if origin is not None and origin not in SOURCES:
        raise UsageError(f"--origin: {origin!r} is not one of {sorted(SOURCES)}")
    with _desk(db) as (desk, engine, log):
        _print(desk.queue(_caller(engine, log, by, stdin), origin), as_json)


@case_app.command("show")
def show_cmd(
    case_id: str = typer.Argument(..., help="The case id (case-…)."),
    by: str = _By, stdin: bool = _Stdin, db: str | None = _Db, as_json: bool = _Json,
) -> None:  # fmt: skip
    """One case and its whole history (every entry, reveals included)."""
    with _desk(db) as (desk, engine, log):
        _print(desk.show(_caller(engine, log, by, stdin), case_id), as_json)


def _act(db: str | None, by: str, stdin: bool, case_id: str, step: Any, fields: dict[str, Any],
         as_json: bool) -> None:  # fmt: skip
    with _desk(db) as (desk, engine, log):
        clean = {k: v for k, v in fields.items() if v is not None}
        _print(desk.act(_caller(engine, log, by, stdin), case_id, step, clean), as_json)


_Case = typer.Argument(..., help="The case id (case-…).")


@case_app.command("confirm")
def confirm_cmd(
    case_id: str = _Case, text: str = typer.Option(..., "--text", help="What you confirm."),
    by: str = _By, stdin: bool = _Stdin, db: str | None = _Db, as_json: bool = _Json,
) -> None:  # fmt: skip
    """First line: confirm the facts."""
    from gridwall.interfaces.facts import CaseStep

    _act(db, by, stdin, case_id, CaseStep.CONFIRM, {"text": text}, as_json)


@case_app.command("explain")
def explain_cmd(
    case_id: str = _Case, text: str = typer.Option(..., "--text", help="Your explanation."),
    by: str = _By, stdin: bool = _Stdin, db: str | None = _Db, as_json: bool = _Json,
) -> None:  # fmt: skip
    """First line: explain the facts."""
    from gridwall.interfaces.facts import CaseStep

    _act(db, by, stdin, case_id, CaseStep.EXPLAIN, {"text": text}, as_json)


@case_app.command("decide")
def decide_cmd(
    case_id: str = _Case,
    decision: str = typer.Option(
        ..., "--decision", help="no_issue | violation | report_to_regulator"
    ),
    reason: str | None = typer.Option(None, "--reason", help="Why (required for no_issue)."),
    incident_type: str | None = typer.Option(
        None, "--incident-type", help="The incident type (required for violation)."
    ),
    rule: str | None = typer.Option(
        None, "--rule", help="The rule of conduct broken (required for violation)."
    ),
    by: str = _By, stdin: bool = _Stdin, db: str | None = _Db, as_json: bool = _Json,
) -> None:  # fmt: skip
    """Second line: decide the case."""
    from gridwall.interfaces.facts import CaseStep

    fields = {"decision": decision, "reason": reason, "incident_type": incident_type, "rule": rule}
    _act(db, by, stdin, case_id, CaseStep.DECIDE, fields, as_json)


@case_app.command("discipline")
def discipline_cmd(
    case_id: str = _Case,
    outcome: str = typer.Option(..., "--outcome", help="The disciplinary outcome (懲戒処分)."),
    by: str = _By, stdin: bool = _Stdin, db: str | None = _Db, as_json: bool = _Json,
) -> None:  # fmt: skip
    """Second line: record the disciplinary outcome of a violation."""
    from gridwall.interfaces.facts import CaseStep

    _act(db, by, stdin, case_id, CaseStep.DISCIPLINE, {"outcome": outcome}, as_json)


@case_app.command("reveal")
def reveal_cmd(
    case_id: str = _Case,
    reason: str = typer.Option(..., "--reason", help="Why the identity is needed."),
    by: str = _By, stdin: bool = _Stdin, db: str | None = _Db, as_json: bool = _Json,
) -> None:  # fmt: skip
    """Second line: reveal the pseudonymised subject (kept in the history forever)."""
    from gridwall.interfaces.facts import CaseStep

    _act(db, by, stdin, case_id, CaseStep.REVEAL, {"reason": reason}, as_json)


@case_app.command("sample")
def sample_cmd(
    share: float = typer.Option(0.1, "--share", help="Share of ordinary closed cases, 0-1."),
    by: str = _By, stdin: bool = _Stdin, db: str | None = _Db, as_json: bool = _Json,
) -> None:  # fmt: skip
    """Third line: the closed cases to review (every violation, every no-issue on a
    critical alert, a deterministic share of the rest)."""
    with _desk(db, share=share) as (desk, engine, log):
        _print(desk.sample(_caller(engine, log, by, stdin)), as_json)


@case_app.command("signoff")
def signoff_cmd(
    case_id: str = _Case,
    note: str | None = typer.Option(None, "--note", help="A note for the record."),
    by: str = _By, stdin: bool = _Stdin, db: str | None = _Db, as_json: bool = _Json,
) -> None:  # fmt: skip
    """Third line: sign a closed case off."""
    from gridwall.interfaces.facts import CaseStep

    _act(db, by, stdin, case_id, CaseStep.SIGNOFF, {"note": note}, as_json)


@case_app.command("reopen")
def reopen_cmd(
    case_id: str = _Case,
    reason: str = typer.Option(..., "--reason", help="Why the case is reopened."),
    by: str = _By, stdin: bool = _Stdin, db: str | None = _Db, as_json: bool = _Json,
) -> None:  # fmt: skip
    """Third line: reopen a closed case (back to compliance)."""
    from gridwall.interfaces.facts import CaseStep

    _act(db, by, stdin, case_id, CaseStep.REOPEN, {"reason": reason}, as_json)


@case_app.command("escalate")
def escalate_cmd(
    first_days: float = typer.Option(5, "--first-line-days", help="First line's deadline."),
    second_days: float = typer.Option(10, "--second-line-days", help="Second line's deadline."),
    by: str = _By, stdin: bool = _Stdin, db: str | None = _Db, as_json: bool = _Json,
) -> None:  # fmt: skip
    """Escalate every case whose line missed its deadline now, to the next line."""
    with _desk(db, first_days=first_days, second_days=second_days) as (desk, engine, log):
        _print(desk.escalate(_caller(engine, log, by, stdin)), as_json)


@case_app.command("open")
def open_cmd(db: str | None = _Db, as_json: bool = _Json) -> None:
    """Open or join cases for the monitor's stored alerts (``gridwall monitor run``),
    routed to each subject's line manager on the alert's date. Running it again opens
    nothing twice."""
    from gridwall.app.casework import alert_refs
    from gridwall.monitor._periodic import stored_alerts

    with _desk(db) as (desk, engine, _log):
        touched = desk.open_from_alerts(alert_refs(stored_alerts(engine)))
        _print([{"case_id": c} for c in touched] if as_json else
               [{"case": c} for c in touched], as_json)  # fmt: skip


@notifications_app.command("list")
def notifications_list_cmd(
    after: int = typer.Option(0, "--after", help="Only notifications with a larger id."),
    limit: int = typer.Option(100, "--limit", help="At most this many (1..1000)."),
    pending: bool = typer.Option(False, "--pending", help="Only those not yet acknowledged."),
    by: str = _By, stdin: bool = _Stdin, db: str | None = _Db, as_json: bool = _Json,
) -> None:  # fmt: skip
    """Your own case notifications after --after, oldest first (and the next cursor)."""
    if after < 0:
        raise UsageError(f"--after: must be >= 0, not {after}")
    if not 1 <= limit <= 1000:
        raise UsageError(f"--limit: 1..1000, not {limit}")
    with _desk(db) as (desk, engine, log):
        got = desk.notifications(_caller(engine, log, by, stdin), after=after, limit=limit,
                                 pending_only=pending)  # fmt: skip
    if as_json:
        _print(got, True)
        return
    for n in got["notifications"]:
        state = f"delivered {n['delivered_at']}" if n["delivered_at"] else "pending"
        print(f"#{n['id']:<6} {n['created']}  {n['kind']:<22} {n['case_id']}  "
              f"{n['recipient']}  {state}")  # fmt: skip
    if not got["notifications"]:
        print("(none)")
    print(f"next: --after {got['next_after']}")


@notifications_app.command("ack")
def notifications_ack_cmd(
    ids: list[int] = typer.Argument(..., help="Notification ids to mark delivered."),
    by: str = _By, stdin: bool = _Stdin, db: str | None = _Db, as_json: bool = _Json,
) -> None:  # fmt: skip
    """Mark your own notifications delivered (again is fine: reported as already done)."""
    from gridwall.app.casework import CaseInvalid

    with _desk(db) as (desk, engine, log):
        caller = _caller(engine, log, by, stdin)
        try:
            got = desk.ack_notifications(caller, ids)
        except CaseInvalid as e:
            raise UsageError(f"IDS: {e}") from None
    if as_json:
        _print(got, True)
    else:
        print(f"acknowledged {got['acknowledged'] or '-'}; already {got['already'] or '-'}")
