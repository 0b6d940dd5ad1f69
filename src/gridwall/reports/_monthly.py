"""The monthly statement file (月次アクセス開示): every retailer's statement for one month,
all against one signed checkpoint, plus an index.

Every retailer in the registry gets its file, affiliated and independent alike, also with
zero outside accesses (an empty statement is a statement: nobody looked). Each file is
exactly what :func:`~gridwall.reports.build_statement` gives for that retailer and month
against the same checkpoint; the log is read once: a first pass keeps, for each retailer,
the entries naming one of the points it supplied during the month (a superset of what its
statement lists), and the statement is then built over those entries only.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from gridwall.errors import UsageError
from gridwall.reports._statement import LogView, SupplyPeriods, build_statement, named_points

INDEX_FORMAT = "gridwall-statement-index/1"

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(text: str) -> tuple[date, date]:
    """``YYYY-MM`` → (first day, last day), or :class:`UsageError` naming ``--month``."""
    m = _MONTH.match(text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1:
        raise UsageError(f"--month: expected a month YYYY-MM, got {text!r}")
    y, mo = int(m.group(1)), int(m.group(2))
    return date(y, mo, 1), date(y, mo, calendar.monthrange(y, mo)[1])


class _Kept:
    """A :class:`LogView` over a few entries of another, at that view's one checkpoint."""

    def __init__(self, log: LogView, cp: tuple[int, bytes, str], kept: list[tuple[int, bytes]]):
        self.log, self.cp, self.kept = log, cp, kept

    def checkpoint(self) -> tuple[int, bytes, str]:
        return self.cp

    def entries(self, lo: int, hi: int) -> Iterable[tuple[int, bytes]]:
        return [(i, raw) for i, raw in self.kept if lo <= i < hi]

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return self.log.inclusion_proof(index, size)

    def inclusion_proofs(self, indices: Sequence[int], size: int) -> list[list[bytes]]:
        return self.log.inclusion_proofs(indices, size)

    def multiproof(self, indices: Sequence[int], size: int) -> list[bytes]:
        return self.log.multiproof(indices, size)


def monthly_statements(
    log: LogView,
    supplies: SupplyPeriods,
    retailers: Mapping[str, str],
    month: str,
    *,
    secret: bytes,
    generated_at: datetime,
    batch: int = 50_000,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """``({retailer: statement}, index)`` for ``month`` (``YYYY-MM``, JST days) over every
    retailer of ``retailers`` (code → affiliated/independent), all against the log's latest
    signed checkpoint. The index lists each retailer, its kind and count (files and their
    SHA-256 are added by whoever writes them)."""
    first, last = parse_month(month)
    cp = log.checkpoint()
    size = cp[0]
    owner: dict[str, set[str]] = {}
    for code in retailers:
        for s in supplies(code, first, last):
            owner.setdefault(s.supply_point_id, set()).add(code)
    kept: dict[str, list[tuple[int, bytes]]] = {code: [] for code in retailers}
    for lo in range(0, size, batch):
        for idx, raw in log.entries(lo, min(size, lo + batch)):
            named = _named(raw)
            if not named:
                continue  # names no supply point: in no statement
            for code in set().union(*(owner.get(p, set()) for p in named)):
                kept[code].append((idx, raw))
    out: dict[str, dict[str, Any]] = {}
    for code in sorted(retailers):
        out[code] = build_statement(
            _Kept(log, cp, kept[code]), supplies, code, first, last,
            secret=secret, generated_at=generated_at, batch=batch,
        )  # fmt: skip
    index = {
        "format": INDEX_FORMAT,
        "month": month.strip(),
        "period": {"from": first.isoformat(), "to": last.isoformat(), "zone": "JST"},
        "generated_at": generated_at.isoformat(),
        "tree_size": size,
        "checkpoint": cp[2],
        "retailers": [
            {"retailer": code, "kind": retailers[code], "count": out[code]["count"]}
            for code in sorted(retailers)
        ],
    }
    return out, index


def _named(raw: bytes) -> frozenset[str] | set[str]:
    """The supply points an entry names (read from the bytes by
    :func:`~gridwall.reports._statement.named_points`; parsed when they cannot tell)."""
    named = named_points(raw)
    if named is not None:
        return named
    try:
        ev = json.loads(raw).get("event") or {}
        return {str(p) for p in ev.get("supply_point_ids") or []}
    except (ValueError, AttributeError):
        return set()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
