"""HTTP face of the lookup: a FastAPI ``APIRouter`` the gateway app includes.

``POST /v1/lookup`` with ``{"address": "...", "name": "..."?}`` answers the contract shape
(``{"candidates": [...], "name_match": ...}``). The caller comes from the gateway's own
authentication dependency (bearer token, terminal credential, declared purpose), so the
lookup sees exactly the principal every other route sees::

    app.include_router(make_router(service, context))  # context: the gateway's dependency

Errors are JSON ``{"error", "detail", "parameter"?}``: 400 too unspecific / bad input,
403 not permitted, 429 rate limited (``Retry-After``), 503 audit log unavailable.
The same limits apply to every retailer; the router never looks at the retailer's kind.
"""

# no `from __future__ import annotations`: FastAPI must see the local Annotated types

import json
import math
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, Field

from gridwall.errors import AccessDenied, UsageError
from gridwall.lookup._service import LookupService, RateLimited


class LookupRequest(BaseModel):
    """An address to look up and, optionally, a 契約名義 to verify (match / no match)."""

    address: str = Field(min_length=1, max_length=300, description="the address as typed")
    name: str | None = Field(
        default=None, max_length=200, description="contract holder name to verify"
    )


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def make_router(
    service: LookupService | Callable[[], LookupService],
    context: Callable[..., Any],
    *,
    prefix: str = "/v1",
) -> APIRouter:
    """The lookup routes over ``service``; ``context`` is the gateway's auth dependency
    (it returns an object with ``principal``, ``terminal``, ``purpose``, ``source_ip``)."""
    router = APIRouter(prefix=prefix, tags=["lookup"])
    Ctx = Annotated[Any, Depends(context)]

    def _svc() -> LookupService:
        return service if isinstance(service, LookupService) else service()

    @router.post(
        "/lookup",
        summary="Equal-footing supply-point lookup (供給地点の照会): ID, equipment, address",
        responses={
            400: {"description": "address too unspecific or invalid (names the parameter)"},
            403: {"description": "the lookup is not permitted for this caller"},
            429: {"description": "rate limit reached (same for every retailer)"},
            503: {"description": "audit log or index unavailable: refused"},
        },
    )
    def lookup(body: LookupRequest, ctx: Ctx) -> Response:
        try:
            ans = _svc().lookup(body.address, name=body.name, caller=ctx)
        except RateLimited as e:
            return _json(
                {"error": "rate_limited", "detail": str(e)},
                429,
                {"Retry-After": str(max(1, math.ceil(e.retry_after)))},
            )
        except UsageError as e:
            return _json(
                {"error": "bad_request", "detail": e.diagnostics(), "parameter": "address"}, 400
            )
        except AccessDenied as e:
            return _json({"error": "forbidden", "detail": e.diagnostics()}, 403)
        except Exception as e:  # audit log or store down: refuse, never answer unaudited
            return _json(
                {"error": "unavailable", "detail": f"lookup refused: {type(e).__name__}"}, 503
            )
        return _json(ans.to_json())

    return router
