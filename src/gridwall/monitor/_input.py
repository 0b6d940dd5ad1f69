"""Reading an operator dataset (shared spec ``dataset.md``) with DuckDB, typed and streaming.

Every table is read by DuckDB directly (``read_csv`` / ``read_json`` / ``read_parquet``) with
explicit column types, so nothing is guessed and nothing is loaded into Python: DuckDB streams
the files and spills to disk when a step does not fit in memory. Lists are ``;``-split in CSV.

The result is a set of *normalised* relations that the rules read (on either engine):

* ``events``: one row per access event; ``ts`` as a UTC ``TIMESTAMP``; lists as ``VARCHAR[]``.
* reference tables with time-aware validity turned into half-open intervals
  ``[valid_from, valid_until)`` over JST dates (``persons``, ``contracts``, ``devices``), so a
  point in time matches exactly one assignment even when an export repeats a boundary day.
* ``disaster_areas``: one row per declared disaster and area entry (``pref`` or ``pref/city``).
* ``agreement_fields``: one row per agreement and covered field.

Bad rows in a dataset's events are an input error naming the file, row and field (nothing is
written); legacy logs go through a mapping (:mod:`gridwall.monitor._mapping`) which rejects
rows into a rejects file instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridwall.dataset import EVENTS, REFERENCE_TABLES, TABLES, Column, Table, find_table_file
from gridwall.errors import InputError, Location

#: DuckDB type per dataset column type.
_SQL_TYPE = {
    "str": "VARCHAR",
    "date": "DATE",
    "ts": "TIMESTAMP",
    "int": "BIGINT",
    "float": "DOUBLE",
    "list": "VARCHAR[]",
}
EVENT_FILE_SUFFIXES = (".parquet", ".csv", ".jsonl")


def q(s: str) -> str:
    """A SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


def _qi(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _cast(col: Column, ref: str, *, source: str, native: str | None = None) -> str:
    """SQL turning raw column ``ref`` (text for CSV/JSON, native for Parquet) into its type.

    ``native`` is the Parquet column's DuckDB type: when it already is the right type the
    value is used as is (no text round trip: that is what makes 10⁸ rows cheap).
    """
    if col.type == "list":
        if source == "csv":
            return (
                f"CASE WHEN {ref} IS NULL THEN []::VARCHAR[] "
                f"ELSE list_filter(string_split({ref}, ';'), lambda x: x <> '') END"
            )
        if native == "VARCHAR[]":
            return f"coalesce({ref}, []::VARCHAR[])"
        return f"coalesce(CAST({ref} AS VARCHAR[]), []::VARCHAR[])"
    if col.type == "ts":
        # RFC 3339 with an offset → UTC wall time (TIMESTAMP). epoch_us avoids a time-zone
        # conversion per row. A time without an offset is rejected below.
        if native == "TIMESTAMP WITH TIME ZONE":
            return f"make_timestamp(epoch_us({ref}))"
        if native is not None and native.startswith("TIMESTAMP"):
            return f"CAST({ref} AS TIMESTAMP)"  # a Parquet time without zone: taken as UTC
        return f"make_timestamp(epoch_us(TRY_CAST(CAST({ref} AS VARCHAR) AS TIMESTAMPTZ)))"
    if col.type == "str":
        if native == "VARCHAR":
            return f"NULLIF({ref}, '')"
        return f"NULLIF(CAST({ref} AS VARCHAR), '')"
    if native is not None and native == _SQL_TYPE[col.type]:
        return ref
    return f"TRY_CAST(NULLIF(CAST({ref} AS VARCHAR), '') AS {_SQL_TYPE[col.type]})"


def _problems(
    col: Column, raw: str, typed: str, *, source: str, native: str | None = None
) -> list[tuple[str, str]]:
    """(condition, message) pairs: SQL conditions that make a row bad for this column."""
    out: list[tuple[str, str]] = []
    if native is not None and native != "VARCHAR":
        present = f"({raw} IS NOT NULL)"
    else:
        present = f"({raw} IS NOT NULL AND CAST({raw} AS VARCHAR) <> '')"
    if col.required and col.type != "list":
        out.append((f"NOT {present}", f"{col.name} is required"))
    if col.type in ("date", "int", "float") and typed != raw:
        out.append((f"{present} AND {typed} IS NULL", f"{col.name}: not a valid {col.type}"))
    if col.type == "ts":
        if native is not None and native.startswith("TIMESTAMP"):
            pass
        elif source == "parquet":
            out.append((f"{present} AND {typed} IS NULL", f"{col.name}: not a valid time"))
        else:
            out.append(
                (
                    f"{present} AND ({typed} IS NULL OR NOT regexp_matches("
                    f"CAST({raw} AS VARCHAR), '(Z|z|[+-][0-9][0-9]:?[0-9][0-9])$'))",
                    f"{col.name}: not an RFC 3339 time with an offset",
                )
            )
    if col.choices:
        choices = ", ".join(q(c) for c in col.choices)
        val = raw if native == "VARCHAR" else f"CAST({raw} AS VARCHAR)"
        out.append(
            (
                f"{present} AND {val} NOT IN ({choices})",
                f"{col.name}: must be one of {', '.join(col.choices)}",
            )
        )
    return out


def _reader(path: Path, table: Table, present: list[str]) -> str:
    """A DuckDB table function reading ``path`` with every known column as text (CSV/JSON)."""
    p = q(str(path))
    if path.suffix == ".parquet":
        return f"read_parquet({p})"
    if path.suffix == ".csv":
        cols = ", ".join(f"{q(c)}: 'VARCHAR'" for c in present)
        return (
            f"read_csv({p}, header=true, auto_detect=false, delim=',', quote='\"', "
            f"escape='\"', columns={{{cols}}}, strict_mode=true)"
        )
    if path.suffix == ".jsonl":
        types = {c.name: ("VARCHAR[]" if c.type == "list" else "VARCHAR") for c in table.columns}
        cols = ", ".join(f"{q(c)}: {q(types.get(c, 'VARCHAR'))}" for c in present)
        return f"read_json({p}, format='newline_delimited', columns={{{cols}}})"
    raise InputError(f"unsupported file type {path.suffix!r}", Location(path.name))


def _parquet_types(con: Any, path: Path) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE SELECT * FROM read_parquet({q(str(path))})").fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def _header(con: Any, path: Path) -> list[str]:
    """Column names of a table file, without reading its rows."""
    if path.suffix == ".parquet":
        return list(_parquet_types(con, path))
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as f:
            import csv

            first = next(csv.reader(f), None)
        if first is None:
            raise InputError("empty file (no header row)", Location(path.name, 1))
        return [c.strip() for c in first]
    # JSON Lines: the union of keys is what DuckDB would infer; we only need the known ones.
    return [c.name for c in TABLES["events"].columns]


@dataclass(frozen=True)
class TableSource:
    """A table file and the SQL selecting its typed, validated columns."""

    path: Path
    table: Table
    select_sql: str  # typed columns + "_problem" (NULL when the row is good)


#: Customers' consents (gridwall.grants' consent records, exported as a dataset table): the
#: monitor's own optional input, beside the reference tables of the shared layout. A consent
#: lets its retailer read the usage of its point, for the consent purpose, while in force.
CONSENTS = Table(
    "consents",
    (
        Column("token_id", required=True),
        Column("supply_point_id", required=True),
        Column("retailer_code", required=True),
        Column("issued_at", "ts", required=True),
        Column("expires_at", "ts", required=True),
        Column("revoked_at", "ts"),
    ),
)

#: Every reference table a scan may read, in load order.
MONITOR_REFERENCE: tuple[Table, ...] = (*REFERENCE_TABLES, CONSENTS)

#: The events as the monitor reads them: gridwall's own log writes administrative events
#: that name no account (a refused login of an unknown ID, an HR step, a request before
#: sign-in). They are read — and attributed to nobody — as long as they touch no customer's
#: data; a login, or an event naming supply points or fields, still needs its account.
MONITOR_EVENTS = Table(
    EVENTS.name,
    tuple(
        Column(c.name, c.type, required=False, choices=c.choices) if c.name == "account_id" else c
        for c in EVENTS.columns
    ),
)
_ACCOUNT_NEEDED = "account_id is required for a login or an event naming supply points or fields"


def _account_problem(raw: dict[str, str], typed: dict[str, str]) -> tuple[str, str]:
    acc = raw["account_id"]
    missing = f"({acc} IS NULL OR CAST({acc} AS VARCHAR) = '')"
    touches = (
        f"(CAST({raw['action']} AS VARCHAR) = 'login' OR len({typed['supply_point_ids']}) > 0 "
        f"OR len({typed['fields']}) > 0)"
    )
    return f"{missing} AND {touches}", _ACCOUNT_NEEDED


def table_source(
    con: Any, path: Path, table: Table, keep: frozenset[str] | None = None
) -> TableSource:
    """Typed SQL over one table file. Missing required columns raise at once.

    ``keep`` is the projection (data minimisation, :mod:`gridwall.monitor._columns`): only
    these columns are read and validated; every other column is a typed NULL, so its values
    never reach DuckDB. ``None`` reads every column.
    """
    header = _header(con, path)
    missing = [c.name for c in table.columns if c.required and c.name not in header]
    if missing:
        raise InputError(
            f"missing column(s) {', '.join(missing)} for table {table.name}",
            Location(path.name, 1),
        )
    source = path.suffix.lstrip(".")
    natives = _parquet_types(con, path) if source == "parquet" else {}
    known = [c.name for c in table.columns if c.name in header]
    # canary requests (gridwall's own self-tests, marked by the server) are not misuse:
    # an event with "canary": true never reaches a rule (issue 17 item 2)
    marked = table is MONITOR_EVENTS and (source == "jsonl" or "canary" in header)
    present = header if source == "csv" else known + (["canary"] if source == "jsonl" else [])
    reader = _reader(path, table, present if marked or source == "csv" else known)
    selects: list[str] = []
    problems: list[tuple[str, str]] = []
    raws: dict[str, str] = {}
    typeds: dict[str, str] = {}
    for col in table.columns:
        if col.name in header and (keep is None or col.name in keep):
            raw = f"r.{_qi(col.name)}"
            native = natives.get(col.name)
            typed = _cast(col, raw, source=source, native=native)
            problems += _problems(col, raw, typed, source=source, native=native)
        else:
            raw = "NULL"
            typed = "[]::VARCHAR[]" if col.type == "list" else f"NULL::{_SQL_TYPE[col.type]}"
        raws[col.name], typeds[col.name] = raw, typed
        selects.append(f"{typed} AS {_qi(col.name)}")
    if table is MONITOR_EVENTS:
        problems.append(_account_problem(raws, typeds))
    if problems:
        case = " ".join(f"WHEN {cond} THEN {q(msg)}" for cond, msg in problems)
        selects.append(f"CASE {case} ELSE NULL END AS _problem")
    else:
        selects.append("NULL::VARCHAR AS _problem")
    sql = f"SELECT {', '.join(selects)} FROM {reader} r"
    if marked:
        sql += " WHERE coalesce(lower(CAST(r.\"canary\" AS VARCHAR)) NOT IN ('true', '1'), true)"
    return TableSource(path, table, sql)


def check_source(con: Any, src: TableSource, limit: int = 5) -> None:
    """Raise an :class:`InputError` naming file, row and field for the first bad rows."""
    bad = con.execute(
        f"SELECT count(*) FROM ({src.select_sql}) WHERE _problem IS NOT NULL"
    ).fetchone()[0]
    if not bad:
        return
    # Locate them: row numbers in file order (header = line 1 for CSV).
    offset = 1 if src.path.suffix == ".csv" else 0
    rows = con.execute(
        f"SELECT n, _problem FROM (SELECT row_number() OVER () + {offset} AS n, _problem "
        f"FROM ({src.select_sql})) WHERE _problem IS NOT NULL ORDER BY n LIMIT {limit}"
    ).fetchall()
    n, msg = rows[0]
    field = msg.split(":")[0].split(" ")[0]
    more = f" ({bad} bad row(s) in all)" if bad > 1 else ""
    raise InputError(msg + more, Location(src.path.name, int(n), field))


def event_files(directory: Path) -> list[Path]:
    """The events of a dataset: ``events.{parquet,csv,jsonl}`` and/or ``events/*`` parts."""
    out: list[Path] = []
    single = find_table_file(directory, EVENTS)
    if single is not None:
        out.append(single)
    parts = directory / "events"
    if parts.is_dir():
        out += sorted(p for p in parts.iterdir() if p.suffix in EVENT_FILE_SUFFIXES)
    return out


# ---------------------------------------------------------------------------
# Reference tables, normalised

#: SQL for each normalised reference relation, given ``{name}`` = the typed source relation.
_NORMALISE = {
    # persons: one row per assignment, half-open over JST dates. A later assignment of the
    # same person cuts the earlier one short, so a transfer never yields two orgs at once.
    "persons": """
        SELECT person_id, org, role, valid_from,
               least(coalesce(valid_to + 1, DATE '9999-12-31'),
                     coalesce(lead(valid_from) OVER (PARTITION BY person_id
                              ORDER BY valid_from, coalesce(valid_to, DATE '9999-12-31')),
                              DATE '9999-12-31')) AS valid_until
        FROM {persons}""",
    "contracts": """
        SELECT supply_point_id, retailer_code, kind, start_date,
               least(coalesce(end_date + 1, DATE '9999-12-31'),
                     coalesce(lead(start_date) OVER (PARTITION BY supply_point_id
                              ORDER BY start_date, coalesce(end_date, DATE '9999-12-31')),
                              DATE '9999-12-31')) AS valid_until
        FROM {supply_contracts}""",
    "devices": """
        SELECT device_id, owner_org, kind,
               coalesce(valid_from, DATE '0001-01-01') AS valid_from,
               coalesce(valid_to + 1, DATE '9999-12-31') AS valid_until
        FROM {devices}""",
    "accounts": """
        SELECT account_id, any_value(holder_person_id) AS holder_person_id,
               any_value(kind) AS kind, any_value(org) AS org, max(revoked_at) AS revoked_at
        FROM {accounts} GROUP BY account_id""",
    "switching": "SELECT * FROM {switching}",
    "supply_points": "SELECT supply_point_id, pref, city FROM {supply_points}",
    "disaster_areas": """
        SELECT disaster_id, start_at, end_at,
               split_part(a, '/', 1) AS pref, NULLIF(split_part(a, '/', 2), '') AS city
        FROM (SELECT disaster_id, start_at, end_at, unnest(area) AS a FROM {disasters})""",
    "agreements": """
        SELECT agreement_id, counterparty_org, purpose, valid_from,
               coalesce(valid_to + 1, DATE '9999-12-31') AS valid_until,
               len(area) = 0 AS whole_area
        FROM {agreements}""",
    "agreement_fields": """
        SELECT agreement_id, unnest(fields) AS field FROM {agreements}""",
    "agreement_areas": """
        SELECT agreement_id, split_part(a, '/', 1) AS pref,
               NULLIF(split_part(a, '/', 2), '') AS city
        FROM (SELECT agreement_id, unnest(area) AS a FROM {agreements})""",
    # a consent is in force from its issue until it expires or is revoked, whichever is first
    "consents": """
        SELECT token_id, supply_point_id, retailer_code,
               CAST(epoch(issued_at) AS BIGINT) AS from_s,
               CAST(epoch(least(expires_at, coalesce(revoked_at, expires_at))) AS BIGINT)
                   AS until_s
        FROM {consents}""",
}
REFERENCE_NAMES = tuple(_NORMALISE)


def register_reference(
    con: Any,
    directory: Path,
    *,
    check: bool = True,
    columns: Mapping[str, frozenset[str]] | None = None,
) -> None:
    """Create tables ``ref_<name>`` for the normalised reference tables of a dataset folder.

    A table the dataset does not have is an empty relation (a dataset without disasters is a
    normal dataset). Reference tables are small next to events and are materialised.
    ``columns`` is the projection per table (see :func:`table_source`); a table none of
    whose columns is needed is not opened at all.
    """
    for table in MONITOR_REFERENCE:
        keep = None if columns is None else columns.get(table.name, frozenset())
        path = None if keep == frozenset() else find_table_file(directory, table)
        name = f"src_{table.name}"
        if path is None:
            cols = ", ".join(
                f"{'[]::VARCHAR[]' if c.type == 'list' else f'NULL::{_SQL_TYPE[c.type]}'} "
                f"AS {_qi(c.name)}"
                for c in table.columns
            )
            con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {cols} LIMIT 0")
            continue
        src = table_source(con, path, table, keep)
        if check:
            check_source(con, src)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {src.select_sql}")
    fmt = {t.name: f"src_{t.name}" for t in MONITOR_REFERENCE}
    for ref, sql in _NORMALISE.items():
        con.execute(f"CREATE OR REPLACE TEMP TABLE ref_{ref} AS {sql.format(**fmt)}")


EVENT_COLUMNS = tuple(c.name for c in EVENTS.columns)


def events_sql(
    con: Any, files: list[Path], *, check: bool = False, keep: frozenset[str] | None = None
) -> str:
    """SQL for the typed union of event files (a streaming relation, never materialised).

    ``_problem`` says why a row is bad (NULL when good); the scan counts bad rows in its
    first pass and then calls :func:`check_source` to name the first one. ``keep`` is the
    projection (see :func:`table_source`).
    """
    parts = []
    for path in files:
        src = table_source(con, path, MONITOR_EVENTS, keep)
        if check:
            check_source(con, src)
        cols = ", ".join(_qi(c) for c in (*EVENT_COLUMNS, "_problem"))
        parts.append(f"SELECT {cols} FROM ({src.select_sql})")
    if not parts:
        cols = ", ".join(
            f"{'[]::VARCHAR[]' if c.type == 'list' else f'NULL::{_SQL_TYPE[c.type]}'} "
            f"AS {_qi(c.name)}"
            for c in EVENTS.columns
        )
        return f"SELECT {cols}, NULL::VARCHAR AS _problem LIMIT 0"
    return " UNION ALL ".join(parts)
