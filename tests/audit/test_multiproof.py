"""Many inclusion proofs in one pass over the stored tiles are the same bytes as one by one,
and the compact multiproof proves exactly its leaves: a wrong, truncated or padded one fails."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridwall.audit import AuditLog, merkle, multiproof, open_log
from gridwall.audit import _proofs as proofs
from gridwall.audit._db import Conn


def _leaves(url: str, size: int) -> list[bytes]:
    c = Conn(url)
    try:
        return [merkle.leaf_hash(e) for _, e in c.entries(0, size)]
    finally:
        c.close()


@pytest.fixture
def log_url(db_url: str) -> Iterator[str]:
    """5 000 integrated entries (tiles up to level 2) and a tail of 37 not yet integrated
    (held open by a writer that does not integrate until it closes)."""
    with open_log(db_url) as log:
        log.record_many([{"n": i} for i in range(5000)])
        assert log.integrate() == 5000
    tail = AuditLog(db_url, integrate_min=10**9)
    try:
        tail.record_many([{"tail": i} for i in range(37)])
        c = Conn(db_url)
        try:
            assert c.size() == 5037 and c.frontier() == 4992  # the tail has no tiles
        finally:
            c.close()
        yield db_url
    finally:
        tail.close()


SIZES = (1, 2, 15, 16, 17, 255, 256, 257, 4095, 4096, 4097, 5000, 5001, 5037)


def test_batch_proofs_are_the_one_by_one_proofs(
    log_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(proofs, "CHUNK", 7)  # many chunks: tiles dropped and read again
    rnd = random.Random(14)
    log = AuditLog(log_url)
    c = Conn(log_url)
    try:
        for size in SIZES:
            picks = {0, size - 1, size // 2, *rnd.sample(range(size), min(size, 60))}
            indices = sorted(picks)
            rnd.shuffle(indices)  # answered in the order asked, whatever it is
            indices.append(indices[0])  # and a repeated index
            got = proofs.inclusion_proofs(c, indices, size)
            assert got == [log.inclusion_proof(i, size) for i in indices], size
    finally:
        c.close()
        log.close()


def test_batch_proofs_refuse_an_index_outside_the_tree(log_url: str) -> None:
    c = Conn(log_url)
    try:
        with pytest.raises(ValueError, match="index 100 is not below the tree size 100"):
            proofs.inclusion_proofs(c, [3, 100], 100)
    finally:
        c.close()


def test_store_multiproof_is_the_reference_and_verifies(
    log_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(proofs, "CHUNK", 5)
    rnd = random.Random(7)
    leaves = _leaves(log_url, 5037)
    c = Conn(log_url)
    try:
        for size in SIZES:
            indices = sorted(rnd.sample(range(size), min(size, 40)))
            got = proofs.multiproof(c, indices, size)
            ref = multiproof.multiproof(lambda a, b: merkle.root(leaves[a:b]), indices, size)
            assert got == ref, size
            root = merkle.root(leaves[:size])
            ok, why = multiproof.verify_multiproof(
                size, [(i, leaves[i]) for i in indices], got, root
            )
            assert ok, why
    finally:
        c.close()


@st.composite
def _tree_and_indices(draw: st.DrawFn) -> tuple[list[bytes], list[int]]:
    size = draw(st.integers(min_value=1, max_value=300))
    indices = sorted(draw(st.sets(st.integers(0, size - 1), min_size=1, max_size=size)))
    leaves = [merkle.leaf_hash(b"%d" % i) for i in range(size)]
    return leaves, indices


def _ref(leaves: list[bytes], indices: list[int]) -> list[bytes]:
    return multiproof.multiproof(lambda a, b: merkle.root(leaves[a:b]), indices, len(leaves))


@settings(max_examples=150, deadline=None)
@given(case=_tree_and_indices(), data=st.data())
def test_multiproof_proves_its_leaves_and_nothing_else(
    case: tuple[list[bytes], list[int]], data: st.DataObject
) -> None:
    leaves, indices = case
    size, root = len(leaves), merkle.root(leaves)
    proof = _ref(leaves, indices)
    rows = [(i, leaves[i]) for i in indices]
    assert multiproof.verify_multiproof(size, rows, proof, root) == (True, "")
    # never longer than the single paths together, and one index's is its audit path
    assert len(proof) <= sum(len(merkle.inclusion_proof(leaves, i)) for i in indices)
    if len(indices) == 1:
        assert sorted(proof) == sorted(merkle.inclusion_proof(leaves, indices[0]))
    if proof:
        cut = data.draw(st.integers(0, len(proof) - 1))
        ok, why = multiproof.verify_multiproof(size, rows, proof[:cut], root)
        assert not ok and "truncated" in why
        bad = list(proof)
        bad[cut] = bytes([bad[cut][0] ^ 1]) + bad[cut][1:]
        assert not multiproof.verify_multiproof(size, rows, bad, root)[0]
    ok, why = multiproof.verify_multiproof(size, rows, [*proof, root], root)
    assert not ok and "too many" in why
    j = data.draw(st.integers(0, len(rows) - 1))
    wrong_leaf = list(rows)
    wrong_leaf[j] = (rows[j][0], merkle.leaf_hash(b"altered"))
    assert not multiproof.verify_multiproof(size, wrong_leaf, proof, root)[0]
    # the leaves claimed at other places do not check (the size is bound by the signed
    # checkpoint, not by the proof: as for RFC 9162 audit paths)
    if len(rows) < size:
        free = [i for i in range(size) if i not in indices]
        moved = sorted([*(i for i, _ in rows[:j]), *(i for i, _ in rows[j + 1 :]), free[0]])
        hashes = dict(rows)
        hashes[free[0]] = rows[j][1]
        assert not multiproof.verify_multiproof(size, [(i, hashes[i]) for i in moved], proof, root)[
            0
        ]


@pytest.mark.parametrize(
    ("size", "leaves", "proof", "why"),
    [
        (0, [(0, b"x" * 32)], [], "tree size"),
        (4, [], [], "no leaves"),
        (4, [(4, b"x" * 32)], [], "not below the tree size"),
        (4, [(2, b"x" * 32), (1, b"x" * 32)], [], "does not follow"),
        (4, [(1, b"short")], [], "not a 32-byte hash"),
        (4, [(1, b"x" * 32)], ["not bytes"], "not a list of 32-byte hashes"),
        (4, [(1,)], [], "malformed"),
    ],
)
def test_malformed_multiproof_input_fails_with_a_reason(
    size: int, leaves: list[object], proof: list[object], why: str
) -> None:
    ok, msg = multiproof.verify_multiproof(size, leaves, proof, b"r" * 32)
    assert not ok and why in msg
