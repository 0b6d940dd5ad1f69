"""``audit verify`` never writes to what it checks (issue 11 item 11, issue 15 item 4).

A mistyped ``--db`` used to create an empty SQLite file and migrate it; verifying an
unmigrated store migrated it. Both now fail with exit 2 and a message naming ``--db``,
and the file system and the database are left exactly as they were.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from .conftest import CliRun


def test_mistyped_path_creates_nothing(
    gw: CliRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo.db"
    assert gw("verify", "--db", f"sqlite:///{missing}") == 2
    assert "--db" in capsys.readouterr().out
    assert not missing.exists()
    assert list(tmp_path.iterdir()) == []


def test_unmigrated_store_is_refused_and_left_untouched(
    gw: CliRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE unrelated (x INTEGER)")
    before = db.read_bytes()
    assert gw("verify", "--db", f"sqlite:///{db}") == 2
    assert "not a gridwall store" in capsys.readouterr().out
    assert db.read_bytes() == before
    with sqlite3.connect(db) as c:
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"unrelated"}
