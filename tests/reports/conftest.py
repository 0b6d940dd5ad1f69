"""One seeded scenario per store kind and test module (building it takes seconds on
PostgreSQL: the tests only read it)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from .scenario import Scenario, build


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def scenario(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Scenario]:
    tmp = tmp_path_factory.mktemp("report")
    if request.param == "sqlite":
        sc = build(f"sqlite:///{tmp / 'gridwall.db'}", tmp)
        yield sc
        sc.log.close()
        sc.engine.dispose()
        return
    from sqlalchemy import create_engine, text

    server = request.getfixturevalue("_pg_server")
    name = f"gw_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        sc = build(f"{server.rsplit('/', 1)[0]}/{name}", tmp)
        yield sc
        sc.log.close()
        sc.engine.dispose()
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
