"""The HTTP API (FastAPI, OpenAPI at ``/openapi.json``, docs at ``/docs``).

Every route needs three headers — ``Authorization: Bearer <token>``,
``X-Gridwall-Terminal: <terminal credential>``, ``X-Gridwall-Purpose: <purpose>`` —
and answers errors as JSON ``{"error", "detail", "header"|"parameter"}``. The
handlers only translate HTTP to :class:`gridwall.gateway.Gateway` calls: all
deciding, masking and auditing happens there.
"""

import json
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field

from gridwall.gateway import SearchCriteria
from gridwall.gateway._core import (
    Gateway,
    GatewayError,
    Unauthenticated,
)
from gridwall.interfaces import RequestContext
from gridwall.interfaces.facts import FIELDS, Purpose

_JSON = "application/json"


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(content=body, status_code=status, media_type=_JSON, headers=headers)


def _error(e: GatewayError) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if e.status == 401 else None
    return _json(e.body(), e.status, headers)


class ExportRequest(BaseModel):
    """A file for the named recipient (委託先); the policy decides per point and field."""

    recipient_org: str = Field(description="`contractor:<id>` (never a retailer: I8)")
    supply_point_ids: list[str] = Field(description="22-digit supply point IDs (≤ 10 000)")
    fields: list[str] | None = Field(
        default=None, description="field groups wanted (default: every exportable one)"
    )


_AUTH_DOC: dict[str, Any] = {
    "security": [{"HTTPBearer": []}],
    "parameters": [
        {
            "name": "X-Gridwall-Terminal",
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
            "description": "terminal credential of the enrolled 端末",
        },
        {
            "name": "X-Gridwall-Purpose",
            "in": "header",
            "required": True,
            "schema": {"type": "string", "enum": [p.value for p in Purpose]},
            "description": "declared purpose (業務目的)",
        },
    ],
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "bad parameter or header (names it)"},
    401: {
        "description": "missing or unknown bearer token / terminal credential (names the header)"
    },
    403: {"description": "authenticated, but this action is not permitted"},
    503: {"description": "store, grants, policy or audit could not answer: refused, no data"},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such point, or none of its fields is visible to you (same answer)"}
}

API_DESCRIPTION = """
The firewall gateway of 託送 customer data (非公開情報). Every request declares who
(`Authorization: Bearer`), from which enrolled terminal (`X-Gridwall-Terminal`) and
for which purpose (`X-Gridwall-Purpose`: {purposes}). The policy decides per field
group ({fields}); only allowed groups are returned; every decision is audited before
the answer. A point none of whose fields you may see answers exactly like a point
that does not exist.
""".format(purposes=", ".join(p.value for p in Purpose), fields=", ".join(FIELDS))


def create_app(gateway: Gateway, *, routers: Sequence[APIRouter] = ()) -> FastAPI:
    """The FastAPI application over ``gateway``. ``routers`` are included as they are
    (e.g. ``gridwall.app.http.identity.create_router(service)`` for login/logout)."""
    app = FastAPI(
        title="gridwall gateway",
        version="1",
        description=API_DESCRIPTION,
        openapi_tags=[{"name": "supply points", "description": "託送 customer data"}],
    )
    app.state.gateway = gateway
    for r in routers:
        app.include_router(r)

    @app.exception_handler(GatewayError)
    async def _gateway_error(_request: Request, exc: GatewayError) -> Response:
        return _error(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> Response:
        # never echo the input back: name the parameter only
        locs = [".".join(str(x) for x in err.get("loc", ())[1:]) for err in exc.errors()]
        params = ", ".join(sorted({x for x in locs if x})) or "request"
        return _json({"error": "bad_request", "detail": "invalid parameter",
                      "parameter": params}, 400)  # fmt: skip

    def _auth(request: Request) -> RequestContext:
        # The three headers are read here, in the handler's worker thread, rather than
        # through FastAPI dependencies: one thread hop and no dependency solving per request
        # (OpenAPI still documents them, see _AUTH_DOC).
        h = request.headers
        authorization = h.get("authorization")
        bearer_token = None
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated(
                    "Authorization must be 'Bearer <token>'", header="Authorization"
                )
            bearer_token = token.strip()
        return gateway.authenticate(
            bearer_token,
            h.get("x-gridwall-terminal"),
            h.get("x-gridwall-purpose"),
            source_ip=request.client.host if request.client else None,
        )

    original_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original_openapi()
            schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
            schemes["HTTPBearer"] = {
                "type": "http",
                "scheme": "bearer",
                "description": "personal account token",
            }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get(
        "/v1/supply-points/{supply_point_id}",
        tags=["supply points"],
        summary="Read one supply point (allowed field groups only)",
        openapi_extra=_AUTH_DOC,
        responses={**_ERRORS, **_NOT_FOUND},
    )
    def read_point(supply_point_id: str, request: Request) -> Response:
        return _json(
            gateway.read_point(_auth(request), supply_point_id, screen="GET /v1/supply-points/{id}")
        )

    @app.get(
        "/v1/supply-points/{supply_point_id}/usage",
        tags=["supply points"],
        summary="Monthly usage (kWh); consent reads: ≤ 13 months, current holder only",
        openapi_extra=_AUTH_DOC,
        responses={**_ERRORS, **_NOT_FOUND},
    )
    def usage(
        supply_point_id: str,
        request: Request,
        x_gridwall_consent: Annotated[
            str | None, Header(description="customer-consent token (consent_usage purpose)")
        ] = None,
    ) -> Response:
        return _json(
            gateway.usage(_auth(request), supply_point_id, consent_token=x_gridwall_consent,
                screen="GET /v1/supply-points/{id}/usage",
            )
        )  # fmt: skip

    @app.get(
        "/v1/supply-points",
        tags=["supply points"],
        summary="Search by ID, meter or address parts (retailers: own customers only)",
        openapi_extra=_AUTH_DOC,
        responses=_ERRORS,
    )
    def search(
        request: Request,
        supply_point_id: str | None = None,
        meter_id: str | None = None,
        pref: str | None = None,
        city: str | None = None,
        town: str | None = None,
        banchi: str | None = None,
        building: str | None = None,
        room: str | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> Response:
        crit = SearchCriteria(supply_point_id, meter_id, pref, city, town, banchi, building, room)
        return _json(
            gateway.search(_auth(request), crit, limit=limit, screen="GET /v1/supply-points")
        )

    @app.get(
        "/v1/customers",
        tags=["supply points"],
        summary="A retailer's own current customers (自社顧客), paged by ID",
        openapi_extra=_AUTH_DOC,
        responses=_ERRORS,
    )
    def customers(
        request: Request,
        after: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> Response:
        return _json(
            gateway.list_customers(
                _auth(request), after=after, limit=limit, screen="GET /v1/customers"
            )
        )

    @app.post(
        "/v1/exports",
        tags=["supply points"],
        summary="Watermarked export to the counterparty of a valid agreement",
        openapi_extra=_AUTH_DOC,
        responses=_ERRORS,
    )
    def export(body: ExportRequest, request: Request) -> Response:
        return _json(
            gateway.export(_auth(request), body.recipient_org, body.supply_point_ids, body.fields,
                screen="POST /v1/exports",
            )
        )  # fmt: skip

    return app
