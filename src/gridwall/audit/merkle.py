"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and proof verification.

The audit log (監査ログ) is a Merkle tree of its entries, as in Certificate
Transparency (RFC 9162 §2.1):

* leaf hash ``MTH({d}) = SHA-256(0x00 ‖ d)``,
* interior node ``SHA-256(0x01 ‖ left ‖ right)``,
* a tree of ``n`` leaves splits at ``k``, the largest power of two smaller than ``n``.

``root``, ``inclusion_proof`` and ``consistency_proof`` are reference
implementations over an in-memory list of leaf hashes (the persistent log has its
own O(log n) storage and uses :func:`subtree_root` and the proof builders here over
a node source). ``verify_inclusion`` and ``verify_consistency`` follow the
verification algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2 literally and return
``False`` — never raise — for anything wrong or malformed.

This module uses only the standard library so that the standalone export verifier
can ship it as is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
#: RFC 9162 §2.1.1: the hash of an empty list is the hash of the empty string.
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: ``MTH({d(0)}) = HASH(0x00 || d(0))``."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: ``HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n]))``."""
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """RFC 9162 §2.1.1: ``k`` is the largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.1 Merkle Tree Hash of the given leaf hashes.

    Computed bottom-up, one level at a time, carrying an odd last node up unchanged;
    for the RFC's left-heavy tree this gives the same root as the recursive definition
    (every left subtree is perfect), in O(n) without recursion.
    """
    level = list(leaf_hashes)
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        level = _reduce_level(level)
    return level[0]


def _reduce_level(level: list[bytes]) -> list[bytes]:
    """One level up: hash pairs, carry an odd last node (RFC 9162 §2.1.1 split rule)."""
    sha = _sha256
    n = len(level)
    out = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, n - 1, 2)]
    if n % 2:
        out.append(level[-1])
    return out


#: ``subtree(lo, hi)`` returns MTH(D[lo:hi]) for a subtree of the tree being proven.
SubtreeFn = Callable[[int, int], bytes]


def subtree_root(node: Callable[[int, int], bytes], lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) from perfect-subtree hashes ``node(level, index)``.

    ``[lo, hi)`` must be a subtree of the RFC tree: ``lo`` aligned to the largest
    power of two not above ``hi - lo``. A perfect range is one stored node; otherwise
    RFC 9162 §2.1.1 splits it at ``k``.
    """
    n = hi - lo
    if n & (n - 1) == 0:
        level = n.bit_length() - 1
        return node(level, lo >> level)
    k = _split(n)
    return node_hash(subtree_root(node, lo, lo + k), subtree_root(node, lo + k, hi))


def path(subtree: SubtreeFn, m: int, lo: int, hi: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1 ``PATH(m, D[lo:hi])``, with sibling hashes from ``subtree``."""
    n = hi - lo
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*path(subtree, m, lo, lo + k), subtree(lo + k, hi)]
    return [*path(subtree, m - k, lo + k, hi), subtree(lo, lo + k)]


def subproof(subtree: SubtreeFn, m: int, lo: int, hi: int, b: bool) -> list[bytes]:
    """RFC 9162 §2.1.4.1 ``SUBPROOF(m, D[lo:hi], b)``."""
    n = hi - lo
    if m == n:
        return [] if b else [subtree(lo, hi)]
    k = _split(n)
    if m <= k:
        return [*subproof(subtree, m, lo, lo + k, b), subtree(lo + k, hi)]
    return [*subproof(subtree, m - k, lo + k, hi, False), subtree(lo, lo + k)]


def _list_subtree(leaf_hashes: Sequence[bytes]) -> SubtreeFn:
    return lambda lo, hi: root(leaf_hashes[lo:hi])


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1 audit path of leaf ``index`` in the tree of ``leaf_hashes``."""
    n = len(leaf_hashes)
    if not 0 <= index < n:
        raise ValueError(f"index {index} out of range for a tree of {n} leaves")
    return path(_list_subtree(leaf_hashes), index, 0, n)


def consistency_proof(leaf_hashes: Sequence[bytes], size1: int, size2: int) -> list[bytes]:
    """RFC 9162 §2.1.4.1 ``PROOF(size1, D[0:size2])`` over the first ``size2`` leaves.

    Empty when ``size1`` is 0 or equal to ``size2`` (nothing to prove).
    """
    if not 0 <= size1 <= size2 <= len(leaf_hashes):
        raise ValueError(f"need 0 <= size1 <= size2 <= {len(leaf_hashes)}, got {size1}, {size2}")
    if size1 in (0, size2):
        return []
    return subproof(_list_subtree(leaf_hashes), size1, 0, size2, True)


def _is_hash(x: Any) -> bool:
    """A hash is exactly 32 bytes (``bytes``; not str, not bytearray views of other sizes)."""
    return isinstance(x, bytes) and len(x) == HASH_SIZE


def _is_size(x: Any) -> bool:
    """Sizes and indices are non-negative ``int`` (``bool`` is refused)."""
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _is_proof(p: Any) -> bool:
    """A proof is a list or tuple of hashes."""
    return isinstance(p, list | tuple) and all(_is_hash(h) for h in p)


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Any, root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: is ``leaf_hash`` at ``index`` in the tree of ``size`` with ``root``?

    False for any wrong or malformed input; never raises on one.
    """
    try:
        return _verify_inclusion(leaf_hash, index, size, proof, root)
    except Exception:  # defensive: malformed input of a kind not foreseen above
        return False


def _verify_inclusion(leaf: Any, index: Any, size: Any, proof: Any, expected: Any) -> bool:
    if not (_is_hash(leaf) and _is_hash(expected) and _is_size(index) and _is_size(size)):
        return False
    if not _is_proof(proof):
        return False
    # Step 1: leaf_index must be smaller than tree_size.
    if index >= size:
        return False
    # Step 2: fn = leaf_index, sn = tree_size - 1; Step 3: r = hash.
    fn, sn, r = index, size - 1, leaf
    # Step 4: fold each proof element in.
    for p in proof:
        if sn == 0:  # 4a: the proof is longer than the path
            return False
        if fn & 1 or fn == sn:  # 4b: p is a left sibling
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:  # 4b otherwise: p is a right sibling
            r = node_hash(r, p)
        fn >>= 1  # 4c
        sn >>= 1
    # Step 5: sn must be 0 (the proof was not truncated) and r must equal the root.
    return bool(sn == 0 and r == expected)


def verify_consistency(size1: int, size2: int, proof: Any, root1: bytes, root2: bytes) -> bool:
    """RFC 9162 §2.1.4.2: is the tree (size1, root1) a prefix of the tree (size2, root2)?

    Edge cases (RFC 9162 §2.1.4: the proof for equal sizes or an empty first tree is
    empty): ``size1 == size2`` needs an empty proof and ``root1 == root2``; ``size1 == 0``
    needs an empty proof and ``root1`` the empty-tree hash. False for anything
    wrong or malformed; never raises on one.
    """
    try:
        return _verify_consistency(size1, size2, proof, root1, root2)
    except Exception:  # defensive: malformed input of a kind not foreseen above
        return False


def _verify_consistency(size1: Any, size2: Any, proof: Any, root1: Any, root2: Any) -> bool:
    if not (_is_size(size1) and _is_size(size2) and _is_hash(root1) and _is_hash(root2)):
        return False
    if not _is_proof(proof) or size1 > size2:
        return False
    if size1 == 0:
        return len(proof) == 0 and root1 == EMPTY_ROOT and (size2 > 0 or root2 == EMPTY_ROOT)
    if size1 == size2:
        return len(proof) == 0 and root1 == root2
    # Step 1: an empty path cannot prove 0 < size1 < size2.
    if not proof:
        return False
    path_ = list(proof)
    # Step 2: if size1 is a power of two, the proof omits root1; prepend it.
    if size1 & (size1 - 1) == 0:
        path_.insert(0, root1)
    # Step 3: fn = first - 1, sn = second - 1.
    fn, sn = size1 - 1, size2 - 1
    # Step 4: right-shift both while LSB(fn) is set.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5: fr = sr = the first path element.
    fr = sr = path_[0]
    # Step 6: fold in the rest.
    for c in path_[1:]:
        if sn == 0:  # 6a: the proof is too long
            return False
        if fn & 1 or fn == sn:  # 6b: c is a left sibling of both paths
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:  # 6b otherwise: c is a right sibling on the second path only
            sr = node_hash(sr, c)
        fn >>= 1  # 6c
        sn >>= 1
    # Step 7: both roots reproduced and the proof fully consumed.
    return bool(fr == root1 and sr == root2 and sn == 0)
