"""The persistent audit log (監査ログ): group-committed, append-only, Merkle-tree backed.

``AuditLog.record(event)`` is the :class:`gridwall.interfaces.AuditSink` the gateway
calls before it answers: it returns only once the entry is committed (fsynced) and
raises :class:`AuditWriteError` otherwise, so the gateway fails closed.

Group commit: callers hand their events to one writer thread, which drains
everything queued into one transaction (one fsync), then wakes every caller. The
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
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
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


def canonical_json(obj: Any) -> bytes:
    """Canonical JSON: sorted keys, no whitespace, UTF-8, no NaN (see the module doc)."""
    return json.dumps(
        obj,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_default,
    ).encode("utf-8")


def entry_bytes(event_json: bytes, recorded_at: str, seq: int) -> bytes:
    """The canonical entry; equal to ``canonical_json`` of the three-key object."""
    return b'{"event":%b,"recorded_at":"%b","seq":%d}' % (event_json, recorded_at.encode(), seq)


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

    Thread-safe. ``record``/``record_many`` append (durable on return); reads and
    proofs may run concurrently. There is no update or delete API.
    """

    def __init__(
        self,
        url: str,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self._clock = clock
        self._max_batch = max_batch
        self._q: queue.SimpleQueue[tuple[list[bytes], Future[list[int]]] | None] = (
            queue.SimpleQueue()
        )
        self._edge: RightEdge | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._writer: threading.Thread | None = None
        self._wconn: Conn | None = None
        self._local = threading.local()

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
            payload = [canonical_json(dict(e)) for e in events]
        except (TypeError, ValueError) as e:
            raise AuditWriteError(f"audit event cannot be encoded: {e}") from e
        if not payload:
            return []
        fut: Future[list[int]] = Future()
        with self._lock:
            if self._closed:
                raise AuditWriteError("the audit log is closed")
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(
                    target=self._writer_loop, name="audit-writer", daemon=True
                )
                self._writer.start()
            self._q.put((payload, fut))
        return fut.result()

    def close(self) -> None:
        """Finish pending appends and stop the writer."""
        with self._lock:
            self._closed = True
            w = self._writer
            if w is not None and w.is_alive():
                self._q.put(None)
        if w is not None:
            w.join()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _writer_loop(self) -> None:
        stop = False
        while not stop:
            item = self._q.get()
            if item is None:
                break
            batch = [item]
            n = len(item[0])
            while n < self._max_batch:
                try:
                    nxt = self._q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
                n += len(nxt[0])
            try:
                results = self._write_batch([p for p, _ in batch])
            except Exception as e:
                self._edge = None  # re-read the right edge from the database next time
                if self._wconn is not None:
                    self._wconn.rollback()
                    self._wconn.close()
                    self._wconn = None
                err = AuditWriteError(f"audit log write failed ({type(e).__name__}: {e})")
                for _, f in batch:
                    f.set_exception(err)
            else:
                for (_, f), r in zip(batch, results, strict=True):
                    f.set_result(r)
        if self._wconn is not None:
            self._wconn.close()
            self._wconn = None

    def _write_batch(self, payloads: list[list[bytes]]) -> list[list[int]]:
        if self._wconn is None:
            self._wconn = Conn(self.url, durable=True)
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
        return node_source(c).root(n)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 inclusion proof of entry ``index`` in the tree of ``size`` (O(log n))."""
        c = self._conn()
        if size > c.size():
            raise UsageError(f"tree size {size} is larger than the log")
        return node_source(c).inclusion_proof(index, size)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """RFC 9162 consistency proof between two tree sizes (O(log n))."""
        c = self._conn()
        if size2 > c.size():
            raise UsageError(f"tree size {size2} is larger than the log")
        return node_source(c).consistency_proof(size1, size2)

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


def node_source(c: Conn) -> NodeSource:
    """Perfect-subtree hashes from the stored tiles (and entries for the last tile)."""

    def leaves(lo: int, hi: int) -> list[bytes]:
        got = c.entries(lo, hi)
        if [i for i, _ in got] != list(range(lo, hi)):
            raise CheckFailed(f"tree storage: entries {lo}..{hi - 1} are incomplete")
        return [merkle.leaf_hash(e) for _, e in got]

    return NodeSource(c.tile, leaves)


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


def open_log(url_or_path: str | Path, *, migrate: bool = True, **kw: Any) -> AuditLog:
    """Open the audit log at an SQLAlchemy URL or an SQLite file path (schema upgraded)."""
    url = normalize_url(url_or_path)
    if migrate:
        from gridwall.store import upgrade

        upgrade(url)
    return AuditLog(url, **kw)


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
