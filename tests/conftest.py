"""Shared fixtures: a fresh SQLite store, and the real PostgreSQL server.

PostgreSQL tests use ``GRIDWALL_TEST_PG`` (default: the local server, user
postgres, trust auth) and create a throw-away database per test session. They
skip when the server is unreachable, unless ``GRIDWALL_REQUIRE_PG=1`` (CI), in
which case they fail. Tests marked ``spark`` likewise skip without PySpark or a
Java runtime unless ``GRIDWALL_REQUIRE_SPARK=1`` (CI), in which case they fail.

Hypothesis runs under the profile named by ``HYPOTHESIS_PROFILE``: ``dev``
(default, random examples, so local runs keep exploring) or ``ci``
(derandomised, so a CI failure is reproducible and CI never flakes on a new
random example; the examples a developer finds locally are what move it).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", deadline=None)
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

PG_ADMIN_URL = os.environ.get(
    "GRIDWALL_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'gridwall.db'}"


@pytest.fixture(scope="session")
def _pg_server() -> str:
    from sqlalchemy import create_engine, text

    try:
        eng = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(text("select 1"))
    except Exception as e:  # pragma: no cover - depends on the machine
        if os.environ.get("GRIDWALL_REQUIRE_PG") == "1":
            pytest.fail(f"PostgreSQL required but unreachable at {PG_ADMIN_URL}: {e}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_URL}")
    eng.dispose()
    return PG_ADMIN_URL


@pytest.fixture
def pg_url(_pg_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"gw_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    base = _pg_server.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Run a test on both stores: SQLite file and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gridwall.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(autouse=True)
def _spark_runtime(request: pytest.FixtureRequest) -> None:
    """Skip (or, with GRIDWALL_REQUIRE_SPARK=1, fail) ``spark`` tests without a runtime."""
    if request.node.get_closest_marker("spark") is None:
        return
    import importlib.util
    import shutil

    missing = []
    if importlib.util.find_spec("pyspark") is None:
        missing.append("PySpark")
    if shutil.which("java") is None:
        missing.append("a Java runtime")
    if not missing:
        return
    why = " and ".join(missing) + " not available"
    if os.environ.get("GRIDWALL_REQUIRE_SPARK") == "1":
        pytest.fail(f"Spark required (GRIDWALL_REQUIRE_SPARK=1) but {why}")
    pytest.skip(why)
