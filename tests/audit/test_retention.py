"""Retention (保存期間): nothing inside it can be deleted; archives stay verifiable."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from gridwall.audit import merkle, note, open_log, standalone
from gridwall.audit._db import Conn
from gridwall.audit._verify import verify_log

OLD = 1_420_070_400.0  # 2015-01-01: far outside five years


def _populate(url: str, signer: note.Signer) -> None:
    with open_log(url, clock=lambda: OLD) as old:
        old.record_many([{"event_id": f"old{i}"} for i in range(100)])
    with open_log(url, migrate=False) as log:
        log.record_many([{"event_id": f"new{i}"} for i in range(60)])
        log.checkpoint([signer])


def test_archive_keeps_the_log_verifiable(
    db_url: str,
    signer: note.Signer,
    tmp_path: Path,
    gw: Callable[..., int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _populate(db_url, signer)
    with open_log(db_url, migrate=False) as log:
        root_before = log.root(160)
        proof_before = log.inclusion_proof(10, 160)
    arch = tmp_path / "archive-0.jsonl"
    # inside retention: refused, nothing moved
    assert gw("archive", "--db", db_url, "--to", "112", "--out", str(arch)) == 2
    assert gw("archive", "--db", db_url, "--to", "90", "--out", str(arch)) == 2  # not aligned
    assert not arch.exists()
    capsys.readouterr()
    assert gw("archive", "--db", db_url, "--to", "96", "--out", str(arch)) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["from"], info["to"]) == (0, 96)
    c = Conn(db_url)
    assert c.one("SELECT count(*) FROM audit_entry")[0] == 64
    c.close()
    # the archive verifies on its own; the log still verifies; proofs are unchanged
    assert standalone.verify_export(arch, [signer.verifier]).ok
    rep = verify_log(db_url, [signer.verifier])
    assert rep.ok, rep.problems
    assert any("archived" in n for n in rep.notes)
    with open_log(db_url, migrate=False) as log:
        assert log.root(160) == root_before
        assert log.inclusion_proof(10, 160) == proof_before
        assert merkle.verify_inclusion(
            merkle.leaf_hash(_entry(arch, 10)), 10, 160, proof_before, root_before
        )
        # appends continue after an archive
        log.record({"event_id": "later"})
        assert log.size() == 161
    # archiving again from the end of the last archive is refused when too recent
    assert gw("archive", "--db", db_url, "--to", "112", "--out", str(tmp_path / "a1")) == 2


def _entry(path: Path, index: int) -> bytes:
    for line in path.read_text().splitlines()[1:]:
        obj = json.loads(line)
        if obj["index"] == index:
            return str(obj["entry"]).encode()
    raise AssertionError(index)


def test_database_refuses_deleting_inside_retention(db_url: str, signer: note.Signer) -> None:
    _populate(db_url, signer)
    c = Conn(db_url)
    try:
        # old but not archived: refused
        with pytest.raises(Exception, match="retention"):
            c.execute("DELETE FROM audit_entry WHERE idx = 3")
        # even once archived, recent entries are refused
        c.execute(
            "INSERT INTO audit_archive (start_idx, end_idx, file_name, sha256, created_at) "
            "VALUES (0, 160, 'x', 'y', 0)"
        )
        with pytest.raises(Exception, match="retention"):
            c.execute("DELETE FROM audit_entry WHERE idx = 150")
        # raising retention protects old entries too
        c.execute("INSERT INTO audit_setting (retention_years, created_at) VALUES (50, 0)")
        with pytest.raises(Exception, match="retention"):
            c.execute("DELETE FROM audit_entry WHERE idx = 3")
    finally:
        c.close()


def test_retention_cli(
    db_url: str, gw: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert gw("retention", "--db", db_url) == 2  # showing it is read-only: no store yet
    missing = "no such file" if db_url.startswith("sqlite") else "not a gridwall store"
    assert missing in capsys.readouterr().out
    open_log(db_url).close()
    assert gw("retention", "--db", db_url) == 0
    assert "5 years" in capsys.readouterr().out
    assert gw("retention", "--db", db_url, "--years", "4") == 2
    assert "minimum of 5" in capsys.readouterr().out
    assert gw("retention", "--db", db_url, "--years", "10") == 0
    assert "10 years" in capsys.readouterr().out
    assert gw("retention", "--db", db_url, "--years", "6") == 2


def test_sqlite_file_triggers_survive_reopen(tmp_path: Path, signer: note.Signer) -> None:
    db = tmp_path / "g.db"
    _populate(str(db), signer)
    c = sqlite3.connect(db)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        c.execute("UPDATE audit_entry SET recorded_at = 0")
    c.close()
