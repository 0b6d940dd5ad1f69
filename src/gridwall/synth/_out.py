"""Streaming table writers for the dataset layout: CSV (as :class:`CsvTableWriter`
writes it), Parquet, or JSON Lines, fed with rows already in column order.

:class:`gridwall.dataset.CsvTableWriter` formats each cell through a dict per
row, which costs ~3× more than handing :mod:`csv` ready lists; at 10 M points
and 140 M usage rows that matters, so the big tables use :class:`TableOut`,
which writes the same bytes (same dialect, header from the same
:class:`~gridwall.dataset.Table` spec).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from gridwall.dataset import Column, Table

USAGE = Table(
    "usage",
    (
        Column("supply_point_id", required=True),
        Column("month", required=True),  # YYYY-MM
        Column("kwh", "float", required=True),
    ),
)


class TableOut:
    """Append rows (sequences in column order) to ``<table>.csv`` or ``<table>.parquet``."""

    BATCH = 65536

    def __init__(
        self, directory: Path, table: Table, fmt: str = "csv", extra: tuple[str, ...] = ()
    ) -> None:
        self.table = table
        self.fmt = fmt
        self.columns = table.column_names + list(extra)
        by_name = {c.name: c for c in table.columns}
        self._types = [by_name[n].type if n in by_name else "str" for n in self.columns]
        self._list_idx = [k for k, t in enumerate(self._types) if t == "list"]
        self.rows = 0
        self.path = directory / f"{table.name}.{fmt}"
        if fmt == "csv":
            self._f = self.path.open("w", newline="", encoding="utf-8")
            self._w = csv.writer(self._f, lineterminator="\n")
            self._w.writerow(self.columns)
        elif fmt == "jsonl":
            self._f = self.path.open("w", encoding="utf-8")
        elif fmt == "parquet":
            import pyarrow as pa

            def pa_type(t: str) -> Any:
                return {
                    "int": pa.int64(),
                    "float": pa.float64(),
                    "list": pa.list_(pa.string()),
                }.get(t, pa.string())

            self._schema = pa.schema(
                [(n, pa_type(t)) for n, t in zip(self.columns, self._types, strict=True)]
            )
            self._buf: list[Sequence[Any]] = []
            self._pw: Any = None
        else:
            raise ValueError(f"format must be csv, parquet or jsonl, not {fmt!r}")

    def write_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        if self.fmt == "jsonl":
            cols = self.columns
            dumps = json.dumps
            n = 0
            lines = []
            for r in rows:
                lines.append(dumps(dict(zip(cols, r, strict=True)), ensure_ascii=False))
                n += 1
            if lines:
                self._f.write("\n".join(lines) + "\n")
            self.rows += n
        elif self.fmt == "csv":
            li = self._list_idx
            if li:
                out = []
                for r in rows:
                    r2 = list(r)
                    for k in li:
                        v = r2[k]
                        r2[k] = ";".join(v) if v else ""
                    out.append(r2)
                self._w.writerows(out)
                self.rows += len(out)
            else:
                rows = list(rows)
                self._w.writerows(rows)
                self.rows += len(rows)
        else:
            for r in rows:
                self._buf.append(r)
                self.rows += 1
            if len(self._buf) >= self.BATCH:
                self._flush()

    def write(self, row: Sequence[Any]) -> None:
        self.write_rows((row,))

    def _flush(self) -> None:
        if self.fmt != "parquet" or (not self._buf and self._pw is not None):
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        cols = list(zip(*self._buf, strict=True)) if self._buf else [() for _ in self.columns]
        arrays = []
        for k, (c, t) in enumerate(zip(cols, self._types, strict=True)):
            vals = list(c)
            if t not in ("int", "float", "list"):
                vals = [None if v is None or v == "" else str(v) for v in vals]
            elif t == "list":
                vals = [list(v) if v else [] for v in vals]
            arrays.append(pa.array(vals, type=self._schema.field(k).type))
        batch = pa.Table.from_arrays(arrays, schema=self._schema)
        if self._pw is None:
            self._pw = pq.ParquetWriter(self.path, self._schema, compression="zstd")
        self._pw.write_table(batch)
        self._buf = []

    def close(self) -> None:
        if self.fmt in ("csv", "jsonl"):
            self._f.close()
        else:
            self._flush()
            if self._pw is not None:
                self._pw.close()

    def __enter__(self) -> TableOut:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
