"""How CLI commands open the store (``--db``), and what a database error becomes.

Two doors, one per kind of command:

* :func:`existing_store` for **read-only** commands: the store must already exist and be
  migrated to the latest schema. It never creates a file, never migrates, and probes the
  store read-only (SQLite through a ``mode=ro`` URI, PostgreSQL in a read-only session); a
  missing, empty, unmigrated or foreign store is refused with exit 2 and one line naming the
  ``--db`` value. :func:`read_only_engine` is the engine such a command reads through: a
  write through it fails instead of changing the store.
* :func:`writable_store` for commands that legitimately create or migrate the store: the URL
  is checked (a bad URL, a folder that does not exist: exit 2), then every capability's
  schema is brought up to date.

:func:`store_error` turns a database error that escaped a command (SQLAlchemy, sqlite3,
psycopg, Alembic) into a one-line diagnostic: exit 3 when the store cannot be reached
(connection refused, timeout, authentication failure, an SQLite file that cannot be opened
or read), exit 2 when it is unusable (no such database, wrong schema). Passwords in URLs are
never printed (:func:`redact`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gridwall.errors import GridwallError, UsageError

if TYPE_CHECKING:
    from sqlalchemy import Engine

#: exit code: the store cannot be reached (the CLI contract, see ``gridwall.app.cli``)
EXIT_UNREACHABLE = 3


class StoreUnreachable(GridwallError):
    """The store cannot be reached: connection refused, timeout, authentication failed,
    or the SQLite file cannot be opened (exit 3)."""

    exit_code = EXIT_UNREACHABLE


class StoreUnusable(UsageError):
    """The store was reached but cannot serve the command: missing, unmigrated, wrong
    schema, not a database (exit 2)."""


# The store the running command resolved, so that an error escaping the command can name it.
_current: dict[str, str] = {}

# scheme://user:PASSWORD@ — up to the last "@" of the token, so that an unencoded "@" in
# the password is hidden too
_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]*:)\S*@")


def redact(url: str) -> str:
    """The URL with any password replaced by ``***`` (also for text that does not parse)."""
    return _PASSWORD.sub(r"\g<head>***@", url)


def _resolve(db: str | None, option: str) -> tuple[str, Any]:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from gridwall.config import database_url

    url = database_url(db)
    _current.clear()
    _current.update(url=url, option=option)
    shown = redact(url)
    if "://" not in url:
        raise UsageError(f"{option} {shown}: not an SQLAlchemy URL (e.g. sqlite:///gridwall.db)")
    try:
        u = make_url(url)
    except (ArgumentError, ValueError) as e:
        raise UsageError(f"{option} {shown}: not an SQLAlchemy URL ({_first_line(e)})") from None
    backend = u.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise UsageError(
            f"{option} {shown}: unsupported database {backend!r} (SQLite or PostgreSQL)"
        )
    return url, u


def _sqlite_path(u: Any) -> str:
    return str(u.database or "")


def existing_store(db: str | None, *, option: str = "--db") -> str:
    """The URL of an existing store migrated to the latest schema, checked without writing
    anything. Exit 2 (:class:`StoreUnusable`) when it is missing, empty, unmigrated, migrated
    by another gridwall version or not a database; exit 3 (:class:`StoreUnreachable`) when it
    cannot be reached."""
    from sqlalchemy import exc

    url, u = _resolve(db, option)
    shown = redact(url)
    if u.get_backend_name() == "sqlite":
        path = _sqlite_path(u)
        if path in ("", ":memory:"):
            raise StoreUnusable(f"{option} {shown}: an in-memory database holds no store")
        p = Path(path)
        parent = p.parent if str(p.parent) else Path(".")
        if not parent.is_dir():
            raise StoreUnusable(
                f"{option} {shown}: no such file: folder {parent} does not exist "
                "(nothing was created)"
            )
        if not p.exists():
            raise StoreUnusable(f"{option} {shown}: no such file (nothing was created)")
        if not p.is_file():
            raise StoreUnusable(f"{option} {shown}: not a file")
    engine = read_only_engine(url)
    try:
        with engine.connect() as conn:
            current = _current_heads(conn)
    except exc.DBAPIError as e:
        # chained: --verbose shows the driver's traceback under the diagnostic
        raise _classify(e, option, url) or StoreUnusable(f"{option} {shown}: {e}") from e
    finally:
        engine.dispose()
    expected = _expected_heads(url)
    if not current:
        raise StoreUnusable(
            f"{option} {shown}: not a gridwall store (no schema); a writing command such as "
            "`gridwall load` creates one"
        )
    if current != expected:
        known = _known_revisions(url)
        if current - known:
            raise StoreUnusable(
                f"{option} {shown}: migrated by another gridwall version (unknown revision "
                f"{', '.join(sorted(current - known))})"
            )
        raise StoreUnusable(
            f"{option} {shown}: not migrated to the latest schema; run a writing command "
            "(e.g. `gridwall load`) against it first"
        )
    return url


def writable_store(db: str | None, *, option: str = "--db") -> str:
    """The URL of a store a writing command may create or migrate: the URL (and, for
    SQLite, the file's folder) is checked, then every capability's schema is brought up to
    date. Exit 2 for a bad URL or a folder that does not exist; database errors while
    migrating follow :func:`store_error`."""
    from gridwall.store import upgrade

    url, u = _resolve(db, option)
    shown = redact(url)
    if u.get_backend_name() == "sqlite":
        path = _sqlite_path(u)
        if path in ("", ":memory:"):
            raise StoreUnusable(
                f"{option} {shown}: an in-memory database would vanish when the command ends"
            )
        p = Path(path)
        if p.exists() and not p.is_file():
            raise StoreUnusable(f"{option} {shown}: not a file")
        parent = p.parent if str(p.parent) else Path(".")
        if not parent.is_dir():
            raise StoreUnusable(f"{option} {shown}: folder {parent} does not exist")
    try:
        upgrade(url)
    except Exception as e:
        err = store_error(e)
        if err is None:
            raise
        raise err from e
    return url


def read_only_engine(url: str) -> Engine:
    """An engine that only reads: SQLite opened with ``mode=ro`` (never created, never
    changed), PostgreSQL sessions set ``READ ONLY``. A write through it fails."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url

    from gridwall.store import make_engine

    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        import sqlite3

        uri = Path(_sqlite_path(u)).resolve().as_uri() + "?mode=ro"

        def connect() -> sqlite3.Connection:
            return sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)

        return create_engine("sqlite://", creator=connect)
    engine = make_engine(url)

    def read_only(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        cur.close()
        dbapi_conn.commit()

    event.listen(engine, "connect", read_only)
    return engine


def _current_heads(conn: Any) -> set[str]:
    from alembic.runtime.migration import MigrationContext

    return set(MigrationContext.configure(conn).get_current_heads())


def _script(url: str) -> Any:
    from alembic.script import ScriptDirectory

    from gridwall.store.db import alembic_config

    return ScriptDirectory.from_config(alembic_config(url))


def _expected_heads(url: str) -> set[str]:
    return set(_script(url).get_heads())


def _known_revisions(url: str) -> set[str]:
    return {r.revision for r in _script(url).walk_revisions()}


# -- errors that escape a command ----------------------------------------------------------

# sqlite3 messages that mean the file cannot be opened or read (I/O), not bad content
_SQLITE_IO = (
    "unable to open",
    "disk i/o",
    "database is locked",
    "readonly database",
    "read-only",
    "disk is full",
    "database or disk is full",
)


def _first_line(e: BaseException) -> str:
    for line in str(e).splitlines():
        if line.strip():
            return line.strip()
    return type(e).__name__


def _classify(e: BaseException, option: str | None, url: str | None) -> GridwallError | None:
    """The diagnostic for a database error, or None if ``e`` is not one."""
    import sqlite3

    from sqlalchemy import exc

    where = f"{option} {redact(url)}: " if option and url else ""

    def unreachable(why: str) -> GridwallError:
        return StoreUnreachable(redact(f"{where}cannot reach the store: {why}"))

    def unusable(why: str) -> GridwallError:
        return StoreUnusable(redact(f"{where}unusable store: {why}"))

    orig: BaseException = e.orig if isinstance(e, exc.DBAPIError) and e.orig is not None else e
    why = _first_line(orig)
    if isinstance(orig, sqlite3.Error):
        low = why.lower()
        if isinstance(orig, sqlite3.OperationalError) and any(s in low for s in _SQLITE_IO):
            return unreachable(why)
        if isinstance(orig, sqlite3.OperationalError) and "no such" in low:
            return unusable(f"wrong schema ({why})")
        return unusable(why)
    verdict = _psycopg_verdict(orig, why)
    if verdict is not None:
        return unreachable(verdict[1]) if verdict[0] else unusable(verdict[1])
    if isinstance(e, exc.TimeoutError):
        return unreachable(why)
    if isinstance(e, exc.ArgumentError | exc.NoSuchModuleError):
        return unusable(f"bad URL ({why})")
    if isinstance(e, exc.NoSuchTableError):
        return unusable(f"wrong schema (no table {why})")
    if isinstance(e, exc.SQLAlchemyError):
        return unusable(why)
    try:
        from alembic.util import CommandError
    except ImportError:  # pragma: no cover - alembic is a dependency
        return None
    if isinstance(e, CommandError):
        return unusable(f"schema from another gridwall version ({why})")
    return None


_NO_DATABASE = re.compile(r'database "[^"]*" does not exist')


def _psycopg_verdict(orig: BaseException, why: str) -> tuple[bool, str] | None:
    """(unreachable?, reason) for a psycopg error; None for anything else."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return None
    if not isinstance(orig, psycopg.Error):
        return None
    state = str(orig.sqlstate or "")
    # invalid_catalog_name; at connection time libpq gives no SQLSTATE, only the text
    if state == "3D000" or _NO_DATABASE.search(why):
        return False, f"no such database ({why})"
    if state.startswith("42"):  # undefined table/column, syntax: not this schema
        return False, f"wrong schema ({why})"
    if (
        isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError)
        or state.startswith(("08", "28", "57P", "53"))
        or not state
    ):  # connection, authentication, server shutting down, out of resources
        return True, why
    return False, why


def store_error(e: BaseException) -> GridwallError | None:
    """The one-line diagnostic (exit 2 or 3) for a database error that escaped a command,
    naming the store the command resolved (password redacted); None for any other error."""
    return _classify(e, _current.get("option"), _current.get("url"))


def forget() -> None:
    """Forget the store of the previous command (``main`` may run several in one process)."""
    _current.clear()
