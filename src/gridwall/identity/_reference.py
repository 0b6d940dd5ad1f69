"""Loading the dataset's identity tables (persons, accounts, devices) into the store.

Called by ``gridwall load`` (the gateway's loader) inside its single
transaction, once per table, parents first. Idempotent: loading the same rows
again changes nothing. Safe against data that would weaken access:

* a personal account needs a holder (a known person); shared, disaster-support
  and service IDs are imported into ``idn_legacy_accounts``, flagged, never usable;
* an account ID cannot change holder;
* a load never clears a revocation (the earlier of the stored and loaded
  ``revoked_at`` wins), so re-loading an old extract cannot revive an account
  revoked by an HR change;
* a person's assignments (existing and loaded) may not overlap.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from gridwall.errors import InputError, Location
from gridwall.identity._models import Account, Assignment, Entitlement, LegacyAccount, Person
from gridwall.identity._models import Terminal as TerminalRow
from gridwall.identity._state import valid_org
from gridwall.identity._terminals import DeviceKindOrg
from gridwall.interfaces.clock import day_start_jst

Rows = Iterable[tuple[int, dict[str, Any]]]
TABLES = ("persons", "accounts", "devices")


def load_reference(conn: Connection, table_name: str, file_name: str, rows: Rows) -> int:
    """Load one identity table from parsed dataset rows; returns the number of rows written.

    ``rows`` are ``(line, row)`` pairs from :func:`gridwall.dataset.iter_rows`.
    Raises :class:`~gridwall.errors.InputError` naming file, line and field.
    """
    if table_name not in TABLES:
        raise ValueError(f"identity does not load table {table_name!r} (only {TABLES})")
    with Session(bind=conn, autoflush=False) as s:
        if table_name == "persons":
            n = _load_persons(s, file_name, rows)
        elif table_name == "accounts":
            n = _load_accounts(s, file_name, rows)
        else:
            n = _load_devices(s, file_name, rows)
        s.flush()
        return n


def _check_org(org: str, file_name: str, line: int, field: str) -> None:
    if not valid_org(org):
        raise InputError(
            f"{field}={org!r}: must be nw, retail:<code>, contractor:<id> or regulator",
            Location(file_name, line, field),
        )


def _load_persons(s: Session, file_name: str, rows: Rows) -> int:
    by_person: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for line, r in rows:
        _check_org(r["org"], file_name, line, "org")
        if r["valid_to"] is not None and r["valid_to"] < r["valid_from"]:
            raise InputError(
                f"valid_to {r['valid_to']} is before valid_from {r['valid_from']}",
                Location(file_name, line, "valid_to"),
            )
        by_person[r["person_id"]].append((line, r))
    if not by_person:
        return 0
    persons = {p.person_id: p for p in s.scalars(select(Person))}
    existing: dict[str, dict[datetime, Assignment]] = defaultdict(dict)
    for a in s.scalars(select(Assignment)):
        existing[a.person_id][a.valid_from] = a
    now = datetime.now().astimezone()
    written = 0
    new_assignments: list[Assignment] = []
    for pid, items in by_person.items():
        items.sort(key=lambda it: it[1]["valid_from"])
        name = items[-1][1]["name"]
        p = persons.get(pid)
        if p is None:
            s.add(Person(person_id=pid, name=name, created_at=now))
            written += 1
        elif p.name != name:
            p.name = name
            written += 1
        # overlap check over existing + loaded, keyed by start. valid_to is the last
        # day (inclusive); a next assignment starting on that very day cuts it there.
        periods: dict[datetime, list[Any]] = {
            a.valid_from: [a.valid_to, None, None] for a in existing[pid].values()
        }
        for line, r in items:
            start = day_start_jst(r["valid_from"])
            if start in periods and periods[start][1] is not None:
                raise InputError(
                    f"person {pid!r} has two assignments starting {r['valid_from']}",
                    Location(file_name, line, "valid_from"),
                )
            vt = r["valid_to"]
            end = day_start_jst(vt + timedelta(days=1)) if vt is not None else None
            ex = existing[pid].get(start)
            if ex is not None and ex.valid_to is not None and (end is None or end > ex.valid_to):
                end = ex.valid_to  # never extend an assignment HR (or a load) already ended
            periods[start] = [end, line, day_start_jst(vt) if vt is not None else None]
        ordered = sorted(periods.items())
        for (_s0, p0), (s1, p1) in itertools.pairwise(ordered):
            e0, l0, last0 = p0
            if e0 is None or e0 > s1:
                if l0 is not None and last0 is not None and s1 >= last0:
                    p0[0] = s1  # hand-over on the last day: the next one starts then
                    continue
                bad = p1[1] if p1[1] is not None else l0
                raise InputError(
                    f"person {pid!r}: assignments overlap (one starting "
                    f"{s1.date()} begins before the previous one ends)",
                    Location(file_name, bad, "valid_from"),
                )
        for line, r in items:
            start = day_start_jst(r["valid_from"])
            end = periods[start][0]
            cur = existing[pid].get(start)
            vals = dict(
                org=r["org"], department=r.get("department"), role=r.get("role"), valid_to=end
            )
            if cur is None:
                new_assignments.append(
                    Assignment(
                        person_id=pid, valid_from=start, source=f"{file_name}:{line}", **vals
                    )
                )
                written += 1
            elif any(getattr(cur, k) != v for k, v in vals.items()):
                for k, v in vals.items():
                    setattr(cur, k, v)
                cur.source = f"{file_name}:{line}"
                written += 1
    s.flush()  # persons before their assignments (no ORM relationships to order them)
    s.add_all(new_assignments)
    return written


def _load_accounts(s: Session, file_name: str, rows: Rows) -> int:
    persons = set(s.scalars(select(Person.person_id)))
    accounts = {a.account_id: a for a in s.scalars(select(Account))}
    legacy = {a.account_id: a for a in s.scalars(select(LegacyAccount))}
    has_ent = set(s.scalars(select(Entitlement.account_id).where(Entitlement.kind == "account")))
    seen: dict[str, int] = {}
    written = 0
    pending_ents: list[Entitlement] = []
    for line, r in rows:
        aid, kind, org = r["account_id"], r["kind"], r["org"]
        if aid in seen:
            raise InputError(
                f"account {aid!r} repeated (first on line {seen[aid]})",
                Location(file_name, line, "account_id"),
            )
        seen[aid] = line
        _check_org(org, file_name, line, "org")
        holder = r.get("holder_person_id")
        if holder is not None and holder not in persons:
            raise InputError(
                f"holder_person_id={holder!r}: unknown person",
                Location(file_name, line, "holder_person_id"),
            )
        created, revoked = r.get("created_at"), r.get("revoked_at")
        if kind == "personal":
            if holder is None:
                raise InputError(
                    "a personal account needs a holder (shared IDs must have kind=shared)",
                    Location(file_name, line, "holder_person_id"),
                )
            if aid in legacy:
                raise InputError(
                    f"account {aid!r} was imported as {legacy[aid].kind}",
                    Location(file_name, line, "kind"),
                )
            a = accounts.get(aid)
            if a is None:
                s.add(
                    Account(
                        account_id=aid,
                        system=r["system"],
                        holder_person_id=holder,
                        kind="personal",
                        org=org,
                        created_at=created,
                        revoked_at=revoked,
                        revoke_reason="dataset" if revoked else None,
                        failed_count=0,
                        lockouts=0,
                        source=f"{file_name}:{line}",
                    )
                )
                written += 1
                if aid not in has_ent:
                    pending_ents.append(
                        Entitlement(
                            account_id=aid,
                            kind="account",
                            name=org,
                            owner_person_id=None,
                            created_at=created or datetime.now().astimezone(),
                        )
                    )
                    has_ent.add(aid)
                continue
            if a.holder_person_id != holder:
                raise InputError(
                    f"account {aid!r} belongs to {a.holder_person_id!r}; an ID is never "
                    "re-issued to another person",
                    Location(file_name, line, "holder_person_id"),
                )
            changed = False
            if (a.system, a.org, a.created_at) != (r["system"], org, created):
                a.system, a.org, a.created_at = r["system"], org, created
                changed = True
            if revoked is not None and (a.revoked_at is None or revoked < a.revoked_at):
                a.revoked_at, a.revoke_reason = revoked, "dataset"
                changed = True
            written += changed
        else:
            if aid in accounts:
                raise InputError(
                    f"account {aid!r} is a personal account; cannot become {kind}",
                    Location(file_name, line, "kind"),
                )
            flag = {
                "shared": "shared ID (共用ID): never usable; replace with personal accounts",
                "disaster_support": "shared disaster-support ID (type B): never usable",
                "service": "service ID: not a gridwall login; register an API client instead",
            }[kind]
            vals = dict(
                system=r["system"],
                holder_person_id=holder,
                kind=kind,
                org=org,
                created_at=created,
                revoked_at=revoked,
                flag=flag,
            )
            la = legacy.get(aid)
            if la is None:
                s.add(LegacyAccount(account_id=aid, source=f"{file_name}:{line}", **vals))
                written += 1
            elif any(getattr(la, k) != v for k, v in vals.items()):
                for k, v in vals.items():
                    setattr(la, k, v)
                written += 1
    s.flush()
    s.add_all(pending_ents)
    return written


def _load_devices(s: Session, file_name: str, rows: Rows) -> int:
    terms = {t.device_id: t for t in s.scalars(select(TerminalRow))}
    seen: dict[str, int] = {}
    written = 0
    for line, r in rows:
        did, org, kind = r["device_id"], r["owner_org"], r["kind"]
        if did in seen:
            raise InputError(
                f"device {did!r} repeated (first on line {seen[did]})",
                Location(file_name, line, "device_id"),
            )
        seen[did] = line
        _check_org(org, file_name, line, "owner_org")
        prefixes = DeviceKindOrg.get(kind)
        if prefixes and not any(org.startswith(p) for p in prefixes):
            raise InputError(
                f"a {kind} cannot belong to {org}", Location(file_name, line, "owner_org")
            )
        vf = day_start_jst(r["valid_from"]) if r.get("valid_from") else None
        vt = day_start_jst(r["valid_to"]) if r.get("valid_to") else None
        if vf is not None and vt is not None and vt <= vf:
            raise InputError(
                "valid_to must be after valid_from", Location(file_name, line, "valid_to")
            )
        vals = dict(
            owner_org=org, kind=kind, location=r.get("location"), valid_from=vf, valid_to=vt
        )
        t = terms.get(did)
        if t is None:
            s.add(TerminalRow(device_id=did, source=f"{file_name}:{line}", **vals))
            written += 1
        elif any(getattr(t, k) != v for k, v in vals.items()):
            if t.owner_org != org and t.public_key is not None:
                raise InputError(
                    f"device {did!r} is enrolled for {t.owner_org}; re-register it instead of "
                    "moving it to another organisation",
                    Location(file_name, line, "owner_org"),
                )
            for k, v in vals.items():
                setattr(t, k, v)
            written += 1
    return written
