"""The HTTP API (FastAPI, OpenAPI at ``/openapi.json``, docs at ``/docs``).

Every route needs three headers — ``Authorization: Bearer <token>``,
``X-Gridwall-Terminal: <terminal credential>``, ``X-Gridwall-Purpose: <purpose>`` —
and answers errors as JSON ``{"error", "detail", "header"|"parameter"}``. The
handlers only translate HTTP to :class:`gridwall.gateway.Gateway` calls: all
deciding, masking and auditing happens there.
"""

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from gridwall.app.http import deferred, errors
from gridwall.app.http.context import Contexts
from gridwall.app.http.errors import ApiError, ErrorMappingRoute
from gridwall.app.http.errors import json_response as _json
from gridwall.app.http.security import mount_docs
from gridwall.gateway import SearchCriteria
from gridwall.gateway._gateway import Gateway
from gridwall.interfaces import RequestContext
from gridwall.interfaces.facts import FIELDS, Purpose


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
_ERRORS: dict[int | str, dict[str, Any]] = errors.AUTHENTICATED
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such point, or none of its fields is visible to you (same answer)"}
}

EXPORT_REFUSED = "none of these supply points may be exported by you to this recipient"

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
        docs_url=None,  # FastAPI's page loads Swagger UI from a CDN: ours is offline
        redoc_url=None,
    )
    mount_docs(app)
    app.state.gateway = gateway
    # every route (ours and the included routers') answers refusals through the one mapper
    app.router.route_class = ErrorMappingRoute
    errors.install(app)
    for r in routers:
        app.include_router(r)
    contexts = Contexts(gateway.auth, gateway.clock, gateway=gateway)
    # the handlers queue audit events in their worker thread and await durability on the
    # event loop (deferred.py); outside a handler the wrapped sink waits as before
    gateway.audit = deferred.defer_audit(gateway.audit)

    def _auth(request: Request) -> RequestContext:
        # a plain call in the handler's worker thread rather than a FastAPI dependency: one
        # thread hop and no dependency solving per request (OpenAPI documents the headers,
        # see _AUTH_DOC); the same parser and refusals as every other route
        return contexts.request_context(request)

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
            app.openapi_schema = errors.document_errors(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get(
        "/v1/supply-points/{supply_point_id}",
        tags=["supply points"],
        summary="Read one supply point (allowed field groups only)",
        openapi_extra=_AUTH_DOC,
        responses={**_ERRORS, **_NOT_FOUND},
    )
    async def read_point(supply_point_id: str, request: Request) -> Response:
        return _json(
            await deferred.call(
                lambda: gateway.read_point(
                    _auth(request), supply_point_id, screen="GET /v1/supply-points/{id}"
                )
            )
        )

    @app.get(
        "/v1/supply-points/{supply_point_id}/usage",
        tags=["supply points"],
        summary="Monthly usage (kWh); consent reads: ≤ 13 months, current holder only",
        openapi_extra=_AUTH_DOC,
        responses={**_ERRORS, **_NOT_FOUND},
    )
    async def usage(
        supply_point_id: str,
        request: Request,
        x_gridwall_consent: Annotated[
            str | None, Header(description="customer-consent token (consent_usage purpose)")
        ] = None,
    ) -> Response:
        return _json(await deferred.call(
            lambda: gateway.usage(_auth(request), supply_point_id,
                consent_token=x_gridwall_consent, screen="GET /v1/supply-points/{id}/usage")
        ))  # fmt: skip

    @app.get(
        "/v1/supply-points",
        tags=["supply points"],
        summary="Search by ID, meter or address parts (retailers: own customers only)",
        openapi_extra=_AUTH_DOC,
        responses=_ERRORS,
    )
    async def search(
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
            await deferred.call(
                lambda: gateway.search(
                    _auth(request), crit, limit=limit, screen="GET /v1/supply-points"
                )
            )
        )

    @app.get(
        "/v1/customers",
        tags=["supply points"],
        summary="A retailer's own current customers (自社顧客), paged by ID",
        openapi_extra=_AUTH_DOC,
        responses=_ERRORS,
    )
    async def customers(
        request: Request,
        after: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> Response:
        return _json(
            await deferred.call(
                lambda: gateway.list_customers(
                    _auth(request), after=after, limit=limit, screen="GET /v1/customers"
                )
            )
        )

    @app.post(
        "/v1/exports",
        tags=["supply points"],
        summary="Watermarked export to the counterparty of a valid agreement",
        openapi_extra=_AUTH_DOC,
        responses={**_ERRORS, 404: {"description": "none of the requested points may be "
                   "exported by you to this recipient (the same answer as nonexistent points)"}},
    )  # fmt: skip
    async def export(body: ExportRequest, request: Request) -> Response:
        out = await deferred.call(
            lambda: gateway.export(_auth(request), body.recipient_org, body.supply_point_ids,
                                   body.fields, screen="POST /v1/exports")
        )  # fmt: skip
        if not out["rows"]:
            # a refusal is a refusal (issue 11 item 13): not 200 with no rows. Which points
            # exist is not the caller's to know, so the answer is that of nonexistent points;
            # the gateway has audited the denial.
            raise ApiError(404, "not_found", EXPORT_REFUSED)
        return _json(out)

    return app
