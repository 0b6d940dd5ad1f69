"""Synthetic supply points in the operator's format, drawn from the real town dictionary.

Used by the latency benchmark (1 M – 10 M points, generated directly: no dataset files) and the
quality benchmark. Addresses look like the operator keeps them: ``town`` as in the dictionary
(大字 and 丁目 included), ``banchi`` like ``12-3`` or ``482``, and buildings with rooms whose
names contain numerals (第2〇〇ビル, メゾン21 …).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from gridwall.data import SERVICE_AREAS, iter_towns

_AREA = {p: code for code, (_, prefs) in SERVICE_AREAS.items() for p in prefs}
BUILDINGS = (
    "第{n}〇〇ビル", "コーポ{k}", "メゾン{n}", "ハイツ{k}号館", "グランド{n}タワー",
    "サンシャイン{n}", "レジデンス第{k}", "プレサンス{n}", "ﾊｲﾂ{n}", "シティハウス{k}",
)  # fmt: skip
_K = "一二三四五六七八九"


def towns() -> list[tuple[str, str, str]]:
    """Distinct (pref, city, town) of the dictionary, in its order."""
    seen: dict[tuple[str, str, str], None] = {}
    for t in iter_towns():
        seen.setdefault((t.pref, t.city, t.town), None)
    return list(seen)


def generate_points(
    n: int,
    seed: int = 1,
    *,
    unique: bool = False,
    town_list: list[tuple[str, str, str]] | None = None,
) -> Iterator[dict[str, Any]]:
    """``n`` supply points; about 30 % are rooms of apartment buildings (4–24 rooms each)."""
    rng = random.Random(seed)
    tl = town_list or towns()
    seen: set[tuple[str, ...]] = set()
    i = 0
    while i < n:
        pref, city, town = tl[rng.randrange(len(tl))]
        if town.endswith("丁目"):
            banchi = f"{rng.randint(1, 40)}-{rng.randint(1, 30)}"
        elif rng.random() < 0.6:
            banchi = f"{rng.randint(1, 2500)}-{rng.randint(1, 20)}"
        else:
            banchi = str(rng.randint(1, 3000))
        if rng.random() < 0.03:
            building = rng.choice(BUILDINGS).format(n=rng.randint(1, 30), k=rng.choice(_K))
            rooms = [f"{f}{r:02d}" for f in range(1, rng.randint(2, 7)) for r in range(1, 5)]
        else:
            building, rooms = "", [""]
        for room in rooms:
            if i >= n:
                break
            key = (pref, city, town, banchi, building, room)
            if unique:
                if key in seen:
                    continue
                seen.add(key)
            i += 1
            yield {
                "supply_point_id": f"{_AREA.get(pref, '03')}{i:020d}",
                "pref": pref,
                "city": city,
                "town": town,
                "banchi": banchi,
                "building": building or None,
                "room": room or None,
                "voltage": "low" if rng.random() < 0.97 else "high",
                "meter_id": f"M{rng.randrange(10**10):010d}",
                "status": "active" if rng.random() < 0.9 else "vacant",
            }
