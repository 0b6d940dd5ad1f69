"""``report-check``: recompute every figure of a report from an audit export (for the regulator).

    python -m gridwall.audit.standalone report-check EXPORT REPORT.json PUBLIC_KEY

Standard library and ``cryptography`` only, like the rest of the standalone verifier. Checks:

1. the report's embedded checkpoint is signed by the given key, and the report's
   ``tree_size`` / ``root_hash`` are that checkpoint's;
2. the export verifies on its own (:func:`gridwall.audit.standalone.verify_export`);
3. the export's entries are the report's: either the export is signed at the very same
   checkpoint and covers the report's entry range, or it starts at entry 0 and reaches the
   report's tree size, and the first ``tree_size`` entries hash to the report's signed root
   (RFC 9162, recomputed here);
4. every figure's query (:mod:`gridwall.figures`) run over the export's entries in the
   report's range gives exactly the report's answer; each figure that differs is named.

Exit status: 0 every figure recomputed, 1 a check failed (the figures that differ and the
problems are listed), 2 unreadable input.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridwall import figures
from gridwall.audit import note, standalone

REPORT_FORMAT = "gridwall-report/1"


@dataclass
class ReportCheck:
    """The verdict: ``differ`` names the figures whose recomputed answer is not the report's."""

    ok: bool = True
    figures: int = 0
    differ: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def fail(self, msg: str) -> None:
        self.ok = False
        self.problems.append(msg)


def read_report(path: Path) -> dict[str, Any]:
    try:
        rep = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise standalone.ExportError(f"{path}: not JSON ({e})") from e
    if not isinstance(rep, dict) or rep.get("format") != REPORT_FORMAT:
        got = rep.get("format") if isinstance(rep, dict) else None
        raise standalone.ExportError(f"{path} [format]: not a gridwall report ({got!r})")
    figs = rep.get("figures")
    if not isinstance(figs, list) or not all(isinstance(f, dict) for f in figs):
        raise standalone.ExportError(f"{path} [figures]: must be a list of objects")
    for i, f in enumerate(figs):
        if not isinstance(f.get("name"), str):
            raise standalone.ExportError(f"{path} [figures[{i}].name]: missing")
        try:
            figures.check_query(f.get("query"), f"{path} [figures[{i}].query]")
        except figures.QueryError as e:
            raise standalone.ExportError(str(e)) from e
    rng = rep.get("entries")
    if not isinstance(rng, dict) or not all(isinstance(rng.get(k), int) for k in ("from", "to")):
        raise standalone.ExportError(f"{path} [entries]: needs integer from and to")
    return rep


def check_report(
    export_path: Path, report_path: Path, verifiers: list[note.Verifier]
) -> ReportCheck:
    """Recompute every figure of ``report_path`` from ``export_path`` (see the module doc)."""
    out = ReportCheck()
    rep = read_report(report_path)
    out.figures = len(rep["figures"])
    try:
        cp = note.open_checkpoint(str(rep.get("checkpoint", "")), verifiers)
    except note.NoteError as e:
        out.fail(f"report checkpoint: {e}")
        return out
    lo, hi = int(rep["entries"]["from"]), int(rep["entries"]["to"])
    try:
        root_claim = base64.b64decode(str(rep.get("root_hash")), validate=True)
    except (binascii.Error, ValueError):
        root_claim = b""
    if rep.get("tree_size") != cp.size or root_claim != cp.root:
        out.fail("the report's tree_size/root_hash are not those of its signed checkpoint")
    if not 0 <= lo <= hi <= cp.size:
        out.fail(f"the report's entries {lo}..{hi - 1} are not inside its signed tree")
        return out
    # 2-4 in ONE read of the export: it verifies on its own while every row goes to the
    # figures and, when needed, to the root of its first tree_size entries
    header, _ = standalone.read_export(export_path)
    same_cp = False
    try:
        ecp = note.open_checkpoint(str(header.get("checkpoint", "")), verifiers)
        same_cp = (ecp.size, ecp.root) == (cp.size, cp.root)
    except note.NoteError:
        pass
    e_lo, e_hi = header.get("from"), header.get("to")
    if not isinstance(e_lo, int) or not isinstance(e_hi, int):
        raise standalone.ExportError(f"{export_path}: header from/to must be integers")
    cover: list[str] = []
    prefix = not same_cp
    if same_cp and not (e_lo <= lo and hi <= e_hi):
        cover.append(f"the export ({e_lo}..{e_hi - 1}) does not cover the report's entries")
    if prefix and not (e_lo == 0 and e_hi >= cp.size):
        cover.append(
            f"the export ({e_lo}..{e_hi - 1}) is signed at another checkpoint and does not hold "
            f"entries 0..{cp.size - 1}, so it cannot be tied to the report's signed root"
        )
        prefix = False
    specs = rep["figures"]
    figs = figures.Figures({str(s["name"]): s["query"] for s in specs})
    tree = standalone.StreamRoot()
    size = cp.size
    fed = [False]

    def on_entry(idx: Any, text: str, obj: Any) -> None:
        fed[0] = True
        if not isinstance(idx, int):
            return
        if prefix and idx < size and idx == tree.n:
            tree.add(hashlib.sha256(b"\x00" + text.encode("utf-8")).digest())
        if lo <= idx < hi:
            ev = obj.get("event") if isinstance(obj, dict) else None
            if isinstance(ev, dict):
                figs.add(ev)

    ver = standalone.verify_export(export_path, verifiers, on_entry)
    if not fed[0]:  # refused before reading its rows (e.g. a bad signature): read them now
        for idx, text, _ in standalone.read_export(export_path, leaf_hashes=False)[1]:
            try:
                obj = json.loads(text)
            except ValueError:
                obj = None
            on_entry(idx, text, obj)
    for p in ver.problems:
        where = "" if ver.first_bad is None else f" (first bad entry {ver.first_bad})"
        out.fail(f"export{where}: {p}")
    for p in cover:
        out.fail(p)
    if prefix and (tree.n != cp.size or tree.root() != cp.root):
        out.fail(
            f"the export's entries 0..{cp.size - 1} do not hash to the report's signed root "
            "(an entry was altered, removed or inserted)"
        )
    got = figs.rows()
    for s in specs:
        name = str(s["name"])
        if got[name] != s.get("result"):
            out.differ.append(name)
    if out.differ:
        out.fail(f"{len(out.differ)} of {out.figures} figures differ: {', '.join(out.differ)}")
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m gridwall.audit.standalone report-check",
        description="Recompute every figure of a gridwall report from an audit-log export.",
    )
    ap.add_argument("export", type=Path, help="the audit export (JSON Lines or Parquet)")
    ap.add_argument("report", type=Path, help="the report's JSON appendix (report.json)")
    ap.add_argument("public_key", nargs="+", help="verifier key text or a file holding it")
    a = ap.parse_args(argv)
    try:
        keys = standalone._load_keys(a.public_key)
        res = check_report(a.export, a.report, keys)
    except (standalone.ExportError, note.NoteError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if res.ok:
        print(f"OK: all {res.figures} figures recomputed from the export match the report")
        return 0
    print("FAILED")
    for name in res.differ:
        print(f"  figure differs: {name}")
    for p in res.problems:
        print(f"  {p}")
    return 1
