"""Fixtures for grants tests: a migrated store, a frozen clock, an in-memory audit sink."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from gridwall.store import make_engine, upgrade
from support.doubles import MemoryAuditSink

T0 = datetime(2026, 9, 1, 0, 0, tzinfo=UTC)  # 09:00 JST


@dataclass
class FrozenClock:
    """A clock that only moves when told to."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        self.now = self.now + timedelta(**kw)
        return self.now

    def set(self, when: datetime) -> datetime:
        self.now = when
        return when


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def sink() -> MemoryAuditSink:
    return MemoryAuditSink()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite store per test session; each test gets a copy (fast)."""
    path = tmp_path_factory.mktemp("template") / "gridwall.db"
    url = f"sqlite:///{path}"
    eng = make_engine(url)
    upgrade(url, eng)
    eng.dispose()
    return path


@pytest.fixture(scope="session")
def _pg_template(_pg_server: str) -> Iterator[str]:
    """One migrated PostgreSQL database per session, cloned per test (CREATE … TEMPLATE)."""
    name = f"gw_tmpl_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{_pg_server.rsplit('/', 1)[0]}/{name}"
    eng = make_engine(url)
    upgrade(url, eng)
    eng.dispose()
    try:
        yield name
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _sqlite_copy(template: Path, tmp_path: Path) -> str:
    dest = tmp_path / "gridwall.db"
    shutil.copyfile(template, dest)
    return f"sqlite:///{dest}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated store, on SQLite and on PostgreSQL (like the shared ``db_url`` fixture)."""
    if request.param == "sqlite":
        eng = make_engine(_sqlite_copy(request.getfixturevalue("_sqlite_template"), tmp_path))
        try:
            yield eng
        finally:
            eng.dispose()
        return
    server: str = request.getfixturevalue("_pg_server")
    template: str = request.getfixturevalue("_pg_template")
    name = f"gw_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    eng = make_engine(f"{server.rsplit('/', 1)[0]}/{name}")
    try:
        yield eng
    finally:
        eng.dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_engine(_sqlite_template: Path, tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(_sqlite_copy(_sqlite_template, tmp_path))
    try:
        yield eng
    finally:
        eng.dispose()
