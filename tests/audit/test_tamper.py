"""Tampering with the stored log (directly in the SQLite file) is detected and located.

The attacker here has write access to the database file: they drop the append-only
triggers first, then edit rows. ``gridwall audit verify`` must fail (exit 1) and name
the first bad entry index.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from gridwall.audit import merkle, note, open_log
from gridwall.audit._tree import TILE_WIDTH, split_tile, tile_root
from gridwall.audit._verify import verify_log

N = 300


@pytest.fixture
def db(tmp_path: Path, signer: note.Signer) -> Path:
    path = tmp_path / "g.db"
    with open_log(path) as log:
        log.record_many(
            [{"event_id": f"e{i}", "action": "view", "decision": "allow"} for i in range(N)]
        )
        log.checkpoint([signer])
    return path


def attacker(path: Path) -> sqlite3.Connection:
    c = sqlite3.connect(path, isolation_level=None)
    for (name,) in c.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        c.execute(f'DROP TRIGGER "{name}"')
    return c


def verify_cli(
    gw: Callable[..., int], path: Path, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    code = gw("verify", "--db", f"sqlite:///{path}", "--public-key", str(key_file) + ".pub")
    out = capsys.readouterr()
    return code, out.out + out.err


def first_bad(text: str) -> int | None:
    m = re.search(r"first bad entry index (\d+)", text)
    return int(m.group(1)) if m else None


def test_untouched_log_verifies(
    db: Path, gw: Callable[..., int], key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = verify_cli(gw, db, key_file, capsys)
    assert code == 0, text
    assert "OK: 300 entries" in text


def _modify(c: sqlite3.Connection) -> int:
    (e,) = c.execute("SELECT entry FROM audit_entry WHERE idx = 57").fetchone()
    c.execute(
        "UPDATE audit_entry SET entry = ? WHERE idx = 57", (e.replace(b'"allow"', b'"deny"'),)
    )
    return 57


def _delete(c: sqlite3.Connection) -> int:
    c.execute("DELETE FROM audit_entry WHERE idx = 123")
    return 123


def _delete_and_renumber(c: sqlite3.Connection) -> int:
    c.execute("DELETE FROM audit_entry WHERE idx = 123")
    for i in range(124, N):
        c.execute("UPDATE audit_entry SET idx = ? WHERE idx = ?", (i - 1, i))
    return 123


def _insert_shifting(c: sqlite3.Connection) -> int:
    for i in range(N - 1, 199, -1):
        c.execute("UPDATE audit_entry SET idx = ? WHERE idx = ?", (i + 1, i))
    (e, t) = c.execute("SELECT entry, recorded_at FROM audit_entry WHERE idx = 199").fetchone()
    c.execute(
        "INSERT INTO audit_entry VALUES (200, ?, ?)",
        (t, e.replace(b'"e199"', b'"forged"').replace(b'"seq":199', b'"seq":200')),
    )
    return 200


def _insert_at_end(c: sqlite3.Connection) -> int:
    c.execute("INSERT INTO audit_entry VALUES (?, 0, ?)", (N, b'{"event":{},"seq":5}'))
    return N


def _reorder(c: sqlite3.Connection) -> int:
    (a,) = c.execute("SELECT entry FROM audit_entry WHERE idx = 80").fetchone()
    (b,) = c.execute("SELECT entry FROM audit_entry WHERE idx = 81").fetchone()
    c.execute("UPDATE audit_entry SET entry = ? WHERE idx = 80", (b,))
    c.execute("UPDATE audit_entry SET entry = ? WHERE idx = 81", (a,))
    return 80


def _reorder_with_seq(c: sqlite3.Connection) -> int:
    # swap the events but keep each row's seq number: only the hashes can tell
    (a,) = c.execute("SELECT entry FROM audit_entry WHERE idx = 90").fetchone()
    (b,) = c.execute("SELECT entry FROM audit_entry WHERE idx = 91").fetchone()
    c.execute(
        "UPDATE audit_entry SET entry = ? WHERE idx = 90", (b.replace(b'"seq":91', b'"seq":90'),)
    )
    c.execute(
        "UPDATE audit_entry SET entry = ? WHERE idx = 91", (a.replace(b'"seq":90', b'"seq":91'),)
    )
    return 90


def _truncate_tail(c: sqlite3.Connection) -> int:
    c.execute("DELETE FROM audit_entry WHERE idx >= 290")
    return 290


def _modify_last_partial_tile(c: sqlite3.Connection) -> int:
    # entry 297 is in the last, partial tile (not stored): found through the signed root
    (e,) = c.execute("SELECT entry FROM audit_entry WHERE idx = 297").fetchone()
    c.execute(
        "UPDATE audit_entry SET entry = ? WHERE idx = 297", (e.replace(b'"view"', b'"export"'),)
    )
    return 297


@pytest.mark.parametrize(
    "tamper",
    [
        _modify,
        _delete,
        _delete_and_renumber,
        _insert_shifting,
        _insert_at_end,
        _reorder,
        _reorder_with_seq,
        _truncate_tail,
    ],
)
def test_tampering_is_detected_and_located(
    db: Path,
    gw: Callable[..., int],
    key_file: Path,
    capsys: pytest.CaptureFixture[str],
    tamper: Callable[[sqlite3.Connection], int],
) -> None:
    c = attacker(db)
    want = tamper(c)
    c.close()
    code, text = verify_cli(gw, db, key_file, capsys)
    assert code == 1, text
    assert first_bad(text) == want, text


def test_tampering_in_the_unstored_last_tile_fails(
    db: Path, gw: Callable[..., int], key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = attacker(db)
    _modify_last_partial_tile(c)
    c.close()
    code, text = verify_cli(gw, db, key_file, capsys)
    assert code == 1, text
    assert (first_bad(text) or 0) <= 297


def test_rewriting_entries_and_tree_together_is_detected(
    db: Path, signer: note.Signer, tmp_path: Path
) -> None:
    """A thorough attacker also recomputes the stored tiles: the signed root still catches it."""
    c = attacker(db)
    _modify(c)
    # rebuild every stored tile from the modified entries
    ents = [e for (e,) in c.execute("SELECT entry FROM audit_entry ORDER BY idx")]
    level = [merkle.leaf_hash(e) for e in ents]
    t = 0
    while len(level) >= TILE_WIDTH:
        nxt = []
        for k in range(len(level) // TILE_WIDTH):
            run = level[k * TILE_WIDTH : (k + 1) * TILE_WIDTH]
            c.execute(
                "UPDATE audit_tile SET hashes = ? WHERE level = ? AND idx = ?",
                (b"".join(run), t, k),
            )
            nxt.append(tile_root(run))
        level, t = nxt, t + 1
    c.close()
    rep = verify_log(f"sqlite:///{db}", [signer.verifier])
    assert not rep.ok
    assert rep.first_bad is not None and rep.first_bad <= 57
    assert any("signed root" in p for p in rep.problems)


def test_tampered_tile_alone_is_detected(db: Path, signer: note.Signer) -> None:
    c = attacker(db)
    (blob,) = c.execute("SELECT hashes FROM audit_tile WHERE level = 1 AND idx = 0").fetchone()
    hs = split_tile(blob)
    hs[3] = bytes(32)
    c.execute("UPDATE audit_tile SET hashes = ? WHERE level = 1 AND idx = 0", (b"".join(hs),))
    c.close()
    rep = verify_log(f"sqlite:///{db}", [signer.verifier])
    assert not rep.ok
    assert any("tile (1, 0)" in p for p in rep.problems)


def test_deleted_tile_below_the_integrated_tail_is_reported(db: Path, signer: note.Signer) -> None:
    """Tiles may be missing only for the tail not yet integrated: a hole below the last
    stored level-0 tile is tampering (derived data, but someone removed it)."""
    c = attacker(db)
    c.execute("DELETE FROM audit_tile WHERE level = 0 AND idx = 2")
    c.close()
    rep = verify_log(f"sqlite:///{db}", [signer.verifier])
    assert not rep.ok
    assert any("tile (0, 2) is missing" in p for p in rep.problems), rep.problems


def test_tiles_missing_for_the_tail_are_not_integrated_yet(db: Path, signer: note.Signer) -> None:
    """The last level-0 tiles and the level-1 tile over them gone = a tail whose
    integration has not happened (a crash): verification passes and says so."""
    c = attacker(db)
    c.execute("DELETE FROM audit_tile WHERE (level = 0 AND idx >= 10) OR level = 1")
    c.close()
    rep = verify_log(f"sqlite:///{db}", [signer.verifier])
    assert rep.ok, rep.problems
    assert any("160..299 are sequenced but not yet integrated" in m for m in rep.notes)


def test_forged_checkpoint_is_refused(db: Path, signer: note.Signer) -> None:
    """Re-signing with another key (the attacker's) does not pass pinned verification."""
    c = attacker(db)
    _modify(c)
    c.close()
    mallory = note.generate_signer("test.example/audit")
    with open_log(db, migrate=False) as log:
        log.checkpoint([mallory])
    rep = verify_log(f"sqlite:///{db}", [signer.verifier])
    assert not rep.ok and "not signed by any trusted key" in rep.problems[0]


def test_rewritten_history_breaks_consistency(
    db: Path,
    gw: Callable[..., int],
    key_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    signer: note.Signer,
) -> None:
    url = f"sqlite:///{db}"
    old = tmp_path / "old.cp"
    assert gw("checkpoint", "--db", url, "--key", str(key_file), "--out", str(old)) == 0
    with open_log(db, migrate=False) as log:
        log.record_many([{"more": i} for i in range(50)])
    assert gw("checkpoint", "--db", url, "--key", str(key_file)) == 0
    capsys.readouterr()
    pub = str(key_file) + ".pub"
    assert gw("consistency", str(old), "--db", url, "--public-key", pub) == 0
    assert json.loads(capsys.readouterr().out)["consistent"] is True
    # an old checkpoint of a different history (forged root, validly signed) is inconsistent
    body = note.checkpoint_body("test.example/audit", 300, b"\x07" * 32)
    other = tmp_path / "other.cp"
    other.write_text(note.sign_note(body, [signer]))
    assert gw("consistency", str(other), "--db", url, "--public-key", pub) == 1


def test_verify_on_both_stores(db_url: str, signer: note.Signer) -> None:
    """The same verification on SQLite and PostgreSQL, clean and after an edit."""
    from gridwall.audit._db import Conn

    with open_log(db_url) as log:
        log.record_many([{"event_id": f"e{i}"} for i in range(100)])
        log.checkpoint([signer])
    assert verify_log(db_url, [signer.verifier]).ok
    c = Conn(db_url)
    if c.dialect == "postgresql":
        c.execute("ALTER TABLE audit_entry DISABLE TRIGGER USER")
    else:
        c.execute("DROP TRIGGER audit_entry_no_update")
    c.execute(
        "UPDATE audit_entry SET entry = ? WHERE idx = 42",
        (b'{"event":{"event_id":"forged"},"recorded_at":"x","seq":42}',),
    )
    c.close()
    rep = verify_log(db_url, [signer.verifier])
    assert not rep.ok and rep.first_bad == 42


def test_verify_while_the_gateway_keeps_appending(db: Path, signer: note.Signer) -> None:
    """Entries appended during verification are outside the checked range: no false alarm."""
    import threading

    stop = threading.Event()

    def writer() -> None:
        with open_log(db, migrate=False) as log:
            k = 0
            while not stop.is_set():
                log.record_many([{"live": k, "j": j} for j in range(7)])
                k += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        for _ in range(5):
            rep = verify_log(f"sqlite:///{db}", [signer.verifier], workers=1)
            assert rep.ok, rep.problems
    finally:
        stop.set()
        t.join()


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 256 leaves, so a few thousand entries exercise the parallel path and the
    tile levels checked above the chunks (worker processes are forked: they see this)."""
    from gridwall.audit import _verify

    monkeypatch.setattr(_verify, "CHUNK_BITS", 8)
    monkeypatch.setattr(_verify, "CHUNK", 256)
    if _verify._mp_context().get_start_method() != "fork":
        pytest.skip("needs fork so that workers see the small chunk size")


def test_parallel_verify_locates_tampering(
    tmp_path: Path, signer: note.Signer, small_chunks: None
) -> None:
    path = tmp_path / "big.db"
    with open_log(path) as log:
        log.record_many([{"event_id": f"e{i}"} for i in range(5000)])
        log.checkpoint([signer])
    url = f"sqlite:///{path}"
    rep = verify_log(url, [signer.verifier], workers=2)
    assert rep.ok, rep.problems
    c = attacker(path)
    (e,) = c.execute("SELECT entry FROM audit_entry WHERE idx = 3001").fetchone()
    c.execute("UPDATE audit_entry SET entry = ? WHERE idx = 3001", (e.replace(b"e3001", b"x"),))
    (blob,) = c.execute("SELECT hashes FROM audit_tile WHERE level = 2 AND idx = 0").fetchone()
    c.execute(
        "UPDATE audit_tile SET hashes = ? WHERE level = 2 AND idx = 0", (bytes(32) + blob[32:],)
    )
    c.close()
    rep = verify_log(url, [signer.verifier], workers=2)
    assert not rep.ok
    assert rep.first_bad == 3001
    assert any("tile (2, 0)" in p for p in rep.problems), rep.problems
