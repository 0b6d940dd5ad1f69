"""Full verification of the stored log (``gridwall audit verify``).

1. The latest checkpoint's signature is checked against trusted public keys.
2. Every entry is re-hashed from its stored bytes; each leaf hash is compared with
   the stored tree's leaf (this names the first modified, deleted, inserted or
   reordered entry), and every stored tile is recomputed and compared.
3. The root recomputed from the entries alone must equal the signed root.
4. Every older checkpoint must be a prefix of the verified tree (and be validly
   signed when its key is known).

Work is split into aligned chunks of 2¹⁶ leaves verified in worker processes
(each chunk's root is a node of the tree), so the rate scales with cores.

Each chunk is first checked on a **fast path** that does no per-row work in Python
bytecode: one bulk read, leaf hashes and every interior level through ``map`` over
C functions (no loop per hash), and the stored tiles compared level by level as
joined buffers. It answers only "all as expected"; on any anomaly (a missing entry,
a leaf or tile that differs, a wrong ``seq`` after the checkpoint) the chunk is
verified again on the **careful path**, which names the first bad index and every
bad tile. Below the checkpoint size the fast path leaves the per-entry ``seq`` check
to the signed root (which covers every byte of those entries): if the root does not
match, every chunk is verified again on the careful path before the report is made.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat
from multiprocessing import get_context
from operator import add
from typing import Any

from gridwall.audit import merkle, note
from gridwall.audit._db import Conn
from gridwall.audit._log import db_keys, node_source
from gridwall.audit._tree import TILE_HEIGHT, TILE_WIDTH, H, split_tile

CHUNK_BITS = 16
CHUNK = 1 << CHUNK_BITS  # 16⁴: a chunk holds whole tiles of levels 0–3


@dataclass
class VerifyReport:
    """What ``audit verify`` found. ``first_bad`` names the first bad entry index."""

    ok: bool = True
    size: int = 0
    checkpoint_size: int = 0
    root: bytes = b""
    first_bad: int | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def fail(self, msg: str, index: int | None = None) -> None:
        self.ok = False
        self.problems.append(msg)
        if index is not None and (self.first_bad is None or index < self.first_bad):
            self.first_bad = index


@dataclass
class _ChunkResult:
    lo: int
    root_at_s: bytes | None
    top: bytes | None  # the level-16 node when the chunk is full
    bad: list[tuple[int, str]]
    tile_bad: list[str]


_sha = hashlib.sha256
_digest = type(_sha()).digest  # the unbound ``digest``: ``map`` calls it without bytecode
_LEAF_PREFIX = b"\x00"  # RFC 9162 §2.1.1 domain separation: leaf …
_NODE_PREFIX = b"\x01"  # … and interior node
_TILE_BYTES = TILE_WIDTH * H
_SEQ = b',"seq":%d}'  # how every entry ends (its own index)


def _leaf_hashes(entries: list[bytes]) -> list[bytes]:
    """RFC 9162 leaf hashes of ``entries`` (the verifier's hot loop: every step is a C
    function applied by ``map``, no bytecode per entry)."""
    return list(map(_digest, map(_sha, map(add, repeat(_LEAF_PREFIX), entries))))


def _pairs_up(level: list[bytes]) -> list[bytes]:
    """One level up over a run of perfect sibling hashes (pairs → RFC 9162 node hashes,
    an odd last hash dropped), without bytecode per node."""
    lefts = level[0 : len(level) - 1 : 2]
    prefixed = map(add, repeat(_NODE_PREFIX), lefts)
    return list(map(_digest, map(_sha, map(add, prefixed, level[1::2]))))


def _up(buf: bytes) -> bytes:
    """:func:`_pairs_up` over hashes given as one concatenated buffer."""
    return b"".join(_pairs_up([buf[i : i + H] for i in range(0, len(buf), H)]))


def _compare_tiles(
    c: Conn, t0: int, first: int, level: bytes, out: list[str], frontier: int
) -> bytes:
    """Compare hashes at level 4·t0 (``level``: concatenated, indices first…) with the
    stored tiles, level by level (level-0 tiles are compared leaf by leaf by the caller).

    A tile reaching beyond ``frontier`` (the leaves integrated when verification began)
    may be missing: its entries are sequenced but not yet integrated.
    Returns the concatenated hashes of the highest level reached (one per full group).
    """
    t = t0
    cur = level
    start = first
    while len(cur) >= _TILE_BYTES:
        k0 = start // TILE_WIDTH
        full = len(cur) // _TILE_BYTES
        cur = cur[: full * _TILE_BYTES]
        stored = c.tiles(t, k0, k0 + full)
        whole = len(stored) == full
        if not whole or (t > 0 and b"".join(stored[k0 + g] for g in range(full)) != cur):
            for g in range(full):
                blob = stored.get(k0 + g)
                if blob is None:
                    if (k0 + g + 1) << (TILE_HEIGHT * (t + 1)) <= frontier:
                        out.append(f"tree storage: tile ({t}, {k0 + g}) is missing")
                elif t > 0 and blob != cur[g * _TILE_BYTES : (g + 1) * _TILE_BYTES]:
                    out.append(f"tree storage: tile ({t}, {k0 + g}) does not match the entries")
        for _ in range(TILE_HEIGHT):
            cur = _up(cur)
        start = k0
        t += 1
    return cur


def _verify_chunk(
    url: str,
    lo: int,
    hi: int,
    s: int,
    archived: list[tuple[int, int]],
    frontier: int,
    careful: bool = False,
) -> _ChunkResult:
    """Verify leaves lo … hi-1 (lo a multiple of CHUNK) against the stored tree: the
    fast path, and the careful path when it finds anything amiss (or ``careful``)."""
    c = Conn(url)
    try:
        if not careful:
            fast = _fast_chunk(c, lo, hi, s, frontier)
            if fast is not None:
                return fast
        return _careful_chunk(c, lo, hi, s, archived, frontier)
    finally:
        c.close()


def _fast_chunk(c: Conn, lo: int, hi: int, s: int, frontier: int) -> _ChunkResult | None:
    """The chunk's result if everything is as expected, else None (see module doc).

    ``None`` never means "bad": it sends the chunk to the careful path, which decides.
    """
    blobs = c.entry_bytes(lo, hi)
    if len(blobs) != hi - lo:  # a missing (or archived) entry: the careful path names it
        return None
    # entries the signed root does not cover (after the checkpoint) name their index
    a = max(lo, s)
    if a < hi and not all(map(bytes.endswith, blobs[a - lo :], map(_SEQ.__mod__, range(a, hi)))):
        return None
    leaves = _leaf_hashes(blobs)
    del blobs
    level = leaves
    start, t = lo, 0
    while len(level) >= TILE_WIDTH:  # compare every tile wholly inside the chunk
        k0, full = start // TILE_WIDTH, len(level) // TILE_WIDTH
        level = level[: full * TILE_WIDTH]  # a new list: ``leaves`` stays whole
        stored = c.tiles(t, k0, k0 + full)
        if len(stored) == full:
            if b"".join([stored[k] for k in range(k0, k0 + full)]) != b"".join(level):
                return None
        else:  # tiles may be missing only where integration has not reached yet
            w = TILE_WIDTH << (TILE_HEIGHT * t)  # leaves under one tile of this level
            for g in range(full):
                blob = stored.get(k0 + g)
                if blob is None:
                    if (k0 + g + 1) * w <= frontier:
                        return None
                elif blob != b"".join(level[g * TILE_WIDTH : (g + 1) * TILE_WIDTH]):
                    return None
        for _ in range(TILE_HEIGHT):
            level = _pairs_up(level)
        start, t = k0, t + 1
    full_top = level[0] if hi - lo == CHUNK and len(level) == 1 else None
    root_at_s: bytes | None = None
    if lo < s:
        if hi <= s and full_top is not None:
            root_at_s = full_top
        else:
            root_at_s = merkle.root(leaves[: min(hi, s) - lo])
    return _ChunkResult(lo, root_at_s, full_top, [], [])


def _careful_chunk(
    c: Conn, lo: int, hi: int, s: int, archived: list[tuple[int, int]], frontier: int
) -> _ChunkResult:
    """Leaves lo … hi-1 checked one by one where it matters: every problem is named."""
    blobs = c.entry_bytes(lo, hi)
    k0, k1 = lo // TILE_WIDTH, -(-hi // TILE_WIDTH)
    stored0 = c.tiles(0, k0, k1)
    bad: list[tuple[int, str]] = []
    if len(blobs) == hi - lo:  # contiguous (indices are unique): the common case
        ents: list[tuple[int, bytes]] | None = None
        leaves = _leaf_hashes(blobs)
    else:
        ents = c.entries(lo, hi)
        blobs = [e for _, e in ents]
        by_idx = dict(ents)
        leaves = []
        for i in range(lo, hi):
            e = by_idx.get(i)
            if e is not None:
                leaves.extend(_leaf_hashes([e]))
                continue
            k, off = divmod(i, TILE_WIDTH)
            blob = stored0.get(k)
            stored_leaf = blob[off * H : (off + 1) * H] if blob else b"\x00" * H
            leaves.append(stored_leaf)
            if not any(a <= i < b for a, b in archived):
                bad.append((i, f"entry {i} is missing (deleted)"))
    # every entry names its own index last (``…,"seq":i}``): a cheap check that
    # catches moved, inserted and renumbered entries even if the tree was rewritten
    for i, e in enumerate(blobs, lo) if ents is None else ents:
        if not e.endswith(b',"seq":%d}' % i):
            bad.append((i, f"entry {i} carries another sequence number ({_seq_of(e)})"))
            break
    lvl0 = b"".join(leaves)
    # leaf-by-leaf against the stored level-0 tiles that lie wholly in the range (the
    # log may have grown since verification started: later tiles are not ours)
    ks = range(k0, hi // TILE_WIDTH)
    if len(ks) and all(k in stored0 for k in ks):
        same = b"".join(stored0[k] for k in ks) == lvl0[: len(ks) * _TILE_BYTES]
    else:
        same = False
    for k in [] if same else ks:
        blob = stored0.get(k)
        base = (k * TILE_WIDTH - lo) * H
        if blob is None or lvl0[base : base + _TILE_BYTES] == blob:
            continue
        for off, h in enumerate(split_tile(blob)):
            i = k * TILE_WIDTH + off
            if leaves[i - lo] != h and not any(j == i for j, _ in bad):
                bad.append((i, f"entry {i} does not match the tree's leaf {i}"))
                break
    tile_bad: list[str] = []
    top = _compare_tiles(c, 0, lo, lvl0, tile_bad, frontier)
    full_top = top if hi - lo == CHUNK and len(top) == H else None
    root_at_s: bytes | None = None
    if lo < s:
        if hi <= s and full_top is not None:
            root_at_s = full_top
        else:
            root_at_s = merkle.root(leaves[: min(hi, s) - lo])
    return _ChunkResult(lo, root_at_s, full_top, bad, tile_bad)


def _run_chunks(
    job: tuple[str, int, list[tuple[int, int]], int],
    chunks: list[tuple[int, int]],
    workers: int | None,
    progress: Callable[[int, int], None] | None,
    *,
    careful: bool,
) -> list[_ChunkResult]:
    """Verify ``chunks`` in worker processes (in this one for a single chunk or
    ``workers=1``), results in chunk order."""
    url, s, archived, frontier = job
    total = chunks[-1][1] if chunks else 0
    results: list[_ChunkResult] = []
    done = 0
    if len(chunks) <= 1 or workers == 1:
        for lo, hi in chunks:
            results.append(_verify_chunk(url, lo, hi, s, archived, frontier, careful))
            done += hi - lo
            if progress:
                progress(done, total)
        return results
    nproc = workers or min(len(chunks), os.cpu_count() or 1)
    with ProcessPoolExecutor(max_workers=nproc, mp_context=_mp_context()) as ex:
        futs = [
            ex.submit(_verify_chunk, url, lo, hi, s, archived, frontier, careful)
            for lo, hi in chunks
        ]
        for (lo, hi), f in zip(chunks, futs, strict=True):
            results.append(f.result())
            done += hi - lo
            if progress:
                progress(done, total)
    return results


def _mp_context() -> Any:
    """``fork`` where available (workers start in milliseconds, nothing re-imported; they
    open their own connections), else ``spawn``."""
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    return get_context("fork" if "fork" in methods else "spawn")


def _seq_of(entry: bytes) -> int | None:
    try:
        v = json.loads(entry).get("seq")
    except (ValueError, AttributeError):
        return None
    return v if isinstance(v, int) else None


def verify_log(
    url: str,
    verifiers: list[note.Verifier] | None = None,
    *,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    """Recompute the whole tree from the stored entries and check it (see module doc)."""
    t_start = time.perf_counter()
    rep = VerifyReport()
    c = Conn(url)
    try:
        cps = c.all("SELECT id, size, root, note FROM audit_checkpoint ORDER BY id")
        keys_in_db = db_keys(c)
        n = c.size()
        frontier = c.frontier()
        archived = [
            (int(a), int(b)) for a, b in c.all("SELECT start_idx, end_idx FROM audit_archive")
        ]
    finally:
        c.close()
    rep.size = n
    if verifiers is None:
        verifiers = keys_in_db
        rep.notes.append("public keys taken from the database (pass --public-key to pin them)")
    if not cps:
        rep.fail("no signed checkpoint yet: run `gridwall audit checkpoint` first")
        return rep
    latest = cps[-1]
    try:
        cp = note.open_checkpoint(str(latest[3]), verifiers)
    except note.NoteError as e:
        rep.fail(f"latest checkpoint #{latest[0]}: {e}")
        return rep
    if cp.size != int(latest[1]) or cp.root != bytes(latest[2]):
        rep.fail(f"latest checkpoint #{latest[0]}: stored size/root differ from its signed note")
        return rep
    s = cp.size
    rep.checkpoint_size = s
    rep.root = cp.root
    total = max(n, s)
    if n < s:
        rep.fail(f"the log has {n} entries but the checkpoint signs {s}: entry {n} is missing", n)
    chunks = [(lo, min(lo + CHUNK, total)) for lo in range(0, total, CHUNK)]
    job = (url, s, archived, frontier)
    results = _run_chunks(job, chunks, workers, progress, careful=False)
    roots = [r.root_at_s for r in results if r.root_at_s is not None]
    recomputed = merkle.root(roots) if s else merkle.EMPTY_ROOT
    if recomputed != cp.root:
        # the fast path left the per-entry checks below the checkpoint to the root: it
        # did not match, so look at every entry (this names what the root cannot)
        results = _run_chunks(job, chunks, workers, None, careful=True)
    for r in results:
        for i, msg in r.bad:
            rep.fail(msg, i)
        for msg in r.tile_bad:
            rep.fail(msg)
    # levels above the chunks: tiles of level ≥ 4 from the chunk roots
    tops = [r.top for r in results if r.top is not None]
    if len(tops) >= TILE_WIDTH:
        c = Conn(url)
        try:
            tb: list[str] = []
            _compare_tiles(c, CHUNK_BITS // TILE_HEIGHT, 0, b"".join(tops), tb, frontier)
            for msg in tb:
                rep.fail(msg)
        finally:
            c.close()
    if recomputed != cp.root:
        rep.fail(f"the entries do not reproduce the signed root of checkpoint #{latest[0]}")
        if rep.first_bad is None:
            _locate(url, cps, rep)
    _check_history(url, cps, verifiers, rep)
    if archived:
        rep.notes.append(
            "archived ranges checked through the stored tree only: "
            + ", ".join(f"{a}..{b - 1}" for a, b in archived)
            + " (verify their archive files with `gridwall audit verify-export`)"
        )
    if frontier < (n >> TILE_HEIGHT) << TILE_HEIGHT:
        rep.notes.append(
            f"entries {frontier}..{n - 1} are sequenced but not yet integrated into the stored "
            "tree (their tiles were recomputed from the entries)"
        )
    if n > s:
        rep.notes.append(f"entries {s}..{n - 1} are after the latest checkpoint (not yet signed)")
    rep.seconds = time.perf_counter() - t_start
    return rep


def _locate(url: str, cps: list[tuple[int, int, bytes, str]], rep: VerifyReport) -> None:
    """The stored tree was rewritten with the entries: narrow down with older checkpoints."""
    c = Conn(url)
    try:
        src = node_source(c)
        prev = 0
        for _id, size, root, _n in cps:
            size = int(size)
            try:
                ok = src.root(size) == bytes(root)
            except Exception:
                ok = False
            if not ok:
                for i, e in c.entries(prev, size):
                    if _seq_of(e) != i:
                        rep.fail(f"entry {i} carries sequence number {_seq_of(e)}", i)
                        return
                rep.fail(
                    f"an entry in {prev}..{size - 1} was changed (the stored tree was rewritten "
                    f"too); first possible bad entry {prev}",
                    prev,
                )
                return
            prev = size
    finally:
        c.close()


def _check_history(
    url: str,
    cps: list[tuple[int, int, bytes, str]],
    verifiers: list[note.Verifier],
    rep: VerifyReport,
) -> None:
    """Older checkpoints: validly signed (when the key is known) and prefixes of the tree."""
    if not rep.ok:
        return
    c = Conn(url)
    try:
        src = node_source(c)
        last = 0
        for cid, size, root, text in cps[:-1]:
            try:
                cpo = note.open_checkpoint(str(text), verifiers)
                if cpo.size != int(size) or cpo.root != bytes(root):
                    rep.fail(f"checkpoint #{cid}: stored size/root differ from its signed note")
            except note.NoteError as e:
                rep.notes.append(f"checkpoint #{cid}: signature not checked ({e})")
            if int(size) < last:
                rep.fail(f"checkpoint #{cid}: the tree shrank ({last} → {size})")
            last = int(size)
            if src.root(int(size)) != bytes(root):
                rep.fail(f"checkpoint #{cid} (size {size}) is not a prefix of the verified tree")
    finally:
        c.close()
