"""Exports and archives: a range of entries with a signed checkpoint and a range proof.

An export of entries ``from … to-1`` carries:

* the signed checkpoint (tree size ``S ≥ to``) as its C2SP signed note;
* every entry's canonical bytes (as text) and the stored tree's leaf hash;
* the *boundary*: the hashes of the perfect subtrees of MTH(D[0:S]) that lie outside
  the range (≈ 2 log S of them). With the range's leaves they reproduce the signed
  root: one proof of inclusion for the whole range.

JSON Lines: the first line is ``{"header": {...}}``, then one
``{"index": i, "entry": "<canonical JSON>", "leaf_hash": "<base64>"}`` per entry.
Parquet: columns ``index``, ``entry``, ``leaf_hash``; the header is the schema
metadata key ``gridwall_audit_export``. Verify with :mod:`gridwall.audit.standalone`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gridwall.audit import merkle
from gridwall.audit._db import Conn
from gridwall.audit._log import node_source
from gridwall.audit._tree import TILE_WIDTH, H, boundary_nodes
from gridwall.errors import UsageError

FORMAT = "gridwall-audit-export/1"
PARQUET_KEY = b"gridwall_audit_export"


def build_header(
    c: Conn, lo: int, hi: int, accept: Callable[[str], bool] | None = None
) -> dict[str, Any]:
    """The export header: checkpoint covering ``hi`` and the range's boundary hashes.

    The newest stored checkpoint covering ``hi``; with ``accept`` the newest whose signed
    note it accepts (e.g. one cosigned by the required witnesses).
    """
    n = c.size()
    if not 0 <= lo <= hi <= n:
        raise UsageError(f"--from/--to: need 0 <= from <= to <= {n} (the log size), got {lo}, {hi}")
    if accept is None:
        row = c.one(
            "SELECT id, size, note FROM audit_checkpoint WHERE size >= ? ORDER BY id DESC LIMIT 1",
            (hi,),
        )
    else:
        rows = c.all(
            "SELECT id, size, note FROM audit_checkpoint WHERE size >= ? ORDER BY id DESC", (hi,)
        )
        row = next((r for r in rows if accept(str(r[2]))), None)
        if row is None:
            raise UsageError(
                f"--to {hi}: no checkpoint covering entry {hi - 1} carries the cosignatures "
                "of the witnesses required; run `gridwall audit checkpoint --witness …` first"
            )
    if row is None:
        raise UsageError(
            f"--to {hi}: no signed checkpoint covers entry {hi - 1} yet; "
            "run `gridwall audit checkpoint` first"
        )
    size = int(row[1])
    src = node_source(c)
    boundary = [
        {"level": lvl, "index": j, "hash": base64.b64encode(src.node(lvl, j)).decode()}
        for lvl, j in boundary_nodes(lo, hi, size)
    ]
    return {
        "format": FORMAT,
        "from": lo,
        "to": hi,
        "tree_size": size,
        "checkpoint": str(row[2]),
        "boundary": boundary,
    }


def _rows(c: Conn, lo: int, hi: int, step: int = 50000) -> Any:
    for a in range(lo, hi, step):
        b = min(hi, a + step)
        got = c.entries(a, b)
        if [i for i, _ in got] != list(range(a, b)):
            have = {i for i, _ in got}
            miss = next(i for i in range(a, b) if i not in have)
            raise UsageError(f"entry {miss} is not in the database (archived or deleted)")
        # the stored tree's leaf hashes (not recomputed): they let a verifier name the
        # first entry whose bytes do not match the tree
        tiles = c.tiles(0, a // TILE_WIDTH, -(-b // TILE_WIDTH))
        for i, e in got:
            k, off = divmod(i, TILE_WIDTH)
            blob = tiles.get(k)
            yield i, e, blob[off * H : (off + 1) * H] if blob else merkle.leaf_hash(e)


def export(
    url: str,
    lo: int,
    hi: int,
    out: Path,
    fmt: str = "jsonl",
    accept: Callable[[str], bool] | None = None,
) -> dict[str, Any]:
    """Write entries lo … hi-1 with the checkpoint and range proof to ``out``; return the header.

    ``accept`` chooses among the covering checkpoints (see :func:`build_header`)."""
    if fmt not in ("jsonl", "parquet"):
        raise UsageError(f"--format: expected jsonl or parquet, got {fmt!r}")
    c = Conn(url)
    try:
        header = build_header(c, lo, hi, accept)
        tmp = out.with_name(out.name + ".partial")
        if fmt == "jsonl":
            with tmp.open("w", encoding="utf-8") as f:
                f.write(json.dumps({"header": header}, ensure_ascii=False) + "\n")
                for i, e, h in _rows(c, lo, hi):
                    f.write(
                        json.dumps(
                            {
                                "index": i,
                                "entry": e.decode("utf-8"),
                                "leaf_hash": base64.b64encode(h).decode(),
                            },
                            ensure_ascii=False,
                        )
                        + "\n"
                    )
                f.flush()
                os.fsync(f.fileno())
        else:
            _write_parquet(c, lo, hi, header, tmp)
        tmp.replace(out)
        return header
    finally:
        c.close()


def _write_parquet(c: Conn, lo: int, hi: int, header: dict[str, Any], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [("index", pa.int64()), ("entry", pa.string()), ("leaf_hash", pa.binary(32))],
        metadata={PARQUET_KEY: json.dumps(header, ensure_ascii=False).encode()},
    )
    with pq.ParquetWriter(str(path), schema) as w:
        idx: list[int] = []
        ent: list[str] = []
        lh: list[bytes] = []
        for i, e, h in _rows(c, lo, hi):
            idx.append(i)
            ent.append(e.decode("utf-8"))
            lh.append(h)
            if len(idx) >= 100000:
                w.write_table(pa.table([idx, ent, lh], schema=schema))
                idx, ent, lh = [], [], []
        if idx or lo == hi:
            w.write_table(pa.table([idx, ent, lh], schema=schema))


def archive(
    url: str, hi: int, out: Path, *, now: float, fmt: str = "jsonl"
) -> tuple[int, int, str]:
    """Move the sealed entries from the last archive's end up to ``hi`` into an archive file.

    Only entries older than the retention period, covered by a signed checkpoint, in
    whole tiles (``hi`` a multiple of 16). The file is an export (entries, checkpoint,
    range proof), so it stays verifiable on its own; the tree keeps their hashes, so
    proofs and consistency of the log are unchanged. Returns (from, to, SHA-256 of file).
    """
    from gridwall.audit._log import MIN_RETENTION_YEARS, YEAR_S

    c = Conn(url)
    try:
        r = c.one("SELECT max(end_idx) FROM audit_archive")
        lo = int(r[0]) if r is not None and r[0] is not None else 0
        if hi <= lo or hi % TILE_WIDTH:
            raise UsageError(
                f"--to {hi}: must be above {lo} (the end of the last archive) and a multiple "
                f"of {TILE_WIDTH}"
            )
        cp = c.one("SELECT max(size) FROM audit_checkpoint")
        if cp is None or cp[0] is None or int(cp[0]) < hi:
            raise UsageError(f"--to {hi}: no signed checkpoint covers it; run audit checkpoint")
        yr = c.one("SELECT max(retention_years) FROM audit_setting")
        years = int(yr[0]) if yr is not None and yr[0] is not None else MIN_RETENTION_YEARS
        newest = c.one(
            "SELECT max(recorded_at) FROM audit_entry WHERE idx >= ? AND idx < ?", (lo, hi)
        )
        cutoff = now - years * YEAR_S
        if newest is None or newest[0] is None:
            raise UsageError(f"entries {lo}..{hi - 1} are not in the database")
        if int(newest[0]) > cutoff:
            raise UsageError(
                f"--to {hi}: entries up to {hi - 1} include some inside the retention period "
                f"({years} years); only older entries can be archived"
            )
        export(url, lo, hi, out, fmt)
        digest = hashlib.sha256(out.read_bytes()).hexdigest()
        c.begin_write()
        try:
            c.execute(
                "INSERT INTO audit_archive (start_idx, end_idx, file_name, sha256, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (lo, hi, out.name, digest, int(now)),
            )
            c.execute("DELETE FROM audit_entry WHERE idx >= ? AND idx < ?", (lo, hi))
            c.commit()
        except BaseException:
            c.rollback()
            raise
        return lo, hi, digest
    finally:
        c.close()
