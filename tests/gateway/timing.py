"""A timing-oracle detector: interleaved samples of two request paths and a rank test.

scipy is not a dependency of the project (and adding it for one statistic is not worth a
~40 MB wheel), so the Mann–Whitney U statistic is computed here with the normal
approximation, tie correction and continuity correction — exact enough for the hundreds
of samples per side used here (the approximation is the textbook one for n > 20).

A divergence is reported only when BOTH the rank test is significant (two-sided
p < ``alpha``) AND the medians differ by more than an effect-size floor
(``max(floor_ns, floor_ratio × pooled median)``): on a noisy shared machine a
significant but tiny shift (scheduler, cache state) must not fail CI, while a gap an
attacker can exploit (the issue's ≈ 150 µs, or the ≈ 45 µs measured on the tiny world
before the fix) is far above the floor.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

#: two-sided significance level of one measurement
ALPHA = 1e-3
#: effect-size floor: the medians must differ by at least this much (absolute) ...
FLOOR_NS = 10_000
#: ... and by at least this fraction of the pooled median
FLOOR_RATIO = 0.03


@dataclass(frozen=True, slots=True)
class RankTest:
    u: float  # U of the first sample (pairs where a > b, ties counting one half)
    z: float
    p: float  # two-sided


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> RankTest:
    """Mann–Whitney U of ``a`` against ``b``, normal approximation (tie- and
    continuity-corrected), two-sided p-value."""
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        raise ValueError("mann_whitney: both samples must be non-empty")
    x = np.concatenate([np.asarray(a, dtype=float), np.asarray(b, dtype=float)])
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    # average rank (1-based) of each distinct value, then of each observation
    upper = np.cumsum(counts)
    ranks = (upper - (counts - 1) / 2.0)[inverse]
    u = float(ranks[:n1].sum()) - n1 * (n1 + 1) / 2.0
    n = n1 + n2
    mean = n1 * n2 / 2.0
    ties = float(np.sum(counts.astype(float) ** 3 - counts))
    var = n1 * n2 / 12.0 * ((n + 1) - ties / (n * (n - 1))) if n > 1 else 0.0
    if var <= 0:  # every observation equal: no evidence of a difference
        return RankTest(u, 0.0, 1.0)
    delta = u - mean
    delta = max(0.0, abs(delta) - 0.5) * (1 if delta >= 0 else -1)
    z = delta / math.sqrt(var)
    return RankTest(u, z, math.erfc(abs(z) / math.sqrt(2)))


@dataclass(frozen=True, slots=True)
class Verdict:
    n: int  # samples per side
    median_a_ns: float
    median_b_ns: float
    test: RankTest
    floor_ns: float

    @property
    def gap_ns(self) -> float:
        return self.median_a_ns - self.median_b_ns

    @property
    def diverges(self) -> bool:
        return self.test.p < ALPHA and abs(self.gap_ns) >= self.floor_ns

    def __str__(self) -> str:
        return (
            f"n={self.n}/side median a={self.median_a_ns / 1000:.1f} µs "
            f"b={self.median_b_ns / 1000:.1f} µs gap={self.gap_ns / 1000:+.1f} µs "
            f"(floor {self.floor_ns / 1000:.1f} µs) z={self.test.z:+.2f} p={self.test.p:.2g}"
        )


def judge(a: Sequence[float], b: Sequence[float]) -> Verdict:
    pooled = statistics.median([*a, *b])
    floor = max(FLOOR_NS, FLOOR_RATIO * pooled)
    return Verdict(len(a), statistics.median(a), statistics.median(b), mann_whitney(a, b), floor)


def compare(
    path_a: Callable[[], object],
    path_b: Callable[[], object],
    *,
    samples: int = 800,
    warmup: int = 100,
    seed: int = 0,
) -> Verdict:
    """Time ``path_a`` and ``path_b`` in a random interleaving (so drift, other processes
    and cache state hit both alike), after ``warmup`` untimed calls of each."""
    for _ in range(warmup):
        path_a()
        path_b()
    order = [True] * samples + [False] * samples
    random.Random(seed).shuffle(order)
    a: list[float] = []
    b: list[float] = []
    clock = time.perf_counter_ns
    for first in order:
        fn = path_a if first else path_b
        t0 = clock()
        fn()
        (a if first else b).append(float(clock() - t0))
    return judge(a, b)


def busy_wait(ns: int) -> None:
    """Burn ``ns`` nanoseconds of wall time on the CPU (work, not a sleep)."""
    end = time.perf_counter_ns() + ns
    while time.perf_counter_ns() < end:
        pass
