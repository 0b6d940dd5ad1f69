"""Counter-based randomness: a value for any (seed, salt, index) without state.

Per-point attributes (address, holder name, phone …) are a pure function of the
seed and the point index, so any part of the generator (events, the incident
injector, the demo) can re-derive one point's attributes on demand without the
generator keeping 10 M rows in memory. SplitMix64 (Steele, Lea & Flood 2014) is
written out here because the standard library has no stateless keyed mixer and
``hashlib`` is ~10× slower per call for 8-byte inputs.
"""

from __future__ import annotations

MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def mix(x: int) -> int:
    """SplitMix64 finaliser: a bijection on 64-bit integers with good avalanche."""
    x = (x + _GOLDEN) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def key_for(seed: int, stream: str) -> int:
    """A 64-bit key for one named stream of one seed."""
    k = mix(seed & MASK)
    for ch in stream.encode():
        k = mix(k ^ ch)
    return k


def h(key: int, i: int) -> int:
    """64 pseudo-random bits for index ``i`` under ``key`` (the i-th SplitMix64 output)."""
    return mix((key + i * _GOLDEN) & MASK)


class Bijection:
    """An opaque, unique, stable identifier for a counter: ``i ↦ (a·i + b) mod 10^digits``.

    ``a`` is coprime to 10, so the map is a bijection on ``[0, 10^digits)``:
    identifiers never collide and their order says nothing about generation order.
    """

    def __init__(self, key: int, digits: int) -> None:
        self.mod = 10**digits
        a = (mix(key) % self.mod) | 1
        while a % 5 == 0:
            a += 2
        self.a = a
        self.b = mix(key ^ 0x5DEECE66D) % self.mod
        self.a_inv = pow(a, -1, self.mod)
        self.digits = digits

    def forward(self, i: int) -> int:
        return int((self.a * i + self.b) % self.mod)

    def inverse(self, v: int) -> int:
        return int(((v - self.b) * self.a_inv) % self.mod)
