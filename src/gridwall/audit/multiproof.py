"""Many inclusion proofs at once, and the compact multiproof (standard library only).

A retailer statement lists thousands of log entries, each with its RFC 9162 inclusion
proof against one checkpoint. Two ways to make that cheap, both over a
``subtree(lo, hi) -> MTH(D[lo:hi])`` function (see :mod:`gridwall.audit.merkle`):

* :func:`inclusion_proofs` — every index's ordinary audit path, the same bytes as
  :func:`gridwall.audit.merkle.path` one by one, but with the upper nodes that many paths
  share computed once (a memo of the large subtrees);
* :func:`multiproof` / :func:`verify_multiproof` — the *compact* form: one list of sibling
  hashes for all the indices together. It holds, in depth-first left-to-right order of the
  RFC 9162 tree of ``size`` leaves, the hash of every maximal subtree that contains none
  of the indices. With the indices' leaf hashes it gives the root; every hash the single
  paths would repeat (shared ancestors' siblings) and every sibling that is itself an
  ancestor of another listed leaf is left out.

This module imports only the standard library (and :mod:`gridwall.audit.merkle`, itself
standard library only) so that :mod:`gridwall.audit.standalone` can ship it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any

from gridwall.audit import merkle

__all__ = [
    "MULTIPROOF_FORMAT",
    "inclusion_proofs",
    "memo_subtree",
    "multiproof",
    "multiproof_nodes",
    "verify_multiproof",
]

#: the tag of the compact form inside a statement
MULTIPROOF_FORMAT = "rfc9162-multiproof/1"

SubtreeFn = Callable[[int, int], bytes]

_sha = hashlib.sha256


def _split(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def memo_subtree(subtree: SubtreeFn, keep_from: int = 256) -> tuple[SubtreeFn, Callable[[], None]]:
    """``subtree`` remembering its answers: ``(memoised, forget_small)``.

    Subtrees of at least ``keep_from`` leaves are kept for good (there are at most
    ``2 · size / keep_from`` of them); smaller ones until ``forget_small()`` is called
    (between chunks of nearby indices), so memory stays bounded however many indices."""
    big: dict[tuple[int, int], bytes] = {}
    small: dict[tuple[int, int], bytes] = {}

    def memo(lo: int, hi: int) -> bytes:
        key = (lo, hi)
        d = big if hi - lo >= keep_from else small
        h = d.get(key)
        if h is None:
            h = subtree(lo, hi)
            d[key] = h
        return h

    return memo, small.clear


def _check_indices(indices: Sequence[int], size: int) -> None:
    for i in indices:
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < size:
            raise ValueError(f"index {i!r} is not below the tree size {size}")


def inclusion_proofs(subtree: SubtreeFn, indices: Sequence[int], size: int) -> list[list[bytes]]:
    """RFC 9162 §2.1.3.1 audit path of each index (in the order given) in the tree of
    ``size`` leaves; ``subtree`` should be memoised (:func:`memo_subtree`) for speed."""
    _check_indices(indices, size)
    return [merkle.path(subtree, i, 0, size) for i in indices]


def multiproof_nodes(indices: Sequence[int], size: int) -> list[tuple[int, int]]:
    """The subtrees ``(lo, hi)`` whose hashes make the compact proof of ``indices``
    (strictly increasing) in the tree of ``size``: the maximal subtrees holding none of
    them, depth-first, left to right."""
    _check_indices(indices, size)
    if any(b <= a for a, b in pairwise(indices)):
        raise ValueError("the indices of a multiproof must be strictly increasing")
    out: list[tuple[int, int]] = []
    if not indices:
        return out
    idx = list(indices)

    def walk(lo: int, hi: int, a: int, b: int) -> None:
        # idx[a:b] are the indices inside [lo, hi); there is at least one
        n = hi - lo
        if n == 1:
            return
        k = lo + _split(n)
        m = a
        while m < b and idx[m] < k:
            m += 1
        if m == a:
            out.append((lo, k))
        else:
            walk(lo, k, a, m)
        if m == b:
            out.append((k, hi))
        else:
            walk(k, hi, m, b)

    walk(0, size, 0, len(idx))
    return out


def multiproof(subtree: SubtreeFn, indices: Sequence[int], size: int) -> list[bytes]:
    """The compact proof of ``indices`` (strictly increasing) in the tree of ``size``:
    the hashes of :func:`multiproof_nodes`."""
    return [subtree(lo, hi) for lo, hi in multiproof_nodes(indices, size)]


def _is_hash(x: Any) -> bool:
    return isinstance(x, bytes) and len(x) == merkle.HASH_SIZE


def verify_multiproof(size: Any, leaves: Any, proof: Any, root: Any) -> tuple[bool, str]:
    """Do ``leaves`` (``[(index, leaf hash)]``, strictly increasing indices) and the
    compact ``proof`` give ``root`` for a tree of ``size`` leaves? ``(ok, why not)``.

    Every hash of ``proof`` must be used exactly once: a proof that is too short
    (truncated), too long, or has one hash wrong fails. Never raises on bad input."""
    try:
        return _verify(size, leaves, proof, root)
    except Exception as e:  # defensive: malformed input of a kind not foreseen below
        return False, f"malformed multiproof ({type(e).__name__})"


def _verify(size: Any, leaves: Any, proof: Any, root: Any) -> tuple[bool, str]:
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        return False, f"tree size {size!r} is not a positive integer"
    if not _is_hash(root):
        return False, "the root is not a 32-byte hash"
    if not isinstance(proof, list | tuple) or not all(_is_hash(h) for h in proof):
        return False, "the proof is not a list of 32-byte hashes"
    if not isinstance(leaves, list | tuple) or not leaves:
        return False, "no leaves to prove"
    idx: list[int] = []
    hashes: list[bytes] = []
    for pos, item in enumerate(leaves):
        i, h = item
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < size:
            return False, f"leaf {pos}: index {i!r} is not below the tree size {size}"
        if idx and i <= idx[-1]:
            return False, f"leaf {pos}: index {i} does not follow {idx[-1]}"
        if not _is_hash(h):
            return False, f"leaf {pos} (index {i}): not a 32-byte hash"
        idx.append(i)
        hashes.append(h)
    pos_ = 0
    sha = _sha

    class _Short(Exception):
        pass

    def walk(lo: int, hi: int, a: int, b: int) -> bytes:
        nonlocal pos_
        n = hi - lo
        if n == 1:
            return hashes[a]
        k = lo + _split(n)
        m = a
        while m < b and idx[m] < k:
            m += 1
        if m == a:
            if pos_ >= len(proof):
                raise _Short
            left = proof[pos_]
            pos_ += 1
        else:
            left = walk(lo, k, a, m)
        if m == b:
            if pos_ >= len(proof):
                raise _Short
            right = proof[pos_]
            pos_ += 1
        else:
            right = walk(k, hi, m, b)
        return sha(b"\x01" + left + right).digest()

    try:
        got = walk(0, size, 0, len(idx))
    except _Short:
        return False, f"the proof is truncated ({len(proof)} hashes are not enough)"
    if pos_ != len(proof):
        return False, f"the proof has {len(proof) - pos_} hashes too many"
    if got != root:
        return False, "the leaves and the proof do not give the checkpoint's root"
    return True, ""
