"""HR-driven lifecycle (人事異動): hires, transfers and exits from an HR change file.

``gridwall hr import FILE`` reads a CSV with the columns

    person_id, name, org, department, role, effective_at[, change]

``effective_at`` is RFC 3339 (``2026-04-01T09:00:00+09:00``) or a date (00:00 JST).
``change`` is ``hire`` (a new person), ``transfer`` (the default: a new
assignment, in the same or another organisation) or ``leave`` (退職; also
implied by an empty ``org``).

Applying a change closes the current assignment at the effective instant and
opens the new one, and revokes — at that same instant — every account of an
organisation the person no longer belongs to, with all its sessions. Nothing
waits for a batch job: the revocation is a stored instant compared with the
clock of each request, so a change dated in the future takes effect exactly
then, and one dated in the past takes effect at once (reported as a warning).
People who move from NW to a retailer go on the cooling-off watch list.

The whole file is one transaction: any bad row (unknown person, overlapping
assignments, bad organisation) and nothing is applied.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridwall.errors import InputError, InputErrors, Location
from gridwall.identity._models import Account, Assignment, HrChange, Person, WatchEntry
from gridwall.identity._service import IdentityService
from gridwall.identity._state import assignment_at, valid_org
from gridwall.interfaces.clock import as_utc, parse_instant

REQUIRED = ("person_id", "effective_at")
CHANGES = ("hire", "transfer", "leave")


@dataclass(frozen=True)
class HrRow:
    line: int
    person_id: str
    name: str | None
    org: str | None
    department: str | None
    role: str | None
    effective_at: datetime
    change: str


@dataclass
class HrReport:
    applied: int = 0
    revoked_accounts: list[str] = field(default_factory=list)
    watchlisted: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def read_hr_file(path: Path) -> list[HrRow]:
    """Parse and check the shape of an HR change file (every error names file/line/field)."""
    name = path.name
    try:
        f = path.open(newline="", encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", Location(str(path))) from None
    rows: list[HrRow] = []
    errors: list[InputError] = []
    with f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise InputError(f"missing column(s): {', '.join(missing)}", Location(name, 1))
        for raw in reader:
            line = reader.line_num
            try:
                rows.append(_parse(raw, name, line))
            except InputError as e:
                errors.append(e)
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors[:50], len(errors) > 50)
    return rows


def _cell(raw: dict[str, Any], key: str) -> str | None:
    v = raw.get(key)
    return v.strip() or None if isinstance(v, str) else None


def _parse(raw: dict[str, Any], file: str, line: int) -> HrRow:
    if None in raw:
        raise InputError("more cells than header columns", Location(file, line))
    pid = _cell(raw, "person_id")
    if pid is None:
        raise InputError("person_id is required", Location(file, line, "person_id"))
    eff_text = _cell(raw, "effective_at")
    if eff_text is None:
        raise InputError("effective_at is required", Location(file, line, "effective_at"))
    try:
        eff = parse_instant(eff_text)
    except ValueError as e:
        raise InputError(
            f"effective_at={eff_text!r}: {e}", Location(file, line, "effective_at")
        ) from None
    org = _cell(raw, "org")
    change = _cell(raw, "change") or ("transfer" if org else "leave")
    if change not in CHANGES:
        raise InputError(
            f"change={change!r}: must be one of {', '.join(CHANGES)}",
            Location(file, line, "change"),
        )
    if change == "leave" and org is not None:
        raise InputError("a leave has no new org (leave org empty)", Location(file, line, "org"))
    if change != "leave":
        if org is None:
            raise InputError(f"org is required for a {change}", Location(file, line, "org"))
        if not valid_org(org):
            raise InputError(
                f"org={org!r}: must be nw, retail:<code>, contractor:<id> or regulator",
                Location(file, line, "org"),
            )
    name = _cell(raw, "name")
    if change == "hire" and name is None:
        raise InputError("name is required for a hire", Location(file, line, "name"))
    return HrRow(line, pid, name, org, _cell(raw, "department"), _cell(raw, "role"), eff, change)


def apply_hr_changes(
    svc: IdentityService, rows: list[HrRow], file_name: str, now: datetime
) -> HrReport:
    """Apply HR changes in one transaction; raise InputError(s) and apply nothing on bad input."""
    now = as_utc(now)
    report = HrReport()
    errors: list[InputError] = []
    order = sorted(rows, key=lambda r: (r.person_id, r.effective_at, r.line))
    with svc.transaction() as (s, events):
        seen: dict[tuple[str, datetime], int] = {}
        for r in order:
            where = Location(file_name, r.line)
            key = (r.person_id, r.effective_at)
            if key in seen:
                errors.append(
                    InputError(
                        f"person {r.person_id!r} has two changes effective "
                        f"{r.effective_at.isoformat()} (also line {seen[key]}): "
                        "assignments would overlap",
                        Location(file_name, r.line, "effective_at"),
                    )
                )
                continue
            seen[key] = r.line
            try:
                _apply_one(svc, s, events, r, file_name, now, report)
            except InputError as e:
                errors.append(InputError(e.message, e.where or where))
        if errors:
            s.rollback()
            raise errors[0] if len(errors) == 1 else InputErrors(errors[:50], len(errors) > 50)
    return report


def _apply_one(
    svc: IdentityService,
    s: Session,
    events: list[dict[str, Any]],
    r: HrRow,
    file_name: str,
    now: datetime,
    report: HrReport,
) -> None:
    loc = f"{file_name}:{r.line}"
    person = s.get(Person, r.person_id)
    if r.change == "hire":
        if person is not None:
            raise InputError(
                f"person {r.person_id!r} already exists (use change=transfer)",
                Location(file_name, r.line, "person_id"),
            )
        s.add(Person(person_id=r.person_id, name=r.name or r.person_id, created_at=now))
        s.flush()
    elif person is None:
        raise InputError(
            f"unknown person {r.person_id!r} (a new person needs change=hire)",
            Location(file_name, r.line, "person_id"),
        )
    elif r.name and person.name != r.name:
        person.name = r.name
    s.flush()
    later = s.scalars(
        select(Assignment).where(
            Assignment.person_id == r.person_id, Assignment.valid_from >= r.effective_at
        )
    ).first()
    if later is not None:
        raise InputError(
            f"person {r.person_id!r} already has an assignment from "
            f"{later.valid_from.isoformat()}; this change would overlap it",
            Location(file_name, r.line, "effective_at"),
        )
    cur = assignment_at(s, r.person_id, r.effective_at)
    if r.change == "leave" and cur is None:
        raise InputError(
            f"person {r.person_id!r} has no assignment at {r.effective_at.isoformat()} to leave",
            Location(file_name, r.line, "effective_at"),
        )
    if r.effective_at < now:
        report.warnings.append(
            f"{file_name}:{r.line} [effective_at]: {r.effective_at.isoformat()} is in the past; "
            "applied at once (revocations count from that instant)"
        )
    old_org = cur.org if cur else None
    if cur is not None:
        cur.valid_to = r.effective_at
    if r.change != "leave":
        s.add(
            Assignment(
                person_id=r.person_id,
                org=r.org,
                department=r.department,
                role=r.role or (cur.role if cur and cur.org == r.org else None),
                valid_from=r.effective_at,
                valid_to=None,
                source=loc,
            )
        )
    s.add(
        HrChange(
            person_id=r.person_id,
            change=r.change,
            org=r.org,
            department=r.department,
            role=r.role,
            effective_at=r.effective_at,
            applied_at=now,
            source=loc,
        )
    )
    reason = "left" if r.change == "leave" else "transferred"
    for acct in s.scalars(select(Account).where(Account.holder_person_id == r.person_id)):
        if acct.org != r.org and (acct.revoked_at is None or acct.revoked_at > r.effective_at):
            svc._revoke(s, events, acct, r.effective_at, reason, screen="identity/hr", now=now)
            report.revoked_accounts.append(acct.account_id)
    if old_org == "nw" and r.org is not None and r.org.startswith("retail:"):
        until = r.effective_at + timedelta(days=svc.config.cooling_off_days)
        s.add(
            WatchEntry(
                person_id=r.person_id,
                effective_at=r.effective_at,
                from_org="nw",
                to_org=r.org,
                until=until,
                source=loc,
            )
        )
        report.watchlisted.append(r.person_id)
    events.append(
        svc.event(
            now,
            "update",
            decision="allow",
            screen="identity/hr",
            reason=f"HR {r.change} effective {r.effective_at.isoformat()}: "
            f"{old_org or '-'} -> {r.org or '-'} ({loc})",
            person_id=r.person_id,
            org=r.org or old_org,
        )
    )
    report.applied += 1


def watchlist(
    svc: IdentityService, now: datetime, include_expired: bool = False
) -> list[dict[str, str]]:
    """The cooling-off watch list for the monitor (one row per move from NW to a retailer)."""
    with Session(svc.engine) as s:
        q = select(WatchEntry, Person.name).join(Person, Person.person_id == WatchEntry.person_id)
        out = []
        for w, name in s.execute(q.order_by(WatchEntry.effective_at, WatchEntry.person_id)):
            if not include_expired and w.until <= now:
                continue
            out.append(
                {
                    "person_id": w.person_id,
                    "name": name,
                    "from_org": w.from_org,
                    "to_org": w.to_org,
                    "effective_at": w.effective_at.isoformat(),
                    "watch_until": w.until.isoformat(),
                    "account_ids": ";".join(
                        s.scalars(
                            select(Account.account_id)
                            .where(Account.holder_person_id == w.person_id)
                            .order_by(Account.account_id)
                        )
                    ),
                }
            )
        return out
