"""Standalone verifier of an audit export (監査ログの独立検証), for the regulator.

Needs only the export file and the operator's published public key — no database,
no gridwall store, only the Python standard library and ``cryptography`` (plus
``pyarrow`` for Parquet exports)::

    python -m gridwall.audit.standalone EXPORT.jsonl --public-key KEY.vkey \\
        [--witness-key WITNESS.vkey … [--witness-quorum N]]
    python -m gridwall.audit.standalone report-check EXPORT.jsonl REPORT.json KEY.vkey
    python -m gridwall.audit.standalone statement-check STATEMENT.json KEY.vkey

Checks, in order:

1. the checkpoint note is signed by the given key (C2SP signed note, Ed25519);
2. the entries are exactly ``from … to-1``, in order, each once; each entry's
   ``seq`` equals its index;
3. the range's leaf hashes with the boundary hashes reproduce the signed root
   (RFC 9162: the range is in the signed tree), and every entry's bytes hash to
   its leaf. The first bad entry index is named;
4. with ``--witness-key``: the checkpoint carries valid cosignatures (C2SP
   tlog-cosignature) of at least ``--witness-quorum`` of those witnesses (default: all).

Exit status: 0 verified, 1 verification failed, 2 unreadable input.

``statement-check`` is for a retailer holding its transparency statement (no export): the
embedded checkpoint must be signed by the key and match the statement's ``tree_size`` and
``root_hash``; then every row's leaf hash must be in that signed tree at the row's index —
by the row's own RFC 9162 inclusion proof (``--proofs full``), or by the statement's one
compact ``multiproof`` over all rows (``--proofs compact``:
:func:`gridwall.audit.multiproof.verify_multiproof`; a wrong, truncated or padded
multiproof fails). The first bad row is named.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridwall.audit import cosignature, merkle, multiproof, note
from gridwall.audit._tree import boundary_nodes, range_root

FORMAT = "gridwall-audit-export/1"


class ExportError(ValueError):
    """The export cannot be read at all."""


@dataclass
class ExportReport:
    """The verdict; ``first_bad`` is the first bad entry index when one can be named."""

    ok: bool = True
    origin: str = ""
    tree_size: int = 0
    lo: int = 0
    hi: int = 0
    first_bad: int | None = None
    problems: list[str] = field(default_factory=list)
    #: names of the witnesses whose cosignatures were checked (``--witness-key``)
    witnessed_by: list[str] = field(default_factory=list)
    #: the export's signed checkpoint note, once its log signature verified
    checkpoint_note: str = ""

    def fail(self, msg: str, index: int | None = None) -> None:
        self.ok = False
        self.problems.append(msg)
        if index is not None and (self.first_bad is None or index < self.first_bad):
            self.first_bad = index


def _b64(s: Any, what: str) -> bytes:
    try:
        return base64.b64decode(str(s), validate=True)
    except (binascii.Error, ValueError) as e:
        raise ExportError(f"{what}: not base64") from e


Row = tuple[Any, str, bytes | None]


def read_export(path: Path, leaf_hashes: bool = True) -> tuple[dict[str, Any], Iterator[Row]]:
    """Header and a stream of rows ``(index, entry text, leaf hash or None)``.

    Rows are streamed (JSON Lines line by line, Parquet batch by batch), so an export of
    any size is verified holding only 64 bytes per entry (none, for a whole tree).
    Without ``leaf_hashes`` the exported leaf hashes are not decoded (always ``None``).
    """
    with path.open("rb") as fb:
        magic = fb.read(4)
    if magic == b"PAR1":
        import pyarrow.parquet as pq  # only for Parquet exports

        pf = pq.ParquetFile(str(path))
        meta = pf.schema_arrow.metadata or {}
        raw = meta.get(b"gridwall_audit_export")
        if raw is None:
            raise ExportError(f"{path}: not a gridwall audit export (no header metadata)")

        def parquet_rows() -> Iterator[Row]:
            for batch in pf.iter_batches(columns=["index", "entry", "leaf_hash"]):
                cols = batch.to_pydict()
                for i, e, h in zip(cols["index"], cols["entry"], cols["leaf_hash"], strict=True):
                    yield i, e, bytes(h) if h is not None else None

        return json.loads(raw), parquet_rows()
    f = path.open(encoding="utf-8")
    first = f.readline()
    try:
        obj = json.loads(first)
    except ValueError as e:
        f.close()
        raise ExportError(f"{path}:1: not JSON ({e})") from e
    if not isinstance(obj, dict) or not isinstance(obj.get("header"), dict):
        f.close()
        raise ExportError(f"{path}:1: the first line must be the export header")

    def jsonl_rows() -> Iterator[Row]:
        with f:
            for lineno, line in enumerate(f, 2):
                try:
                    row = json.loads(line)
                except ValueError as e:
                    raise ExportError(f"{path}:{lineno}: not JSON ({e})") from e
                if not isinstance(row, dict) or not isinstance(row.get("entry"), str):
                    raise ExportError(f"{path}:{lineno} [entry]: missing or not text")
                lh = row.get("leaf_hash") if leaf_hashes else None
                yield (
                    row.get("index"),
                    row["entry"],
                    _b64(lh, f"{path}:{lineno} [leaf_hash]") if lh is not None else None,
                )

    return obj["header"], jsonl_rows()


class StreamRoot:
    """RFC 9162 MTH of a growing list of leaves in O(log n) memory (the right edge)."""

    def __init__(self) -> None:
        self.edge: list[tuple[int, bytes]] = []  # (number of leaves, subtree hash)
        self.n = 0

    def add(self, leaf: bytes) -> None:
        self.n += 1
        size, h = 1, leaf
        edge = self.edge
        while edge and edge[-1][0] == size:
            h = hashlib.sha256(b"\x01" + edge.pop()[1] + h).digest()
            size *= 2
        edge.append((size, h))

    def root(self) -> bytes:
        if not self.edge:
            return hashlib.sha256(b"").digest()
        h = self.edge[-1][1]
        for _, left in reversed(self.edge[:-1]):
            h = hashlib.sha256(b"\x01" + left + h).digest()
        return h


#: called with each row's (claimed index, entry text, parsed entry or None), every row
EntryHook = Callable[[Any, str, Any], None]


def verify_export(
    path: Path, verifiers: list[note.Verifier], on_entry: EntryHook | None = None
) -> ExportReport:
    """Verify an export against trusted public keys (see the module doc).

    ``on_entry`` sees every row of the file in order — also those after the first bad
    one — with the entry already parsed, so a caller recomputing figures reads the
    export once. An export of a whole tree (entries ``0 … tree_size-1``) is hashed as it
    streams (O(log n) memory); the file is read a second time only to locate a bad entry.
    """
    rep = ExportReport()
    header, rows = read_export(path, leaf_hashes=False)
    if header.get("format") != FORMAT:
        raise ExportError(f"{path}: unknown export format {header.get('format')!r}")
    try:
        cp = note.open_checkpoint(str(header.get("checkpoint", "")), verifiers)
    except note.NoteError as e:
        rep.fail(f"checkpoint: {e}")
        return rep
    rep.origin, rep.tree_size = cp.origin, cp.size
    rep.checkpoint_note = cp.note
    lo, hi, size = header.get("from"), header.get("to"), header.get("tree_size")
    if not all(isinstance(x, int) for x in (lo, hi, size)):
        raise ExportError(f"{path}: header from/to/tree_size must be integers")
    assert isinstance(lo, int) and isinstance(hi, int)
    rep.lo, rep.hi = lo, hi
    if size != cp.size:
        rep.fail(f"header tree_size {size} differs from the signed checkpoint's {cp.size}")
        return rep
    if not 0 <= lo <= hi <= cp.size:
        rep.fail(f"range {lo}..{hi - 1} is not inside the signed tree of {cp.size}")
        return rep
    given: dict[tuple[int, int], bytes] = {}
    for b in header.get("boundary", []):
        h = _b64(b.get("hash"), "boundary hash")
        given[(int(b["level"]), int(b["index"]))] = h
    need = boundary_nodes(lo, hi, cp.size)
    if set(need) - set(given) or any(len(h) != 32 for h in given.values()):
        rep.fail("the boundary hashes (range proof) are incomplete or malformed")
        return rep
    # 2. order and completeness
    sha = hashlib.sha256
    whole = lo == 0 and hi == cp.size and not need
    stream = StreamRoot()
    leaves: list[bytes] = []
    count = 0
    loads = json.loads
    for pos, (idx, text, _) in enumerate(rows):
        try:
            obj = loads(text)
        except ValueError:
            obj = None
        if on_entry is not None:
            on_entry(idx, text, obj)
            if not rep.ok:
                continue  # the hook still sees the rest of the file
        count = pos + 1
        want = lo + pos
        if idx != want:
            if idx is None or not isinstance(idx, int):
                rep.fail(f"entry {want}: no index", want)
            elif idx > want:
                rep.fail(f"entry {want} is missing (next row is {idx})", want)
            else:
                rep.fail(f"entry {want}: row carries index {idx} (inserted or reordered)", want)
            if on_entry is None:
                break
            continue
        seq = obj.get("seq") if isinstance(obj, dict) else None
        if seq != want:
            rep.fail(f"entry {want}: its seq is {seq!r} (inserted, deleted or reordered)", want)
            if on_entry is None:
                break
            continue
        leaf = sha(b"\x00" + text.encode("utf-8")).digest()
        if whole:
            stream.add(leaf)
        else:
            leaves.append(leaf)
    if rep.ok and count != hi - lo:
        more = count > hi - lo
        rep.fail(
            f"entry {hi if more else lo + count}: "
            + ("extra entries after the range" if more else "missing (the export is truncated)"),
            hi if more else lo + count,
        )
    if not rep.ok:
        return rep
    # 3. the signed root
    if (stream.root() if whole else range_root(cp.size, lo, leaves, given)) == cp.root:
        return rep
    # Locate: if the exported leaf hashes reproduce the signed root they are authentic,
    # and the first entry whose bytes do not hash to its leaf is the bad one.
    _, again = read_export(path)
    stored: list[bytes | None] = []
    for _, t, lh in again:
        stored.append(lh)
        if whole:
            leaves.append(sha(b"\x00" + t.encode("utf-8")).digest())
    if all(h is not None and len(h) == 32 for h in stored):
        tree_leaves = [h for h in stored if h is not None]
        if range_root(cp.size, lo, tree_leaves, given) == cp.root:
            for pos, (a, b) in enumerate(zip(leaves, tree_leaves, strict=True)):
                if a != b:
                    rep.fail(
                        f"entry {lo + pos} was modified (its hash is not the signed leaf)", lo + pos
                    )
                    return rep
    rep.fail(
        "the entries do not reproduce the signed root (an entry was modified; the export's "
        "leaf hashes cannot locate it)",
        lo,
    )
    return rep


def check_witnessed(
    rep: ExportReport,
    witnesses: list[cosignature.CosignerVerifier],
    quorum: int | None = None,
) -> ExportReport:
    """Step 4: the export's checkpoint must carry a quorum of the witnesses' cosignatures."""
    if not rep.ok:
        return rep
    try:
        got = cosignature.require_quorum(rep.checkpoint_note, witnesses, quorum)
    except note.NoteError as e:
        rep.fail(f"checkpoint: {e}")
        return rep
    rep.witnessed_by = [c.witness.name for c in got]
    return rep


def _load_witness_keys(values: list[str]) -> list[cosignature.CosignerVerifier]:
    """Witness verifier keys given as text or as files holding them (one per line)."""
    out = []
    for v in values:
        p = Path(v)
        try:
            is_file = p.is_file()
        except OSError:
            is_file = False
        text = p.read_text(encoding="utf-8") if is_file else v
        out += [cosignature.CosignerVerifier.parse(ln) for ln in text.splitlines() if ln.strip()]
    return out


def _load_keys(values: list[str]) -> list[note.Verifier]:
    out = []
    for v in values:
        p = Path(v)
        try:
            is_file = p.is_file()
        except OSError:  # e.g. a key text too long to be a file name
            is_file = False
        text = p.read_text(encoding="utf-8") if is_file else v
        for line in text.splitlines():
            if line.strip():
                out.append(note.Verifier.parse(line))
    return out


STATEMENT_FORMAT = "gridwall-retailer-statement/1"


def verify_statement(st: Any, verifiers: list[note.Verifier]) -> list[str]:
    """The problems of a retailer statement (see the module doc); empty when it checks."""
    if not isinstance(st, dict) or st.get("format") != STATEMENT_FORMAT:
        fmt = st.get("format") if isinstance(st, dict) else type(st).__name__
        return [f"format: not a retailer statement ({fmt!r})"]
    try:
        cp = note.open_checkpoint(str(st.get("checkpoint", "")), verifiers)
    except note.NoteError as e:
        return [f"checkpoint: {e}"]
    problems: list[str] = []
    if st.get("tree_size") != cp.size:
        problems.append(f"tree_size {st.get('tree_size')!r} is not the checkpoint's {cp.size}")
    try:
        root = base64.b64decode(str(st.get("root_hash")), validate=True)
    except (binascii.Error, ValueError):
        root = b""
    if root != cp.root:
        problems.append("root_hash is not the signed checkpoint's root")
    rows = st.get("accesses")
    if not isinstance(rows, list):
        return [*problems, "accesses: not a list"]
    if st.get("count") != len(rows):
        problems.append(f"count {st.get('count')!r} differs from the {len(rows)} rows")
    leaves: list[tuple[int, bytes]] = []
    for pos, row in enumerate(rows):
        idx = row.get("index") if isinstance(row, dict) else None
        try:
            leaf = base64.b64decode(str(row.get("leaf_hash")), validate=True)
        except (binascii.Error, ValueError, AttributeError):
            leaf = b""
        if isinstance(idx, bool) or not isinstance(idx, int) or len(leaf) != merkle.HASH_SIZE:
            problems.append(f"row {pos}: no valid index and leaf hash")
            continue
        leaves.append((idx, leaf))
    if problems:
        return problems
    compact = st.get("multiproof")
    if compact is None:
        for pos, (idx, leaf) in enumerate(leaves):
            try:
                proof = [
                    base64.b64decode(str(h), validate=True) for h in rows[pos]["inclusion_proof"]
                ]
            except (binascii.Error, ValueError, KeyError, TypeError):
                proof = []
                problems.append(f"row {pos} (index {idx}): unreadable inclusion proof")
                continue
            if not merkle.verify_inclusion(leaf, idx, cp.size, proof, cp.root):
                problems.append(f"row {pos} (index {idx}): not in the signed log")
        return problems
    if not isinstance(compact, dict) or compact.get("form") != multiproof.MULTIPROOF_FORMAT:
        return ["multiproof: unknown form"]
    try:
        hashes = [base64.b64decode(str(h), validate=True) for h in compact.get("hashes", [])]
    except (binascii.Error, ValueError, TypeError):
        return ["multiproof: unreadable hashes"]
    if not leaves:
        return [] if not hashes else ["multiproof: hashes given for no rows"]
    ok, why = multiproof.verify_multiproof(cp.size, leaves, hashes, cp.root)
    return [] if ok else [f"multiproof: {why}"]


def statement_check(argv: list[str]) -> int:
    """``statement-check STATEMENT.json PUBLIC_KEY``: exit 0 verified, 1 failed, 2 unreadable."""
    ap = argparse.ArgumentParser(
        prog="python -m gridwall.audit.standalone statement-check",
        description="Check a retailer statement's rows against its signed checkpoint.",
    )
    ap.add_argument("statement", type=Path, help="the statement JSON file")
    ap.add_argument("public_key", help="the operator's verifier key text or a file holding it")
    a = ap.parse_args(argv)
    try:
        keys = _load_keys([a.public_key])
        st = json.loads(a.statement.read_text(encoding="utf-8"))
    except (note.NoteError, OSError, ValueError) as e:
        print(f"error: {a.statement}: {e}", file=sys.stderr)
        return 2
    problems = verify_statement(st, keys)
    if problems:
        print(f"FAILED: {a.statement}")
        for p in problems:
            print(f"  {p}")
        return 1
    form = "one multiproof" if "multiproof" in st else "one inclusion proof each"
    print(
        f"OK: all {len(st['accesses'])} rows are in the signed log at size {st['tree_size']} "
        f"({form})"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m gridwall.audit.standalone EXPORT --public-key VKEY``, or
    ``… report-check EXPORT REPORT.json VKEY`` (:mod:`gridwall.audit._report_check`)."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["statement-check"]:
        return statement_check(args[1:])
    if args[:1] == ["report-check"]:
        from gridwall.audit._report_check import main as report_check

        return report_check(args[1:])
    ap = argparse.ArgumentParser(
        prog="python -m gridwall.audit.standalone",
        description="Verify a gridwall audit export with only the export and a public key.",
    )
    ap.add_argument("export", type=Path, help="the export file (JSON Lines or Parquet)")
    ap.add_argument(
        "--public-key",
        action="append",
        required=True,
        help="verifier key text or a file holding it (repeatable)",
    )
    ap.add_argument(
        "--witness-key",
        action="append",
        default=[],
        help="witness verifier key (cosignature/v1) text or file; repeatable: the checkpoint "
        "must carry their cosignatures",
    )
    ap.add_argument(
        "--witness-quorum",
        type=int,
        default=None,
        help="how many of the --witness-key witnesses must have cosigned (default: all)",
    )
    a = ap.parse_args(argv)
    try:
        keys = _load_keys(a.public_key)
        wkeys = _load_witness_keys(a.witness_key)
        distinct = len({w.public_key for w in wkeys})
        if a.witness_quorum is not None and not 1 <= a.witness_quorum <= distinct:
            raise ExportError(f"--witness-quorum: must be between 1 and {distinct} (--witness-key)")
        rep = verify_export(a.export, keys)
        if wkeys:
            rep = check_witnessed(rep, wkeys, a.witness_quorum)
    except (ExportError, note.NoteError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return report(rep)


def report(rep: ExportReport) -> int:
    """Print the verdict; return the exit status."""
    if rep.ok:
        print(
            f"OK: entries {rep.lo}..{rep.hi - 1} are in the log {rep.origin!r} "
            f"signed at size {rep.tree_size}"
            + (f", cosigned by {', '.join(rep.witnessed_by)}" if rep.witnessed_by else "")
        )
        return 0
    if rep.first_bad is not None:
        print(f"FAILED: first bad entry index {rep.first_bad}")
    for p in rep.problems:
        print(f"  {p}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
