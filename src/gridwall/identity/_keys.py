"""Signed proofs of possession: terminal identity tokens and API-client tokens (Ed25519).

A terminal (端末) is enrolled with its own Ed25519 key pair; the server keeps only
the public key. On every login or request the terminal signs a fresh statement

    ``gridwall-terminal/v1`` | device_id | unix time

and presents ``gwt1.<payload>.<signature>`` (base64url). The server accepts it
only if the signature verifies under the enrolled key and the time is within
``max_age`` seconds (and at most ``skew`` seconds in the future), so a typed
string or an old token is worthless. Retailer systems' API clients do the same
with their own key (``gwc1.``, statement ``gridwall-client/v1``).

No library offers this exact small format; it is a thin wrapper over
``cryptography``'s Ed25519, which does all the cryptography.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

TERMINAL_PREFIX = "gwt1"
CLIENT_PREFIX = "gwc1"
_CONTEXT = {TERMINAL_PREFIX: b"gridwall-terminal/v1", CLIENT_PREFIX: b"gridwall-client/v1"}


class BadToken(ValueError):
    """The token is malformed, stale or its signature does not verify."""


def _b64e(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


def _b64d(s: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    except (ValueError, TypeError) as e:
        raise BadToken("not base64url") from e


def new_key() -> tuple[Ed25519PrivateKey, str]:
    """A fresh key pair; returns the private key and the public key as hex."""
    k = Ed25519PrivateKey.generate()
    pub = k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return k, pub.hex()


def private_key_text(key: Ed25519PrivateKey, subject: str, kind: str) -> str:
    """The key file handed to the terminal / client operator (JSON, private key as hex)."""
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return json.dumps({"kind": kind, "id": subject, "ed25519_private_key": raw.hex()}) + "\n"


def load_key_file(text: str) -> tuple[str, str, Ed25519PrivateKey]:
    """Parse a key file: returns ``(kind, id, private key)``."""
    try:
        obj = json.loads(text)
        raw = bytes.fromhex(obj["ed25519_private_key"])
        return str(obj["kind"]), str(obj["id"]), Ed25519PrivateKey.from_private_bytes(raw)
    except (ValueError, KeyError, TypeError) as e:
        raise BadToken(f"not a gridwall key file ({e})") from e


def _statement(prefix: str, subject: str, ts: int) -> bytes:
    return _CONTEXT[prefix] + b"|" + subject.encode("utf-8") + b"|" + str(ts).encode("ascii")


def sign_token(prefix: str, key: Ed25519PrivateKey, subject: str, now: datetime) -> str:
    """A fresh token for ``subject`` (a device ID or client ID) at ``now``."""
    ts = int(now.timestamp())
    payload = _b64e(json.dumps({"id": subject, "t": ts}, separators=(",", ":")).encode())
    sig = key.sign(_statement(prefix, subject, ts))
    return f"{prefix}.{payload}.{_b64e(sig)}"


@dataclass(frozen=True)
class Claim:
    subject: str
    ts: int
    signature: bytes


def parse_token(prefix: str, token: str) -> Claim:
    """Split and decode a token without verifying it (the subject selects the key)."""
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != prefix:
        raise BadToken(f"not a {prefix} token")
    try:
        obj = json.loads(_b64d(parts[1]))
        subject, ts = obj["id"], obj["t"]
    except (ValueError, KeyError, TypeError) as e:
        raise BadToken("malformed payload") from e
    if not isinstance(subject, str) or not isinstance(ts, int) or isinstance(ts, bool):
        raise BadToken("malformed payload")
    return Claim(subject, ts, _b64d(parts[2]))


def verify_claim(
    prefix: str, claim: Claim, public_key_hex: str, now: datetime, max_age: int, skew: int
) -> None:
    """Raise :class:`BadToken` unless the signature verifies and the time is fresh."""
    age = int(now.timestamp()) - claim.ts
    if age > max_age:
        raise BadToken(f"stale: signed {age} s ago (max {max_age} s)")
    if age < -skew:
        raise BadToken("signed in the future")
    if not _verified(prefix, claim.subject, claim.ts, claim.signature, public_key_hex):
        raise BadToken("signature does not verify")


@lru_cache(maxsize=4096)
def _verified(prefix: str, subject: str, ts: int, signature: bytes, public_key_hex: str) -> bool:
    """Ed25519 verification, memoised: the same token under the same key gives the same
    answer (freshness is checked by the caller on every use)."""
    try:
        pub = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
        pub.verify(signature, _statement(prefix, subject, ts))
    except (InvalidSignature, ValueError):
        return False
    return True


def terminal_token(key_file_text: str, now: datetime) -> str:
    """A fresh terminal (``gwt1.``) or API-client (``gwc1.``) token from a key file's text.

    This is what terminal software (or a retailer system) runs before each login /
    request; the gateway's tests and the demo use it too.
    """
    kind, subject, key = load_key_file(key_file_text)
    prefix = CLIENT_PREFIX if kind == "api_client" else TERMINAL_PREFIX
    return sign_token(prefix, key, subject, now)
