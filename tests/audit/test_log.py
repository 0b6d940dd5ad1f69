"""The persistent log on SQLite and PostgreSQL: appends, stored tree, proofs, append-only."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridwall.audit import AuditWriteError, merkle, open_log
from gridwall.audit._db import Conn
from gridwall.audit._log import AuditLog, canonical_json, entries_at, entry_bytes


def _leaves(log: AuditLog) -> list[bytes]:
    c = Conn(log.url)
    try:
        return [merkle.leaf_hash(e) for _, e in c.entries(0, log.size())]
    finally:
        c.close()


def test_append_proofs_match_reference(db_url: str) -> None:
    with open_log(db_url) as log:
        assert log.size() == 0
        assert log.root() == merkle.EMPTY_ROOT
        assert log.record_many([{"n": i} for i in range(300)]) == list(range(300))
        for i in range(40):
            assert log.append({"one": i}) == 300 + i
        leaves = _leaves(log)
        assert len(leaves) == 340
        for s in (1, 2, 15, 16, 17, 255, 256, 257, 300, 340):
            assert log.root(s) == merkle.root(leaves[:s])
            for i in {0, s // 2, s - 1}:
                proof = log.inclusion_proof(i, s)
                assert proof == merkle.inclusion_proof(leaves[:s], i)
                assert merkle.verify_inclusion(leaves[i], i, s, proof, log.root(s))
            for s1 in {0, 1, s // 3, s - 1, s}:
                proof = log.consistency_proof(s1, s)
                assert proof == merkle.consistency_proof(leaves, s1, s)


@settings(max_examples=15, deadline=None)
@given(batches=st.lists(st.integers(min_value=1, max_value=70), min_size=1, max_size=8))
def test_any_batching_gives_the_reference_tree(
    tmp_path_factory: pytest.TempPathFactory, batches: list[int]
) -> None:
    path = tmp_path_factory.mktemp("log") / "a.db"
    with open_log(path) as log:
        k = 0
        for b in batches:
            log.record_many([{"k": k + j} for j in range(b)])
            k += b
        leaves = _leaves(log)
        assert log.root() == merkle.root(leaves)
    # a fresh writer rebuilds the right edge from the database and continues
    with open_log(path, migrate=False) as log2:
        log2.record_many([{"after": j} for j in range(19)])
        assert log2.root() == merkle.root(_leaves(log2))


def test_entry_bytes_are_canonical_json(tmp_path: Path) -> None:
    with open_log(tmp_path / "a.db") as log:
        i = log.append({"b": 1, "a": {"z": "需要家", "y": [1, 2]}, "c": None})
        raw = log.entry(i)
    obj = json.loads(raw)
    assert raw == canonical_json(obj)
    assert obj["seq"] == i and obj["event"]["a"]["z"] == "需要家"
    assert b" " not in raw and "需要家".encode() in raw


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=8)), max_size=8),
    st.integers(min_value=0, max_value=10**12),
)
def test_batch_entries_equal_the_canonical_entry(
    events: list[dict[str, object]], first: int
) -> None:
    """The writer builds a batch's entries in one pass: byte for byte the canonical
    three-key object, each naming its own index."""
    ts = "2026-12-07T15:00:00.123456Z"
    payload = [canonical_json(e) for e in events]
    got = entries_at(payload, ts, first)
    want = [
        canonical_json({"event": e, "recorded_at": ts, "seq": first + k})
        for k, e in enumerate(events)
    ]
    assert got == want == [entry_bytes(p, ts, first + k) for k, p in enumerate(payload)]


def test_concurrent_records_are_group_committed(db_url: str) -> None:
    with open_log(db_url) as log:
        got: list[int] = []
        lock = threading.Lock()

        def worker(w: int) -> None:
            for j in range(50):
                i = log.append({"w": w, "j": j})
                with lock:
                    got.append(i)

        threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(got) == list(range(400))
        assert log.root() == merkle.root(_leaves(log))


def test_unencodable_event_is_refused(tmp_path: Path) -> None:
    with open_log(tmp_path / "a.db") as log:
        with pytest.raises(AuditWriteError):
            log.record({"x": object()})
        with pytest.raises(AuditWriteError):
            log.record({"x": float("nan")})
        assert log.size() == 0


def test_unwritable_log_raises(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    log = open_log(path)
    log.record({"ok": 1})
    log.close()
    log = AuditLog(f"sqlite:///{path}")
    c = Conn(log.url)
    c.execute("DROP TABLE audit_entry")  # the store lost its table: writes must fail
    c.close()
    with pytest.raises(AuditWriteError):
        log.record({"lost": 1})
    log.close()
    with pytest.raises(AuditWriteError):
        log.record({"closed": 1})


@pytest.mark.parametrize(
    "stmt",
    [
        "UPDATE audit_entry SET entry = ? WHERE idx = 3",
        "DELETE FROM audit_entry WHERE idx = 3",
        "UPDATE audit_tile SET hashes = ? WHERE level = 0",
        "DELETE FROM audit_tile",
        "DELETE FROM audit_checkpoint",
        "DELETE FROM audit_key",
        "DELETE FROM audit_setting",
        "DELETE FROM audit_archive",
    ],
)
def test_tables_are_append_only(db_url: str, stmt: str) -> None:
    with open_log(db_url) as log:
        log.record_many([{"n": i} for i in range(40)])
        log.integrate()  # tiles are written behind the acknowledgement: make them exist
        c = Conn(log.url)
        if stmt.startswith("DELETE FROM audit_") and "entry" not in stmt and "tile" not in stmt:
            c.execute("INSERT INTO audit_setting (retention_years, created_at) VALUES (7, 0)")
            c.execute("INSERT INTO audit_key (vkey, reason, created_at) VALUES ('k', 'x', 0)")
            c.execute(
                "INSERT INTO audit_archive (start_idx, end_idx, file_name, sha256, created_at) "
                "VALUES (0, 0, 'f', 'h', 0)"
            )
            c.execute(
                "INSERT INTO audit_checkpoint (size, root, note, created_at) VALUES (0, ?, 'n', 0)",
                (b"x",),
            )
        params = (b"tampered",) if "?" in stmt else ()
        with pytest.raises(Exception, match=r"append-only|retention"):
            c.execute(stmt, params)
        c.close()
        assert log.size() == 40


def test_retention_cannot_be_lowered(db_url: str) -> None:
    from gridwall.errors import UsageError

    with open_log(db_url) as log:
        assert log.retention_years() == 5
        with pytest.raises(UsageError, match="minimum of 5"):
            log.set_retention_years(4)
        log.set_retention_years(7)
        assert log.retention_years() == 7
        with pytest.raises(UsageError, match="only be raised"):
            log.set_retention_years(6)
        c = Conn(log.url)
        with pytest.raises(Exception, match=r"retention_min|check"):
            c.execute("INSERT INTO audit_setting (retention_years, created_at) VALUES (3, 0)")
        c.close()


def test_two_writers_share_one_log(db_url: str) -> None:
    """Two AuditLog objects (as two gateway processes would) interleave appends."""
    a = open_log(db_url)
    b = AuditLog(a.url)
    try:
        for k in range(12):
            (a if k % 2 else b).record_many([{"w": k, "j": j} for j in range(k * 3 + 1)])
        assert a.root() == b.root() == merkle.root(_leaves(a))
        idx = [json.loads(a.entry(i))["seq"] for i in range(a.size())]
        assert idx == list(range(a.size()))
    finally:
        a.close()
        b.close()


@settings(max_examples=200, deadline=None)
@given(
    ev=st.dictionaries(
        st.text(max_size=8),
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers()
            | st.text(max_size=12)
            | st.floats(allow_nan=False, allow_infinity=False),
            lambda kids: (
                st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3)
            ),
            max_leaves=8,
        ),
        max_size=6,
    )
)
def test_fast_encoder_equals_reference_canonical_json(ev: dict[str, object]) -> None:
    ref = json.dumps(
        ev, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
    assert canonical_json(ev) == ref


def test_cyclic_event_is_refused(tmp_path: Path) -> None:
    ev: dict[str, object] = {}
    ev["self"] = ev
    with open_log(tmp_path / "a.db") as log, pytest.raises(AuditWriteError):
        log.record(ev)


def test_checkpointer_signs_while_the_log_grows(tmp_path: Path) -> None:
    from gridwall.audit import note
    from gridwall.audit._verify import verify_log

    signer = note.generate_signer("test.example/audit")
    log = open_log(tmp_path / "a.db", signers=[signer], checkpoint_every=0.05)
    log.record_many([{"n": i} for i in range(20)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        cp = log.latest_checkpoint()
        if cp is not None and cp.size == 20:
            break
        time.sleep(0.02)
    n_before = len(log.checkpoints())
    assert n_before >= 1
    time.sleep(0.2)
    assert len(log.checkpoints()) == n_before  # nothing new: no new checkpoint
    log.record({"last": 1})
    log.close()  # signs the tail
    last = log.latest_checkpoint()
    assert last is not None and last.size == 21
    assert verify_log(log.url, [signer.verifier]).ok
