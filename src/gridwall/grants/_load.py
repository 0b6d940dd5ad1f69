"""``gridwall load``: the dataset's ``disasters`` and ``agreements`` tables.

Called by the gateway loader inside its single transaction. Every bad row is
reported (``file:line [field]``) and nothing is written; loading the same data
twice changes nothing (rows are compared and only differing ones updated).
Disasters from a dataset are historical records: they are stored as approved
declarations (requester/approver ``dataset:<file>``) whose planned end and hard
maximum are the row's ``end_at``; the no-retroactive-start and no-overlap rules
apply to declarations made through gridwall, not to records of past ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Table, select

from gridwall.errors import InputError, InputErrors, Location
from gridwall.grants._agreements import AgreementProblem, validate_agreement
from gridwall.grants._areas import AreaError, parse_area
from gridwall.grants._models import Agreement, DisasterDeclaration
from gridwall.grants._outbox import bump_version
from gridwall.grants._validate import check_id
from gridwall.interfaces.clock import as_utc, day_start_jst

MAX_ERRORS = 50


def load_reference(
    conn: Connection, table_name: str, file_name: str, rows: Iterable[tuple[int, dict[str, Any]]]
) -> int:
    """Load ``disasters`` or ``agreements`` rows (``(line, parsed row)``); returns the number
    of rows inserted or changed. Raises :class:`InputErrors` naming every bad row."""
    if table_name == "disasters":
        prepare, table, key = _disaster_values, _table(DisasterDeclaration), "disaster_id"
    elif table_name == "agreements":
        prepare, table, key = _agreement_values, _table(Agreement), "agreement_id"
    else:
        raise InputError(f"grants does not load table {table_name!r}", Location(file_name))
    errors: list[InputError] = []
    good: list[dict[str, Any]] = []
    seen: set[str] = set()
    for line, row in rows:
        try:
            values = prepare(row, file_name, line)
            if values[key] in seen:
                raise InputError(f"duplicate {key} {values[key]!r}", Location(file_name, line, key))
            seen.add(values[key])
            good.append(values)
        except InputError as e:
            if len(errors) < MAX_ERRORS:
                errors.append(e)
    if errors:
        raise InputErrors(errors, truncated=len(errors) >= MAX_ERRORS)
    changed = _upsert(conn, table, key, good, file_name, errors)
    if errors:
        raise InputErrors(errors)
    if changed:
        bump_version(conn)
    return changed


def _upsert(
    conn: Connection,
    table: Table,
    key: str,
    rows: list[dict[str, Any]],
    file_name: str,
    errors: list[InputError],
) -> int:
    changed = 0
    col = table.c[key]
    for values in rows:
        existing = conn.execute(select(table).where(col == values[key])).mappings().first()
        if existing is None:
            conn.execute(table.insert().values(**values))
            changed += 1
            continue
        if existing["source"] != "dataset":
            where = values["source_ref"].rsplit(":", 1)
            errors.append(
                InputError(
                    f"{key} {values[key]!r} was {existing['source']} through gridwall; "
                    "a dataset cannot replace it",
                    Location(file_name, int(where[1]) if len(where) == 2 else None, key),
                )
            )
            continue
        diff = {k: v for k, v in values.items() if existing[k] != v}
        if diff:
            conn.execute(table.update().where(col == values[key]).values(**diff))
            changed += 1
    return changed


def _disaster_values(row: dict[str, Any], file: str, line: int) -> dict[str, Any]:
    try:
        did = check_id(str(row["disaster_id"]), "disaster_id")
    except ValueError as e:
        raise InputError(str(e), Location(file, line, "disaster_id")) from None
    try:
        area = parse_area(row.get("area") or [])
    except AreaError as e:
        raise InputError(str(e), Location(file, line, "area")) from None
    if area.whole_service_area:
        raise InputError("a disaster needs an area", Location(file, line, "area"))
    start, end = as_utc(row["start_at"]), as_utc(row["end_at"])
    if end <= start:
        raise InputError(
            f"end_at {end} is not after start_at {start}", Location(file, line, "end_at")
        )
    who = f"dataset:{file}"
    return {
        "disaster_id": did,
        "title": str(row.get("title") or ""),
        "area": area.canonical(),
        "start_at": start,
        "planned_end_at": end,
        "hard_max_end_at": end,
        "requested_by": who,
        "requested_at": start,
        "approved_by": who,
        "approved_at": start,
        "ended_by": None,
        "ended_at": None,
        "source": "dataset",
        "source_ref": f"{file}:{line}",
    }


def _agreement_values(row: dict[str, Any], file: str, line: int) -> dict[str, Any]:
    try:
        aid = check_id(str(row["agreement_id"]), "agreement_id")
    except ValueError as e:
        raise InputError(str(e), Location(file, line, "agreement_id")) from None
    try:
        org, purpose, fields, area = validate_agreement(
            str(row["counterparty_org"]),
            str(row["purpose"]),
            row.get("fields") or [],
            row.get("area") or [],
            row["valid_from"],
            row.get("valid_to"),
            strict_purpose=False,
        )
    except AgreementProblem as e:
        raise InputError(str(e), Location(file, line, e.field)) from None
    registered = day_start_jst(row["valid_from"])
    return {
        "agreement_id": aid,
        "counterparty_org": org,
        "purpose": purpose,
        "fields": ";".join(fields),
        "area": area.canonical(),
        "valid_from": row["valid_from"],
        "valid_to": row.get("valid_to"),
        "onward_transfer_forbidden": True,
        "registered_by": f"dataset:{file}",
        "registered_at": registered,
        "ended_by": None,
        "ended_at": None,
        "source": "dataset",
        "source_ref": f"{file}:{line}",
    }


def _table(model: type[Any]) -> Table:
    t = model.__table__
    assert isinstance(t, Table)
    return t
