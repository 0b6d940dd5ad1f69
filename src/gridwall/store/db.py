"""Engine creation and migrations for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event

from gridwall.errors import UsageError

#: Packages that may carry an Alembic branch in ``<package>/migrations``.
MIGRATION_PACKAGES = (
    "gridwall.store",  # customer tables (branch "customer")
    "gridwall.audit",
    "gridwall.identity",
    "gridwall.grants",
    "gridwall.lookup",
    "gridwall.monitor",
    "gridwall.cases",
)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_engine(url: str, **kw: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout."""
    if not url or "://" not in url:
        raise UsageError(f"--db: not an SQLAlchemy URL: {url!r} (e.g. sqlite:///gridwall.db)")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    engine = create_engine(url, **kw)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


@lru_cache(maxsize=1)
def version_locations() -> tuple[str, ...]:
    locs: list[str] = []
    for pkg in MIGRATION_PACKAGES:
        try:
            root = resources.files(pkg)
        except ModuleNotFoundError:
            continue
        d = Path(str(root)) / "migrations" / "versions"
        if d.is_dir():
            locs.append(str(d))
    return tuple(locs)


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.set_main_option("version_locations", " ".join(version_locations()))
    cfg.set_main_option("path_separator", "space")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, engine: Engine | None = None) -> None:
    """Bring the schema of every capability up to date (``alembic upgrade heads``)."""
    from alembic import command

    cfg = alembic_config(url)
    if engine is not None:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")
    else:
        command.upgrade(cfg, "heads")
