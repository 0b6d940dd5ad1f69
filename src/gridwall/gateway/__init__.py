"""The firewall gateway: the only path to 託送 customer data (非公開情報).

Public surface:

* :class:`Gateway` — decide per field group, mask, audit: ``read_point``, ``search``,
  ``list_customers``, ``export``, ``usage`` (in-process; the HTTP API and the CLI use it).
* :func:`create_app` — the FastAPI application (OpenAPI) over a :class:`Gateway`.
* :func:`lookup_feed`, :func:`holder_name_matches`, :class:`LookupRecord` — what the
  equal-footing lookup may read (no 契約名義, no phone).
* :func:`load_dataset` — ``gridwall load``: all or nothing, idempotent.
* Interim collaborators until identity/grants are wired: :class:`TokenAuthenticator`,
  :class:`NoGrants`, :class:`MemoryAuditSink`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridwall.gateway._core import (
    BadRequest,
    Forbidden,
    Gateway,
    GatewayError,
    NotVisible,
    RequestContext,
    Unauthenticated,
    Unavailable,
    mask_point,
)
from gridwall.gateway._feed import LookupRecord, holder_name_matches, lookup_feed
from gridwall.gateway._interim import MemoryAuditSink, NoGrants, TokenAuthenticator
from gridwall.gateway._loader import LoadReport, load_dataset
from gridwall.gateway._store import SearchCriteria

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fastapi import APIRouter, FastAPI


def create_app(
    gateway: Gateway, *, unprotected: bool = False, routers: Sequence[APIRouter] = ()
) -> FastAPI:
    """The FastAPI app over ``gateway`` (imported lazily: FastAPI is heavy); ``routers``
    (e.g. identity's login routes) are included as they are."""
    from gridwall.gateway._http import create_app as _create

    return _create(gateway, unprotected=unprotected, routers=routers)


__all__ = [
    "BadRequest",
    "Forbidden",
    "Gateway",
    "GatewayError",
    "LoadReport",
    "LookupRecord",
    "MemoryAuditSink",
    "NoGrants",
    "NotVisible",
    "RequestContext",
    "SearchCriteria",
    "TokenAuthenticator",
    "Unauthenticated",
    "Unavailable",
    "create_app",
    "holder_name_matches",
    "load_dataset",
    "lookup_feed",
    "mask_point",
]
