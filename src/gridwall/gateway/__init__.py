"""The firewall gateway: the only path to 託送 customer data (非公開情報).

Public surface:

* :class:`Gateway` — decide per field group, mask, audit: ``read_point``, ``search``,
  ``list_customers``, ``export``, ``usage`` (in-process; the app layer's HTTP routes,
  console pages and CLI commands are faces over it).
* :func:`lookup_feed`, :func:`lookup_records`, :func:`holder_name_matches`,
  :class:`LookupRecord` — what the equal-footing lookup may read (no 契約名義, no phone);
  :func:`retailer_kinds` — the retailer registry (code → affiliated/independent) for identity;
  :func:`retailer_supply` — a retailer's own supply periods (for its transparency statement).
* :func:`load_dataset` — the customer tables of ``gridwall load``: all or nothing,
  idempotent (the app layer hands in the loaders of the tables other capabilities own, and
  is told which supply points the load inserted or updated).

Names are imported on first use, so that ``gridwall --help`` does not pay for SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gridwall.gateway._decisions import LookupDecisions, lookup_request
    from gridwall.gateway._errors import (
        BadRequest,
        Forbidden,
        GatewayError,
        NotVisible,
        Unauthenticated,
        Unavailable,
    )
    from gridwall.gateway._feed import (
        LookupRecord,
        holder_name_matches,
        lookup_feed,
        lookup_records,
        lrs_points,
        retailer_kinds,
        retailer_supply,
        supply_point_count,
        supply_point_exists,
    )
    from gridwall.gateway._gateway import Gateway
    from gridwall.gateway._loader import LoadReport, load_dataset
    from gridwall.gateway._masking import mask_point
    from gridwall.gateway._store import SearchCriteria

_WHERE = {
    "BadRequest": "_errors",
    "Forbidden": "_errors",
    "Gateway": "_gateway",
    "GatewayError": "_errors",
    "NotVisible": "_errors",
    "Unauthenticated": "_errors",
    "Unavailable": "_errors",
    "mask_point": "_masking",
    "LookupDecisions": "_decisions",
    "lookup_request": "_decisions",
    "LookupRecord": "_feed",
    "holder_name_matches": "_feed",
    "lookup_feed": "_feed",
    "lookup_records": "_feed",
    "supply_point_count": "_feed",
    "lrs_points": "_feed",
    "retailer_kinds": "_feed",
    "retailer_supply": "_feed",
    "supply_point_exists": "_feed",
    "LoadReport": "_loader",
    "load_dataset": "_loader",
    "SearchCriteria": "_store",
}

__all__ = [
    "BadRequest",
    "Forbidden",
    "Gateway",
    "GatewayError",
    "LoadReport",
    "LookupDecisions",
    "LookupRecord",
    "NotVisible",
    "SearchCriteria",
    "Unauthenticated",
    "Unavailable",
    "holder_name_matches",
    "load_dataset",
    "lookup_feed",
    "lookup_records",
    "lookup_request",
    "lrs_points",
    "mask_point",
    "retailer_kinds",
    "retailer_supply",
    "supply_point_count",
    "supply_point_exists",
]


def __getattr__(name: str) -> Any:
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module 'gridwall.gateway' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"gridwall.gateway.{mod}"), name)
    globals()[name] = value
    return value
