"""Masking: a response is built from the allowed field groups only.

Nothing outside this module turns a :class:`PointRow` (unmasked) into a view; a group the
decision did not allow is absent from the view, never blank or marked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gridwall.gateway._store import PointRow

#: field groups an export may carry (one row per point; history/FIT/usage are not exported)
EXPORTABLE = ("contract_name", "address", "phone", "retailer", "contract", "equipment", "lrs")


def _address(r: PointRow) -> dict[str, str | None]:
    return {
        "pref": r.pref,
        "city": r.city,
        "town": r.town,
        "banchi": r.banchi,
        "building": r.building,
        "room": r.room,
    }


def _contract(r: PointRow) -> dict[str, Any] | None:
    if r.contract_kind is None:
        return None
    return {
        "kind": r.contract_kind,
        "start_date": r.contract_start.isoformat() if r.contract_start else None,
        "end_date": r.contract_end.isoformat() if r.contract_end else None,
    }


def _lrs(r: PointRow) -> dict[str, Any]:
    if not r.is_lrs:
        return {"active": False}
    return {
        "active": True,
        "supplier": r.retailer_code,
        "start_date": r.contract_start.isoformat() if r.contract_start else None,
    }


_POINT_GROUPS: tuple[tuple[str, Callable[[PointRow], Any]], ...] = (
    ("contract_name", lambda r: r.contract_name),
    ("address", _address),
    ("phone", lambda r: r.phone),
    ("equipment", lambda r: {"voltage": r.voltage, "meter_id": r.meter_id, "status": r.status}),
    ("retailer", lambda r: r.retailer_code),
    ("contract", _contract),
    ("lrs", _lrs),
)


def mask_point(row: PointRow, allowed: frozenset[str]) -> dict[str, Any]:
    """The point-level field groups of ``row`` that ``allowed`` names, and nothing else."""
    out: dict[str, Any] = {"supply_point_id": row.supply_point_id}
    for name, get in _POINT_GROUPS:
        if name in allowed:
            out[name] = get(row)
    return out
