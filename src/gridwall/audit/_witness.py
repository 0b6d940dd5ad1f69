"""A checkpoint witness (C2SP tlog-witness), run by the regulator or a retailer.

The witness knows the logs it watches (origin → the log's public keys) and keeps, per
log, the latest checkpoint it cosigned, in its own SQLite state file (standard
``sqlite3``: the witness needs no gridwall store). ``add-checkpoint`` requests follow
c2sp.org/tlog-witness::

    old <size of the witness's latest checkpoint>\\n
    <base64 hash>\\n …          (RFC 6962 consistency proof, at most 63 lines)
    \\n
    <the signed checkpoint>

and are answered with the witness's cosignature line (c2sp.org/tlog-cosignature) or
refused with the status code of the spec:

* 404 unknown origin; 403 not signed by a key the witness trusts for it;
* 400 malformed request, or an old size above the checkpoint's (the tree would shrink);
* 409 the old size is not the witness's (the answer body is its size, content type
  ``text/x.tlog.size``, so the log can retry with a proof from there), or the same size
  with another root;
* 422 the consistency proof does not verify.

Check and update run in one ``BEGIN IMMEDIATE`` transaction, so two concurrent requests
cannot roll the witness back (the race the spec describes).

**Fork evidence.** Every checkpoint the witness cosigned is kept. A validly signed
checkpoint whose size equals one the witness already cosigned but whose root differs is
a *split view*: the log signed two different trees of the same size, and the two signed
notes together prove it to anyone holding the log's public key. A validly signed
checkpoint offered with a consistency proof that does not verify from the witness's
latest checkpoint is kept as *inconsistent* (a suspicion: the log, or the client relaying
it, presented a tree that the witness could not confirm extends what it saw). Both are
refused and recorded with both signed checkpoints; ``gridwall witness evidence`` lists
them and exits 1 when there are any.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridwall.audit import merkle, note
from gridwall.audit.cosignature import CosignerKey, cosign
from gridwall.errors import UsageError

__all__ = [
    "MAX_PROOF_LINES",
    "Evidence",
    "Witness",
    "WitnessRefusal",
    "format_request",
    "parse_request",
]

MAX_PROOF_LINES = 63
SIZE_CONTENT_TYPE = "text/x.tlog.size"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS witness_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS witness_log (
    origin TEXT PRIMARY KEY,
    vkeys TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS witness_latest (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    root BLOB NOT NULL,
    note TEXT NOT NULL,
    cosigned_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS witness_history (
    origin TEXT NOT NULL,
    size INTEGER NOT NULL,
    root BLOB NOT NULL,
    note TEXT NOT NULL,
    cosigned_at INTEGER NOT NULL,
    PRIMARY KEY (origin, size)
);
CREATE TABLE IF NOT EXISTS witness_evidence (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT NOT NULL,
    kind TEXT NOT NULL,
    size INTEGER NOT NULL,
    witnessed_note TEXT NOT NULL,
    offered_note TEXT NOT NULL,
    proof TEXT NOT NULL,
    detail TEXT NOT NULL,
    found_at INTEGER NOT NULL
);
"""


class WitnessRefusal(Exception):
    """The witness will not cosign: an HTTP status, a message, and the response body."""

    def __init__(
        self, status: int, message: str, body: str = "", content_type: str = "text/plain"
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body or message + "\n"
        self.content_type = content_type


@dataclass(frozen=True)
class Evidence:
    """What the witness saw: two signed checkpoints of one log that do not agree."""

    id: int
    origin: str
    kind: str  # "split-view" or "inconsistent"
    size: int
    witnessed_note: str
    offered_note: str
    proof: list[str]
    detail: str
    found_at: int

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "origin": self.origin,
            "kind": self.kind,
            "size": self.size,
            "detail": self.detail,
            "found_at": self.found_at,
            "witnessed_checkpoint": self.witnessed_note,
            "offered_checkpoint": self.offered_note,
            "offered_proof": self.proof,
        }


def format_request(old_size: int, proof: list[bytes], checkpoint_note: str) -> bytes:
    """The body of an ``add-checkpoint`` request."""
    lines = [f"old {old_size}\n", *(base64.b64encode(h).decode() + "\n" for h in proof), "\n"]
    return ("".join(lines) + checkpoint_note).encode("utf-8")


def _decimal(s: str) -> int | None:
    if not s.isascii() or not s.isdigit() or (len(s) > 1 and s[0] == "0"):
        return None
    return int(s)


def parse_request(body: bytes) -> tuple[int, list[bytes], str]:
    """Split an ``add-checkpoint`` body into old size, proof hashes and the signed note."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise WitnessRefusal(400, "request body is not UTF-8") from e
    head, sep, cp = text.partition("\n\n")
    if not sep:
        raise WitnessRefusal(400, "request: no empty line before the checkpoint")
    lines = head.split("\n")
    first = lines[0]
    if not first.startswith("old "):
        raise WitnessRefusal(400, "request line 1: expected 'old <size>'")
    old = _decimal(first[4:])
    if old is None:
        raise WitnessRefusal(400, f"request line 1: bad old size {first[4:]!r}")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise WitnessRefusal(400, f"request: more than {MAX_PROOF_LINES} consistency proof lines")
    proof = []
    for n, line in enumerate(lines[1:], 2):
        try:
            h = base64.b64decode(line.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError) as e:
            raise WitnessRefusal(400, f"request line {n}: not a base64 hash") from e
        if len(h) != merkle.HASH_SIZE:
            raise WitnessRefusal(400, f"request line {n}: hash is {len(h)} bytes, not 32")
        proof.append(h)
    return old, proof, cp


class Witness:
    """The witness over its state file. Thread-safe: each call opens its own connection."""

    def __init__(
        self, state: Path, key: CosignerKey, clock: Callable[[], float] = time.time
    ) -> None:
        self.state = state
        self.key = key
        self.clock = clock

    @staticmethod
    def create(state: Path, key_file: Path) -> None:
        """Create an empty state file that records where the witness's key lives."""
        if state.exists():
            raise UsageError(f"--state {state}: already exists")
        db = sqlite3.connect(state)
        try:
            db.executescript(_SCHEMA)
            db.execute(
                "INSERT INTO witness_meta VALUES ('key_file', ?)", (str(key_file.resolve()),)
            )
            db.commit()
        finally:
            db.close()

    @classmethod
    def open(cls, state: Path, key: CosignerKey | None = None) -> Witness:
        """Open an existing state file; the key is read from the file recorded at init."""
        if not state.is_file():
            raise UsageError(f"--state {state}: no witness state (run `gridwall witness init`)")
        if key is None:
            try:
                db = _connect(state)
                try:
                    row = db.execute(
                        "SELECT value FROM witness_meta WHERE key='key_file'"
                    ).fetchone()
                finally:
                    db.close()
            except sqlite3.DatabaseError as e:
                raise UsageError(f"--state {state}: not a witness state file ({e})") from e
            if row is None:
                raise UsageError(f"--state {state}: no witness key recorded")
            path = Path(row[0])
            try:
                key = CosignerKey.parse(path.read_text(encoding="utf-8"))
            except OSError as e:
                raise UsageError(f"witness key {path}: cannot read ({e.strerror})") from e
            except note.NoteError as e:
                raise UsageError(f"witness key {path}: {e}") from e
        return cls(state, key)

    # -- configuration -------------------------------------------------------------------

    def add_log(self, verifiers: list[note.Verifier], origin: str | None = None) -> str:
        """Trust ``verifiers`` for the log ``origin`` (default: the first key's name)."""
        if not verifiers:
            raise UsageError("--public-key: the log's public key is required")
        origin = origin or verifiers[0].name
        if not origin or "\n" in origin:
            raise UsageError(f"--origin {origin!r}: must be one non-empty line")
        db = _connect(self.state)
        try:
            row = db.execute("SELECT vkeys FROM witness_log WHERE origin = ?", (origin,)).fetchone()
            keys = [] if row is None else str(row[0]).split("\n")
            keys += [v.text() for v in verifiers if v.text() not in keys]
            db.execute(
                "INSERT INTO witness_log (origin, vkeys) VALUES (?, ?) "
                "ON CONFLICT (origin) DO UPDATE SET vkeys = excluded.vkeys",
                (origin, "\n".join(keys)),
            )
            db.commit()
        finally:
            db.close()
        return origin

    def logs(self) -> dict[str, list[note.Verifier]]:
        db = _connect(self.state)
        try:
            rows = db.execute("SELECT origin, vkeys FROM witness_log ORDER BY origin").fetchall()
        finally:
            db.close()
        return {str(o): [note.Verifier.parse(k) for k in str(v).split("\n")] for o, v in rows}

    def latest(self, origin: str) -> tuple[int, bytes, str] | None:
        """The size, root and signed note of the latest checkpoint cosigned for ``origin``."""
        db = _connect(self.state)
        try:
            row = db.execute(
                "SELECT size, root, note FROM witness_latest WHERE origin = ?", (origin,)
            ).fetchone()
        finally:
            db.close()
        return None if row is None else (int(row[0]), bytes(row[1]), str(row[2]))

    def evidence(self) -> list[Evidence]:
        db = _connect(self.state)
        try:
            rows = db.execute(
                "SELECT id, origin, kind, size, witnessed_note, offered_note, proof, detail, "
                "found_at FROM witness_evidence ORDER BY id"
            ).fetchall()
        finally:
            db.close()
        return [
            Evidence(int(i), str(o), str(k), int(s), str(w), str(n), json.loads(p), str(d), int(t))
            for i, o, k, s, w, n, p, d, t in rows
        ]

    # -- add-checkpoint ------------------------------------------------------------------

    def add_checkpoint(self, body: bytes) -> str:
        """Check an ``add-checkpoint`` request; return the cosignature line(s) or refuse.

        Raises :class:`WitnessRefusal` with the spec's status code (see the module doc).
        Split views and unverifiable proofs of validly signed checkpoints are recorded as
        evidence before the refusal.
        """
        old, proof, cp_note = parse_request(body)
        try:
            text, _sigs = _split(cp_note)
            body_cp = note.parse_checkpoint_body(text)
        except note.NoteError as e:
            raise WitnessRefusal(400, f"checkpoint: {e}") from e
        origin = body_cp.origin
        db = _connect(self.state)
        try:
            db.execute("BEGIN IMMEDIATE")  # check and update atomically (no roll-back race)
            row = db.execute("SELECT vkeys FROM witness_log WHERE origin = ?", (origin,)).fetchone()
            if row is None:
                raise WitnessRefusal(404, f"unknown log origin {origin!r}")
            trusted = [note.Verifier.parse(k) for k in str(row[0]).split("\n")]
            try:
                cp = note.open_checkpoint(cp_note, trusted)
            except note.NoteError as e:
                raise WitnessRefusal(403, f"checkpoint of {origin!r}: {e}") from e
            now = int(self.clock())
            proof_text = [base64.b64encode(h).decode() for h in proof]
            seen = db.execute(
                "SELECT root, note FROM witness_history WHERE origin = ? AND size = ?",
                (origin, cp.size),
            ).fetchone()
            if seen is not None and bytes(seen[0]) != cp.root:
                self._record(
                    db, origin, "split-view", cp.size, str(seen[1]), cp_note, proof_text,
                    f"two different signed checkpoints of size {cp.size}: the log forked",
                    now,
                )  # fmt: skip
                db.commit()
                raise WitnessRefusal(
                    409, f"split view: {origin!r} signed another root at size {cp.size}"
                )
            latest = db.execute(
                "SELECT size, root, note FROM witness_latest WHERE origin = ?", (origin,)
            ).fetchone()
            cur_size = 0 if latest is None else int(latest[0])
            if old > cp.size:
                raise WitnessRefusal(
                    400, f"old size {old} is above the checkpoint's size {cp.size}"
                )
            if latest is not None and cp.size < cur_size:
                raise WitnessRefusal(
                    409,
                    f"size regresses: the witness cosigned {cur_size} for {origin!r}, "
                    f"offered {cp.size}",
                    f"{cur_size}\n",
                    SIZE_CONTENT_TYPE,
                )
            if old != cur_size:
                raise WitnessRefusal(
                    409,
                    f"old size {old} is not the witness's {cur_size} for {origin!r}",
                    f"{cur_size}\n",
                    SIZE_CONTENT_TYPE,
                )
            if latest is not None:
                cur_root, cur_note = bytes(latest[1]), str(latest[2])
                if cp.size == cur_size:
                    if cp.root != cur_root:  # same size, other root (not in history: defensive)
                        self._record(
                            db, origin, "split-view", cp.size, cur_note, cp_note, proof_text,
                            f"two different signed checkpoints of size {cp.size}: the log forked",
                            now,
                        )  # fmt: skip
                        db.commit()
                        raise WitnessRefusal(409, f"split view at size {cp.size}")
                    if proof:
                        raise WitnessRefusal(422, "same size: the consistency proof must be empty")
                elif not merkle.verify_consistency(cur_size, cp.size, proof, cur_root, cp.root):
                    self._record(
                        db, origin, "inconsistent", cp.size, cur_note, cp_note, proof_text,
                        f"no valid consistency proof from size {cur_size} to {cp.size}",
                        now,
                    )  # fmt: skip
                    db.commit()
                    raise WitnessRefusal(
                        422, f"consistency proof {cur_size} → {cp.size} does not verify"
                    )
            elif proof:
                raise WitnessRefusal(422, "old size 0: the consistency proof must be empty")
            # Cosign the note's text (origin, size, root and extension lines).
            line = cosign(self.key, text, now)
            db.execute(
                "INSERT INTO witness_latest (origin, size, root, note, cosigned_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE SET size = excluded.size, "
                "root = excluded.root, note = excluded.note, cosigned_at = excluded.cosigned_at",
                (origin, cp.size, cp.root, cp_note, now),
            )
            db.execute(
                "INSERT OR IGNORE INTO witness_history (origin, size, root, note, cosigned_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (origin, cp.size, cp.root, cp_note, now),
            )
            db.commit()
            return line
        except BaseException:
            if db.in_transaction:
                db.rollback()
            raise
        finally:
            db.close()

    @staticmethod
    def _record(
        db: sqlite3.Connection,
        origin: str,
        kind: str,
        size: int,
        witnessed: str,
        offered: str,
        proof: list[str],
        detail: str,
        now: int,
    ) -> None:
        exists = db.execute(
            "SELECT 1 FROM witness_evidence WHERE origin = ? AND kind = ? AND offered_note = ? "
            "AND witnessed_note = ?",
            (origin, kind, offered, witnessed),
        ).fetchone()
        if exists is None:
            db.execute(
                "INSERT INTO witness_evidence (origin, kind, size, witnessed_note, offered_note, "
                "proof, detail, found_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (origin, kind, size, witnessed, offered, json.dumps(proof), detail, now),
            )


def _split(cp_note: str) -> tuple[str, str]:
    cut = cp_note.rfind("\n\n")
    if cut < 0:
        raise note.NoteError("no blank line before the signatures")
    return cp_note[: cut + 1], cp_note[cut + 2 :]


def _connect(state: Path) -> sqlite3.Connection:
    db = sqlite3.connect(state, timeout=30, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")  # persisted before the cosignature is returned
    return db
