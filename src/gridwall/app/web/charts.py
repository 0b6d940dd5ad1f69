"""Monthly usage as an SVG bar chart, laid out on the server (no script, no image fetch).

:func:`usage_chart` turns the gateway's ``[{"month", "kwh"}]`` into bar geometry the
``usage.html`` template draws; the template escapes every text it writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

WIDTH = 640
HEIGHT = 240
LEFT = 56
BOTTOM = 32
TOP = 12


@dataclass(frozen=True, slots=True)
class Bar:
    month: str
    kwh: float
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bars: tuple[Bar, ...]
    top_value: float
    baseline: float
    left: int


def usage_chart(months: Sequence[Mapping[str, Any]]) -> Chart:
    """Bars scaled to the largest month (zero months keep their slot)."""
    values = [(str(m["month"]), float(m["kwh"] or 0)) for m in months]
    top = max((v for _, v in values), default=0.0) or 1.0
    plot_w = WIDTH - LEFT - 8
    plot_h = HEIGHT - BOTTOM - TOP
    slot = plot_w / max(len(values), 1)
    bars = []
    for i, (month, kwh) in enumerate(values):
        h = plot_h * max(kwh, 0.0) / top
        bars.append(
            Bar(
                month=month,
                kwh=kwh,
                x=round(LEFT + i * slot + slot * 0.15, 2),
                y=round(TOP + plot_h - h, 2),
                width=round(slot * 0.7, 2),
                height=round(h, 2),
            )
        )
    return Chart(WIDTH, HEIGHT, tuple(bars), top, TOP + plot_h, LEFT)


# -- the compliance dashboard: counts by category, and counts over time by series --------

#: the colour classes of series (console.css: .s0 … .s5; a seventh series reuses .s0)
SERIES = 6


@dataclass(frozen=True, slots=True)
class HBar:
    label: str
    value: int
    y: float
    width: float


@dataclass(frozen=True, slots=True)
class HChart:
    width: int
    height: int
    left: int
    bar_height: float
    bars: tuple[HBar, ...]
    top_value: int


def count_chart(counts: Sequence[tuple[str, int]], *, width: int = 640, left: int = 220) -> HChart:
    """Horizontal bars, one per category, scaled to the largest count (in the given order)."""
    row = 22.0
    top = max((v for _, v in counts), default=0) or 1
    plot = width - left - 56
    bars = tuple(
        HBar(label, value, round(TOP + i * row, 2), round(plot * max(value, 0) / top, 2))
        for i, (label, value) in enumerate(counts)
    )
    return HChart(width, int(TOP * 2 + row * max(len(bars), 1)), left, row * 0.7, bars, top)


@dataclass(frozen=True, slots=True)
class Segment:
    series: str
    index: int  # the series' colour class (``s<index % SERIES>``)
    value: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class TimeChart:
    width: int
    height: int
    left: int
    baseline: float
    periods: tuple[tuple[str, float], ...]  # label, x of its centre
    segments: tuple[Segment, ...]
    series: tuple[str, ...]
    top_value: int


def stacked_chart(counts: Mapping[str, Mapping[str, int]], periods: Sequence[str]) -> TimeChart:
    """Columns per period (e.g. a JST day), stacked by series (e.g. incident type); the
    column heights are scaled to the largest period total."""
    series = tuple(sorted({s for per in counts.values() for s in per}))
    totals = [sum(counts.get(p, {}).values()) for p in periods]
    top = max(totals, default=0) or 1
    plot_w = WIDTH - LEFT - 8
    plot_h = HEIGHT - BOTTOM - TOP
    slot = plot_w / max(len(periods), 1)
    segments: list[Segment] = []
    labels: list[tuple[str, float]] = []
    for i, p in enumerate(periods):
        x = LEFT + i * slot + slot * 0.15
        labels.append((p, round(x + slot * 0.35, 2)))
        y: float = TOP + plot_h
        for k, s in enumerate(series):
            v = counts.get(p, {}).get(s, 0)
            if v <= 0:
                continue
            h = plot_h * v / top
            y -= h
            segments.append(Segment(s, k, v, round(x, 2), round(y, 2), round(slot * 0.7, 2),
                                    round(h, 2)))  # fmt: skip
    return TimeChart(WIDTH, HEIGHT, LEFT, TOP + plot_h, tuple(labels), tuple(segments),
                     series, top)  # fmt: skip
