"""The operator dataset layout (shared/spec/dataset.md), as one table of truth.

``gridwall synth`` writes it, ``gridwall load`` and ``gridwall monitor scan``
read it, legacy logs are mapped onto :data:`EVENTS`. Column names are a contract:
add columns freely, never rename or drop.

Types: ``str``, ``date`` (YYYY-MM-DD), ``ts`` (RFC 3339 with offset), ``int``,
``float``, ``list`` (``;``-separated in CSV, JSON array in JSON Lines, list in
Parquet). An empty cell is null.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from gridwall.errors import InputError, Location


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "str"  # str | date | ts | int | float | list
    required: bool = False
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _t(name: str, *cols: Column) -> Table:
    return Table(name, cols)


C = Column
ORG_HELP = "nw | retail:<retailer_code> | contractor:<id> | regulator"

RETAILERS = _t(
    "retailers",
    C("retailer_code", required=True),
    C("name", required=True),
    C("kind", required=True, choices=("affiliated", "independent")),
)
SUPPLY_POINTS = _t(
    "supply_points",
    C("supply_point_id", required=True),
    C("pref", required=True),
    C("city", required=True),
    C("town"),
    C("banchi"),
    C("building"),
    C("room"),
    C("contract_name"),
    C("phone"),
    C("voltage", required=True, choices=("low", "high", "extra_high")),
    C("meter_id"),
    C("status", required=True, choices=("active", "vacant", "closed")),
)
SUPPLY_CONTRACTS = _t(
    "supply_contracts",
    C("supply_point_id", required=True),
    C("retailer_code", required=True),
    C("start_date", "date", required=True),
    C("end_date", "date"),
    C("kind", required=True, choices=("retail", "lrs")),
)
FIT_CONTRACTS = _t(
    "fit_contracts",
    C("supply_point_id", required=True),
    C("generator_name", required=True),
    C("capacity_kw", "float", required=True),
    C("start_date", "date", required=True),
    C("end_date", "date"),
)
SWITCHING = _t(
    "switching",
    C("application_id", required=True),
    C("supply_point_id", required=True),
    C("kind", required=True, choices=("switch", "move_in", "move_out", "cancel")),
    C("from_retailer"),
    C("to_retailer"),
    C("applied_at", "ts", required=True),
    C("effective_date", "date"),
)
PERSONS = _t(
    "persons",
    C("person_id", required=True),
    C("name", required=True),
    C("org", required=True),
    C("department"),
    C("role"),
    C("valid_from", "date", required=True),
    C("valid_to", "date"),
)
ACCOUNTS = _t(
    "accounts",
    C("account_id", required=True),
    C("system", required=True),
    C("holder_person_id"),
    C("kind", required=True, choices=("personal", "shared", "disaster_support", "service")),
    C("org", required=True),
    C("created_at", "ts"),
    C("revoked_at", "ts"),
)
DEVICES = _t(
    "devices",
    C("device_id", required=True),
    C("owner_org", required=True),
    C(
        "kind",
        required=True,
        choices=("nw_terminal", "retail_terminal", "disaster_terminal", "contractor_terminal"),
    ),
    C("location"),
    C("valid_from", "date"),
    C("valid_to", "date"),
)
DISASTERS = _t(
    "disasters",
    C("disaster_id", required=True),
    C("area", "list", required=True),
    C("start_at", "ts", required=True),
    C("end_at", "ts", required=True),
)
AGREEMENTS = _t(
    "agreements",
    C("agreement_id", required=True),
    C("counterparty_org", required=True),
    C("purpose", required=True),
    C("fields", "list"),
    C("area", "list"),
    C("valid_from", "date", required=True),
    C("valid_to", "date"),
)
EVENTS = _t(
    "events",
    C("event_id", required=True),
    C("ts", "ts", required=True),
    C("system", required=True),
    C("account_id", required=True),
    C("device_id"),
    C("source_ip"),
    C("session_id"),
    C(
        "action",
        required=True,
        choices=("login", "login_failed", "logout", "view", "search", "export", "update"),
    ),
    C("screen"),
    C("purpose"),
    C("supply_point_ids", "list"),
    C("query"),
    C("fields", "list"),
    C("result_count", "int"),
    C("recipient_org"),
    C("decision", required=True, choices=("allow", "deny")),
)
ALERT_FIELDS = (
    "alert_id",
    "rule",
    "incident_type",
    "severity",
    "account_id",
    "person_id",
    "org",
    "first_ts",
    "last_ts",
    "event_ids",
    "supply_point_ids",
    "summary",
    "related",  # other rules' findings on the same events (the alert's type leads them)
)
INCIDENT_TYPES = (
    "A",
    "B",
    "C1",
    "C2",
    "C3",
    "R1",
    "R2",
    "R3",
    "R4",
    "R5",
    "R6",
    "LRS",
    "FIT",
    "ANOMALY",
)

#: Reference tables in load order (parents first).
REFERENCE_TABLES: tuple[Table, ...] = (
    RETAILERS,
    SUPPLY_POINTS,
    SUPPLY_CONTRACTS,
    FIT_CONTRACTS,
    SWITCHING,
    PERSONS,
    ACCOUNTS,
    DEVICES,
    DISASTERS,
    AGREEMENTS,
)
TABLES: dict[str, Table] = {t.name: t for t in (*REFERENCE_TABLES, EVENTS)}


# ---------------------------------------------------------------------------
# Cell parsing


def parse_cell(col: Column, raw: Any, where: Location) -> Any:
    """Parse one cell (CSV text, or a JSON/Parquet value) to its Python value.

    Raises :class:`InputError` naming ``where`` when the value does not fit.
    """
    if raw is None or raw == "":
        if col.required:
            raise InputError(f"{col.name} is required", where)
        return [] if col.type == "list" else None
    try:
        if col.type == "str":
            v = str(raw)
            if col.choices and v not in col.choices:
                raise InputError(
                    f"{col.name}={v!r}: must be one of {', '.join(col.choices)}", where
                )
            return v
        if col.type == "date":
            return (
                raw
                if isinstance(raw, date) and not isinstance(raw, datetime)
                else date.fromisoformat(str(raw))
            )
        if col.type == "ts":
            if isinstance(raw, datetime):
                dt = raw
            else:
                dt = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
            if dt.tzinfo is None:
                raise InputError(f"{col.name}={raw!r}: time needs an offset (RFC 3339)", where)
            return dt
        if col.type == "int":
            return int(raw)
        if col.type == "float":
            return float(raw)
        if col.type == "list":
            if isinstance(raw, str):
                return [x for x in raw.split(";") if x != ""]
            return [str(x) for x in raw]
    except InputError:
        raise
    except (ValueError, TypeError) as e:
        raise InputError(f"{col.name}={raw!r}: not a valid {col.type} ({e})", where) from None
    raise AssertionError(col.type)


def format_cell(col: Column, v: Any) -> str:
    """Format a Python value as a CSV cell."""
    if v is None:
        return ""
    if col.type == "list":
        return ";".join(str(x) for x in v)
    if col.type in ("date", "ts") and hasattr(v, "isoformat"):
        return str(v.isoformat())
    return str(v)


def find_table_file(directory: Path, table: Table) -> Path | None:
    """The file holding ``table`` in a dataset folder (CSV, Parquet, or JSON Lines for events)."""
    for ext in (".csv", ".parquet", ".jsonl"):
        p = directory / f"{table.name}{ext}"
        if p.exists():
            return p
    return None


def iter_rows(path: Path, table: Table) -> Iterator[tuple[int, dict[str, Any]]]:
    """Stream ``(line, row)`` from a table file, parsed and validated.

    ``line`` is the 1-based physical line in CSV / JSON Lines (header = 1), the
    1-based row number in Parquet. Unknown extra columns are kept as text.
    Missing required columns raise at once, naming the file.
    """
    name = path.name
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            _check_header(path, table, header)
            for row in reader:
                line = reader.line_num
                if None in row:
                    raise InputError("more cells than header columns", Location(name, line))
                yield line, _parse_row(table, row, name, line)
    elif path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as f:
            for i, text in enumerate(f, start=1):
                if not text.strip():
                    continue
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as e:
                    raise InputError(f"not valid JSON ({e.msg})", Location(name, i)) from None
                if not isinstance(obj, dict):
                    raise InputError("not a JSON object", Location(name, i))
                yield i, _parse_row(table, obj, name, i)
    elif path.suffix == ".parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        _check_header(path, table, pf.schema_arrow.names)
        i = 0
        for batch in pf.iter_batches(batch_size=65536):
            for row in batch.to_pylist():
                i += 1
                yield i, _parse_row(table, row, name, i)
    else:
        raise InputError(f"unsupported file type {path.suffix!r}", Location(name))


def _check_header(path: Path, table: Table, header: Sequence[str]) -> None:
    missing = [c.name for c in table.columns if c.required and c.name not in header]
    if missing:
        raise InputError(
            f"missing column(s) {', '.join(missing)} for table {table.name}", Location(path.name, 1)
        )


def _parse_row(table: Table, raw: dict[str, Any], file: str, line: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for col in table.columns:
        out[col.name] = parse_cell(col, raw.get(col.name), Location(file, line, col.name))
    for k, v in raw.items():
        if k not in out and k is not None:
            out[k] = v
    return out


class CsvTableWriter:
    """Streaming CSV writer for one dataset table (RFC 4180 quoting, UTF-8)."""

    def __init__(self, directory: Path, table: Table, extra: tuple[str, ...] = ()) -> None:
        self.table = table
        self.path = directory / f"{table.name}.csv"
        self._f = self.path.open("w", newline="", encoding="utf-8")
        self._cols = table.column_names + list(extra)
        self._w = csv.writer(self._f, lineterminator="\n")
        self._w.writerow(self._cols)
        self._by_name = {c.name: c for c in table.columns}

    def write(self, row: dict[str, Any]) -> None:
        out = []
        for name in self._cols:
            col = self._by_name.get(name, Column(name))
            out.append(format_cell(col, row.get(name)))
        self._w.writerow(out)

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> CsvTableWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
