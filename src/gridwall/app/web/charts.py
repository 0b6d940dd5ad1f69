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
