"""The operator's side of witnessing: obtain cosignatures, publish the cosigned checkpoint.

For each configured witness the operator submits its newest signed checkpoint in a
tlog-witness ``add-checkpoint`` request. It starts from the size it believes the witness
holds (0 the first time); a ``409`` with ``text/x.tlog.size`` tells it the witness's size,
and it retries once with a consistency proof from there. Every returned cosignature
must verify under one of the witness keys the operator was given — the operator
publishes nothing it has not checked.

The cosigned checkpoint (the log's signed note followed by the cosignature lines) is
stored as a new ``audit_checkpoint`` row with the same size and root (stored rows are
never updated), so exports made after it carry the cosignatures in their header and
``gridwall audit verify --witness-key`` finds it.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gridwall.audit import note
from gridwall.audit._db import Conn
from gridwall.audit._witness import SIZE_CONTENT_TYPE, Witness, WitnessRefusal, format_request
from gridwall.audit.cosignature import CosignerVerifier, open_cosignatures
from gridwall.errors import CheckFailed, UsageError

__all__ = ["Reply", "cosign_checkpoint", "store_cosigned", "transport"]

#: (HTTP status, content type, body text) of one ``add-checkpoint`` call
Reply = tuple[int, str, str]
Post = Callable[[bytes], Reply]


def _http(url: str, timeout: float) -> Post:
    target = url.rstrip("/") + "/add-checkpoint"

    def post(body: bytes) -> Reply:
        req = urllib.request.Request(
            target, data=body, method="POST", headers={"Content-Type": "text/plain"}
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return int(r.status), str(r.headers.get("Content-Type", "")), _text(r.read())
        except urllib.error.HTTPError as e:
            return int(e.code), str(e.headers.get("Content-Type", "")), _text(e.read())
        except (urllib.error.URLError, OSError) as e:
            raise CheckFailed(f"--witness {url}: cannot reach the witness ({e})") from e

    return post


def _text(b: bytes) -> str:
    return b.decode("utf-8", "replace")


def _local(state: Path) -> Post:
    witness = Witness.open(state)

    def post(body: bytes) -> Reply:
        try:
            return 200, "text/plain", witness.add_checkpoint(body)
        except WitnessRefusal as r:
            return r.status, r.content_type, r.body

    return post


def transport(target: str, timeout: float = 30.0) -> Post:
    """``add-checkpoint`` over HTTP(S) for a URL, or in-process for a witness state file."""
    if target.startswith(("http://", "https://")):
        return _http(target, timeout)
    if "://" in target:
        raise UsageError(f"--witness {target}: only http(s) URLs or a witness state file")
    return _local(Path(target))


def _ask(
    target: str,
    post: Post,
    cp_note: str,
    size: int,
    proof: Callable[[int, int], list[bytes]],
    witnesses: list[CosignerVerifier],
) -> str:
    old = 0
    for _ in range(3):
        status, ctype, body = post(format_request(old, proof(old, size) if old else [], cp_note))
        if status == 200:
            return _checked(target, cp_note, body, witnesses)
        if status == 409 and ctype.split(";")[0].strip() == SIZE_CONTENT_TYPE:
            held = body.strip()
            if not held.isdigit():
                raise CheckFailed(f"--witness {target}: 409 with a bad size {held!r}")
            if int(held) > size:
                raise CheckFailed(
                    f"--witness {target}: the witness already cosigned size {held} of this "
                    f"log, beyond this checkpoint's {size} (a newer checkpoint was shown to it, "
                    "or the log was rolled back)"
                )
            if int(held) == old:
                break
            old = int(held)
            continue
        raise CheckFailed(f"--witness {target}: refused ({status}): {body.strip()}")
    raise CheckFailed(f"--witness {target}: the witness's size kept changing; try again")


def _checked(target: str, cp_note: str, lines: str, witnesses: list[CosignerVerifier]) -> str:
    """The returned lines that are valid cosignatures of the configured witness keys."""
    if not lines.endswith("\n") or not all(ln.startswith("\u2014 ") for ln in lines.splitlines()):
        raise CheckFailed(f"--witness {target}: the answer is not signature lines")
    try:
        good = open_cosignatures(cp_note + lines, witnesses)
    except note.NoteError as e:
        raise CheckFailed(f"--witness {target}: {e}") from e
    if not good:
        raise CheckFailed(
            f"--witness {target}: no cosignature by a configured --witness-key in its answer"
        )
    names = {(c.witness.name, c.witness.id) for c in good}
    keep = [
        ln + "\n"
        for ln in lines.splitlines()
        if any(ln.startswith(f"\u2014 {n} ") for n, _ in names)
    ]
    return "".join(keep)


def cosign_checkpoint(
    log: Any,
    cp_note: str,
    size: int,
    targets: list[str],
    witnesses: list[CosignerVerifier],
    *,
    post: Callable[[str], Post] = transport,
) -> str:
    """The checkpoint note with the cosignatures of every witness in ``targets``.

    ``log`` provides ``consistency_proof(size1, size2)`` (an :class:`AuditLog`). Raises
    :class:`CheckFailed` when a witness refuses or answers with no valid cosignature.
    """
    if not witnesses:
        raise UsageError("--witness-key: give the public key of every witness asked")
    lines = ""
    for t in targets:
        lines += _ask(t, post(t), cp_note, size, log.consistency_proof, witnesses)
    return cp_note + lines


def store_cosigned(url: str, cosigned: str, verifiers: list[note.Verifier]) -> int:
    """Store a cosigned checkpoint as a new checkpoint row; return its id."""
    cp = note.open_checkpoint(cosigned, verifiers)
    c = Conn(url, durable=True)
    try:
        c.begin_write()
        try:
            c.execute(
                "INSERT INTO audit_checkpoint (size, root, note, created_at) VALUES (?, ?, ?, ?)",
                (cp.size, cp.root, cosigned, int(time.time())),
            )
            row = c.one("SELECT max(id) FROM audit_checkpoint")
            c.commit()
        except BaseException:
            c.rollback()
            raise
    finally:
        c.close()
    return int(row[0])
