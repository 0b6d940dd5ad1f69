"""How the Merkle tree is stored: tiles of height 4 (16 hashes), in the spirit of tlog-tiles.

Tile ``(t, k)`` holds the 16 hashes at tree level ``4t`` with indices
``16k … 16k+15``, concatenated (512 bytes). Only *full* tiles are stored; they are
immutable, like the entries. The right edge (at most 15 hashes per tile level) is
kept in memory by the writer and rebuilt on start from the entries and the tiles.
Tiles are written *after* the entries (integration, see ``_log``): a tail of entries may
have no tiles yet; every node it would hold is then recomputed from the entries.

Any perfect subtree hash (level ``L``, index ``j``) lies inside one tile (``t = L // 4``)
and costs one tile read plus at most 7 node hashes, so an inclusion or consistency
proof at 10⁸ entries reads about 7 tiles: O(log n). Storage is ~34 bytes per entry.

Why our own layout: no maintained Python library stores an RFC 6962 tree in SQL
with O(log n) proofs; tlog-tiles itself is a static-file HTTP layout with 256-wide
tiles, whose proofs would need ~1000 hashes in Python (too slow for < 1 ms).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from itertools import repeat
from operator import add

from gridwall.audit import merkle

TILE_HEIGHT = 4
TILE_WIDTH = 1 << TILE_HEIGHT
H = merkle.HASH_SIZE

_sha = hashlib.sha256
_digest = type(hashlib.sha256()).digest  # unbound: ``map`` calls it without bytecode
#: Right-edge hashes a reader keeps (bounded; a few per tile level suffice per size).
EDGE_KEEP_MAX = 100_000


def split_tile(blob: bytes) -> list[bytes]:
    """The 16 hashes of a stored tile."""
    return [blob[i : i + H] for i in range(0, len(blob), H)]


def leaf_hashes(entries: list[bytes]) -> list[bytes]:
    """RFC 9162 leaf hashes ``SHA-256(0x00 ‖ entry)``: C functions applied by ``map``,
    no bytecode per entry (the writer's integration and the verifier's hot loop)."""
    return list(map(_digest, map(_sha, map(add, repeat(b"\x00"), entries))))


def reduce_levels(hashes: list[bytes], levels: int) -> list[bytes]:
    """Hash a run of perfect sibling nodes ``levels`` levels up (RFC 9162 node rule,
    ``SHA-256(0x01 ‖ left ‖ right)``); the run's length is a multiple of 2^levels, so
    a run of many aligned tiles gives their roots in one pass (no bytecode per hash)."""
    for _ in range(levels):
        lefts = map(add, repeat(b"\x01"), hashes[0::2])
        hashes = list(map(_digest, map(_sha, map(add, lefts, hashes[1::2]))))
    return hashes


def tile_root(hashes: list[bytes]) -> bytes:
    """The node four levels above a full tile's 16 hashes."""
    return reduce_levels(hashes, TILE_HEIGHT)[0]


class RightEdge:
    """The writer's in-memory partial tiles.

    ``partial[t]`` holds the level-4t hashes not yet in a full (stored) tile.
    """

    def __init__(self, size: int, partial: list[list[bytes]]) -> None:
        self.size = size
        self.partial = partial

    def copy(self) -> RightEdge:
        return RightEdge(self.size, [list(p) for p in self.partial])

    def append(self, leaves: list[bytes]) -> list[tuple[int, int, bytes]]:
        """Add leaf hashes; return the tiles ``(t, k, blob)`` that became full."""
        out: list[tuple[int, int, bytes]] = []
        carry = leaves
        t = 0
        new_size = self.size + len(leaves)
        while carry:
            if t == len(self.partial):
                self.partial.append([])
            p = self.partial[t]
            full = (self.size >> (TILE_HEIGHT * t)) // TILE_WIDTH  # full tiles already stored
            p.extend(carry)
            n = len(p) // TILE_WIDTH * TILE_WIDTH  # hashes in tiles that became full
            runs = p[:n]
            out.extend(
                (t, full + g, b"".join(runs[i : i + TILE_WIDTH]))
                for g, i in enumerate(range(0, n, TILE_WIDTH))
            )
            carry = reduce_levels(runs, TILE_HEIGHT) if n else []  # their roots, one pass
            del p[:n]
            t += 1
        self.size = new_size
        return out

    def root(self) -> bytes:
        """MTH of the whole tree, from the right edge alone (RFC 9162 §2.1.1).

        Level-4t partial hashes are perfect subtrees of size 16ᵗ, left to right from the
        highest level; the tree root folds them from the right.
        """
        nodes: list[bytes] = []
        for t in range(len(self.partial) - 1, -1, -1):
            nodes.extend(self._perfect_pieces(t))
        if not nodes:
            return merkle.EMPTY_ROOT
        acc = nodes[-1]
        for h in reversed(nodes[:-1]):
            acc = merkle.node_hash(h, acc)
        return acc

    def _perfect_pieces(self, t: int) -> list[bytes]:
        """Decompose a partial tile's hashes into maximal aligned perfect subtrees."""
        p = self.partial[t]
        out: list[bytes] = []
        i = 0
        for bit in (8, 4, 2, 1):
            if len(p) - i >= bit:
                out.append(reduce_levels(p[i : i + bit], bit.bit_length() - 1)[0])
                i += bit
        return out


class NodeSource:
    """Perfect-subtree hashes ``(level, index)`` of a stored tree, for proofs.

    ``get_tile(t, k)`` returns a stored full tile or None; ``get_leaves(lo, hi)`` the
    leaf hashes of the entries ``lo … hi-1`` (only used for the last, partial tile).
    """

    def __init__(
        self,
        get_tile: Callable[[int, int], bytes | None],
        get_leaves: Callable[[int, int], list[bytes]],
        edge: dict[tuple[int, int], bytes] | None = None,
    ) -> None:
        self._get_tile = get_tile
        self._get_leaves = get_leaves
        self._tiles: dict[tuple[int, int], bytes | None] = {}
        # hashes of the right edge (not in a stored full tile), by (tile level, index):
        # recomputed once, then kept — a perfect subtree's hash never changes
        self._edge = {} if edge is None else edge

    def tile(self, t: int, k: int) -> bytes | None:
        key = (t, k)
        if key not in self._tiles:
            self._tiles[key] = self._get_tile(t, k)
        return self._tiles[key]

    def base(self, t: int, lo: int, hi: int) -> list[bytes]:
        """Hashes at level 4t, indices lo … hi-1 (within one tile)."""
        k = lo // TILE_WIDTH
        blob = self.tile(t, k)
        if blob is not None:
            off = lo - k * TILE_WIDTH
            return split_tile(blob[off * H : (off + hi - lo) * H])
        # a tile not stored: the right edge, or a tail sequenced but not yet integrated
        # (recomputed from the level below, down to the entries, once: see ``edge``)
        edge = self._edge
        got = [edge.get((t, i)) for i in range(lo, hi)]
        if None not in got:
            return got  # type: ignore[return-value]  # every one was kept
        if t == 0:
            out = self._get_leaves(lo, hi)
        else:
            w = TILE_WIDTH
            out = [
                h if h is not None else tile_root(self.base(t - 1, i * w, (i + 1) * w))
                for i, h in zip(range(lo, hi), got, strict=True)
            ]
        if len(edge) + len(out) > EDGE_KEEP_MAX:
            edge.clear()
        edge.update(zip(((t, i) for i in range(lo, hi)), out, strict=True))
        return out

    def node(self, level: int, index: int) -> bytes:
        """The perfect subtree hash at ``level``, ``index`` (RFC 9162 node)."""
        t, r = divmod(level, TILE_HEIGHT)
        lo = index << r
        return reduce_levels(self.base(t, lo, lo + (1 << r)), r)[0]

    def subtree(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for any subtree of the RFC tree."""
        return merkle.subtree_root(self.node, lo, hi)

    def root(self, size: int) -> bytes:
        return merkle.EMPTY_ROOT if size == 0 else self.subtree(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 §2.1.3.1 audit path, O(log n) tile reads."""
        if not 0 <= index < size:
            raise ValueError(f"index {index} is not below the tree size {size}")
        return merkle.path(self.subtree, index, 0, size)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """RFC 9162 §2.1.4.1 consistency proof, O(log n) tile reads."""
        if not 0 <= size1 <= size2:
            raise ValueError(f"need 0 <= size1 <= size2, got {size1}, {size2}")
        if size1 in (0, size2):
            return []
        return merkle.subproof(self.subtree, size1, 0, size2, True)


def boundary_nodes(lo: int, hi: int, size: int) -> list[tuple[int, int]]:
    """The perfect subtrees ``(level, index)`` that, with the leaves lo … hi-1, give the root.

    These are the maximal nodes of MTH(D[0:size]) disjoint from [lo, hi): a range
    proof for an export (each is an RFC 9162 node; at most ~2 log n of them).
    """
    out: list[tuple[int, int]] = []

    def walk(a: int, b: int) -> None:
        n = b - a
        if b <= lo or a >= hi:
            if n & (n - 1) == 0:
                lvl = n.bit_length() - 1
                out.append((lvl, a >> lvl))
                return
        elif lo <= a and b <= hi:
            return
        k = 1 << ((n - 1).bit_length() - 1)
        walk(a, a + k)
        walk(a + k, b)

    if size:
        walk(0, size)
    return out


def range_root(
    size: int, lo: int, leaves: list[bytes], given: dict[tuple[int, int], bytes]
) -> bytes:
    """MTH(D[0:size]) from the leaves lo … lo+len-1 and the boundary nodes ``given``."""
    hi = lo + len(leaves)

    def mth(a: int, b: int) -> bytes:
        n = b - a
        if lo <= a and b <= hi:
            return merkle.root(leaves[a - lo : b - lo])
        if (b <= lo or a >= hi) and n & (n - 1) == 0:
            lvl = n.bit_length() - 1
            return given[(lvl, a >> lvl)]
        k = 1 << ((n - 1).bit_length() - 1)
        return merkle.node_hash(mth(a, a + k), mth(a + k, b))

    return merkle.EMPTY_ROOT if size == 0 else mth(0, size)
