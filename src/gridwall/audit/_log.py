"""The persistent audit log (監査ログ): group-committed, append-only, Merkle-tree backed.

``AuditLog.record(event)`` is the :class:`gridwall.interfaces.AuditSink` the gateway
calls before it answers: it returns only once the entry is committed (fsynced) and
raises :class:`AuditWriteError` otherwise, so the gateway fails closed.

Group commit (leader/follower): the first caller to find the log idle writes every
event queued so far in one transaction (one fsync) and wakes the other callers. The
writer also keeps the tree's right edge in memory (see ``_tree``) and writes the
tiles that became full in the same transaction as the entries.

Entry bytes (canonical, what the leaf hash covers)::

    {"event":<event>,"recorded_at":"<UTC time>Z","seq":<index>}

JSON, keys sorted at every depth, no whitespace, UTF-8 (non-ASCII kept as is),
no NaN/Infinity; datetimes and dates as ISO 8601 strings, sets as sorted lists.
"""

from __future__ import annotations

import hashlib
import json
import json.encoder
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from gridwall.audit import merkle, note
from gridwall.audit._db import Conn, normalize_url
from gridwall.audit._tree import (
    TILE_HEIGHT,
    TILE_WIDTH,
    NodeSource,
    RightEdge,
    split_tile,
    tile_root,
)
from gridwall.errors import CheckFailed, GridwallError, UsageError

_logger = logging.getLogger(__name__)

#: The regulator's precedent: access logs are kept at least five years.
MIN_RETENTION_YEARS = 5
YEAR_S = 31556952
DEFAULT_MAX_BATCH = 20000


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


def _utc_text(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Pending:
    """One caller's events waiting for the group commit."""

    __slots__ = ("done", "error", "indices", "payload")

    def __init__(self, payload: list[bytes]) -> None:
        self.payload = payload
        self.done = False
        self.error: AuditWriteError | None = None
        self.indices: list[int] = []

    def result(self) -> list[int]:
        if self.error is not None:
            raise self.error
        return self.indices


@dataclass(frozen=True)
class CheckpointRow:
    id: int
    size: int
    root: bytes
    note: str
    created_at: int


class AuditLog:
    """The audit log over one database (SQLite file by default, or PostgreSQL).

    Thread-safe. ``record``/``record_many`` append (durable on return); reads and
    proofs may run concurrently. There is no update or delete API.

    ``durability="fsync"`` (default): every group commit is fsynced — an acknowledged
    entry survives a power loss. ``"os"`` (SQLite only): committed to the operating
    system without fsync — survives a crash of the process (SIGKILL), not of the
    machine; for measurements and for deployments whose storage is battery-backed.
    On PostgreSQL durability follows the server's ``synchronous_commit``.
    """

    def __init__(
        self,
        url: str,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        clock: Callable[[], float] = time.time,
        durability: str = "fsync",
    ) -> None:
        if durability not in ("fsync", "os"):
            raise UsageError(f"durability: expected 'fsync' or 'os', got {durability!r}")
        self.url = url
        self._fsync = durability == "fsync"
        self._clock = clock
        self._max_batch = max_batch
        self._pending: list[_Pending] = []
        self._cv = threading.Condition()
        self._busy = False
        self._edge: RightEdge | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._wconn: Conn | None = None
        self._local = threading.local()
        self._tiles: dict[tuple[int, int], bytes] = {}
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
        try:
            payload = [canonical_json(e if isinstance(e, dict) else dict(e)) for e in events]
        except (TypeError, ValueError, RecursionError) as e:
            raise AuditWriteError(f"audit event cannot be encoded: {e}") from e
        if not payload:
            return []
        me = _Pending(payload)
        with self._cv:
            if self._closed:
                raise AuditWriteError("the audit log is closed")
            self._pending.append(me)
            while not me.done and self._busy:
                self._cv.wait()
            if me.done:
                return me.result()
            # Group commit, leader/follower: this caller writes everything queued so far
            # in one transaction; the others wait and are woken with their indices. No
            # writer thread: the leader already holds the GIL, saving a thread hand-off.
            self._busy = True
            batch = self._take_batch()
        try:
            self._commit(batch)
        finally:
            with self._cv:
                self._busy = False
                self._cv.notify_all()
        return me.result()

    def _take_batch(self) -> list[_Pending]:
        n = k = 0
        while k < len(self._pending) and n < self._max_batch:
            n += len(self._pending[k].payload)
            k += 1
        batch, self._pending = self._pending[:k], self._pending[k:]
        return batch

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            results = self._write_batch([p.payload for p in batch])
        except Exception as e:
            self._edge = None  # re-read the right edge from the database next time
            if self._wconn is not None:
                self._wconn.rollback()
                self._wconn.close()
                self._wconn = None
            err = AuditWriteError(f"audit log write failed ({type(e).__name__}: {e})")
            for p in batch:
                p.error, p.done = err, True
        else:
            for p, r in zip(batch, results, strict=True):
                p.indices, p.done = r, True

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
        """Refuse new appends (pending ones finish) and close the writer connection."""
        if self._checkpointer is not None:
            self._stop_checkpointer.set()
            self._checkpointer.join()
            self._checkpointer = None
            self._checkpoint_if_grown(self._checkpoint_signers)
        with self._cv:
            self._closed = True
            while self._busy or self._pending:
                if not self._busy and self._pending:
                    self._busy = True
                    batch = self._take_batch()
                    self._cv.release()
                    try:
                        self._commit(batch)
                    finally:
                        self._cv.acquire()
                        self._busy = False
                        self._cv.notify_all()
                else:
                    self._cv.wait()
            if self._wconn is not None:
                self._wconn.close()
                self._wconn = None

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write_batch(self, payloads: list[list[bytes]]) -> list[list[int]]:
        if self._wconn is None:
            self._wconn = Conn(self.url, durable=self._fsync)
        c = self._wconn
        c.begin_write()
        try:
            size = c.size()
            edge = self._edge
            if edge is None or edge.size != size:  # first batch, or another process appended
                edge = load_right_edge(c, size)
            edge = edge.copy()
            now = self._clock()
            ts = _utc_text(now)
            sec = int(now)
            rows: list[tuple[int, int, bytes]] = []
            leaves: list[bytes] = []
            results: list[list[int]] = []
            i = size
            sha = hashlib.sha256
            for p in payloads:
                idxs = []
                for ev in p:
                    b = entry_bytes(ev, ts, i)
                    rows.append((i, sec, b))
                    leaves.append(sha(b"\x00" + b).digest())
                    idxs.append(i)
                    i += 1
                results.append(idxs)
            tiles = edge.append(leaves)
            c.insert_many("audit_entry", ("idx", "recorded_at", "entry"), rows)
            if tiles:
                c.insert_many("audit_tile", ("level", "idx", "hashes"), tiles)
            c.commit()
        except BaseException:
            c.rollback()
            raise
        self._edge = edge
        return results

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
        return node_source(c, self._tiles).root(n)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 inclusion proof of entry ``index`` in the tree of ``size`` (O(log n))."""
        c = self._conn()
        if size > c.size():
            raise UsageError(f"tree size {size} is larger than the log")
        return node_source(c, self._tiles).inclusion_proof(index, size)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """RFC 9162 consistency proof between two tree sizes (O(log n))."""
        c = self._conn()
        if size2 > c.size():
            raise UsageError(f"tree size {size2} is larger than the log")
        return node_source(c, self._tiles).consistency_proof(size1, size2)

    # -- checkpoints and keys ------------------------------------------------------------

    def checkpoint(self, signers: list[note.Signer], origin: str | None = None) -> CheckpointRow:
        """Sign and store a checkpoint of the whole log as it is now."""
        if not signers:
            raise UsageError("a checkpoint needs a signing key (--key / GRIDWALL_AUDIT_KEY)")
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


def node_source(c: Conn, cache: dict[tuple[int, int], bytes] | None = None) -> NodeSource:
    """Perfect-subtree hashes from the stored tiles (and entries for the last tile)."""
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

    return NodeSource(get_tile, leaves)


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
    signers: list[note.Signer] | None = None,
    checkpoint_every: float = 60.0,
    **kw: Any,
) -> AuditLog:
    """Open the audit log at an SQLAlchemy URL or an SQLite file path (schema upgraded).

    With ``signers``, a checkpoint is signed every ``checkpoint_every`` seconds while the
    log grows, and once more on :meth:`AuditLog.close`.
    """
    url = normalize_url(url_or_path)
    if migrate:
        from gridwall.store import upgrade

        upgrade(url)
    log = AuditLog(url, **kw)
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
