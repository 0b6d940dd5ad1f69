"""Signed checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes (Ed25519).

A checkpoint (チェックポイント, a signed tree head) commits to the whole log:

    <origin>\\n
    <tree size, decimal>\\n
    <base64 root hash>\\n

and is wrapped in a signed note (c2sp.org/signed-note): the text, a blank line,
then one line per signature ``— <key name> <base64(key ID ‖ Ed25519 signature)>``,
where key ID = SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key)[:4].

Keys use the Go ``golang.org/x/mod/sumdb/note`` text encodings, so other tools can
read them: verifier key ``<name>+<hex key ID>+<base64(0x01 ‖ public key)>`` (can be
published) and signer key ``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 ‖ seed)>``
(kept in a file outside the database).

Only the standard library and ``cryptography`` are used, so the standalone
verifier can run with nothing else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PrivateFormat, PublicFormat
from cryptography.hazmat.primitives.serialization import NoEncryption as _NoEnc

__all__ = [
    "Checkpoint",
    "NoteError",
    "Signer",
    "Verifier",
    "checkpoint_body",
    "generate_signer",
    "key_id",
    "open_checkpoint",
    "parse_checkpoint_body",
    "sign_note",
]

ED25519 = 0x01
_DASH = "\u2014 "


class NoteError(ValueError):
    """A malformed key, note or checkpoint, or a signature that does not verify."""


def _valid_name(name: str) -> bool:
    """signed-note: key names are non-empty, with no Unicode spaces and no plus sign."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def key_id(name: str, public_key: bytes) -> bytes:
    """signed-note: key ID = SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def _b64decode(s: str, what: str) -> bytes:
    try:
        return base64.b64decode(s.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as e:
        raise NoteError(f"{what}: not standard base64") from e


@dataclass(frozen=True)
class Verifier:
    """A public (verifier) key: name, key ID and the Ed25519 public key."""

    name: str
    id: bytes
    public_key: bytes

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        """Parse ``<name>+<hex key ID>+<base64(0x01 ‖ public key)>``."""
        parts = vkey.strip().split("+", 2)  # base64 may itself contain '+'
        if len(parts) != 3:
            raise NoteError("verifier key: expected <name>+<hex key id>+<base64 key>")
        name, hid, b64 = parts
        if not _valid_name(name):
            raise NoteError(f"verifier key: invalid key name {name!r}")
        raw = _b64decode(b64, "verifier key")
        if len(raw) != 33 or raw[0] != ED25519:
            raise NoteError("verifier key: not an Ed25519 key (0x01 ‖ 32 bytes)")
        pub = raw[1:]
        kid = key_id(name, pub)
        if hid.lower() != kid.hex() or len(hid) != 8:
            raise NoteError("verifier key: key ID does not match the name and key")
        return cls(name, kid, pub)

    def text(self) -> str:
        """The verifier key in its published text form."""
        raw = base64.b64encode(bytes([ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.id.hex()}+{raw}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is this key's Ed25519 signature of ``message``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """A private (signer) key. Never stored in the database."""

    name: str
    id: bytes
    seed: bytes

    @classmethod
    def parse(cls, skey: str) -> Signer:
        """Parse ``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 ‖ seed)>``."""
        parts = skey.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("signer key: expected PRIVATE+KEY+<name>+<hex key id>+<base64 key>")
        name, hid, b64 = parts[2:]
        if not _valid_name(name):
            raise NoteError(f"signer key: invalid key name {name!r}")
        raw = _b64decode(b64, "signer key")
        if len(raw) != 33 or raw[0] != ED25519:
            raise NoteError("signer key: not an Ed25519 key (0x01 ‖ 32 bytes)")
        s = cls(name, b"", raw[1:])
        kid = key_id(name, s.public_key)
        if hid.lower() != kid.hex():
            raise NoteError("signer key: key ID does not match the name and key")
        return cls(name, kid, raw[1:])

    @property
    def _key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        return self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def verifier(self) -> Verifier:
        """The matching public key."""
        return Verifier(self.name, self.id, self.public_key)

    def text(self) -> str:
        """The signer key in its text form (write it to a 0600 file)."""
        raw = base64.b64encode(bytes([ED25519]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.id.hex()}+{raw}"

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self._key.sign(message)


def generate_signer(name: str) -> Signer:
    """A fresh Ed25519 signer key named ``name`` (a schema-less URL is recommended)."""
    if not _valid_name(name):
        raise NoteError(f"key name {name!r}: must be non-empty, without spaces or '+'")
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, _NoEnc())
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return Signer(name, key_id(name, pub), seed)


def _check_text(text: str) -> None:
    """signed-note: the text ends in a newline and has no control characters but newline."""
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise NoteError("note text contains a control character")


def sign_note(text: str, signers: list[Signer]) -> str:
    """signed-note: the text, a blank line, one ``— name base64(id ‖ sig)`` line per key."""
    _check_text(text)
    if not signers:
        raise NoteError("a note needs at least one signature")
    msg = text.encode("utf-8")
    lines = [f"{_DASH}{s.name} {base64.b64encode(s.id + s.sign(msg)).decode()}\n" for s in signers]
    return text + "\n" + "".join(lines)


def open_note(note: str, verifiers: list[Verifier]) -> tuple[str, list[Verifier]]:
    """Split and verify a signed note; return its text and the known keys that signed it.

    Signatures by unknown keys are ignored; a signature by a known key that does not
    verify rejects the note; at least one known key must have signed (signed-note).
    """
    if not isinstance(note, str):
        raise NoteError("note: not text")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise NoteError("note: no blank line before the signatures")
    text, sigblock = note[: cut + 1], note[cut + 2 :]
    _check_text(text)
    if not sigblock.endswith("\n"):
        raise NoteError("note: the last signature line must end with a newline")
    known = {(v.name, v.id): v for v in verifiers}
    good: list[Verifier] = []
    msg = text.encode("utf-8")
    for line in sigblock[:-1].split("\n"):
        if not line.startswith(_DASH):
            raise NoteError(f"note: malformed signature line {line!r}")
        name, _, b64 = line[len(_DASH) :].partition(" ")
        if not _valid_name(name) or not b64 or " " in b64:
            raise NoteError(f"note: malformed signature line {line!r}")
        raw = _b64decode(b64, "note signature")
        if len(raw) < 5:
            raise NoteError("note: signature too short")
        v = known.get((name, raw[:4]))
        if v is None:
            continue
        if not v.verify(msg, raw[4:]):
            raise NoteError(f"note: signature by {name} ({raw[:4].hex()}) does not verify")
        good.append(v)
    if not good:
        raise NoteError("note: not signed by any trusted key")
    return text, good


@dataclass(frozen=True)
class Checkpoint:
    """A tlog-checkpoint: origin, tree size and root hash (plus the signed note)."""

    origin: str
    size: int
    root: bytes
    note: str = ""


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    """tlog-checkpoint: origin line, decimal size, base64 root hash, each ending ``\\n``."""
    if not origin or "\n" in origin:
        raise NoteError("checkpoint origin must be one non-empty line")
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def parse_checkpoint_body(text: str) -> Checkpoint:
    """Parse a tlog-checkpoint body (extension lines after the root are allowed)."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise NoteError("checkpoint: expected origin, size and root lines")
    origin, size_s, root_s = lines[0], lines[1], lines[2]
    if not origin:
        raise NoteError("checkpoint: empty origin")
    if not size_s.isdigit() or (size_s != "0" and size_s.startswith("0")) or not size_s.isascii():
        raise NoteError(f"checkpoint: bad tree size {size_s!r}")
    root = _b64decode(root_s, "checkpoint root")
    if len(root) != 32:
        raise NoteError("checkpoint: root hash is not 32 bytes")
    return Checkpoint(origin, int(size_s), root)


def open_checkpoint(note: str, verifiers: list[Verifier]) -> Checkpoint:
    """Verify a signed checkpoint note against trusted keys and parse it."""
    text, _ = open_note(note, verifiers)
    cp = parse_checkpoint_body(text)
    return Checkpoint(cp.origin, cp.size, cp.root, note)
