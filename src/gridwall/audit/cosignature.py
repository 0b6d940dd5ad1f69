"""Witness cosignatures on checkpoints (C2SP tlog-cosignature, ``cosignature/v1``, Ed25519).

A witness (証人) that has checked a checkpoint is consistent with everything it saw of the
log before adds one signed-note signature line to it::

    — <witness name> base64(key ID ‖ timestamp ‖ signature)

* key ID = SHA-256(witness name ‖ 0x0A ‖ 0x04 ‖ 32-byte Ed25519 public key)[:4] — the
  0x04 type byte (not the 0x01 of an ordinary note key) says "cosignature/v1";
* timestamp = the POSIX time of cosigning, 8 bytes big-endian (at most 2⁶³ − 1);
* signature = Ed25519 over the message ``"cosignature/v1\\n" "time <timestamp>\\n"``
  followed by the whole checkpoint body (origin, size, root and any extension lines,
  with its final newline, without any signature line).

Because the key ID carries the 0x04 byte, a cosignature line never verifies as the log's
own signature and ordinary note verification (:func:`gridwall.audit.note.open_note`)
skips it as an unknown key, so a cosigned checkpoint stays a valid signed checkpoint.

Key texts follow the Go ``sumdb/note`` encodings with the 0x04 type byte: verifier key
``<name>+<hex key ID>+<base64(0x04 ‖ public key)>`` (the spec's vkey form, publish it);
signer key ``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x04 ‖ seed)>`` (keep it secret; the
type byte keeps a witness key from being loaded as a log key, and the other way round).

Only the standard library and ``cryptography`` are used, so the standalone verifier can
check cosignatures with nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PrivateFormat, PublicFormat
from cryptography.hazmat.primitives.serialization import NoEncryption as _NoEnc

from gridwall.audit.note import NoteError, _b64decode, _check_text, _valid_name

__all__ = [
    "COSIGNATURE_V1",
    "Cosignature",
    "CosignerKey",
    "CosignerVerifier",
    "WitnessQuorumError",
    "cosign",
    "cosigned_message",
    "cosigner_key_id",
    "generate_cosigner",
    "open_cosignatures",
    "require_quorum",
    "split_note",
]

#: signed-note signature type of an Ed25519 cosignature/v1 (c2sp.org/tlog-cosignature)
COSIGNATURE_V1 = 0x04
_DASH = "\u2014 "
_MAX_TS = 2**63 - 1
#: cosignatures dated later than this many seconds after "now" are refused (clock skew)
FUTURE_SKEW = 600


class WitnessQuorumError(NoteError):
    """A checkpoint lacks the cosignatures of enough of the configured witnesses."""


def cosigner_key_id(name: str, public_key: bytes) -> bytes:
    """tlog-cosignature: SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([COSIGNATURE_V1]) + public_key).digest()[:4]


def cosigned_message(body: str, timestamp: int) -> bytes:
    """The bytes a cosignature/v1 signs: header line, time line, the checkpoint body."""
    _check_text(body)
    if not 0 <= timestamp <= _MAX_TS:
        raise NoteError(f"cosignature timestamp {timestamp} out of range")
    return f"cosignature/v1\ntime {timestamp}\n".encode() + body.encode("utf-8")


def _parse_key(text: str, private: bool) -> tuple[str, str, bytes]:
    what = "witness signer key" if private else "witness verifier key"
    parts = text.strip().split("+", 4 if private else 2)
    if private:
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError(f"{what}: expected PRIVATE+KEY+<name>+<hex key id>+<base64 key>")
        parts = parts[2:]
    elif len(parts) != 3:
        raise NoteError(f"{what}: expected <name>+<hex key id>+<base64 key>")
    name, hid, b64 = parts
    if not _valid_name(name):
        raise NoteError(f"{what}: invalid key name {name!r}")
    raw = _b64decode(b64, what)
    if len(raw) != 33 or raw[0] != COSIGNATURE_V1:
        raise NoteError(f"{what}: not an Ed25519 cosignature/v1 key (0x04 ‖ 32 bytes)")
    return name, hid.lower(), raw[1:]


@dataclass(frozen=True)
class CosignerVerifier:
    """A witness's public key: its name, cosignature key ID and Ed25519 public key."""

    name: str
    id: bytes
    public_key: bytes

    @classmethod
    def parse(cls, vkey: str) -> CosignerVerifier:
        """Parse ``<name>+<hex key ID>+<base64(0x04 ‖ public key)>``."""
        name, hid, pub = _parse_key(vkey, private=False)
        kid = cosigner_key_id(name, pub)
        if hid != kid.hex():
            raise NoteError("witness verifier key: key ID does not match the name and key")
        return cls(name, kid, pub)

    def text(self) -> str:
        """The verifier key in its published text form."""
        raw = base64.b64encode(bytes([COSIGNATURE_V1]) + self.public_key).decode()
        return f"{self.name}+{self.id.hex()}+{raw}"

    def verify(self, body: str, timestamp: int, signature: bytes) -> bool:
        """True when ``signature`` is this witness's cosignature of ``body`` at ``timestamp``."""
        try:
            msg = cosigned_message(body, timestamp)
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, msg)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class CosignerKey:
    """A witness's private key (kept in a 0600 file of the witness, never sent anywhere)."""

    name: str
    id: bytes
    seed: bytes

    @classmethod
    def parse(cls, skey: str) -> CosignerKey:
        """Parse ``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x04 ‖ seed)>``."""
        name, hid, seed = _parse_key(skey, private=True)
        k = cls(name, b"", seed)
        kid = cosigner_key_id(name, k.public_key)
        if hid != kid.hex():
            raise NoteError("witness signer key: key ID does not match the name and key")
        return cls(name, kid, seed)

    @property
    def public_key(self) -> bytes:
        key = Ed25519PrivateKey.from_private_bytes(self.seed)
        return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def verifier(self) -> CosignerVerifier:
        return CosignerVerifier(self.name, self.id, self.public_key)

    def text(self) -> str:
        raw = base64.b64encode(bytes([COSIGNATURE_V1]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.id.hex()}+{raw}"


def generate_cosigner(name: str) -> CosignerKey:
    """A fresh witness key named ``name`` (a schema-less URL is recommended)."""
    if not _valid_name(name):
        raise NoteError(f"witness name {name!r}: must be non-empty, without spaces or '+'")
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, _NoEnc())
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return CosignerKey(name, cosigner_key_id(name, pub), seed)


def cosign(key: CosignerKey, body: str, timestamp: int) -> str:
    """The cosignature line (ending in a newline) of ``key`` on checkpoint ``body``."""
    sig = Ed25519PrivateKey.from_private_bytes(key.seed).sign(cosigned_message(body, timestamp))
    raw = key.id + timestamp.to_bytes(8, "big") + sig
    return f"{_DASH}{key.name} {base64.b64encode(raw).decode()}\n"


def split_note(note_text: str) -> tuple[str, list[tuple[str, bytes]]]:
    """A signed note's text and its signature lines as ``(name, decoded bytes)``."""
    cut = note_text.rfind("\n\n")
    if cut < 0:
        raise NoteError("note: no blank line before the signatures")
    text, block = note_text[: cut + 1], note_text[cut + 2 :]
    _check_text(text)
    if not block.endswith("\n"):
        raise NoteError("note: the last signature line must end with a newline")
    sigs = []
    for line in block[:-1].split("\n"):
        if not line.startswith(_DASH):
            raise NoteError(f"note: malformed signature line {line!r}")
        name, _, b64 = line[len(_DASH) :].partition(" ")
        if not _valid_name(name) or not b64 or " " in b64:
            raise NoteError(f"note: malformed signature line {line!r}")
        sigs.append((name, _b64decode(b64, "note signature")))
    return text, sigs


@dataclass(frozen=True)
class Cosignature:
    """A verified cosignature: which witness, and when it cosigned (POSIX seconds)."""

    witness: CosignerVerifier
    timestamp: int


def open_cosignatures(
    note_text: str, witnesses: list[CosignerVerifier], *, now: float | None = None
) -> list[Cosignature]:
    """The valid cosignatures of the given witnesses on a signed checkpoint note.

    Lines of other keys are ignored (the log's own signature among them). A line that
    names a configured witness and its key ID but does not verify — wrong length,
    timestamp beyond 2⁶³ − 1 or more than :data:`FUTURE_SKEW` seconds in the future, bad
    signature — rejects the note (:class:`NoteError`), as signed-note requires.
    """
    text, sigs = split_note(note_text)
    known = {(w.name, w.id): w for w in witnesses}
    limit = (time.time() if now is None else now) + FUTURE_SKEW
    out: dict[bytes, Cosignature] = {}
    for name, raw in sigs:
        w = known.get((name, raw[:4]))
        if w is None:
            continue
        if len(raw) != 4 + 8 + 64:
            raise NoteError(f"cosignature by {name}: {len(raw)} bytes, expected 76")
        ts = int.from_bytes(raw[4:12], "big")
        if ts > _MAX_TS:
            raise NoteError(f"cosignature by {name}: timestamp beyond 2^63-1")
        if ts > limit:
            raise NoteError(f"cosignature by {name}: dated {ts}, in the future")
        if not w.verify(text, ts, raw[12:]):
            raise NoteError(f"cosignature by {name} ({raw[:4].hex()}) does not verify")
        prev = out.get(w.public_key)
        if prev is None or ts > prev.timestamp:
            out[w.public_key] = Cosignature(w, ts)
    return list(out.values())


def require_quorum(
    note_text: str,
    witnesses: list[CosignerVerifier],
    quorum: int | None = None,
    *,
    now: float | None = None,
) -> list[Cosignature]:
    """The note's cosignatures, or :class:`WitnessQuorumError` if fewer than ``quorum``
    distinct configured witnesses cosigned (default: all of them)."""
    distinct = {w.public_key for w in witnesses}
    need = len(distinct) if quorum is None else quorum
    if not 1 <= need <= len(distinct):
        raise NoteError(f"witness quorum {need}: must be between 1 and {len(distinct)}")
    got = open_cosignatures(note_text, witnesses, now=now)
    if len(got) < need:
        have = ", ".join(c.witness.name for c in got) or "none"
        missing = sorted({w.name for w in witnesses} - {c.witness.name for c in got})
        raise WitnessQuorumError(
            f"checkpoint cosigned by {len(got)} of the {need} witnesses required "
            f"(cosigned by: {have}; missing: {', '.join(missing)})"
        )
    return got
