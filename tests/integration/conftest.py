"""Fixtures: the composed server over a real store (SQLite file; PostgreSQL via db_url)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .site import Site, build_site


@pytest.fixture
def site(sqlite_url: str, tmp_path: Path) -> Iterator[Site]:
    s = build_site(sqlite_url, tmp_path)
    yield s
    s.server.close()


@pytest.fixture
def any_site(db_url: str, tmp_path: Path) -> Iterator[Site]:
    """The same on SQLite and on PostgreSQL."""
    s = build_site(db_url, tmp_path)
    yield s
    s.server.close()
