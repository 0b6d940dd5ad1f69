"""Passwords: a policy after NIST SP 800-63B and Argon2id hashing (argon2-cffi).

Policy (SP 800-63B §3.1.1.2 / rev. 3 §5.1.1.2), as applied here:

* **Minimum 12 characters.** NIST asks for at least 8 when the password is one
  factor of MFA (15 when it is the only factor). We require 12 because these
  passwords guard 非公開情報 of millions of customers, the 2023 incidents were
  passwords learned and reused after a transfer (C③), and a longer floor makes
  an offline attack on a leaked hash database far costlier while still leaving
  room for memorable passphrases. TOTP is the second factor.
* **Maximum 128 characters** (NIST: at least 64). Every printable Unicode
  character and the space are allowed; the password is NFKC-normalised first
  (§5.1.1.2) so the same phrase typed on different IMEs matches.
* **No composition rules** (no "one digit, one symbol") and no periodic expiry.
* **Blocklist**: commonly used / breached-like values shipped in-package
  (``_data/blocklist.txt``), repetitive or sequential strings, and context words
  (the account ID, person ID, name, service names).

Hashing: Argon2id, defaults after RFC 9106 §4 second recommended option
(t=3, m=64 MiB, p=4). Hashes are upgraded on the next successful login when the
parameters change (``check_needs_rehash``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12
MAX_LENGTH = 128
#: Context words shorter than this are not checked (too many false positives).
MIN_CONTEXT_WORD = 4
SERVICE_WORDS = ("gridwall", "takuso", "託送", "password", "passwort")
_SEQUENCES = (
    "0123456789012345678901234567890",
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
    "qwertyuiopasdfghjklzxcvbnm",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
)


class WeakPassword(ValueError):
    """The password breaks the policy; the message says why (never echoes the password)."""


@lru_cache(maxsize=1)
def _blocklist() -> frozenset[str]:
    text = resources.files("gridwall.identity").joinpath("_data/blocklist.txt").read_text("utf-8")
    return frozenset(
        _norm(line).casefold()
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    )


def _norm(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def _is_repetitive(p: str) -> bool:
    """True when the password is one short unit repeated (``aaaa…``, ``abcabc…``)."""
    n = len(p)
    for unit in range(1, 5):
        if n % unit == 0 and p[:unit] * (n // unit) == p:
            return True
    return len(set(p)) <= 3


def _is_sequential(p: str) -> bool:
    """True when the password is a run of an ascending/descending sequence or keyboard walk."""
    low = p.casefold()
    return any(low in seq or low in seq[::-1] for seq in _SEQUENCES)


def check_password(password: str, context: tuple[str, ...] = ()) -> str:
    """Return the normalised password, or raise :class:`WeakPassword` saying which rule failed.

    ``context`` holds words an attacker would try for this user (account ID,
    person ID, name parts).
    """
    p = _norm(password)
    if len(p) < MIN_LENGTH:
        raise WeakPassword(f"too short: at least {MIN_LENGTH} characters (a passphrase is fine)")
    if len(p) > MAX_LENGTH:
        raise WeakPassword(f"too long: at most {MAX_LENGTH} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in p):
        raise WeakPassword("contains control characters")
    low = p.casefold()
    if low in _blocklist():
        raise WeakPassword("is on the list of common or breached passwords")
    stripped = low.rstrip("0123456789!@#$%^&*?.-_ ")
    if stripped in _blocklist() or (
        0 < len(stripped) < len(low)
        and (stripped in SERVICE_WORDS or _is_sequential(stripped) or _is_repetitive(stripped))
    ):
        raise WeakPassword("is a common password with digits or symbols appended")
    if _is_repetitive(low) or _is_sequential(low):
        raise WeakPassword("is repetitive or sequential")
    for word in (*context, *SERVICE_WORDS):
        for part in re.split(r"[\W_]+", _norm(word).casefold()):
            if len(part) >= MIN_CONTEXT_WORD and part in low:
                raise WeakPassword(f"contains {part!r} (the user ID, name or service name)")
    return p


@dataclass(frozen=True)
class HashParams:
    """Argon2id cost. Defaults: RFC 9106 §4, second recommended option."""

    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 4

    def hasher(self) -> PasswordHasher:
        return PasswordHasher(
            time_cost=self.time_cost, memory_cost=self.memory_kib, parallelism=self.parallelism
        )


#: Cheap parameters for tests only (never for production).
TEST_PARAMS = HashParams(time_cost=1, memory_kib=8, parallelism=1)


class PasswordHashing:
    """Argon2id hash / verify, with a constant-cost dummy verify for unknown accounts."""

    def __init__(self, params: HashParams | None = None) -> None:
        self._ph = (params or HashParams()).hasher()
        self._dummy: str | None = None  # made on first use (an Argon2 hash costs ~0.5 s)

    def hash(self, normalised_password: str) -> str:
        return self._ph.hash(normalised_password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; a missing hash costs the same and returns False."""
        p = _norm(password)
        try:
            if stored_hash is None:
                if self._dummy is None:
                    self._dummy = self._ph.hash("gridwall-dummy-password-for-timing")
                self._ph.verify(self._dummy, p + "\x00")
                return False
            return self._ph.verify(stored_hash, p)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._ph.check_needs_rehash(stored_hash)
