"""``gridwall load DIR``: the dataset's reference tables into the store, all or nothing.

One transaction for the whole folder. Every row is validated (cell types and
choices from :mod:`gridwall.dataset`, supply point IDs, references between
tables, date order, duplicates); every bad row is reported (up to a cap) with
``file:line [column]`` and then the transaction is rolled back, so nothing is
written. Writing is an upsert that only touches rows whose values differ, so
loading the same data twice changes nothing.

Persons/accounts/devices belong to identity and disasters/agreements to grants: the
caller (the app layer, :func:`gridwall.app.wiring.load_dataset`) hands in their
``load_reference(conn, table_name, file_name, rows)`` as ``reference_loaders``, and each
is called inside the same transaction. The gateway knows nothing of those packages.

Which supply points a load inserted or updated (an upsert that changed nothing is not
counted) is handed, still inside the transaction, to ``on_points_changed`` — the app layer
feeds exactly those to the lookup's incremental refresh, so a failing refresh rolls the load
back too. The loader never deletes a point: a point leaves the lookup when its status becomes
``closed``.

We read rows with our own tolerant reader (on :func:`gridwall.dataset.parse_cell`)
rather than :func:`gridwall.dataset.iter_rows`, because the latter stops at the
first bad cell and the loader must report all of them.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from gridwall import dataset
from gridwall.errors import InputError, InputErrors, Location
from gridwall.interfaces import PointsChanged, ReferenceLoader
from gridwall.store.customer import (
    FitContract,
    MonthlyUsage,
    Retailer,
    SupplyContract,
    SupplyPoint,
    SwitchingApplication,
    is_valid_supply_point_id,
)

#: ``usage.csv`` (monthly kWh) is not part of the shared layout; the synth helper writes it.
USAGE = dataset.Table(
    "usage",
    (
        dataset.Column("supply_point_id", required=True),
        dataset.Column("month", required=True),
        dataset.Column("kwh", "float", required=True),
    ),
)

CHUNK = 10_000
MAX_ERRORS = 50

#: reference tables owned by other capabilities (loaded by the ``reference_loaders`` given)
DELEGATED: frozenset[str] = frozenset({"persons", "accounts", "devices", "disasters", "agreements"})

ID_MESSAGE = "supply_point_id must be 22 digits with area code 01–10"


@dataclass
class LoadReport:
    """What a load read and wrote, per table (``changed`` = rows inserted or updated)."""

    read: dict[str, int] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    #: supply points inserted or updated (exact on both stores); None until known
    changed_points: int | None = None


class _Errors:
    def __init__(self, cap: int) -> None:
        self.items: list[InputError] = []
        self.cap = cap
        self.truncated = False

    def add(self, err: InputError) -> None:
        if len(self.items) < self.cap:
            self.items.append(err)
        else:
            self.truncated = True

    def __bool__(self) -> bool:
        return bool(self.items)


# ---------------------------------------------------------------------------
# Tolerant reading


def _count_rows(path: Path) -> int | None:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    n = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            n += chunk.count(b"\n")
    return max(n - 1, 0)


def _read(
    path: Path, table: dataset.Table, errors: _Errors
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line, parsed row)`` for good rows; record every bad cell in ``errors``."""
    name = path.name
    cols = table.columns

    parsers = [(c.name, _fast_parser(c)) for c in cols]
    nowhere = Location(name)

    def parse(raw: dict[str, Any], line: int) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        ok = True
        for cname, fn in parsers:
            try:
                out[cname] = fn(raw.get(cname), nowhere)
            except InputError as e:
                errors.add(InputError(e.message, Location(name, line, cname)))
                ok = False
        return out if ok else None

    def check_header(header: list[str]) -> bool:
        missing = [c.name for c in cols if c.required and c.name not in header]
        if missing:
            errors.add(
                InputError(
                    f"missing column(s) {', '.join(missing)} for table {table.name}",
                    Location(name, 1),
                )
            )
            return False
        return True

    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            try:
                header = list(reader.fieldnames or [])
            except UnicodeDecodeError as e:
                errors.add(InputError(f"not UTF-8 text ({e.reason})", Location(name, 1)))
                return
            if not check_header(header):
                return
            try:
                for raw in reader:
                    line = reader.line_num
                    if None in raw:
                        errors.add(
                            InputError("more cells than header columns", Location(name, line))
                        )
                        continue
                    row = parse(raw, line)
                    if row is not None:
                        yield line, row
            except (csv.Error, UnicodeDecodeError) as e:
                errors.add(InputError(f"unreadable CSV ({e})", Location(name, reader.line_num)))
    elif path.suffix == ".parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        if not check_header(list(pf.schema_arrow.names)):
            return
        i = 0
        for batch in pf.iter_batches(batch_size=65536):
            for raw in batch.to_pylist():
                i += 1
                row = parse(raw, i)
                if row is not None:
                    yield i, row
    else:
        errors.add(InputError(f"unsupported file type {path.suffix!r}", Location(name)))


def _fast_parser(col: dataset.Column) -> Callable[[Any, Location], Any]:
    """A cell parser equivalent to :func:`gridwall.dataset.parse_cell`, with a fast path
    for plain text and dates (the bulk of a 1 M-point load); anything unusual goes to
    ``parse_cell`` itself, which also words every error."""
    slow = dataset.parse_cell
    if col.type == "str":
        choices = frozenset(col.choices) if col.choices else None

        def text(raw: Any, where: Location) -> Any:
            if type(raw) is str and raw != "" and (choices is None or raw in choices):
                return raw
            return slow(col, raw, where)

        return text
    if col.type == "date":
        fromiso = date.fromisoformat

        def day(raw: Any, where: Location) -> Any:
            if type(raw) is str and len(raw) == 10:
                try:
                    return fromiso(raw)
                except ValueError:
                    pass
            return slow(col, raw, where)

        return day
    return lambda raw, where: slow(col, raw, where)


def _find(directory: Path, table: dataset.Table) -> Path | None:
    for ext in (".csv", ".parquet"):
        p = directory / f"{table.name}{ext}"
        if p.exists():
            return p
    return None


# ---------------------------------------------------------------------------
# Writing


def _upsert_statement(conn: Connection, table: Table, key: list[str]) -> Any:
    """INSERT … ON CONFLICT (key) DO UPDATE SET … WHERE some column differs."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        stmt: Any = sqlite.insert(table)
    elif dialect == "postgresql":
        stmt = postgresql.insert(table)
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise InputError(f"unsupported database {dialect!r} (use SQLite or PostgreSQL)")
    cols = [c.name for c in table.columns if c.name not in key and not c.primary_key]
    if not cols:
        return stmt.on_conflict_do_nothing(index_elements=key)
    differs = None
    for c in cols:
        cond = table.c[c].is_distinct_from(stmt.excluded[c])
        differs = cond if differs is None else differs | cond
    return stmt.on_conflict_do_update(
        index_elements=key, set_={c: stmt.excluded[c] for c in cols}, where=differs
    )


def _sqlite_value(v: Any) -> Any:
    """A value as SQLAlchemy's SQLite types store it (dates ISO, datetimes with µs)."""
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(v, date):
        return v.isoformat()
    return v


_DATASET_NAME = {"switching_applications": "switching", "usage_monthly": "usage"}


class _Writer:
    """Buffers rows and upserts them in chunks; stops writing once an error is known."""

    def __init__(
        self,
        conn: Connection,
        table: Table,
        key: list[str],
        errors: _Errors,
        report: LoadReport,
        *,
        track: set[str] | None = None,
    ) -> None:
        self.conn = conn
        self.stmt = _upsert_statement(conn, table, key)
        #: PostgreSQL: the keys of the rows the upsert wrote, by RETURNING (SQLite: triggers,
        #: see :func:`_track_points`: its executemany returns no rows)
        self.track = track if conn.dialect.name != "sqlite" else None
        if self.track is not None:
            self.stmt = self.stmt.returning(table.c[key[0]])
        self.buf: list[dict[str, Any]] = []
        self.errors = errors
        self.name = _DATASET_NAME.get(table.name, table.name)
        self.report = report
        # PostgreSQL drivers do not sum executemany row counts: report changes only where exact
        # (SQLite, and PostgreSQL where RETURNING names the rows written)
        self.counts = conn.dialect.name == "sqlite" or self.track is not None
        self._sql: str | None = None
        self._order: list[str] = []
        if self.counts:
            report.changed.setdefault(self.name, 0)

    def add(self, row: dict[str, Any]) -> None:
        self.buf.append(row)
        if len(self.buf) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if self.buf and not self.errors:
            if self.track is not None:
                rc = self._flush_tracked()
            elif self.counts:
                rc = self._flush_sqlite()
            else:
                rc = self.conn.execute(self.stmt, self.buf).rowcount
            if self.counts and rc is not None and rc > 0:
                self.report.changed[self.name] += rc
        self.buf = []

    def _compiled(self) -> tuple[str, list[str]]:
        if self._sql is None:
            keys = list(self.buf[0])
            compiled = self.stmt.compile(dialect=self.conn.dialect, column_keys=keys)
            self._sql, self._order = str(compiled), list(compiled.params)
        return self._sql, self._order

    def _flush_tracked(self) -> int:
        """PostgreSQL with RETURNING: psycopg's pipelined ``executemany(returning=True)``
        (SQLAlchemy's batched RETURNING path made an unchanged 100 k-point reload twice as
        slow); the keys of the rows the upsert wrote go to :attr:`track`."""
        assert self.track is not None
        sql, order = self._compiled()
        raw = self.conn.connection.driver_connection
        assert raw is not None
        n = 0
        with raw.cursor() as cur:
            cur.executemany(sql, [{k: r[k] for k in order} for r in self.buf], returning=True)
            while True:
                got = [row[0] for row in cur.fetchall()]
                self.track.update(got)
                n += len(got)
                if not cur.nextset():
                    break
        return n

    def _flush_sqlite(self) -> int:
        """SQLite fast path: the same upsert compiled once, rows as tuples straight to the
        driver (SQLAlchemy's per-row parameter processing was a third of the load time).
        Values are stored exactly as SQLAlchemy's SQLite Date/DateTime types store them."""
        if self._sql is None:
            keys = list(self.buf[0])
            compiled = self.stmt.compile(dialect=self.conn.dialect, column_keys=keys)
            order = list(compiled.positiontup or ())
            if sorted(order) != sorted(keys):  # pragma: no cover - defensive
                raise RuntimeError(f"unexpected bind parameters {order} for {keys}")
            self._sql, self._order = str(compiled), order
        order = self._order
        rows = [tuple(_sqlite_value(r[k]) for k in order) for r in self.buf]
        return int(self.conn.exec_driver_sql(self._sql, rows).rowcount)


# ---------------------------------------------------------------------------
# The load


#: ``value → reason`` (None: accepted): the app layer's reserved values (the canary points and
#: retailers, refused in real data; anything else, refused in the canary set-up's own load)
Refusal = Callable[[str], str | None]


@dataclass
class _Known:
    points: set[str] = field(default_factory=set)
    #: supply points the upserts wrote (PostgreSQL, by RETURNING)
    changed_points: set[str] = field(default_factory=set)
    retailers: set[str] = field(default_factory=set)
    lrs_codes: set[str] = field(default_factory=set)
    #: why a supply point ID / retailer code may not be written by this load (None: it may)
    refuse_point: Refusal | None = None
    refuse_retailer: Refusal | None = None


def load_dataset(
    directory: Path,
    engine: Engine,
    *,
    reference_loaders: Mapping[str, ReferenceLoader] | None = None,
    progress: bool = True,
    max_errors: int = MAX_ERRORS,
    on_points_changed: PointsChanged | None = None,
    refuse_point: Refusal | None = None,
    refuse_retailer: Refusal | None = None,
) -> LoadReport:
    """Load ``directory`` into the store in one transaction; raise :class:`InputErrors`
    (nothing written) when any row is bad. ``reference_loaders`` maps the tables other
    capabilities own (:data:`DELEGATED`) to their loaders; a table without one is
    validated and skipped with a note. ``on_points_changed(conn, ids)`` is told, after
    every table is written and before the commit, which supply points were inserted or
    updated (sorted; empty when none); if it raises, nothing is written.
    ``refuse_point`` / ``refuse_retailer`` name supply point IDs and retailer codes this load
    must not write (in any table and column that holds one): each such cell is an error at its
    file, line and column, and nothing is written."""
    loaders = dict(reference_loaders or {})
    if not directory.is_dir():
        raise InputError("not a dataset folder", Location(str(directory)))
    errors = _Errors(max_errors)
    report = LoadReport()
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("{task.description:<18}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(file=sys.stderr),
        disable=not progress,
        transient=False,
    )
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA cache_size=-262144")
            conn.exec_driver_sql("PRAGMA temp_store=MEMORY")
        changed_points = _track_points(conn)
        with bar:
            _load_tables(
                conn,
                directory,
                loaders,
                bar,
                errors,
                report,
                _Known(
                    changed_points=changed_points,
                    refuse_point=refuse_point,
                    refuse_retailer=refuse_retailer,
                ),
            )
        if errors:
            raise InputErrors(errors.items, errors.truncated)
        ids = sorted(_tracked_points(conn, changed_points))
        report.changed_points = len(ids)
        if on_points_changed is not None:
            on_points_changed(conn, ids)
    return report


_TRACK_TABLE = "gw_load_changed_points"


def _track_points(conn: Connection) -> set[str]:
    """Start recording which supply points this transaction inserts or updates.

    PostgreSQL: the upsert's RETURNING fills the set returned. SQLite (whose executemany
    returns no rows): connection-local TEMP triggers on ``supply_points``. pysqlite runs DDL
    before the first DML outside the transaction, so a failed load may leave them on its
    pooled connection: they are created only if missing and the table is emptied here."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(
            f"CREATE TEMP TABLE IF NOT EXISTS {_TRACK_TABLE} (supply_point_id TEXT PRIMARY KEY)"
        )
        for op in ("INSERT", "UPDATE"):
            conn.exec_driver_sql(
                f"CREATE TEMP TRIGGER IF NOT EXISTS gw_load_point_{op.lower()} AFTER {op} "
                f"ON main.supply_points BEGIN INSERT OR IGNORE INTO {_TRACK_TABLE} "
                "VALUES (NEW.supply_point_id); END"
            )
        conn.exec_driver_sql(f"DELETE FROM temp.{_TRACK_TABLE}")
    return set()


def _tracked_points(conn: Connection, tracked: set[str]) -> set[str]:
    if conn.dialect.name != "sqlite":
        return tracked
    ids = {str(r[0]) for r in conn.exec_driver_sql(f"SELECT supply_point_id FROM {_TRACK_TABLE}")}
    for op in ("insert", "update"):
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS temp.gw_load_point_{op}")
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{_TRACK_TABLE}")
    return ids


def _load_tables(
    conn: Connection,
    directory: Path,
    loaders: Mapping[str, ReferenceLoader],
    bar: Any,
    errors: _Errors,
    report: LoadReport,
    known: _Known,
) -> None:
    known.retailers.update(conn.execute(select(Retailer.retailer_code)).scalars())
    tables = [*dataset.REFERENCE_TABLES, USAGE]
    for table in tables:
        path = _find(directory, table)
        if path is None:
            continue
        total = _count_rows(path)
        task = bar.add_task(path.name, total=total)

        def tick(
            rows: Iterable[tuple[int, dict[str, Any]]],
            task: Any = task,
            tname: str = table.name,
        ) -> Iterator[tuple[int, dict[str, Any]]]:
            n = 0
            for item in rows:
                n += 1
                if n % 5000 == 0:
                    bar.update(task, advance=5000)
                yield item
            bar.update(task, advance=n % 5000)
            report.read[tname] = n

        rows = tick(_read(path, table, errors))
        if table.name in DELEGATED:
            fn = loaders.get(table.name)
            if fn is None:
                msg = f"{path.name}: skipped (no loader for the {table.name} table given)"
                report.skipped.append(msg)
                print(f"gridwall load: note: {msg}", file=sys.stderr)
                for _ in rows:  # still validate the cells
                    pass
                continue
            try:
                fn(conn, table.name, path.name, rows)
            except InputErrors as e:
                for err in e.errors:
                    errors.add(err)
                if e.truncated:
                    errors.truncated = True
            except InputError as e:
                errors.add(e)
            continue
        _LOADERS[table.name](conn, path.name, rows, known, errors, report)


def _dup(errors: _Errors, seen: set[Any], key: Any, file: str, line: int, col: str) -> bool:
    if key in seen:
        errors.add(InputError(f"duplicate {col} {key!r}", Location(file, line, col)))
        return True
    seen.add(key)
    return False


def _check_dates(
    errors: _Errors, row: dict[str, Any], file: str, line: int, start: str, end: str
) -> bool:
    s, e = row[start], row[end]
    if s is not None and e is not None and e < s:
        errors.add(InputError(f"{end} {e} is before {start} {s}", Location(file, line, end)))
        return False
    return True


def _resolve_points(
    conn: Connection,
    pending: list[tuple[int, dict[str, Any]]],
    known: _Known,
    errors: _Errors,
    file: str,
    writer: _Writer,
) -> None:
    """Rows whose point is not in the file: accept those already in the store."""
    if not pending:
        return
    ids = {r["supply_point_id"] for _, r in pending}
    found: set[str] = set()
    idl = sorted(ids)
    for i in range(0, len(idl), 1000):
        part = idl[i : i + 1000]
        found.update(
            conn.execute(
                select(SupplyPoint.supply_point_id).where(SupplyPoint.supply_point_id.in_(part))
            ).scalars()
        )
    known.points.update(found)
    for line, r in pending:
        if r["supply_point_id"] in found:
            writer.add(r)
        else:
            errors.add(
                InputError(
                    f"unknown supply_point_id {r['supply_point_id']!r} (not in supply_points)",
                    Location(file, line, "supply_point_id"),
                )
            )
    pending.clear()


def _point_ref(errors: _Errors, row: dict[str, Any], file: str, line: int, known: _Known) -> bool:
    if not is_valid_supply_point_id(row["supply_point_id"]):
        errors.add(InputError(ID_MESSAGE, Location(file, line, "supply_point_id")))
        return False
    return _allowed(
        errors, known.refuse_point, row["supply_point_id"], file, line, "supply_point_id"
    )


def _allowed(
    errors: _Errors, refuse: Refusal | None, value: Any, file: str, line: int, col: str
) -> bool:
    """A reserved value (``refuse`` gives a reason) is an error at its cell."""
    why = None if refuse is None or value is None else refuse(str(value))
    if why is not None:
        errors.add(InputError(f"{col} {value!r}: {why}", Location(file, line, col)))
        return False
    return True


def _load_retailers(
    conn: Connection,
    file: str,
    rows: Iterable[tuple[int, dict[str, Any]]],
    known: _Known,
    errors: _Errors,
    report: LoadReport,
) -> None:
    w = _Writer(conn, Retailer.__table__, ["retailer_code"], errors, report)  # type: ignore[arg-type]
    seen: set[str] = set()
    for line, r in rows:
        if _dup(errors, seen, r["retailer_code"], file, line, "retailer_code"):
            continue
        if not _allowed(
            errors, known.refuse_retailer, r["retailer_code"], file, line, "retailer_code"
        ):
            continue
        known.retailers.add(r["retailer_code"])
        w.add({"retailer_code": r["retailer_code"], "name": r["name"], "kind": r["kind"]})
    w.flush()


_POINT_COLS = (
    "supply_point_id",
    "pref",
    "city",
    "town",
    "banchi",
    "building",
    "room",
    "contract_name",
    "phone",
    "voltage",
    "meter_id",
    "status",
)


def _load_points(
    conn: Connection,
    file: str,
    rows: Iterable[tuple[int, dict[str, Any]]],
    known: _Known,
    errors: _Errors,
    report: LoadReport,
) -> None:
    w = _Writer(
        conn,
        SupplyPoint.__table__,  # type: ignore[arg-type]
        ["supply_point_id"],
        errors,
        report,
        track=known.changed_points,
    )
    seen = known.points
    for line, r in rows:
        if not _point_ref(errors, r, file, line, known):
            continue
        if _dup(errors, seen, r["supply_point_id"], file, line, "supply_point_id"):
            continue
        w.add({c: r[c] for c in _POINT_COLS})
    w.flush()


def _point_rows(
    conn: Connection,
    file: str,
    rows: Iterable[tuple[int, dict[str, Any]]],
    known: _Known,
    errors: _Errors,
    w: _Writer,
    check: Callable[[int, dict[str, Any]], dict[str, Any] | None],
) -> None:
    """Common loop for tables that reference supply points."""
    pending: list[tuple[int, dict[str, Any]]] = []
    for line, r in rows:
        if not _point_ref(errors, r, file, line, known):
            continue
        out = check(line, r)
        if out is None:
            continue
        if r["supply_point_id"] in known.points:
            w.add(out)
        else:
            pending.append((line, out))
            if len(pending) >= CHUNK:
                _resolve_points(conn, pending, known, errors, file, w)
    _resolve_points(conn, pending, known, errors, file, w)
    w.flush()


def _load_contracts(
    conn: Connection,
    file: str,
    rows: Iterable[tuple[int, dict[str, Any]]],
    known: _Known,
    errors: _Errors,
    report: LoadReport,
) -> None:
    w = _Writer(conn, SupplyContract.__table__, ["supply_point_id", "start_date"], errors, report)  # type: ignore[arg-type]
    seen: set[tuple[str, date]] = set()

    def check(line: int, r: dict[str, Any]) -> dict[str, Any] | None:
        code = r["retailer_code"]
        if not _allowed(errors, known.refuse_retailer, code, file, line, "retailer_code"):
            return None
        if r["kind"] == "retail" and r["retailer_code"] not in known.retailers:
            errors.add(
                InputError(
                    f"unknown retailer_code {r['retailer_code']!r} (not in retailers)",
                    Location(file, line, "retailer_code"),
                )
            )
            return None
        if r["kind"] == "lrs":
            known.lrs_codes.add(r["retailer_code"])
        if not _check_dates(errors, r, file, line, "start_date", "end_date"):
            return None
        if _dup(errors, seen, (r["supply_point_id"], r["start_date"]), file, line, "start_date"):
            return None
        return {
            "supply_point_id": r["supply_point_id"],
            "retailer_code": r["retailer_code"],
            "start_date": r["start_date"],
            "end_date": r["end_date"],
            "kind": r["kind"],
        }

    _point_rows(conn, file, rows, known, errors, w, check)


def _load_fit(
    conn: Connection,
    file: str,
    rows: Iterable[tuple[int, dict[str, Any]]],
    known: _Known,
    errors: _Errors,
    report: LoadReport,
) -> None:
    w = _Writer(conn, FitContract.__table__, ["supply_point_id", "start_date"], errors, report)  # type: ignore[arg-type]
    seen: set[tuple[str, date]] = set()

    def check(line: int, r: dict[str, Any]) -> dict[str, Any] | None:
        if r["capacity_kw"] < 0:
            errors.add(InputError("capacity_kw must be ≥ 0", Location(file, line, "capacity_kw")))
            return None
        if not _check_dates(errors, r, file, line, "start_date", "end_date"):
            return None
        if _dup(errors, seen, (r["supply_point_id"], r["start_date"]), file, line, "start_date"):
            return None
        return {
            k: r[k]
            for k in ("supply_point_id", "generator_name", "capacity_kw", "start_date", "end_date")
        }

    _point_rows(conn, file, rows, known, errors, w, check)


def _utc_naive(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(tzinfo=None)


def _load_switching(
    conn: Connection,
    file: str,
    rows: Iterable[tuple[int, dict[str, Any]]],
    known: _Known,
    errors: _Errors,
    report: LoadReport,
) -> None:
    w = _Writer(conn, SwitchingApplication.__table__, ["application_id"], errors, report)  # type: ignore[arg-type]
    seen: set[str] = set()

    def check(line: int, r: dict[str, Any]) -> dict[str, Any] | None:
        ok = True
        for col in ("from_retailer", "to_retailer"):
            code = r[col]
            if not _allowed(errors, known.refuse_retailer, code, file, line, col):
                ok = False
                continue
            if code is not None and code not in known.retailers and code not in known.lrs_codes:
                errors.add(InputError(f"unknown retailer code {code!r}", Location(file, line, col)))
                ok = False
        if not ok or _dup(errors, seen, r["application_id"], file, line, "application_id"):
            return None
        return {
            "application_id": r["application_id"],
            "supply_point_id": r["supply_point_id"],
            "kind": r["kind"],
            "from_retailer": r["from_retailer"],
            "to_retailer": r["to_retailer"],
            "applied_at": _utc_naive(r["applied_at"]),
            "effective_date": r["effective_date"],
        }

    _point_rows(conn, file, rows, known, errors, w, check)


def _valid_month(text: str) -> bool:
    if len(text) != 7 or text[4] != "-":
        return False
    y, m = text[:4], text[5:]
    return y.isdigit() and m.isdigit() and 1 <= int(m) <= 12


def _load_usage(
    conn: Connection,
    file: str,
    rows: Iterable[tuple[int, dict[str, Any]]],
    known: _Known,
    errors: _Errors,
    report: LoadReport,
) -> None:
    w = _Writer(conn, MonthlyUsage.__table__, ["supply_point_id", "month"], errors, report)  # type: ignore[arg-type]
    seen: set[tuple[str, str]] = set()

    def check(line: int, r: dict[str, Any]) -> dict[str, Any] | None:
        if not _valid_month(r["month"]):
            errors.add(
                InputError(f"month={r['month']!r}: must be YYYY-MM", Location(file, line, "month"))
            )
            return None
        if r["kwh"] < 0:
            errors.add(InputError("kwh must be ≥ 0", Location(file, line, "kwh")))
            return None
        if _dup(errors, seen, (r["supply_point_id"], r["month"]), file, line, "month"):
            return None
        return {"supply_point_id": r["supply_point_id"], "month": r["month"], "kwh": r["kwh"]}

    _point_rows(conn, file, rows, known, errors, w, check)


_LOADERS: dict[str, Callable[..., None]] = {
    "retailers": _load_retailers,
    "supply_points": _load_points,
    "supply_contracts": _load_contracts,
    "fit_contracts": _load_fit,
    "switching": _load_switching,
    "usage": _load_usage,
}
