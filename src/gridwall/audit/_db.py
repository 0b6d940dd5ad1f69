"""Raw DBAPI access for the audit log's hot paths (SQLite and PostgreSQL).

The log appends and reads through the driver directly (sqlite3 / psycopg): an
ORM round trip per entry would cost more than the hashing. Tables are defined
in :mod:`gridwall.audit._models` and created by the ``audit`` Alembic branch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any

from gridwall.errors import UsageError


def normalize_url(url_or_path: str | Path) -> str:
    """An SQLAlchemy URL; a plain path means an SQLite file."""
    s = str(url_or_path)
    if "://" not in s:
        return f"sqlite:///{Path(s).resolve()}"
    return s


class Conn:
    """One DBAPI connection with the dialect's placeholder and transaction rules."""

    def __init__(self, url: str, *, durable: bool = False) -> None:
        self.url = url
        self.durable = durable
        if url.startswith("sqlite"):
            import sqlite3

            from sqlalchemy.engine import make_url

            db = make_url(url).database
            if not db or db == ":memory:":
                raise UsageError("the audit log needs an SQLite file, not an in-memory database")
            self.dialect = "sqlite"
            raw = sqlite3.connect(db, isolation_level=None, check_same_thread=False, timeout=30)
            raw.execute("PRAGMA journal_mode=WAL")
            # FULL: every commit is fsynced (the log's promise is "durable on return").
            raw.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            raw.execute("PRAGMA busy_timeout=30000")
            self.raw: Any = raw
            self.ph = "?"
        elif url.startswith("postgresql"):
            import psycopg
            from sqlalchemy.engine import make_url

            u = make_url(url)
            self.dialect = "postgresql"
            # the URL as libpq understands it (keeps password and ?sslmode=… options)
            conninfo = u.set(drivername="postgresql").render_as_string(hide_password=False)
            self.raw = psycopg.connect(conninfo, autocommit=True)
            self.ph = "%s"
        else:
            raise UsageError(f"--db: the audit log supports SQLite and PostgreSQL, not {url!r}")

    def sql(self, q: str) -> str:
        return q if self.ph == "?" else q.replace("?", "%s")

    def begin_write(self) -> None:
        """Start a write transaction that excludes other appenders (any process)."""
        if self.dialect == "sqlite":
            self.raw.execute("BEGIN IMMEDIATE")
        else:
            self.raw.execute("BEGIN")
            self.raw.execute("LOCK TABLE audit_entry IN EXCLUSIVE MODE")

    def begin_integrate(self) -> None:
        """Start the transaction that adds tiles: excludes other integrators, not
        appenders on PostgreSQL; not fsynced (tiles are rebuilt from the entries)."""
        if self.dialect == "sqlite":
            self.raw.execute("PRAGMA synchronous=NORMAL")
            self.raw.execute("BEGIN IMMEDIATE")
        else:
            self.raw.execute("BEGIN")
            self.raw.execute("SET LOCAL synchronous_commit TO OFF")
            self.raw.execute("LOCK TABLE audit_tile IN EXCLUSIVE MODE")

    def end_integrate(self) -> None:
        """Back to this connection's durability after :meth:`begin_integrate`."""
        if self.dialect == "sqlite":
            with contextlib.suppress(Exception):  # the connection is gone: nothing to restore
                self.raw.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'NORMAL'}")

    def begin(self) -> None:
        self.raw.execute("BEGIN")

    def commit(self) -> None:
        self.raw.execute("COMMIT")

    def rollback(self) -> None:
        with contextlib.suppress(Exception):  # nothing to roll back, or the connection is gone
            self.raw.execute("ROLLBACK")

    def all(self, q: str, params: Sequence[Any] = ()) -> list[Any]:
        cur = self.raw.execute(self.sql(q), tuple(params))
        return list(cur.fetchall())

    def one(self, q: str, params: Sequence[Any] = ()) -> Any:
        rows = self.all(q, params)
        return rows[0] if rows else None

    def execute(self, q: str, params: Sequence[Any] = ()) -> None:
        self.raw.execute(self.sql(q), tuple(params))

    def insert_many(self, table: str, cols: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        if self.dialect == "sqlite":
            marks = ",".join("?" * len(cols))
            self.raw.executemany(f"INSERT INTO {table} ({','.join(cols)}) VALUES ({marks})", rows)
        else:
            cur = self.raw.cursor()
            with cur.copy(f"COPY {table} ({','.join(cols)}) FROM STDIN") as cp:
                for r in rows:
                    cp.write_row(r)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # already closed
            self.raw.close()

    def size(self) -> int:
        """Entries in the tree: one past the highest index (entries or archives)."""
        r = self.one("SELECT max(idx) FROM audit_entry")
        if r is not None and r[0] is not None:
            return int(r[0]) + 1
        a = self.one("SELECT max(end_idx) FROM audit_archive")
        return int(a[0]) if a is not None and a[0] is not None else 0

    def frontier(self) -> int:
        """Leaves integrated into stored tiles: 16 × the number of level-0 tiles (every
        full tile below that size is stored; integration commits them together)."""
        r = self.one("SELECT max(idx) FROM audit_tile WHERE level = 0")
        return 0 if r is None or r[0] is None else (int(r[0]) + 1) * 16

    def tile(self, t: int, k: int) -> bytes | None:
        r = self.one("SELECT hashes FROM audit_tile WHERE level = ? AND idx = ?", (t, k))
        return bytes(r[0]) if r is not None else None

    def tiles(self, t: int, k0: int, k1: int) -> dict[int, bytes]:
        rows = self.all(
            "SELECT idx, hashes FROM audit_tile WHERE level = ? AND idx >= ? AND idx < ?",
            (t, k0, k1),
        )
        return {int(i): bytes(h) for i, h in rows}

    def _bulk(self, q: str, params: tuple[Any, ...]) -> Any:
        """A cursor over a bulk read. PostgreSQL sends ``bytea`` in binary (no hex text to
        decode per row); SQLite's rows are iterated in C (``map``), not fetched in bytecode."""
        if self.dialect == "postgresql":
            return self.raw.cursor().execute(self.sql(q), params, binary=True)
        return self.raw.execute(q, params)

    def entries(self, lo: int, hi: int) -> list[tuple[int, bytes]]:
        cur = self._bulk(
            "SELECT idx, entry FROM audit_entry WHERE idx >= ? AND idx < ? ORDER BY idx",
            (lo, hi),
        )
        # both drivers already return (int, bytes): no per-row conversion on this hot path
        return list(cur)

    def entry_bytes(self, lo: int, hi: int) -> list[bytes]:
        """The canonical bytes of the stored entries lo … hi-1 in index order (gaps left
        out: compare the count); the verifier's bulk read, no index column."""
        cur = self._bulk(
            "SELECT entry FROM audit_entry WHERE idx >= ? AND idx < ? ORDER BY idx", (lo, hi)
        )
        return list(map(_first, cur))


_first = itemgetter(0)
