"""An inclusion proof reads O(log n) hashes, also at a size that ends mid-tile (issue 15).

The right edge of the tree (hashes at each tile level not yet in a full, stored tile) used
to be recomputed from the tiles below on every proof: hundreds of SHA-256 per proof at
any size that is not a multiple of a tile. A reader keeps those hashes once computed (a
perfect subtree's hash never changes), so later proofs cost about log₂ n hashes.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gridwall.audit import _tree, merkle, open_log

# three full level-2 tiles' worth, then a partial tile at every level below
SIZE = 3 * 16**3 + 7 * 16**2 + 5 * 16 + 3


def _counting(calls: list[int]) -> Callable[..., Any]:
    def sha(*a: Any) -> Any:
        calls[0] += 1
        return hashlib.sha256(*a)

    return sha


def test_proofs_at_a_mid_tile_size_hash_about_log_n(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = open_log(tmp_path / "a.db", durability="os")
    try:
        log.record_many([{"i": i} for i in range(SIZE)])
        log.integrate()
        root = log.root(SIZE)
        rng = random.Random(7)
        indices = [rng.randrange(SIZE) for _ in range(40)] + [SIZE - 1, SIZE - 20, 0]
        log.inclusion_proof(indices[0], SIZE)  # the first proof may fill the reader's caches
        calls = [0]
        monkeypatch.setattr(_tree, "_sha", _counting(calls))
        monkeypatch.setattr(merkle, "_sha256", _counting(calls))
        proofs = [log.inclusion_proof(i, SIZE) for i in indices]
        per_proof = calls[0] / len(indices)
        monkeypatch.undo()
        for i, p in zip(indices, proofs, strict=True):
            assert merkle.verify_inclusion(merkle.leaf_hash(log.entry(i)), i, SIZE, p, root)
        # each of the ~log₂ n path nodes lies inside one tile: at most 2⁴ - 1 hashes when
        # it is a full tile's root, typically a handful
        log2n = SIZE.bit_length()
        assert per_proof <= 4 * log2n, f"{per_proof:.0f} hashes per proof at size {SIZE}"
    finally:
        log.close()
