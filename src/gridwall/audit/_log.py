"""The persistent audit log (監査ログ): group-committed, append-only, Merkle-tree backed.

``AuditLog.record(event)`` is the :class:`gridwall.interfaces.AuditSink` the gateway
calls before it answers: it returns only once the entry is committed (fsynced) and
raises :class:`AuditWriteError` otherwise, so the gateway fails closed.
``AuditLog.submit(events)`` queues the same work and returns a future instead.

Group commit with a single writer thread: callers queue their events; the writer
takes everything queued, sequences it (indices, canonical bytes, one transaction,
one fsync) and resolves the callers' futures. Only then, behind the acknowledgement,
does it integrate the new entries into the Merkle tree (leaf hashes, the right edge
kept in memory, the tiles that became full; see ``_tree``) — never on the request
path. After a crash the sequenced tail is integrated by :func:`open_log`.

Entry bytes (canonical, what the leaf hash covers)::

    {"event":<event>,"recorded_at":"<UTC time>Z","seq":<index>}

JSON, keys sorted at every depth, no whitespace, UTF-8 (non-ASCII kept as is),
no NaN/Infinity; datetimes and dates as ISO 8601 strings, sets as sorted lists.
"""

from __future__ import annotations

import json
import json.encoder
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from itertools import repeat
from pathlib import Path
from typing import Any

from gridwall.audit import merkle, note
from gridwall.audit._db import Conn, normalize_url
from gridwall.audit._tree import (
    TILE_HEIGHT,
    TILE_WIDTH,
    NodeSource,
    RightEdge,
    leaf_hashes,
    split_tile,
    tile_root,
)
from gridwall.errors import CheckFailed, GridwallError, UsageError

_logger = logging.getLogger(__name__)

#: The regulator's precedent: access logs are kept at least five years.
MIN_RETENTION_YEARS = 5
YEAR_S = 31556952
DEFAULT_MAX_BATCH = 20000
#: The writer integrates once this many sequenced entries wait, even under load.
MAX_TAIL = 1 << 16


class AuditWriteError(GridwallError):
    """The log could not durably record an entry: the caller must fail closed."""

    exit_code = 1


def _default(o: Any) -> Any:
    if isinstance(o, datetime | date):
        return o.isoformat()
    if isinstance(o, Enum):
        return o.value
    if isinstance(o, set | frozenset):
        return sorted(o)
    raise TypeError(f"audit event: a value of type {type(o).__name__} cannot be logged")


#: One encoder for every event (``json.dumps`` with options builds a new one per call).
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_default
)


# The C encoder built once (``JSONEncoder.encode`` builds one per call, ~40 % of the cost
# of an append); same options as ``_ENCODER``; no cycle check (a cycle raises RecursionError).
_c_make: Any = getattr(json.encoder, "c_make_encoder", None)
_C_ENCODE: Any = (
    _c_make(None, _default, json.encoder.encode_basestring, None, ":", ",", True, False, False)
    if _c_make is not None
    else None
)


def canonical_json(obj: Any) -> bytes:
    """Canonical JSON: sorted keys, no whitespace, UTF-8, no NaN (see the module doc)."""
    if _C_ENCODE is not None and isinstance(obj, dict):
        return "".join(_C_ENCODE(obj, 0)).encode("utf-8")
    return _ENCODER.encode(obj).encode("utf-8")


def entry_bytes(event_json: bytes, recorded_at: str, seq: int) -> bytes:
    """The canonical entry; equal to ``canonical_json`` of the three-key object."""
    return b'{"event":%b,"recorded_at":"%b","seq":%d}' % (event_json, recorded_at.encode(), seq)


def entries_at(events: list[bytes], recorded_at: str, first: int) -> list[bytes]:
    """:func:`entry_bytes` of consecutive events from index ``first``, built by ``map``
    over C functions (no bytecode per entry: the writer's hot loop)."""
    mid = b',"recorded_at":"%b","seq":' % recorded_at.encode()
    seqs = map(b"%d}".__mod__, range(first, first + len(events)))
    return list(map(b"".join, zip(repeat(b'{"event":'), events, repeat(mid), seqs)))


def _utc_text(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class CheckpointRow:
    id: int
    size: int
    root: bytes
    note: str
    created_at: int


class AuditLog:
    """The audit log over one database (SQLite file by default, or PostgreSQL).

    Thread-safe. ``record``/``record_many`` append (durable on return); ``submit``
    appends without blocking and returns a future (for async callers). Reads and
    proofs may run concurrently. There is no update or delete API.

    Writing happens in two steps, as in modern transparency logs (Tessera):

    1. **sequencing** — one writer thread takes every queued event, gives each its
       index and inserts the canonical bytes in one transaction (one fsync for all of
       them). A caller is acknowledged as soon as that commit returns;
    2. **integration** — the same thread then, behind the acknowledgements, hashes the
       new entries into the tree and stores the tiles that became full (no fsync: tiles
       are derived data, rebuilt from the entries after a crash).

    A crash between the two loses nothing: the next writer (``open_log`` runs
    :meth:`integrate` before returning) integrates the sequenced tail first. Readers
    compute nodes the missing tail tiles would hold from the entries (see ``_tree``).

    ``durability="fsync"`` (default): every sequencing commit is fsynced — an
    acknowledged entry survives a power loss. ``"os"`` (SQLite only): committed to the
    operating system without fsync — survives a crash of the process (SIGKILL), not of
    the machine; for measurements and for deployments whose storage is battery-backed.
    On PostgreSQL durability follows the server's ``synchronous_commit``.

    ``integrate_min`` (tests, measurements): integrate only once this many entries are
    waiting while the queue is idle (default 1: as soon as the writer is idle); at
    ``MAX_TAIL`` waiting entries the writer integrates even under load.
    """

    def __init__(
        self,
        url: str,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        clock: Callable[[], float] = time.time,
        durability: str = "fsync",
        integrate_min: int = 1,
    ) -> None:
        if durability not in ("fsync", "os"):
            raise UsageError(f"durability: expected 'fsync' or 'os', got {durability!r}")
        if integrate_min < 1:
            raise UsageError(f"integrate_min: must be at least 1, got {integrate_min}")
        self.url = url
        self._fsync = durability == "fsync"
        self._clock = clock
        self._max_batch = max_batch
        self._integrate_min = integrate_min
        self._pending: list[tuple[list[bytes], Future[list[int]]]] = []
        self._cv = threading.Condition()
        self._writer: threading.Thread | None = None
        self._closed = False
        self._wlock = threading.RLock()  # the writer connection and the tree state below
        self._wconn: Conn | None = None
        self._edge: RightEdge | None = None  # integrated right edge (size = integrated)
        self._sequenced = -1  # one past the last index this process sequenced (-1: unknown)
        self._tail_start = 0  # canonical bytes of entries tail_start… not yet integrated
        self._tail: list[bytes] = []
        self._local = threading.local()
        self._tiles: dict[tuple[int, int], bytes] = {}
        self._edge_nodes: dict[tuple[int, int], bytes] = {}  # right-edge hashes, for proofs
        self._checkpointer: threading.Thread | None = None
        self._stop_checkpointer = threading.Event()
        self._checkpoint_signers: list[note.Signer] = []

    # -- writing -------------------------------------------------------------------------

    def record(self, event: Mapping[str, Any]) -> None:
        """AuditSink: durably append one event; raise :class:`AuditWriteError` if not."""
        self.record_many([event])

    def append(self, event: Mapping[str, Any]) -> int:
        """Durably append one event and return its index."""
        return self.record_many([event])[0]

    def record_many(self, events: Sequence[Mapping[str, Any]]) -> list[int]:
        """Durably append events in order (one transaction); return their indices."""
        return self.submit(events).result()

    def submit(self, events: Sequence[Mapping[str, Any]]) -> Future[list[int]]:
        """Queue events for the next group commit; the future resolves to their indices
        once they are durably sequenced, or fails with :class:`AuditWriteError`.

        Encoding errors raise here, before anything is queued. The caller holds no
        thread or connection while it waits (``asyncio.wrap_future`` to await it).
        """
        try:
            payload = [canonical_json(e if isinstance(e, dict) else dict(e)) for e in events]
        except (TypeError, ValueError, RecursionError) as e:
            raise AuditWriteError(f"audit event cannot be encoded: {e}") from e
        fut: Future[list[int]] = Future()
        if not payload:
            fut.set_result([])
            return fut
        with self._cv:
            if self._closed:
                raise AuditWriteError("the audit log is closed")
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._run_writer, name="audit-writer", daemon=True
                )
                self._writer.start()
            self._pending.append((payload, fut))
            if len(self._pending) == 1:
                self._cv.notify()
        return fut

    def _take_batch(self) -> list[tuple[list[bytes], Future[list[int]]]]:
        n = k = 0
        while k < len(self._pending) and n < self._max_batch:
            n += len(self._pending[k][0])
            k += 1
        batch, self._pending = self._pending[:k], self._pending[k:]
        return batch

    def _run_writer(self) -> None:
        """The single writer: sequence every queued batch, integrate when idle."""
        while True:
            with self._cv:
                while not self._pending and not self._closed:
                    self._cv.wait()
                if not self._pending:  # closed and drained
                    break
                batch = self._take_batch()
            self._sequence(batch)
            with self._cv:
                idle = not self._pending
            lag = self.unintegrated()
            if (idle and lag >= self._integrate_min) or lag >= MAX_TAIL:
                self._integrate_logged()

    def _sequence(self, batch: list[tuple[list[bytes], Future[list[int]]]]) -> None:
        """One transaction, one fsync: give every queued event its index and store it."""
        try:
            with self._wlock:
                c = self._writer_conn()
                c.begin_write()
                try:
                    size = c.size()
                    now = self._clock()
                    results: list[list[int]] = []
                    i = size
                    for payload, _ in batch:
                        results.append(list(range(i, i + len(payload))))
                        i += len(payload)
                    events = [ev for payload, _ in batch for ev in payload]
                    blobs = entries_at(events, _utc_text(now), size)
                    rows = zip(range(size, i), repeat(int(now)), blobs)
                    c.insert_many("audit_entry", ("idx", "recorded_at", "entry"), rows)
                    c.commit()
                except BaseException:
                    c.rollback()
                    raise
                if self._tail_start + len(self._tail) != size:  # another process appended
                    self._tail_start, self._tail = size, []
                self._tail.extend(blobs)
                self._sequenced = i
        except Exception as e:
            self._drop_writer_conn()
            err = AuditWriteError(f"audit log write failed ({type(e).__name__}: {e})")
            for _, fut in batch:
                fut.set_exception(err)
        else:
            for (_, fut), r in zip(batch, results, strict=True):
                fut.set_result(r)

    def unintegrated(self) -> int:
        """Entries this process sequenced that are not yet integrated into the tree."""
        with self._wlock:
            if self._sequenced < 0:
                return 0
            done = self._edge.size if self._edge is not None else self._tail_start
            return max(0, self._sequenced - done)

    def _writer_conn(self) -> Conn:
        if self._wconn is None:
            self._wconn = Conn(self.url, durable=self._fsync)
        return self._wconn

    def _drop_writer_conn(self) -> None:
        with self._wlock:
            self._edge = None  # re-read the tree state from the database next time
            if self._wconn is not None:
                self._wconn.rollback()
                self._wconn.close()
                self._wconn = None

    def _integrate_logged(self) -> None:
        try:
            self.integrate()
        except Exception as e:  # entries are durable; the next round (or restart) retries
            _logger.error("audit integration failed: %s: %s", type(e).__name__, e)
            self._drop_writer_conn()

    def integrate(self) -> int:
        """Hash every sequenced entry into the stored tree; return the integrated size.

        Works from the database, so it also integrates what another process (or one
        that crashed) sequenced. Tiles are derived data: committed without fsync.
        """
        with self._wlock:
            c = self._writer_conn()
            c.begin_integrate()
            try:
                size = c.size()
                frontier = c.frontier()
                edge = self._edge
                if (
                    edge is None
                    or edge.size > size
                    or (edge.size >> TILE_HEIGHT) << TILE_HEIGHT != frontier
                ):
                    edge = load_right_edge(c, frontier)
                else:
                    edge = edge.copy()
                if size > edge.size:
                    tiles = edge.append(leaf_hashes(self._tail_entries(c, edge.size, size)))
                    if tiles:
                        c.insert_many("audit_tile", ("level", "idx", "hashes"), tiles)
                c.commit()
            except BaseException:
                c.rollback()
                self._edge = None
                raise
            finally:
                c.end_integrate()
            self._edge = edge
            if self._tail_start <= edge.size:
                del self._tail[: edge.size - self._tail_start]
                self._tail_start = edge.size
            if self._sequenced < edge.size:
                self._sequenced = edge.size
            return edge.size

    def _tail_entries(self, c: Conn, lo: int, hi: int) -> list[bytes]:
        """Canonical bytes of entries lo … hi-1: from memory when this process wrote them."""
        t0 = self._tail_start
        if t0 <= lo and hi <= t0 + len(self._tail):
            return self._tail[lo - t0 : hi - t0]
        got = c.entries(lo, hi)
        if len(got) != hi - lo or (got and (got[0][0] != lo or got[-1][0] != hi - 1)):
            raise CheckFailed(f"tree storage: entries {lo}..{hi - 1} are incomplete")
        return [bytes(e) for _, e in got]

    def start_checkpointer(
        self, signers: list[note.Signer], every_seconds: float = 60.0
    ) -> threading.Thread:
        """Sign a checkpoint every ``every_seconds`` while the log grows (and once on close).

        Checkpoints are what make rewriting detectable, so a deployment should sign them on
        a schedule; the signing key stays in memory only (read from its file by the caller).
        """
        if not signers:
            raise UsageError("the checkpointer needs a signing key")
        if every_seconds <= 0:
            raise UsageError(f"checkpoint interval must be positive, got {every_seconds}")
        stop = threading.Event()
        self._stop_checkpointer = stop
        self._checkpoint_signers = signers

        def loop() -> None:
            while not stop.wait(every_seconds):
                self._checkpoint_if_grown(signers)

        t = threading.Thread(target=loop, name="audit-checkpointer", daemon=True)
        t.start()
        self._checkpointer = t
        return t

    def _checkpoint_if_grown(self, signers: list[note.Signer]) -> None:
        try:
            last = self.latest_checkpoint()
            if last is None or self.size() > last.size:
                self.checkpoint(signers)
        except Exception as e:  # logged; the next round retries (verify reports staleness)
            _logger.error("audit checkpoint failed: %s", type(e).__name__)

    def close(self) -> None:
        """Refuse new appends, let queued ones commit, integrate, sign a last checkpoint
        (when a checkpointer runs) and close the writer connection."""
        if self._checkpointer is not None:
            self._stop_checkpointer.set()
            self._checkpointer.join()
            self._checkpointer = None
        with self._cv:
            self._closed = True
            self._cv.notify_all()
            writer = self._writer
        if writer is not None:
            writer.join()
        if self._sequenced >= 0:
            self._integrate_logged()
        if self._checkpoint_signers:
            self._checkpoint_if_grown(self._checkpoint_signers)
            self._checkpoint_signers = []
        with self._wlock:
            if self._wconn is not None:
                self._wconn.close()
                self._wconn = None

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -------------------------------------------------------------------------

    def _conn(self) -> Conn:
        """This thread's reader connection (kept open: a proof must not pay a connect)."""
        c: Conn | None = getattr(self._local, "conn", None)
        if c is None:
            c = Conn(self.url)
            self._local.conn = c
        return c

    def size(self) -> int:
        """Number of entries in the tree (including archived ones)."""
        c = self._conn()
        return c.size()

    def entry(self, index: int) -> bytes:
        """The canonical bytes of entry ``index`` (not archived)."""
        c = self._conn()
        r = c.entries(index, index + 1)
        if not r:
            raise UsageError(f"--index: entry {index} is not in the database")
        return r[0][1]

    def root(self, size: int | None = None) -> bytes:
        """The tree head (MTH) at ``size`` (default: now)."""
        c = self._conn()
        n = c.size() if size is None else size
        return node_source(c, self._tiles, self._edge_nodes).root(n)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 inclusion proof of entry ``index`` in the tree of ``size`` (O(log n))."""
        c = self._conn()
        if size > c.size():
            raise UsageError(f"tree size {size} is larger than the log")
        return node_source(c, self._tiles, self._edge_nodes).inclusion_proof(index, size)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """RFC 9162 consistency proof between two tree sizes (O(log n))."""
        c = self._conn()
        if size2 > c.size():
            raise UsageError(f"tree size {size2} is larger than the log")
        return node_source(c, self._tiles, self._edge_nodes).consistency_proof(size1, size2)

    # -- checkpoints and keys ------------------------------------------------------------

    def checkpoint(self, signers: list[note.Signer], origin: str | None = None) -> CheckpointRow:
        """Sign and store a checkpoint of the whole log as it is now."""
        if not signers:
            raise UsageError("a checkpoint needs a signing key (--key / GRIDWALL_AUDIT_KEY)")
        if self._sequenced >= 0 or self._wconn is not None:
            self.integrate()  # this process writes: sign over stored tiles, not a long tail
        c = self._conn()
        c.begin_write()
        try:
            n = c.size()
            r = node_source(c).root(n)
            body = note.checkpoint_body(origin or signers[0].name, n, r)
            text = note.sign_note(body, signers)
            now = int(self._clock())
            for s in signers:
                vk = s.verifier.text()
                if c.one("SELECT 1 FROM audit_key WHERE vkey = ?", (vk,)) is None:
                    c.execute(
                        "INSERT INTO audit_key (vkey, reason, created_at) VALUES (?, ?, ?)",
                        (vk, "checkpoint", now),
                    )
            c.execute(
                "INSERT INTO audit_checkpoint (size, root, note, created_at) VALUES (?, ?, ?, ?)",
                (n, r, text, now),
            )
            row = c.one("SELECT max(id) FROM audit_checkpoint")
            c.commit()
        except BaseException:
            c.rollback()
            raise
        return CheckpointRow(int(row[0]), n, r, text, now)

    def register_key(self, verifier: note.Verifier, reason: str) -> None:
        """Record a public key in the key history (keygen, rotation)."""
        c = self._conn()
        if c.one("SELECT 1 FROM audit_key WHERE vkey = ?", (verifier.text(),)) is None:
            c.execute(
                "INSERT INTO audit_key (vkey, reason, created_at) VALUES (?, ?, ?)",
                (verifier.text(), reason, int(self._clock())),
            )

    def keys(self) -> list[note.Verifier]:
        """Every public key recorded in the database, oldest first."""
        c = self._conn()
        return db_keys(c)

    def checkpoints(self) -> list[CheckpointRow]:
        """Every stored checkpoint, oldest first."""
        c = self._conn()
        rows = c.all("SELECT id, size, root, note, created_at FROM audit_checkpoint ORDER BY id")
        return [CheckpointRow(int(a), int(b), bytes(r), str(n), int(t)) for a, b, r, n, t in rows]

    def latest_checkpoint(self) -> CheckpointRow | None:
        cps = self.checkpoints()
        return cps[-1] if cps else None

    # -- retention -----------------------------------------------------------------------

    def retention_years(self) -> int:
        """Years entries are kept (never below five)."""
        c = self._conn()
        r = c.one("SELECT max(retention_years) FROM audit_setting")
        return MIN_RETENTION_YEARS if r is None or r[0] is None else int(r[0])

    def set_retention_years(self, years: int) -> None:
        """Raise the retention period; lower values are refused."""
        current = self.retention_years()
        if years < MIN_RETENTION_YEARS:
            raise UsageError(
                f"--years: {years} is below the legal minimum of {MIN_RETENTION_YEARS} years "
                "(access logs are kept at least five years)"
            )
        if years < current:
            raise UsageError(
                f"--years: retention is {current} years and can only be raised, not lowered"
            )
        c = self._conn()
        c.execute(
            "INSERT INTO audit_setting (retention_years, created_at) VALUES (?, ?)",
            (years, int(self._clock())),
        )


def db_keys(c: Conn) -> list[note.Verifier]:
    """The public keys recorded in the database (unparsable rows are skipped)."""
    out = []
    for (vk,) in c.all("SELECT vkey FROM audit_key ORDER BY id"):
        try:
            out.append(note.Verifier.parse(str(vk)))
        except note.NoteError:
            continue
    return out


#: Full tiles never change (append-only), so readers may cache them; level ≥ 1 only
#: (few, and on every proof's path), bounded.
TILE_CACHE_MAX = 50_000


def node_source(
    c: Conn,
    cache: dict[tuple[int, int], bytes] | None = None,
    edge: dict[tuple[int, int], bytes] | None = None,
) -> NodeSource:
    """Perfect-subtree hashes from the stored tiles (and entries for the last tile).

    ``cache`` keeps stored tiles of level ≥ 1, ``edge`` the right-edge hashes recomputed
    where no full tile is stored (both may be shared between calls: neither changes)."""
    get_tile = c.tile
    if cache is not None:

        def get_tile(t: int, k: int) -> bytes | None:
            b = cache.get((t, k))
            if b is None:
                b = c.tile(t, k)
                if b is not None and t >= 1:  # a missing tile may appear later: not cached
                    if len(cache) >= TILE_CACHE_MAX:
                        cache.clear()
                    cache[(t, k)] = b
            return b

    def leaves(lo: int, hi: int) -> list[bytes]:
        got = c.entries(lo, hi)
        if [i for i, _ in got] != list(range(lo, hi)):
            raise CheckFailed(f"tree storage: entries {lo}..{hi - 1} are incomplete")
        return [merkle.leaf_hash(e) for _, e in got]

    return NodeSource(get_tile, leaves, edge)


def load_right_edge(c: Conn, size: int) -> RightEdge:
    """Rebuild the writer's partial tiles at ``size`` from the entries and full tiles."""
    partial: list[list[bytes]] = []
    t = 0
    src = node_source(c)
    while True:
        count = size >> (TILE_HEIGHT * t)
        if count == 0:
            break
        lo = (count // TILE_WIDTH) * TILE_WIDTH
        if t == 0:
            partial.append(src.base(0, lo, count) if count > lo else [])
        else:
            hs = []
            for i in range(lo, count):
                blob = c.tile(t - 1, i)
                if blob is None:
                    raise CheckFailed(f"tree storage: tile ({t - 1}, {i}) is missing")
                hs.append(tile_root(split_tile(blob)))
            partial.append(hs)
        t += 1
    return RightEdge(size, partial)


def open_log(
    url_or_path: str | Path,
    *,
    migrate: bool = True,
    recover: bool = True,
    signers: list[note.Signer] | None = None,
    checkpoint_every: float = 60.0,
    **kw: Any,
) -> AuditLog:
    """Open the audit log at an SQLAlchemy URL or an SQLite file path (schema upgraded).

    With ``recover`` (default) every entry sequenced but not yet integrated — by a
    process that crashed between the two steps — is integrated into the tree before
    this returns, so a server opening its log serves nothing before the tree is whole.
    Read-only callers pass ``recover=False`` (their proofs recompute the tail).

    With ``signers``, a checkpoint is signed every ``checkpoint_every`` seconds while the
    log grows, and once more on :meth:`AuditLog.close`.
    """
    url = normalize_url(url_or_path)
    if migrate:
        from gridwall.store import upgrade

        upgrade(url)
    log = AuditLog(url, **kw)
    if recover:
        try:
            log.integrate()
        except Exception:
            log.close()
            raise
    if signers:
        log.start_checkpointer(signers, checkpoint_every)
    return log


def iter_batches(it: Iterable[Mapping[str, Any]], n: int) -> Iterable[list[Mapping[str, Any]]]:
    """Chunk an iterable of events for ``record_many``."""
    batch: list[Mapping[str, Any]] = []
    for e in it:
        batch.append(e)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


__all__ = [
    "MIN_RETENTION_YEARS",
    "AuditLog",
    "AuditWriteError",
    "CheckpointRow",
    "canonical_json",
    "entry_bytes",
    "open_log",
]
