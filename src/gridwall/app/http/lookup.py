"""HTTP face of the lookup: a FastAPI ``APIRouter`` the gateway app includes.

``POST /v1/lookup`` with ``{"address": "...", "name": "..."?}`` answers the contract shape
(``{"candidates": [...], "name_match": ...}``). The caller comes from the gateway's own
authentication dependency (bearer token, terminal credential, declared purpose), so the
lookup sees exactly the principal every other route sees::

    app.include_router(make_router(service, context))  # context: the gateway's dependency

Errors are in the one shape of :mod:`gridwall.app.http.errors`: 400 too unspecific / bad input,
403 not permitted, 429 rate limited (``Retry-After``), 503 audit log unavailable.
The same limits apply to every retailer; the router never looks at the retailer's kind.
"""

# no `from __future__ import annotations`: FastAPI must see the local Annotated types

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, Field

from gridwall.app.http.context import TERMINAL
from gridwall.app.http.errors import ALWAYS, ApiError, ErrorMappingRoute, json_response
from gridwall.errors import AccessDenied, UsageError
from gridwall.lookup._service import LookupService, RateLimited


class LookupRequest(BaseModel):
    """An address to look up and, optionally, a 契約名義 to verify (match / no match)."""

    address: str = Field(min_length=1, max_length=300, description="the address as typed")
    name: str | None = Field(
        default=None, max_length=200, description="contract holder name to verify"
    )


_AUTH_DOC: dict[str, Any] = {
    "security": [{"HTTPBearer": []}],
    "parameters": [
        {"name": TERMINAL, "in": "header", "required": True, "schema": {"type": "string"},
         "description": "a fresh token signed by the enrolled terminal (端末)"},
        {"name": "X-Gridwall-Purpose", "in": "header", "required": True,
         "schema": {"type": "string"}, "description": "declared purpose (e.g. switching)"},
    ],
}  # fmt: skip


def make_router(
    service: LookupService | Callable[[], LookupService],
    context: Callable[..., Any],
    *,
    prefix: str = "/v1",
) -> APIRouter:
    """The lookup routes over ``service``; ``context`` is the app's request-context
    dependency (it returns an object with ``principal``, ``terminal``, ``purpose``,
    ``source_ip``; see :class:`gridwall.app.http.context.Contexts`)."""
    router = APIRouter(prefix=prefix, tags=["lookup"], route_class=ErrorMappingRoute)
    Ctx = Annotated[Any, Depends(context)]

    def _svc() -> LookupService:
        return service if isinstance(service, LookupService) else service()

    @router.post(
        "/lookup",
        summary="Equal-footing supply-point lookup (供給地点の照会): ID, equipment, address",
        openapi_extra=_AUTH_DOC,
        responses={
            400: {"description": "address too unspecific or invalid (names the parameter)"},
            401: {"description": "missing, malformed, unknown or expired credentials"},
            403: {"description": "the lookup is not permitted for this caller"},
            429: {"description": "rate limit reached (same for every retailer)"},
            **ALWAYS,
        },
    )
    def lookup(body: LookupRequest, ctx: Ctx) -> Response:
        try:
            ans = _svc().lookup(body.address, name=body.name, caller=ctx)
        except UsageError as e:
            raise ApiError(400, "bad_request", e.diagnostics(), parameter="address") from None
        except (RateLimited, AccessDenied):
            raise  # 429 / 403 by the one mapper
        except Exception as e:  # audit log or store down: refuse, never answer unaudited
            raise ApiError(503, "unavailable", f"lookup refused: {type(e).__name__}") from None
        return json_response(ans.to_json())

    return router
