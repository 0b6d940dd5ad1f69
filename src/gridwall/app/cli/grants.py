"""Commands of purpose-bound grants: ``gridwall disaster|agreement|consent|export …``.

Every command touching the store takes ``--db``; a management step and its audit
event commit together (grants' outbox) and the event reaches the store's audit log
(``gridwall.audit``) before the command succeeds (exit 1 if it cannot); bad input is
refused with a message naming the grant and field (exit 2) with nothing written.
Heavy imports stay inside the functions.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import typer

from gridwall.errors import CheckFailed, UsageError

DB_HELP = "SQLAlchemy URL (default $GRIDWALL_DB or ./gridwall.db)."
BY_HELP = (
    "Your account ID. You sign in with its password and TOTP code (prompted, or see "
    "--password-stdin); the step is decided by the grant-management policy and audited."
)
STDIN_HELP = "Read the password, then the TOTP code, from standard input (one line each)."

disaster_app = typer.Typer(help="非常災害: declare, approve, extend, end and report disasters.")
agreement_app = typer.Typer(help="業務委託など: register, list and end agreements.")
consent_app = typer.Typer(help="使用量照会の需要家同意: issue, revoke and verify consent tokens.")
export_app = typer.Typer(help="Watermarked exports to contractors, and leak tracing.")

_REL = re.compile(r"^\+(\d+)([mhd])$")


def _err(msg: str) -> None:
    print(f"gridwall: {msg}", file=sys.stderr)


def _when(text: str, option: str, now: datetime) -> datetime:
    """RFC 3339 time, or relative ``+30m`` / ``+48h`` / ``+7d`` from now."""
    from gridwall.interfaces.clock import parse_instant

    m = _REL.match(text.strip())
    if m:
        n, unit = int(m.group(1)), m.group(2)
        unit_s = {"m": 60, "h": 3600, "d": 86400}[unit]
        return now + timedelta(seconds=n * unit_s)
    try:
        return parse_instant(text, option)
    except ValueError as e:
        raise UsageError(f"{option}: {e}") from None


def _day(text: str | None, option: str) -> date | None:
    if text is None or text == "":
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option}: not a date (YYYY-MM-DD): {text!r}") from None


def _list(text: str | None) -> list[str]:
    return [x.strip() for x in (text or "").replace(",", ";").split(";") if x.strip()]


@contextmanager
def _store(db: str | None) -> Iterator[tuple[Any, Any]]:
    """(engine, audit sink) over the store, created or migrated as needed: for the
    commands that write."""
    from gridwall.app.cli.stores import writable_store
    from gridwall.audit import open_log
    from gridwall.store import make_engine

    url = writable_store(db)
    engine = make_engine(url)
    try:
        log = open_log(url, migrate=False)
        try:
            yield engine, log
        finally:
            log.close()
    finally:
        engine.dispose()


@contextmanager
def _reader(db: str | None) -> Iterator[tuple[Any, Any]]:
    """(read-only engine, audit log) over an existing, migrated store: for the commands
    that only read. Nothing is created or migrated; a write through the engine fails."""
    from gridwall.app.cli.stores import existing_store, read_only_engine
    from gridwall.audit import open_log

    url = existing_store(db)
    engine = read_only_engine(url)
    try:
        log = open_log(url, migrate=False)
        try:
            yield engine, log
        finally:
            log.close()
    finally:
        engine.dispose()


def _console_now() -> datetime:
    from gridwall.interfaces.clock import system_clock

    return system_clock()


def _credentials(by: str, stdin: bool) -> tuple[str, str]:
    if stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        code = sys.stdin.readline().strip()
        if not password:
            raise UsageError("--password-stdin: no password on standard input")
        return password, code
    password = str(typer.prompt(f"Password for {by}", hide_input=True, err=True))
    return password, str(typer.prompt("TOTP code", err=True)).strip()


def _operator(
    engine: Any,
    log: Any,
    by: str,
    step: str,
    stdin: bool,
    *,
    requester: Callable[[], str | None] | None = None,
    for_org: str | None = None,
) -> str:
    """Sign ``--by`` in at the server console (password + TOTP of an existing account) and
    ask the grant-management policy whether it may take ``step``; the account id, or
    :class:`AccessDenied` (a refusal is audited). A name typed after ``--by`` proves
    nothing on its own: the second person of the two-person rule must be a real,
    entitled account, exactly as on the API."""
    from gridwall.app.management import console_terminal, manage_request, same_person
    from gridwall.app.wiring import identity_service
    from gridwall.errors import AccessDenied
    from gridwall.grants import GrantRefused
    from gridwall.grants._outbox import grant_event, record_refusal
    from gridwall.identity import LoginRefused
    from gridwall.interfaces.facts import GrantStep
    from gridwall.policy import default_management_engine

    password, code = _credentials(by, stdin)
    svc = identity_service(engine, log)
    now = _console_now()
    try:
        principal = svc.verify_operator(by.strip(), password, code, now)
    except LoginRefused as e:
        why = e.reason if e.status == 403 else "unknown account, wrong password or TOTP code"
        raise AccessDenied(f"--by {by}: sign-in refused: {why}") from None
    terminal = console_terminal(principal)
    try:
        own = requester is not None and same_person(principal, requester(), svc.person_of)
    except GrantRefused:  # no such declaration: the step itself says so
        own = False
    ours = for_org is not None and for_org.strip() == principal.org
    decision = default_management_engine().decide(
        manage_request(GrantStep(step), principal, terminal, own_request=own, for_own_org=ours)
    )
    if not decision.allowed:
        why = ",".join(decision.policy_ids) or "default-deny"
        record_refusal(
            engine,
            log,
            grant_event(
                now=now, actor=principal.account_id, actor_org=principal.org,
                screen=f"grants.{step}", purpose="", decision="deny",
                query=f"{step} not permitted for this account at the console ({why})",
                person_id=principal.person_id, device_id=terminal.device_id,
            )
        )  # fmt: skip
        raise AccessDenied(f"--by {by}: {step} not permitted ({why})")
    return principal.account_id


def _out(obj: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    if as_json:
        print(json.dumps(obj, ensure_ascii=False, indent=2, default=str))
    else:
        print(text(obj))


def _s(t: str | None) -> str:
    """An ISO time shown to the second (the JSON output keeps full precision)."""
    return re.sub(r"\.\d+(?=Z|[+-]\d\d:\d\d$)", "", t) if t else "-"


def _decl_text(d: dict[str, Any]) -> str:
    return (
        f"{d['disaster_id']}  {d['status']:<16} area={';'.join(d['area'])}  "
        f"{_s(d['active_from'] or d['start_at'])} → {_s(d['effective_end'])} "
        f"(hard max {_s(d['hard_max_end_at'])})  requested_by={d['requested_by']} "
        f"approved_by={d['approved_by'] or '-'}"
    )


# -- disaster -----------------------------------------------------------------


@disaster_app.command("declare")
def disaster_declare(
    disaster_id: str = typer.Argument(..., help="Declaration ID, e.g. TY-2026-10."),
    area: str = typer.Option(..., "--area", help="'pref' or 'pref/city' entries, ';'-separated."),
    until: str = typer.Option(..., "--until", help="Planned end: RFC 3339 or +48h."),
    max_hours: float = typer.Option(..., "--max-hours", help="Hard maximum duration (hours)."),
    start: str | None = typer.Option(None, "--start", help="Start (default now; never past)."),
    title: str = typer.Option("", "--title"),
    by: str = typer.Option(..., "--by", help=BY_HELP),
    password_stdin: bool = typer.Option(False, "--password-stdin", help=STDIN_HELP),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Request a disaster declaration; a second person must approve it."""
    from gridwall.grants import DisasterDesk
    from gridwall.interfaces.clock import system_clock

    now = system_clock()
    with _store(db) as (engine, log):
        by = _operator(engine, log, by, "disaster.declare", password_stdin)
        d = DisasterDesk(engine, log).declare(
            disaster_id, area, _when(until, "--until", now), timedelta(hours=max_hours), by,
            start=None if start is None else _when(start, "--start", now), title=title,
        )  # fmt: skip
    _err(f"disaster {disaster_id}: declared, pending approval by a second person")
    _out(d, as_json, _decl_text)


@disaster_app.command("approve")
def disaster_approve(
    disaster_id: str = typer.Argument(...),
    by: str = typer.Option(..., "--by", help="Approver (not the requester). " + BY_HELP),
    password_stdin: bool = typer.Option(False, "--password-stdin", help=STDIN_HELP),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Approve a declaration (second person): it is active from now until its end."""
    from gridwall.grants import DisasterDesk

    with _store(db) as (engine, log):
        desk = DisasterDesk(engine, log)
        by = _operator(
            engine, log, by, "disaster.approve", password_stdin,
            requester=lambda: desk.get(disaster_id)["requested_by"],
        )  # fmt: skip
        d = desk.approve(disaster_id, by)
    _err(f"disaster {disaster_id}: approved")
    _out(d, as_json, _decl_text)


@disaster_app.command("extend")
def disaster_extend(
    disaster_id: str = typer.Argument(...),
    until: str = typer.Option(..., "--until", help="New planned end (≤ the hard maximum)."),
    by: str = typer.Option(..., "--by", help=BY_HELP),
    password_stdin: bool = typer.Option(False, "--password-stdin", help=STDIN_HELP),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Extend a declaration's planned end, never beyond its hard maximum."""
    from gridwall.grants import DisasterDesk
    from gridwall.interfaces.clock import system_clock

    with _store(db) as (engine, log):
        by = _operator(engine, log, by, "disaster.extend", password_stdin)
        d = DisasterDesk(engine, log).extend(
            disaster_id, _when(until, "--until", system_clock()), by
        )
    _err(f"disaster {disaster_id}: extended")
    _out(d, as_json, _decl_text)


@disaster_app.command("end")
def disaster_end(
    disaster_id: str = typer.Argument(...),
    by: str = typer.Option(..., "--by", help=BY_HELP),
    password_stdin: bool = typer.Option(False, "--password-stdin", help=STDIN_HELP),
    report_dir: Path | None = typer.Option(
        None,
        "--report-dir",
        help="Folder for the after-action report (default $GRIDWALL_REPORT_DIR).",
    ),
    audit_key: Path | None = typer.Option(
        None,
        "--audit-key",
        help="Audit signing key (default $GRIDWALL_AUDIT_KEY): sign a checkpoint after the "
        "end so the after-action report is written at once.",
    ),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """End a declaration now (or cancel one still pending approval). With --audit-key and a
    report folder, sign a checkpoint and write its after-action report at once."""
    from gridwall.app.reporting import report_dir as resolve_report_dir
    from gridwall.grants import DisasterDesk

    folder = resolve_report_dir(report_dir)
    signer = _signer(audit_key)
    with _store(db) as (engine, log):
        by = _operator(engine, log, by, "disaster.end", password_stdin)
        d = DisasterDesk(engine, log).end(disaster_id, by)
        _err(f"disaster {disaster_id}: {d['status']}")
        if d["status"] == "ended":
            _after_end(engine, log, disaster_id, folder, signer)
    _out(d, as_json, _decl_text)


def _signer(path: Path | None) -> Any:
    """The audit signing key of --audit-key (default $GRIDWALL_AUDIT_KEY), or None."""
    import os

    from gridwall.audit import note

    if path is None:
        env = os.environ.get("GRIDWALL_AUDIT_KEY")
        if not env:
            return None
        path = Path(env)
    try:
        return note.Signer.parse(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise UsageError(f"--audit-key {path}: cannot read the signing key ({e.strerror})") from e
    except note.NoteError as e:
        raise UsageError(f"--audit-key {path}: {e}") from e


def _after_end(engine: Any, log: Any, disaster_id: str, folder: Path | None, signer: Any) -> None:
    """The after-action report at the end: signed and written now when it can be, else
    said to be due (the end stands either way)."""
    from gridwall.app.reporting import write_disaster
    from gridwall.interfaces.clock import system_clock

    later = "`gridwall report disaster --due` (or `gridwall serve --report-dir`) writes it"
    if folder is None or signer is None:
        _err(
            f"disaster {disaster_id}: after-action report due; "
            f"after the next signed checkpoint {later}"
        )
        return
    log.checkpoint([signer])
    try:
        path = write_disaster(log.url, engine, disaster_id, folder, system_clock())
    except UsageError as e:
        _err(f"disaster {disaster_id}: after-action report not written yet ({e}); {later}")
        return
    _err(f"disaster {disaster_id}: after-action report written to {path}")


@disaster_app.command("list")
def disaster_list(
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List declarations with their status now."""
    from gridwall.grants import DisasterDesk

    with _reader(db) as (engine, log):
        ds = DisasterDesk(engine, log).list()
    _out(ds, as_json, lambda xs: "\n".join(_decl_text(d) for d in xs) or "(no declarations)")


def _audit_events(log: Any) -> Iterator[dict[str, Any]]:
    from gridwall.grants._outbox import audit_log_events

    return audit_log_events(log)


def _file_events(path: Path) -> Iterator[dict[str, Any]]:
    from gridwall import dataset

    for _, row in dataset.iter_rows(path, dataset.EVENTS):
        yield row


def _report_text(r: dict[str, Any]) -> str:
    d = r["declaration"]
    lines = [_decl_text(d), f"accesses under it: {r['total_events']}"]
    for o in r["organisations"]:
        lines.append(
            f"  {o['org']:<24} events={o['events']} allowed={o['allowed']} denied={o['denied']} "
            f"exports={o['exports']} accounts={len(o['accounts'])} points={o['supply_points']} "
            f"fields={','.join(o['fields']) or '-'}"
        )
    for a in r["attestations"]:
        lines.append(f"  deletion attested: {a['org']} by {a['attested_by']} at {a['attested_at']}")
    owing = r["attestations_outstanding"]
    lines.append(f"deletion attestations outstanding: {', '.join(owing) if owing else 'none'}")
    return "\n".join(lines)


@disaster_app.command("report")
def disaster_report(
    disaster_id: str = typer.Argument(...),
    events: Path | None = typer.Option(
        None,
        "--events",
        help="Read events from this dataset file instead of the audit log "
        "(organisations from accounts.csv beside it).",
    ),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Every access made under a disaster, by organisation, and outstanding attestations."""
    from gridwall.grants import DisasterDesk

    orgs: dict[str, str] = {}
    if events is not None:
        from gridwall import dataset

        accounts = dataset.find_table_file(events.parent, dataset.ACCOUNTS)
        if accounts is not None:  # legacy events carry no org: take it from accounts.csv
            orgs = {str(r["account_id"]): str(r["org"])
                    for _, r in dataset.iter_rows(accounts, dataset.ACCOUNTS)}  # fmt: skip
    with _reader(db) as (engine, log):
        source = _file_events(events) if events is not None else _audit_events(log)
        r = DisasterDesk(engine, log).report(disaster_id, source, orgs)
    _out(r, as_json, _report_text)


@disaster_app.command("attest-deletion")
def disaster_attest(
    disaster_id: str = typer.Argument(...),
    org: str = typer.Option(..., "--org", help="The organisation whose copies were deleted."),
    copies: int = typer.Option(..., "--copies", help="How many copies were made and deleted."),
    statement: str = typer.Option("", "--statement"),
    by: str = typer.Option(..., "--by", help=BY_HELP),
    password_stdin: bool = typer.Option(False, "--password-stdin", help=STDIN_HELP),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """削除証明: record that an organisation deleted its copies made under the disaster."""
    from gridwall.app.management import StoreParties
    from gridwall.grants import DisasterDesk

    with _store(db) as (engine, log):
        step = "disaster.attest-deletion"
        by = _operator(engine, log, by, step, password_stdin, for_org=org)
        a = DisasterDesk(engine, log, parties=StoreParties(engine)).attest_deletion(
            disaster_id, org, by, copies=copies, statement=statement
        )
    _out(a, as_json, lambda a: f"{a['disaster_id']}: {a['org']} attested deletion ({a['copies']})")


# -- agreement ----------------------------------------------------------------


def _agr_text(a: dict[str, Any]) -> str:
    return (
        f"{a['agreement_id']}  {a['status']:<13} {a['counterparty_org']:<22} {a['purpose']:<18} "
        f"fields={','.join(a['fields'])} area={';'.join(a['area']) or '(whole service area)'} "
        f"{a['valid_from']}..{a['valid_to'] or ''}"
    )


@agreement_app.command("register")
def agreement_register(
    agreement_id: str = typer.Argument(...),
    counterparty: str = typer.Option(..., "--counterparty", help="contractor:<id> | retail:<code>"),
    purpose: str = typer.Option(..., "--purpose", help="disaster_support | lrs_operations | …"),
    fields: str = typer.Option("", "--fields", help="Field groups, ';'-separated."),
    area: str = typer.Option("", "--area", help="'pref' or 'pref/city' entries; empty = all."),
    valid_from: str = typer.Option(..., "--valid-from", help="YYYY-MM-DD (JST)."),
    valid_to: str | None = typer.Option(None, "--valid-to", help="YYYY-MM-DD, inclusive."),
    by: str = typer.Option(..., "--by", help=BY_HELP),
    password_stdin: bool = typer.Option(False, "--password-stdin", help=STDIN_HELP),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Register an agreement (onward transfer always forbidden)."""
    from gridwall.grants import AgreementRegistry

    vf = _day(valid_from, "--valid-from")
    assert vf is not None
    with _store(db) as (engine, log):
        by = _operator(engine, log, by, "agreement.register", password_stdin)
        a = AgreementRegistry(engine, log).register(
            agreement_id, counterparty, purpose, _list(fields), _list(area), vf,
            _day(valid_to, "--valid-to"), by,
        )  # fmt: skip
    _out(a, as_json, _agr_text)


@agreement_app.command("list")
def agreement_list(
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List agreements with their status now."""
    from gridwall.grants import AgreementRegistry

    with _reader(db) as (engine, log):
        xs = AgreementRegistry(engine, log).list()
    _out(xs, as_json, lambda xs: "\n".join(_agr_text(a) for a in xs) or "(no agreements)")


@agreement_app.command("end")
def agreement_end(
    agreement_id: str = typer.Argument(...),
    by: str = typer.Option(..., "--by", help=BY_HELP),
    password_stdin: bool = typer.Option(False, "--password-stdin", help=STDIN_HELP),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """End an agreement now."""
    from gridwall.grants import AgreementRegistry

    with _store(db) as (engine, log):
        by = _operator(engine, log, by, "agreement.end", password_stdin)
        a = AgreementRegistry(engine, log).end(agreement_id, by)
    _out(a, as_json, _agr_text)


# -- consent ------------------------------------------------------------------


@consent_app.command("issue")
def consent_issue(
    point: str = typer.Option(..., "--point", help="Supply point ID (22 digits)."),
    retailer: str = typer.Option(..., "--retailer", help="Retailer code the consent is for."),
    days: int = typer.Option(..., "--days", help="Validity: 1, 7 or 31 days."),
    months: int = typer.Option(13, "--months", help="Months of history, 1–13."),
    by: str = typer.Option(..., "--by", help=BY_HELP),
    password_stdin: bool = typer.Option(False, "--password-stdin", help=STDIN_HELP),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Register a customer's consent and print its signed token (stdout)."""
    from gridwall.app.management import StoreParties
    from gridwall.grants import ConsentDesk

    with _store(db) as (engine, log):
        by = _operator(engine, log, by, "consent.issue", password_stdin)
        token, claims = ConsentDesk(engine, log, parties=StoreParties(engine)).issue(
            point, retailer, days, months, by
        )
    _err(f"consent {claims['token_id']}: valid until {claims['expires_at']}")
    _out({"token": token, **claims}, as_json, lambda o: str(o["token"]))


@consent_app.command("revoke")
def consent_revoke(
    token: str = typer.Argument(..., help="The token, or its token id."),
    by: str = typer.Option(..., "--by", help=BY_HELP),
    password_stdin: bool = typer.Option(False, "--password-stdin", help=STDIN_HELP),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Revoke a consent token from now on."""
    from gridwall.grants import ConsentDesk

    with _store(db) as (engine, log):
        by = _operator(engine, log, by, "consent.revoke", password_stdin)
        r = ConsentDesk(engine, log).revoke(token, by)
    _err(f"consent {r['token_id']}: revoked")


@consent_app.command("verify")
def consent_verify(
    token: str = typer.Argument(...),
    point: str = typer.Option(..., "--point"),
    retailer: str = typer.Option(..., "--retailer"),
    at: str | None = typer.Option(None, "--at", help="Check at this instant (default now)."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Check a token for a point and retailer (now, or --at); exit 1 unless it is valid."""
    from gridwall.grants import ConsentDesk, find_key
    from gridwall.interfaces.clock import system_clock
    from gridwall.interfaces.facts import ConsentState

    when = None if at is None else _when(at, "--at", system_clock())
    with _reader(db) as (engine, log):
        key = find_key(engine, "consent")  # read, never created: a reader writes nothing
        if key is None:
            raise CheckFailed("consent token is invalid: this store has issued no consent token")
        c = ConsentDesk(engine, log, key=key).verify(token, point, retailer, when)
    out = {"state": c.state.value, "reason": c.reason, "scope_months": c.scope_months}
    _out(out, as_json, lambda o: f"{o['state']}: {o['reason']}")
    if c.state is not ConsentState.VALID:
        raise CheckFailed(f"consent token is {c.state.value}: {c.reason}")


# -- export -------------------------------------------------------------------


@export_app.command("watermark")
def export_watermark(
    source: Path = typer.Argument(..., help="CSV of the rows to send (header row)."),
    to: str = typer.Option(..., "--to", help="Recipient organisation (contractor:<id>)."),
    agreement: str = typer.Option(..., "--agreement", help="Agreement the export is made under."),
    purpose: str = typer.Option(..., "--purpose", help="The agreement's purpose."),
    out: Path = typer.Option(..., "--out", help="Where to write the watermarked file."),
    by: str = typer.Option(..., "--by", help=BY_HELP),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Check an export against its agreement, watermark it for the recipient, register it."""
    import csv

    from gridwall.app.management import StoreParties
    from gridwall.errors import InputError, Location
    from gridwall.grants import ExportDesk

    try:
        with source.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read: {e}", Location(str(source))) from None
    with _store(db) as (engine, log):
        wm = ExportDesk(engine, log, parties=StoreParties(engine)).export(
            rows, recipient_org=to, agreement_id=agreement, purpose=purpose, actor=by
        )
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(wm.to_csv(), encoding="utf-8")
    tmp.replace(out)
    _err(
        f"export {wm.export_id}: {wm.real_rows} rows (+{len(wm.canaries)} canaries) "
        f"watermarked for {wm.recipient_org} → {out}"
    )


@export_app.command("trace")
def export_trace(
    file: Path = typer.Argument(..., help="A leaked file (CSV, TSV, pasted text …)."),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Trace a leaked file back to its export and recipient; exit 1 if it carries no mark."""
    from gridwall.errors import InputError, Location
    from gridwall.grants import find_key, trace_leak

    if not file.is_file():
        raise InputError("no such file", Location(str(file)))
    with _reader(db) as (engine, _log):
        key = find_key(engine, "watermark")  # no key: the store never marked an export
        r = None if key is None else trace_leak(file, engine, key)
    if r is None:
        raise CheckFailed(f"{file}: no watermark, mark or canary of any registered export found")
    d = r.as_dict()

    def text(d: dict[str, Any]) -> str:
        ev = d["evidence"]
        return (
            f"{file}: export {d['export_id']} → recipient {d['recipient_org']} "
            f"(agreement {d['agreement_id']}, {d['created_at']}); evidence: "
            f"header={'verified' if ev['header_verified'] else 'absent'}, "
            f"row marks={ev['row_marks']}, canaries={len(ev['canaries'])}"
        )

    _out(d, as_json, text)


def register(app: typer.Typer) -> None:
    app.add_typer(disaster_app, name="disaster")
    app.add_typer(agreement_app, name="agreement")
    app.add_typer(consent_app, name="consent")
    app.add_typer(export_app, name="export")
