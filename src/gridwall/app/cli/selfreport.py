"""``gridwall selfreport …``: the self-report channel (自主申告) at a console (docs/cases.md).

``submit`` files a report and prints its receipt code once; without ``--by`` it is
anonymous (nobody signs in; its audit event carries nobody), with ``--by`` the reporter
signs in and is recorded for compliance only unless ``--named``. ``status`` reads the
receipt code from a hidden prompt or standard input, never from the command line (which
lands in shell history and the process list), and prints the public progress only. Each
command writes exactly one audit event.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from gridwall.errors import UsageError

selfreport_app = typer.Typer(
    help="自己申告: report your own or observed misuse or a control gap; follow it by receipt.",
    no_args_is_help=True,
)

#: the body fields of a report, as this command's options name them
_OPTION = {"kind": "--kind", "text": "--text", "contact": "--contact", "subject": "--subject",
           "anonymous": "--by"}  # fmt: skip


def register(app: typer.Typer) -> None:
    app.add_typer(selfreport_app, name="selfreport")


def _read_text(text: str | None, file: Path | None) -> str:
    if (text is None) == (file is None):
        raise UsageError("--text / --file: give exactly one")
    if file is None:
        assert text is not None
        return text
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        why = type(e).__name__
        raise UsageError(f"--file {file}: cannot be read as UTF-8 text ({why})") from None


def _desk(engine: Any, log: Any) -> Any:
    from gridwall.app.selfreports import SelfReportDesk

    return SelfReportDesk(engine, log, console=True)


@selfreport_app.command("submit")
def submit_cmd(
    kind: str = typer.Option(
        ..., "--kind",
        help="own_misuse | observed_misuse | shows_too_much | shared_password | "
        "terminal_left_open | other",
    ),
    text: str | None = typer.Option(None, "--text", help="What happened (at most 4000 chars)."),
    file: Path | None = typer.Option(None, "--file", help="Read the text from this file."),
    contact: str | None = typer.Option(
        None, "--contact", help="How compliance may reach you (shown to compliance only)."
    ),
    subject: str | None = typer.Option(None, "--subject", help="Who you observed, if anyone."),
    by: str | None = typer.Option(
        None, "--by",
        help="Report as this account (you sign in with password and TOTP); without it the "
        "report is anonymous.",
    ),
    named: bool = typer.Option(
        False, "--named", help="With --by: let everyone who sees the case see who reported."
    ),
    stdin: bool = typer.Option(
        False, "--password-stdin",
        help="Read the password, then the TOTP code, from standard input (one line each).",
    ),
    db: str | None = typer.Option(None, "--db", help="SQLAlchemy URL (default $GRIDWALL_DB)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:  # fmt: skip
    """File a report; prints the receipt code once (keep it: it is the only way to follow
    the report)."""
    from gridwall.app.cli.cases import _caller
    from gridwall.app.cli.grants import _store
    from gridwall.app.selfreports import SelfReportInvalid, Signed

    if named and by is None:
        raise UsageError("--named: only with --by (a report without an account is anonymous)")
    body = _read_text(text, file)
    with _store(db) as (engine, log):
        signed = None
        if by is not None:
            c = _caller(engine, log, by, stdin)
            signed = Signed(c.principal, c.terminal)
        try:
            out = _desk(engine, log).submit(
                kind=kind, text=body, anonymous=not named, contact=contact, subject=subject,
                signed=signed,
            )  # fmt: skip
        except SelfReportInvalid as e:
            option = _OPTION.get(e.parameter, "--text")
            raise UsageError(f"{option}: {e}") from None
    if as_json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return
    print(f"report {out['report_id']} received ({'anonymous' if out['anonymous'] else 'named'})")
    print(f"receipt code: {out['receipt']}")
    print("keep the receipt code: it is shown only this once; follow the report with "
          "`gridwall selfreport status`")  # fmt: skip


def _read_receipt() -> str:
    if sys.stdin is not None and sys.stdin.isatty():
        import getpass

        value = getpass.getpass("receipt code: ")
    else:
        value = sys.stdin.readline() if sys.stdin is not None else ""
    value = value.strip()
    if not value:
        raise UsageError("receipt code: none given (type it at the prompt or pipe it in)")
    return value


@selfreport_app.command("status")
def status_cmd(
    db: str | None = typer.Option(None, "--db", help="SQLAlchemy URL (default $GRIDWALL_DB)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """A report's progress: the receipt code is read from a hidden prompt or standard
    input, never from the command line."""
    from gridwall.app.cli.grants import _store

    with _store(db) as (engine, log):
        out = _desk(engine, log).status(_read_receipt())
    if as_json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return
    print(f"report {out['report_id']} ({out['kind']}), submitted {out['submitted_at']}: "
          f"{out['status']}")  # fmt: skip
    for n in out["notes"]:
        print(f"  {n['at']}  {n['text']}")


def _compliance(db: str | None, by: str, stdin: bool, act: Any) -> Any:
    from gridwall.app.cli.cases import _caller
    from gridwall.app.cli.grants import _store
    from gridwall.app.selfreports import ComplianceDesk, SelfReportInvalid, Signed
    from gridwall.policy import default_management_engine

    with _store(db) as (engine, log):
        c = _caller(engine, log, by, stdin)
        desk = ComplianceDesk(engine, log, default_management_engine())
        try:
            return act(desk, Signed(c.principal, c.terminal))
        except SelfReportInvalid as e:
            raise UsageError(f"--{e.parameter}: {e}") from None


@selfreport_app.command("identity")
def identity_cmd(
    report_id: str = typer.Argument(..., help="The self-report's id (SR-…)."),
    reason: str = typer.Option(..., "--reason", help="Why compliance needs to know (audited)."),
    by: str = typer.Option(..., "--by", help="The compliance account (signs in)."),
    stdin: bool = typer.Option(False, "--password-stdin", help="Password, then TOTP, on stdin."),
    db: str | None = typer.Option(None, "--db", help="SQLAlchemy URL (default $GRIDWALL_DB)."),
) -> None:
    """Compliance only (I15j): who filed a self-report; one decision, one audit event."""
    out = _compliance(db, by, stdin, lambda d, s: d.identity(s, report_id, reason))
    print(json.dumps(out, ensure_ascii=False, indent=2))


@selfreport_app.command("note")
def note_cmd(
    report_id: str = typer.Argument(..., help="The self-report's id (SR-…)."),
    text: str = typer.Option(..., "--text", help="The note the reporter reads by receipt."),
    by: str = typer.Option(..., "--by", help="The compliance account (signs in)."),
    stdin: bool = typer.Option(False, "--password-stdin", help="Password, then TOTP, on stdin."),
    db: str | None = typer.Option(None, "--db", help="SQLAlchemy URL (default $GRIDWALL_DB)."),
) -> None:
    """Compliance only (I15j): a note shown with the receipt status (never who reported)."""
    out = _compliance(db, by, stdin, lambda d, s: d.note(s, report_id, text))
    print(f"note {out['note']} added to {out['report_id']}")
