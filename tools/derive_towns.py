"""Derive the packaged town dictionary from shared/data/towns/towns.csv.

Run once by a developer (never at run time):

    uv run python tools/derive_towns.py ../shared/data/towns/towns.csv

Writes ``src/gridwall/data/towns.tsv.gz``: pref, city, town, koaza, lat, lng,
sorted, deduplicated, gzip-compressed (mtime 0, so the output is reproducible).
Source: 「Geolonia 住所データ (CC BY 4.0)」, 国土交通省 位置参照情報.
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "gridwall" / "data" / "towns.tsv.gz"


def main(src: str) -> None:
    rows = set()
    with open(src, newline="", encoding="utf-8") as f:
        r = csv.DictReader(f)
        for row in r:
            rows.add((row["pref"], row["city"], row["town"], row["koaza"], row["lat"], row["lng"]))
    buf = io.StringIO()
    buf.write("pref\tcity\ttown\tkoaza\tlat\tlng\n")
    for row in sorted(rows):
        buf.write("\t".join(row) + "\n")
    with (
        open(OUT, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as gz,
    ):
        gz.write(buf.getvalue().encode("utf-8"))
    print(f"wrote {len(rows)} towns to {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv[1])
