"""What keeping the lookup index current costs: a load's incremental refresh vs a full build.

    nice -n 10 uv run python bench/lookup/refresh.py --points 100000 [--db URL]

Writes ``--points`` supply points (``points.py``) as a dataset folder, then through
:func:`gridwall.app.wiring.load_and_index` — the ``gridwall load`` path — measures:

1. the first load (the index is missing: built inside the load's transaction);
2. an unchanged reload (no point changed: the refresh writes nothing);
3. reloads with 1 (three times), 100 and 1 000 points moved to another 番地 (refreshed in
   place);
4. a full build of the same index alone (``gridwall lookup index`` path), for comparison.

Each reload re-reads and upserts the whole folder; the refresh's own time is reported
separately (``SyncReport.refresh.seconds``).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from points import generate_points

from gridwall import dataset
from gridwall.app.wiring import load_and_index
from gridwall.gateway import lookup_feed
from gridwall.lookup import build_index
from gridwall.store import make_engine, upgrade


def write(directory: Path, rows: list[dict[str, Any]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    with dataset.CsvTableWriter(directory, dataset.SUPPLY_POINTS) as w:
        for r in rows:
            w.write(r)
    return directory


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--db", default=None, help="SQLAlchemy URL (default: a temporary SQLite)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gw-refresh-"))
    url = args.db or f"sqlite:///{tmp / 'gridwall.db'}"
    upgrade(url)
    engine = make_engine(url)
    rows = list(generate_points(args.points, seed=3))
    out: dict[str, Any] = {"points": args.points, "db": engine.dialect.name}

    def timed(label: str, directory: Path) -> None:
        t0 = time.perf_counter()
        report, sync = load_and_index(directory, engine, progress=False)
        total = time.perf_counter() - t0
        r = sync.refresh
        out[label] = {
            "load_s": round(total, 3),
            "mode": sync.mode,
            "changed_points": report.changed_points,
            "index_s": round(r.seconds if r else sync.build.seconds if sync.build else 0, 4),
            "written": (r.inserted + r.updated + r.removed) if r else None,
        }
        print(label, out[label], file=sys.stderr)

    timed("first_load_build", write(tmp / "base", rows))
    timed("unchanged_reload", tmp / "base")
    rng = random.Random(5)
    for n, k in enumerate((1, 1, 1, 100, 1000)):  # the 1-point change three times (noise)
        for i in rng.sample(range(len(rows)), k):
            rows[i] = {**rows[i], "banchi": f"{rng.randint(3001, 9999)}"}
        timed(f"reload_{k}_changed_{n}", write(tmp / f"v{n}", rows))
    t0 = time.perf_counter()
    rep = build_index(engine, lookup_feed(engine))
    out["full_build_alone_s"] = round(time.perf_counter() - t0, 3)
    out["full_build_points"] = rep.points
    engine.dispose()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
