"""Watermarked exports (業務委託先への提供ファイル) and leak tracing.

Each export file is made traceable to its recipient three ways, so that a leaked
file — or any subset of its rows, with or without its header — leads back to
one export and so one recipient:

1. a header line naming export, recipient and agreement, with an HMAC
   fingerprint that only the operator can compute;
2. a ``watermark`` cell in every row: ``GW`` + base32 of one AES-256 block
   (a keyed pseudo-random permutation) over the export's 63-bit serial and an
   HMAC of the row. Only the key holder can make or read one; decrypting any
   single mark yields the serial, and the registry maps serial → export;
3. canary rows (トラップ): fictitious supply points made from the export's own
   rows so that no column tells them apart (:mod:`gridwall.grants._canaries`),
   different for every export, registered so that any one of them identifies the export.

The registry (``grant_exports``, ``grant_export_canaries``) records every
export with its recipient. We write this ourselves because no maintained
library does per-recipient tabular watermarking; the primitives (HMAC-SHA256,
AES) come from the standard library and ``cryptography``.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import Connection, Engine, insert, select

from gridwall.grants._canaries import CanaryMaker
from gridwall.grants._errors import GrantRefused
from gridwall.grants._models import ExportCanary, ExportRecord
from gridwall.grants._validate import is_retailer
from gridwall.interfaces.clock import iso, system_clock

MARK_COLUMN = "watermark"
HEADER_TAG = "# gridwall export"
_MARK_RE = re.compile(r"GW([A-Z2-7]{26})")
_SP_RE = re.compile(r"(?<!\d)(\d{22})(?!\d)")
_HEADER_RE = re.compile(
    r"# gridwall export export_id=(\S+) recipient=(\S+) agreement=(\S+) fingerprint=([0-9a-f]{32})"
)


def _sub(key: bytes, label: str) -> bytes:
    return hmac.new(key, b"gridwall-watermark/" + label.encode(), hashlib.sha256).digest()


def _h(key: bytes, *parts: str) -> bytes:
    return hmac.new(key, "\x00".join(parts).encode("utf-8"), hashlib.sha256).digest()


def export_serial(key: bytes, export_id: str) -> int:
    """The 63-bit serial of an export (derived, so it needs no extra state)."""
    return int.from_bytes(_h(_sub(key, "serial"), export_id)[:8], "big") & ((1 << 63) - 1)


def fingerprint(key: bytes, export_id: str, recipient: str, agreement_id: str) -> str:
    return _h(_sub(key, "fingerprint"), export_id, recipient, agreement_id).hex()[:32]


def _aes(key: bytes) -> Cipher[modes.ECB]:
    # ECB over exactly one 16-byte block is the AES permutation itself (no chaining needed).
    return Cipher(algorithms.AES(_sub(key, "aes")), modes.ECB())


def _canonical(row: Mapping[str, Any]) -> str:
    return json.dumps(
        {k: "" if v is None else str(v) for k, v in row.items() if k != MARK_COLUMN},
        sort_keys=True,
        ensure_ascii=False,
    )


def row_mark(key: bytes, serial: int, row: Mapping[str, Any]) -> str:
    block = serial.to_bytes(8, "big") + _h(_sub(key, "row"), _canonical(row))[:8]
    enc = _aes(key).encryptor()
    ct = enc.update(block) + enc.finalize()
    return "GW" + base64.b32encode(ct).decode("ascii").rstrip("=")


def read_mark(key: bytes, mark: str) -> tuple[int, bytes] | None:
    """(serial, row digest) of a mark, or None if it is not one."""
    m = _MARK_RE.fullmatch(mark.strip())
    if m is None:
        return None
    try:
        ct = base64.b32decode(m.group(1) + "======")
    except ValueError:
        return None
    if len(ct) != 16:
        return None
    dec = _aes(key).decryptor()
    block = dec.update(ct) + dec.finalize()
    return int.from_bytes(block[:8], "big"), block[8:]


@dataclass(frozen=True)
class Canary:
    supply_point_id: str
    contract_name: str
    phone: str


@dataclass(frozen=True)
class WatermarkedExport:
    """One export file for one recipient: rows (with canaries and marks) and its registry entry."""

    export_id: str
    recipient_org: str
    agreement_id: str
    serial: int
    fingerprint: str
    created_at: datetime
    columns: list[str]
    rows: list[dict[str, str]]
    canaries: list[Canary] = field(default_factory=list)

    @property
    def real_rows(self) -> int:
        return len(self.rows) - len(self.canaries)

    def header_lines(self) -> list[str]:
        return [
            f"{HEADER_TAG} export_id={self.export_id} recipient={self.recipient_org} "
            f"agreement={self.agreement_id} fingerprint={self.fingerprint} "
            f"created_at={iso(self.created_at)}",
            "# 非公開情報 non-public: onward transfer forbidden (再委託・第三者提供禁止); "
            "every row is traceable to its recipient",
        ]

    def to_csv(self) -> str:
        buf = io.StringIO()
        for line in self.header_lines():
            buf.write(line + "\n")
        w = csv.DictWriter(buf, fieldnames=self.columns, lineterminator="\n")
        w.writeheader()
        for r in self.rows:
            w.writerow(r)
        return buf.getvalue()


def canary_count(rows: int) -> int:
    """How many canaries an export of ``rows`` rows gets: 2, plus one per 500 rows, ≤ 50."""
    return min(50, 2 + rows // 500)


def watermark_export(
    rows: Iterable[Mapping[str, Any]],
    recipient: str,
    agreement_id: str,
    export_id: str,
    key: bytes,
    *,
    created_at: datetime | None = None,
    point_exists: Callable[[str], bool] | None = None,
) -> WatermarkedExport:
    """Make an export traceable to ``recipient``: header fingerprint, a mark per row and
    canary rows (see the module docstring). A retailer recipient is refused (C①).

    ``rows`` are mappings of column → value (all rows with the same columns); the
    result's ``rows`` carry an extra ``watermark`` column, canaries mixed in at
    key-derived positions. Register the result (:func:`register_export`) before
    the file leaves.

    Canaries are made from the real rows (:mod:`gridwall.grants._canaries`): no canary
    copies a real row's ID, meter, name, phone or address. ``point_exists`` (e.g.
    :meth:`gridwall.interfaces.Parties.point_exists`) lets the canary IDs also avoid every
    point of the store; if it raises, no export is made.
    """
    recipient = recipient.strip()
    if is_retailer(recipient):
        raise GrantRefused(
            "an export to a retailer is impossible (type C①)", f"export {export_id}", "recipient"
        )
    if not recipient or not agreement_id or not export_id:
        raise GrantRefused("recipient, agreement and export id are required", "export", "recipient")
    base = [{k: "" if v is None else str(v) for k, v in r.items()} for r in rows]
    columns: list[str] = []
    for r in base:
        for k in r:
            if k not in columns and k != MARK_COLUMN:
                columns.append(k)
    columns.append(MARK_COLUMN)
    serial = export_serial(key, export_id)
    canaries: list[Canary] = []
    out = [dict(r) for r in base]
    maker = CanaryMaker(key, export_id, base, columns[:-1], point_exists)
    for i in range(canary_count(len(base))):
        sp, crow = maker.make(i)
        canaries.append(Canary(sp, crow.get("contract_name", ""), crow.get("phone", "")))
        pos = int.from_bytes(_h(_sub(key, "pos"), export_id, str(i))[:4], "big") % (len(out) + 1)
        out.insert(pos, crow)
    for r in out:
        for c in columns:
            r.setdefault(c, "")
        r[MARK_COLUMN] = row_mark(key, serial, r)
    return WatermarkedExport(
        export_id=export_id,
        recipient_org=recipient,
        agreement_id=agreement_id,
        serial=serial,
        fingerprint=fingerprint(key, export_id, recipient, agreement_id),
        created_at=created_at or system_clock(),
        columns=columns,
        rows=out,
        canaries=canaries,
    )


def register_export(conn: Connection, wm: WatermarkedExport, created_by: str | None) -> None:
    """Record an export and its canaries in the registry (inside the caller's transaction)."""
    conn.execute(
        insert(ExportRecord).values(
            export_id=wm.export_id, serial=wm.serial, recipient_org=wm.recipient_org,
            agreement_id=wm.agreement_id, fingerprint=wm.fingerprint, row_count=wm.real_rows,
            canary_count=len(wm.canaries), created_at=wm.created_at, created_by=created_by,
        )
    )  # fmt: skip
    if wm.canaries:
        conn.execute(
            insert(ExportCanary),
            [
                {"supply_point_id": c.supply_point_id, "export_id": wm.export_id,
                 "contract_name": c.contract_name, "phone": c.phone}
                for c in wm.canaries
            ],
        )  # fmt: skip


@dataclass
class TraceResult:
    """What a leaked file traces back to, with the evidence."""

    export_id: str
    recipient_org: str
    agreement_id: str
    created_at: str | None
    header_verified: bool = False
    marks: int = 0
    canaries: list[str] = field(default_factory=list)
    other_exports: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "export_id": self.export_id,
            "recipient_org": self.recipient_org,
            "agreement_id": self.agreement_id,
            "created_at": self.created_at,
            "evidence": {
                "header_verified": self.header_verified,
                "row_marks": self.marks,
                "canaries": self.canaries,
            },
            "other_exports": self.other_exports,
        }


def trace_leak(file: str | Path, engine: Engine, key: bytes | None = None) -> TraceResult | None:
    """Trace a leaked file (any text: CSV, TSV, pasted rows…) to its export and recipient.

    Evidence: a verified header fingerprint, decrypted row marks, canary IDs/names.
    Returns the export with the most evidence, or None when the file carries none.
    """
    from gridwall.grants._keys import load_key

    text = Path(file).read_text(encoding="utf-8", errors="replace")
    return trace_text(text, engine, key if key is not None else load_key(engine, "watermark"))


def trace_text(text: str, engine: Engine, key: bytes) -> TraceResult | None:
    et, ct = ExportRecord.__table__, ExportCanary.__table__
    score: dict[str, int] = {}
    headers: set[str] = set()
    marks: dict[str, int] = {}
    hits: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for m in _HEADER_RE.finditer(text):
            eid, rcp, agr, fp = m.groups()
            if hmac.compare_digest(fp, fingerprint(key, eid, rcp, agr)):
                headers.add(eid)
                score[eid] = score.get(eid, 0) + 1000
        serials: dict[int, int] = {}
        for m in _MARK_RE.finditer(text):
            got = read_mark(key, m.group(0))
            if got is not None and got[0] < (1 << 63):  # serials are 63-bit; others are noise
                serials[got[0]] = serials.get(got[0], 0) + 1
        if serials:
            for eid, serial in conn.execute(
                select(et.c.export_id, et.c.serial).where(et.c.serial.in_(list(serials)))
            ):
                marks[eid] = serials[serial]
                score[eid] = score.get(eid, 0) + 10 * serials[serial]
        ids = set(_SP_RE.findall(text))
        names = {c.strip() for c in re.split(r"[,\t\n\"]", text) if c.strip()}
        found = conn.execute(select(ct)).mappings() if not ids else conn.execute(
            select(ct).where(ct.c.supply_point_id.in_(list(ids)))
        ).mappings()  # fmt: skip
        for r in found:
            if r["supply_point_id"] in ids or (r["contract_name"] in names and r["phone"] in names):
                hits.setdefault(r["export_id"], []).append(r["supply_point_id"])
                score[r["export_id"]] = score.get(r["export_id"], 0) + 100
        if not score:
            return None
        best = max(score, key=lambda e: score[e])
        rec = conn.execute(select(et).where(et.c.export_id == best)).mappings().first()
    if rec is None:  # a verified header for an export the registry never saw
        m = next(m for m in _HEADER_RE.finditer(text) if m.group(1) == best)
        return TraceResult(best, m.group(2), m.group(3), None, header_verified=True)
    return TraceResult(
        export_id=best,
        recipient_org=rec["recipient_org"],
        agreement_id=rec["agreement_id"],
        created_at=iso(rec["created_at"]),
        header_verified=best in headers,
        marks=marks.get(best, 0),
        canaries=sorted(hits.get(best, [])),
        other_exports={e: s for e, s in score.items() if e != best},
    )
