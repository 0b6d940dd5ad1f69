"""Commands: ``gridwall hr``, ``gridwall identity``, ``gridwall review``, ``gridwall change``,
``gridwall training``.

Every command takes ``--db URL`` and ``--now TIME`` (the instant to decide at;
default the system clock — for rehearsals and walk-throughs; the HTTP API always
uses the real clock). Identity events go to identity's own journal and to the
audit log (:func:`gridwall.audit.open_log`) of the same store. Heavy imports stay
inside the functions.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from gridwall.errors import AccessDenied, CheckFailed, UsageError

if TYPE_CHECKING:
    from gridwall.identity._service import IdentityService

DB = typer.Option(None, "--db", help="SQLAlchemy URL (default $GRIDWALL_DB or ./gridwall.db).")
NOW = typer.Option(
    None, "--now", help="Decide at this instant (RFC 3339); default: the system clock."
)

hr_app = typer.Typer(
    help="HR changes (人事異動): hires, transfers and exits.", no_args_is_help=True
)
identity_app = typer.Typer(
    help="Persons, personal accounts, terminals (端末), login and sessions.", no_args_is_help=True
)
person_app = typer.Typer(help="Persons and their HR assignment.", no_args_is_help=True)
account_app = typer.Typer(help="Personal accounts (個人ID) and credentials.", no_args_is_help=True)
terminal_app = typer.Typer(help="Terminal registry and key enrolment.", no_args_is_help=True)
client_app = typer.Typer(help="Retailer systems' API clients.", no_args_is_help=True)
review_app = typer.Typer(help="Access reviews (権限棚卸し).", no_args_is_help=True)
change_app = typer.Typer(help="Change control (変更管理, two-person rule).", no_args_is_help=True)
training_app = typer.Typer(help="Compliance-training attestation (研修).", no_args_is_help=True)


def _err(msg: str) -> None:
    print(msg, file=sys.stderr)


def _now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    from gridwall.interfaces.clock import parse_instant

    try:
        return parse_instant(text)
    except ValueError as e:
        raise UsageError(f"--now: {e}") from None


def _time_opt(text: str, name: str) -> datetime:
    from gridwall.interfaces.clock import parse_instant

    try:
        return parse_instant(text)
    except ValueError as e:
        raise UsageError(f"{name}: {e}") from None


@contextmanager
def _service(db: str | None) -> Iterator[IdentityService]:
    """The identity service over the store (created or migrated as needed), auditing to
    the store's audit log: for the commands that write."""
    from gridwall.app.cli.stores import writable_store
    from gridwall.app.wiring import identity_service
    from gridwall.audit import open_log
    from gridwall.store import make_engine

    url = writable_store(db)
    engine = make_engine(url)
    audit = open_log(url, migrate=False)
    try:
        yield identity_service(engine, audit)
    finally:
        audit.close()
        engine.dispose()


@contextmanager
def _reader(db: str | None) -> Iterator[IdentityService]:
    """The identity service over an existing, migrated store, read-only: for the commands
    that only read (nothing created, nothing migrated, nothing audited; a write fails)."""
    from gridwall.app.cli.stores import existing_store, read_only_engine
    from gridwall.app.wiring import identity_service

    engine = read_only_engine(existing_store(db))
    try:
        yield identity_service(engine, None)
    finally:
        engine.dispose()


def _password(stdin: bool, confirm: bool) -> str:
    if stdin:
        line = sys.stdin.readline()
        if not line:
            raise UsageError("--password-stdin: no password on standard input")
        return line.rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=confirm))


def _refused(e: Exception) -> AccessDenied:
    reason = getattr(e, "reason", str(e))
    return AccessDenied(f"refused: {reason} (audited)")


# ---------------------------------------------------------------------------- hr


@hr_app.command("import")
def hr_import(
    file: Path = typer.Argument(..., help="CSV: person_id,name,org,department,role,effective_at"),
    db: str | None = DB,
    now: str | None = NOW,
) -> None:
    """Apply HR changes in one transaction; revoke access at each effective instant."""
    from gridwall.identity._hr import apply_hr_changes, read_hr_file

    at = _now(now)
    rows = read_hr_file(file)
    with _service(db) as svc:
        _err(f"gridwall hr import: {len(rows)} change(s) read from {file.name}")
        report = apply_hr_changes(svc, rows, file.name, at)
    for w in report.warnings:
        _err(f"gridwall hr import: warning: {w}")
    _err(
        f"gridwall hr import: {report.applied} applied; accounts revoked at the effective "
        "instant: "
        f"{', '.join(report.revoked_accounts) or 'none'}; cooling-off watch list: "
        f"{', '.join(report.watchlisted) or 'none'}"
    )


# ---------------------------------------------------------------------------- persons


@person_app.command("create")
def person_create(
    person_id: str = typer.Argument(...),
    name: str = typer.Option(..., "--name"),
    org: str = typer.Option(..., "--org", help="nw | retail:<code> | contractor:<id> | regulator"),
    role: str = typer.Option(..., "--role", help="e.g. takuso_operator, call_center, sales"),
    department: str | None = typer.Option(None, "--department"),
    db: str | None = DB,
    now: str | None = NOW,
) -> None:
    """Register a person with a first HR assignment starting now."""
    with _service(db) as svc:
        svc.create_person(person_id, name, org, role, _now(now), department)
    _err(f"person {person_id} created in {org} as {role}")


# ---------------------------------------------------------------------------- accounts


@account_app.command("create")
def account_create(
    account_id: str = typer.Argument(...),
    person: str = typer.Option(..., "--person", help="the holder (a personal account only)"),
    manager: str | None = typer.Option(None, "--manager", help="owner for access reviews"),
    system: str = typer.Option("gridwall", "--system"),
    expires: str | None = typer.Option(
        None, "--expires", help="end of validity (RFC 3339 or date), e.g. a contractor's term"
    ),
    db: str | None = DB,
    now: str | None = NOW,
) -> None:
    """Issue a personal account in the holder's current organisation."""
    until = _time_opt(expires, "--expires") if expires else None
    with _service(db) as svc:
        org = svc.create_account(
            account_id, person, _now(now), system=system, manager=manager, expires_at=until
        )
    _err(f"account {account_id} issued to {person} ({org})")


@account_app.command("set-password")
def account_set_password(
    account_id: str = typer.Argument(...),
    password_stdin: bool = typer.Option(False, "--password-stdin"),
    db: str | None = DB,
    now: str | None = NOW,
) -> None:
    """Set the password (NIST SP 800-63B policy; at least 12 characters, no blocklisted ones)."""
    pw = _password(password_stdin, confirm=True)
    with _service(db) as svc:
        svc.set_password(account_id, pw, _now(now))
    _err(f"password set for {account_id}")


@account_app.command("totp-enroll")
def account_totp_enroll(
    account_id: str = typer.Argument(...), db: str | None = DB, now: str | None = NOW
) -> None:
    """Create the TOTP secret; prints the secret and the otpauth:// URI (for the app)."""
    with _service(db) as svc:
        secret, uri = svc.enroll_totp(account_id, _now(now))
    print(secret)
    _err(f"TOTP enrolled for {account_id}; add to an authenticator app: {uri}")


@account_app.command("revoke")
def account_revoke(
    account_id: str = typer.Argument(...),
    reason: str = typer.Option("admin", "--reason"),
    db: str | None = DB,
    now: str | None = NOW,
) -> None:
    """Revoke an account and end its sessions now."""
    with _service(db) as svc:
        svc.revoke_account(account_id, _now(now), reason)
    _err(f"account {account_id} revoked")


@account_app.command("unlock")
def account_unlock(
    account_id: str = typer.Argument(...), db: str | None = DB, now: str | None = NOW
) -> None:
    """Clear a lockout."""
    with _service(db) as svc:
        svc.unlock_account(account_id, _now(now))
    _err(f"account {account_id} unlocked")


@account_app.command("reactivate")
def account_reactivate(
    account_id: str = typer.Argument(...),
    by: str = typer.Option(..., "--by", help="the requesting person"),
    reason: str | None = typer.Option(None, "--reason"),
    db: str | None = DB,
    now: str | None = NOW,
) -> None:
    """Request reactivation of a revoked account (another person must approve it)."""
    from gridwall.identity._governance import request_change

    with _service(db) as svc:
        cid = request_change(svc, "account_reactivate", account_id, None, by, _now(now), reason)
    print(cid)
    _err(
        f"change #{cid} requested; approve with: gridwall change approve {cid} --by <other person>"
    )


@account_app.command("show")
def account_show(
    account_id: str = typer.Argument(...), db: str | None = DB, now: str | None = NOW
) -> None:
    """The account's state at --now, as decided at request time (JSON)."""
    from sqlalchemy.orm import Session

    from gridwall.identity._models import Account
    from gridwall.identity._state import account_state, assignment_at

    at = _now(now)
    with _reader(db) as svc, Session(svc.engine) as s:
        acct = s.get(Account, account_id)
        if acct is None:
            raise UsageError(f"unknown account {account_id!r}")
        v = account_state(s, acct, at)
        asg = assignment_at(s, acct.holder_person_id, at)
        print(
            json.dumps(
                {
                    "account_id": acct.account_id,
                    "holder_person_id": acct.holder_person_id,
                    "account_org": acct.org,
                    "holder_org_now": asg.org if asg else None,
                    "state": v.state.value,
                    "reason": v.reason,
                    "at": at.isoformat(),
                },
                ensure_ascii=False,
            )
        )


# ---------------------------------------------------------------------------- terminals


def _write_secret(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
        return
    import os

    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    _err(f"key written to {out} (mode 600)")


@terminal_app.command("register")
def terminal_register(
    device_id: str = typer.Argument(...),
    org: str = typer.Option(..., "--org", help="owner organisation"),
    kind: str = typer.Option(
        ...,
        "--kind",
        help="nw_terminal | retail_terminal | disaster_terminal | contractor_terminal",
    ),
    location: str | None = typer.Option(None, "--location"),
    db: str | None = DB,
    now: str | None = NOW,
) -> None:
    """Register a terminal of an organisation."""
    with _service(db) as svc:
        svc.register_terminal(device_id, org, kind, _now(now), location)
    _err(f"terminal {device_id} registered ({kind}, {org})")


@terminal_app.command("enroll")
def terminal_enroll(
    device_id: str = typer.Argument(...),
    out: Path | None = typer.Option(None, "--out", help="write the key file here (mode 600)"),
    db: str | None = DB,
    now: str | None = NOW,
) -> None:
    """Create the terminal's Ed25519 key; prints (or writes) the terminal key file."""
    with _service(db) as svc:
        text = svc.enroll_terminal(device_id, _now(now))
    _write_secret(text, out)


@terminal_app.command("token")
def terminal_token_cmd(
    key: Path = typer.Option(..., "--key", help="terminal (or API client) key file"),
    now: str | None = NOW,
) -> None:
    """Print a fresh signed token from a key file (valid for 5 minutes)."""
    from gridwall.identity._keys import BadToken, terminal_token

    try:
        print(terminal_token(key.read_text("utf-8"), _now(now)))
    except (OSError, BadToken) as e:
        raise UsageError(f"--key {key}: {e}") from None


@terminal_app.command("revoke")
def terminal_revoke(
    device_id: str = typer.Argument(...), db: str | None = DB, now: str | None = NOW
) -> None:
    """Revoke a terminal (its key stops working; its sessions end)."""
    with _service(db) as svc:
        svc.revoke_terminal(device_id, _now(now))
    _err(f"terminal {device_id} revoked")


@client_app.command("register")
def client_register(
    client_id: str = typer.Argument(...),
    org: str = typer.Option(..., "--org", help="retail:<code>"),
    role: str = typer.Option("call_center", "--role"),
    out: Path | None = typer.Option(None, "--out"),
    db: str | None = DB,
    now: str | None = NOW,
) -> None:
    """Register a retailer system's API client; prints (or writes) its key file."""
    with _service(db) as svc:
        text = svc.register_api_client(client_id, org, role, _now(now))
    _write_secret(text, out)


# ---------------------------------------------------------------------------- login


def _key_token(path: Path, at: datetime) -> str:
    from gridwall.identity._keys import BadToken, terminal_token

    try:
        return terminal_token(path.read_text("utf-8"), at)
    except (OSError, BadToken) as e:
        raise UsageError(f"--terminal-key {path}: {e}") from None


@identity_app.command("login")
def login(
    account_id: str = typer.Argument(...),
    terminal_key: Path = typer.Option(..., "--terminal-key", help="the terminal's key file"),
    totp: str | None = typer.Option(None, "--totp", help="the current TOTP code"),
    password_stdin: bool = typer.Option(False, "--password-stdin"),
    db: str | None = DB,
    now: str | None = NOW,
) -> None:
    """Log in on a terminal; prints the session token (the bearer credential)."""
    from gridwall.identity._service import LoginRefused

    at = _now(now)
    pw = _password(password_stdin, confirm=False)
    with _service(db) as svc:
        try:
            res = svc.login(account_id, pw, totp, _key_token(terminal_key, at), at)
        except LoginRefused as e:
            raise _refused(e) from None
    print(res.token)
    _err(
        f"session {res.session_id} on {res.device_id}; idle timeout "
        f"{res.idle_expires_at.isoformat()}, absolute {res.absolute_expires_at.isoformat()}"
    )


@identity_app.command("logout")
def logout(
    token: str = typer.Option(..., "--token"), db: str | None = DB, now: str | None = NOW
) -> None:
    """End a session."""
    from gridwall.identity._service import LoginRefused

    with _service(db) as svc:
        try:
            sid = svc.logout(token, _now(now))
        except LoginRefused as e:
            raise _refused(e) from None
    _err(f"session {sid} ended")


@identity_app.command("whoami")
def whoami(
    token: str = typer.Option(..., "--token", help="session token or API-client token"),
    terminal_key: Path = typer.Option(..., "--terminal-key"),
    db: str | None = DB,
    now: str | None = NOW,
) -> None:
    """Authenticate as the gateway does at request time; print the facts (JSON).

    Exits 1 when the session is refused or its facts deny all access (account not
    active, another organisation's terminal, terminal not valid)."""
    from gridwall.identity._service import LoginRefused
    from gridwall.interfaces.facts import AccountState, DeviceOwner

    at = _now(now)
    with _service(db) as svc:
        try:
            p, t = svc.authenticate(token, _key_token(terminal_key, at), at)
        except LoginRefused as e:
            raise _refused(e) from None
    out = {
        "account_id": p.account_id,
        "person_id": p.person_id,
        "org": p.org,
        "session_id": p.session_id,
        "principal": {
            k: str(getattr(p.facts, k))
            if not isinstance(getattr(p.facts, k), bool)
            else getattr(p.facts, k)
            for k in p.facts.__slots__
        },
        "terminal": {
            "device_id": t.device_id,
            "owner_org": t.owner_org,
            "kind": t.facts.kind.value,
            "owner": t.facts.owner.value,
            "valid": t.facts.valid,
        },
    }
    print(json.dumps(out, ensure_ascii=False))
    if (
        p.facts.account_state is not AccountState.ACTIVE
        or t.facts.owner is not DeviceOwner.SAME_ORG
        or not t.facts.valid
    ):
        raise CheckFailed(
            f"refused: account {p.facts.account_state.value}, terminal {t.facts.owner.value}"
            f"{'' if t.facts.valid else ', terminal not valid'} (audited)"
        )


# ---------------------------------------------------------------------------- lists


@identity_app.command("watchlist")
def watchlist_cmd(
    fmt: str = typer.Option("csv", "--format", help="csv | json"),
    out: Path | None = typer.Option(None, "--out"),
    include_expired: bool = typer.Option(False, "--all", help="include ended cooling-off"),
    db: str | None = DB,
    now: str | None = NOW,
) -> None:
    """Export the cooling-off watch list (NW → retailer transfers) for the monitor."""
    import csv
    import io

    from gridwall.identity._hr import watchlist

    if fmt not in ("csv", "json"):
        raise UsageError("--format: csv | json")
    with _reader(db) as svc:
        rows = watchlist(svc, _now(now), include_expired)
    buf = io.StringIO()
    cols = ["person_id", "name", "from_org", "to_org", "effective_at", "watch_until", "account_ids"]
    if fmt == "csv":
        w = csv.DictWriter(buf, cols, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    else:
        buf.write(json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
    if out is None:
        sys.stdout.write(buf.getvalue())
    else:
        out.write_text(buf.getvalue(), "utf-8")
    _err(f"{len(rows)} person(s) on the watch list")


@identity_app.command("alerts")
def alerts_cmd(db: str | None = DB) -> None:
    """Identity alerts (shared credentials C③, other organisation's terminal C②) as JSON lines."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from gridwall.identity._models import Alert

    with _reader(db) as svc, Session(svc.engine) as s:
        for a in s.scalars(select(Alert).order_by(Alert.ts, Alert.alert_id)):
            print(
                json.dumps(
                    {
                        "alert_id": a.alert_id,
                        "rule": a.rule,
                        "incident_type": a.incident_type,
                        "severity": a.severity,
                        "account_id": a.account_id,
                        "person_id": a.person_id,
                        "org": a.org,
                        "first_ts": a.ts.isoformat(),
                        "last_ts": a.ts.isoformat(),
                        "device_ids": a.device_ids.split(";") if a.device_ids else [],
                        "session_ids": a.session_ids.split(";") if a.session_ids else [],
                        "event_ids": a.event_ids.split(";") if a.event_ids else [],
                        "supply_point_ids": [],
                        "summary": a.summary,
                    },
                    ensure_ascii=False,
                )
            )


@identity_app.command("events")
def events_cmd(
    account: str | None = typer.Option(None, "--account"),
    limit: int = typer.Option(50, "--limit"),
    db: str | None = DB,
) -> None:
    """The identity audit events (login, login_failed, logout, revocations …), newest last."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from gridwall.identity._models import AuditRecord

    with _reader(db) as svc, Session(svc.engine) as s:
        q = select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(limit)
        if account:
            q = q.where(AuditRecord.account_id == account)
        rows = list(s.scalars(q))
    for r in reversed(rows):
        ev = json.loads(r.event_json)
        print(
            f"{ev['ts']}  {ev['action']:<12} {ev['decision']:<5} {ev['account_id'] or '-':<14} "
            f"{ev.get('device_id') or '-':<10} {ev['reason']}"
        )


# ---------------------------------------------------------------------------- reviews


@review_app.command("owner")
def review_owner(
    account_id: str = typer.Argument(...),
    owner: str = typer.Option(..., "--owner", help="the owning manager (person id)"),
    db: str | None = DB,
    now: str | None = NOW,
) -> None:
    """Give an account's unowned entitlements an owning manager."""
    from gridwall.identity._governance import set_owner

    with _service(db) as svc:
        n = set_owner(svc, account_id, owner, _now(now))
    _err(f"{n} entitlement(s) of {account_id} now owned by {owner}")


@review_app.command("grant")
def review_grant(
    account_id: str = typer.Argument(...),
    kind: str = typer.Option("grant", "--kind", help="role | grant"),
    name: str = typer.Option(..., "--name"),
    owner: str = typer.Option(..., "--owner"),
    db: str | None = DB,
    now: str | None = NOW,
) -> None:
    """Register a role or grant held by an account (so that it is reviewed)."""
    from gridwall.identity._governance import add_entitlement

    with _service(db) as svc:
        eid = add_entitlement(svc, account_id, kind, name, owner, _now(now))
    print(eid)


@review_app.command("start")
def review_start(
    campaign_id: str = typer.Argument(...),
    deadline: str = typer.Option(..., "--deadline", help="RFC 3339 time or date"),
    by: str = typer.Option(..., "--by"),
    db: str | None = DB,
    now: str | None = NOW,
) -> None:
    """Open a review campaign over every live entitlement."""
    from gridwall.identity._governance import start_review

    with _service(db) as svc:
        n = start_review(svc, campaign_id, _time_opt(deadline, "--deadline"), by, _now(now))
    _err(f"campaign {campaign_id}: {n} item(s) to recertify")


@review_app.command("recertify")
def review_recertify(
    campaign_id: str = typer.Argument(...),
    account_id: str = typer.Argument(...),
    by: str = typer.Option(..., "--by", help="the owning manager"),
    revoke: bool = typer.Option(False, "--revoke", help="revoke instead of recertifying"),
    kind: str | None = typer.Option(None, "--kind"),
    name: str | None = typer.Option(None, "--name"),
    db: str | None = DB,
    now: str | None = NOW,
) -> None:
    """Recertify (or revoke) an account's pending items."""
    from gridwall.identity._governance import decide_review

    with _service(db) as svc:
        n = decide_review(
            svc, campaign_id, account_id, by, _now(now), keep=not revoke, kind=kind, name=name
        )
    _err(f"{n} item(s) {'revoked' if revoke else 'recertified'}")


@review_app.command("close")
def review_close(
    campaign_id: str = typer.Argument(...),
    by: str = typer.Option(..., "--by"),
    db: str | None = DB,
    now: str | None = NOW,
) -> None:
    """After the deadline: record pending items as lapsed."""
    from gridwall.identity._governance import close_review

    with _service(db) as svc:
        totals = close_review(svc, campaign_id, by, _now(now))
    print(json.dumps(totals))


@review_app.command("report")
def review_report_cmd(
    campaign_id: str = typer.Argument(...),
    as_json: bool = typer.Option(False, "--json"),
    db: str | None = DB,
    now: str | None = NOW,
) -> None:
    """Campaign report: outcome per item, totals."""
    from gridwall.identity._governance import review_report

    with _reader(db) as svc:
        rep = review_report(svc, campaign_id, _now(now))
    if as_json:
        print(json.dumps(rep, ensure_ascii=False, indent=1))
        return
    print(
        f"campaign {rep['campaign_id']}  deadline {rep['deadline']}  "
        f"closed {rep['closed_at'] or '-'}"
    )
    for it in rep["items"]:
        print(
            f"  {it['account_id']:<16} {it['kind']:<8} {it['name']:<28} owner "
            f"{it['owner'] or '-':<10} {it['outcome']}"
        )
    print("totals: " + ", ".join(f"{k} {v}" for k, v in rep["totals"].items()))


# ---------------------------------------------------------------------------- changes


def _print_change(v: Any) -> None:
    print(json.dumps(v.__dict__, ensure_ascii=False))


@change_app.command("request")
def change_request(
    kind: str = typer.Option(..., "--kind", help="role | permission | policy | account_reactivate"),
    subject: str = typer.Option(..., "--subject", help="e.g. policy:takuso, role:call_center"),
    value: str | None = typer.Option(None, "--value", help="the new value"),
    value_file: Path | None = typer.Option(None, "--value-file", help="new value from a file"),
    by: str = typer.Option(..., "--by", help="the requesting person"),
    reason: str | None = typer.Option(None, "--reason"),
    db: str | None = DB,
    now: str | None = NOW,
) -> None:
    """Request a versioned change; prints its id. Another person must approve it."""
    from gridwall.identity._governance import request_change

    if value_file is not None:
        try:
            value = value_file.read_text("utf-8")
        except OSError as e:
            raise UsageError(f"--value-file: {e.strerror}") from None
    with _service(db) as svc:
        cid = request_change(svc, kind, subject, value, by, _now(now), reason)
    print(cid)


@change_app.command("approve")
def change_approve(
    change_id: int = typer.Argument(...),
    by: str = typer.Option(..., "--by", help="the approver (not the requester)"),
    db: str | None = DB,
    now: str | None = NOW,
) -> None:
    """Approve and apply a pending change (two-person rule)."""
    from gridwall.identity._governance import decide_change

    with _service(db) as svc:
        _print_change(decide_change(svc, change_id, by, _now(now), approve=True))


@change_app.command("reject")
def change_reject(
    change_id: int = typer.Argument(...),
    by: str = typer.Option(..., "--by"),
    db: str | None = DB,
    now: str | None = NOW,
) -> None:
    """Reject a pending change."""
    from gridwall.identity._governance import decide_change

    with _service(db) as svc:
        _print_change(decide_change(svc, change_id, by, _now(now), approve=False))


@change_app.command("list")
def change_list(subject: str | None = typer.Option(None, "--subject"), db: str | None = DB) -> None:
    """Every change (JSON lines): old value, new value, requester, approver, version."""
    from gridwall.identity._governance import list_changes

    with _reader(db) as svc:
        for v in list_changes(svc, subject):
            _print_change(v)


# ---------------------------------------------------------------------------- training


@training_app.command("attest")
def training_attest(
    person_id: str = typer.Argument(...),
    on: str = typer.Option(..., "--date", help="completion date YYYY-MM-DD"),
    by: str = typer.Option(..., "--by", help="who attests (not the trainee)"),
    db: str | None = DB,
    now: str | None = NOW,
) -> None:
    """Record a compliance-training completion (valid 365 days: I10's training_current)."""
    from datetime import date

    from gridwall.identity._governance import attest_training

    try:
        d = date.fromisoformat(on)
    except ValueError:
        raise UsageError(f"--date: {on!r} is not YYYY-MM-DD") from None
    with _service(db) as svc:
        attest_training(svc, person_id, d, by, _now(now))
    _err(f"training of {person_id} on {d} recorded")


def register(app: typer.Typer) -> None:
    identity_app.add_typer(person_app, name="person")
    identity_app.add_typer(account_app, name="account")
    identity_app.add_typer(terminal_app, name="terminal")
    identity_app.add_typer(client_app, name="client")
    app.add_typer(hr_app, name="hr")
    app.add_typer(identity_app, name="identity")
    app.add_typer(review_app, name="review")
    app.add_typer(change_app, name="change")
    app.add_typer(training_app, name="training")
