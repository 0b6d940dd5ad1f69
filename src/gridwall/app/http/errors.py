"""The one error shape of the HTTP API and the one exception → JSON mapper.

Every refusal any route (or the router itself: unknown path, wrong method) answers is

    ``{"error": <code>, "detail": <safe text>, "header"?: <name>, "parameter"?: <name>}``

with ``WWW-Authenticate: Bearer`` on 401 and ``Retry-After`` on 429. :func:`error_response`
knows every exception a capability raises towards a caller and is the only place that turns
one into an answer; :class:`ErrorMappingRoute` applies it to every route of every router
(also when a router is mounted on a bare app, as the capability tests do), and
:func:`install` applies it to the router-level answers (404, 405) of an app.
:func:`document_errors` makes the OpenAPI document say the same: the status codes routes
really return (validation errors are 400 in this shape, never FastAPI's 422).

The detail never echoes a caller's input back, and a refusal's *reason* (wrong password,
locked, transferred …) stays in the audit log: callers see the neutral text.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from gridwall.errors import AccessDenied, UsageError
from gridwall.gateway._errors import GatewayError
from gridwall.grants._errors import GrantRefused
from gridwall.interfaces import AuthenticationError
from gridwall.lookup._service import RateLimited

log = logging.getLogger("gridwall.app")

JSON = "application/json"


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A compact UTF-8 JSON answer (Japanese text unescaped)."""
    body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(content=body, status_code=status, media_type=JSON, headers=headers)


class ApiError(Exception):
    """A refusal raised by the HTTP face itself (e.g. a malformed header)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        header: str | None = None,
        parameter: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.header, self.parameter, self.headers = header, parameter, headers


def error_body(
    code: str, detail: str, *, header: str | None = None, parameter: str | None = None
) -> dict[str, str]:
    out = {"error": code, "detail": detail}
    if header:
        out["header"] = header
    if parameter:
        out["parameter"] = parameter
    return out


def error(
    status: int,
    code: str,
    detail: str,
    *,
    header: str | None = None,
    parameter: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """One refusal in the one shape."""
    h = dict(headers or {})
    if status == 401:
        h.setdefault("WWW-Authenticate", "Bearer")
    return json_response(error_body(code, detail, header=header, parameter=parameter), status, h)


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    429: "rate_limited",
    503: "unavailable",
}


def _validation_parameter(exc: RequestValidationError) -> str:
    # never echo the input back: name the parameter only
    locs = [".".join(str(x) for x in err.get("loc", ())[1:]) for err in exc.errors()]
    return ", ".join(sorted({x for x in locs if x})) or "request"


def error_response(exc: Exception) -> Response | None:
    """The answer for ``exc``, or None when it is not a refusal we know (a defect)."""
    if isinstance(exc, ApiError):
        return error(exc.status, exc.code, exc.detail, header=exc.header,
                     parameter=exc.parameter, headers=exc.headers)  # fmt: skip
    if isinstance(exc, GatewayError):
        return error(exc.status, exc.code, exc.detail, header=exc.header, parameter=exc.parameter)
    if isinstance(exc, AuthenticationError):
        # identity's neutral text ("authentication refused" / "access refused"); the reason
        # went to the audit log
        if exc.status == 401:
            return error(401, "unauthenticated", str(exc) or "authentication refused",
                         header="Authorization")  # fmt: skip
        return error(403, "forbidden", str(exc) or "access refused")
    if isinstance(exc, RequestValidationError):
        return error(400, "bad_request", "invalid parameter", parameter=_validation_parameter(exc))
    if isinstance(exc, RateLimited):
        retry = str(max(1, math.ceil(exc.retry_after)))
        return error(429, "rate_limited", str(exc), headers={"Retry-After": retry})
    if isinstance(exc, GrantRefused):
        param = exc.where.field if exc.where is not None and exc.where.field else "body"
        return error(400, "bad_request", exc.message, parameter=param)
    if isinstance(exc, UsageError):
        return error(
            400, "bad_request", exc.diagnostics(), parameter=getattr(exc, "parameter", None)
        )
    if isinstance(exc, AccessDenied):
        return error(403, "forbidden", exc.diagnostics())
    if isinstance(exc, StarletteHTTPException):
        code = _STATUS_CODES.get(exc.status_code, "error")
        detail = {404: "no such route", 405: "method not allowed on this route"}.get(
            exc.status_code, "refused"
        )
        return error(exc.status_code, code, detail, headers=dict(exc.headers or {}))
    return None


def internal_error(exc: Exception) -> Response:
    """A defect: logged by type only (no customer value reaches a log), answered 500."""
    log.error("unhandled %s in a route", type(exc).__name__, exc_info=exc)
    return error(500, "internal", "internal error; the request was refused")


class ErrorMappingRoute(APIRoute):
    """Every route's handler (dependencies, validation and body included) answers its
    refusals through :func:`error_response`; anything else is a 500 in the same shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await inner(request)
            except Exception as exc:
                mapped = error_response(exc)
                return mapped if mapped is not None else internal_error(exc)

        return handler


def install(app: FastAPI) -> None:
    """Router-level refusals (unknown path, wrong method) in the one shape too."""

    async def http_error(_request: Request, exc: Exception) -> Response:
        mapped = error_response(exc)
        return mapped if mapped is not None else internal_error(exc)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, http_error)


# -- OpenAPI ------------------------------------------------------------------

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "machine-readable code",
                  "enum": sorted({*_STATUS_CODES.values(), "internal"})},
        "detail": {"type": "string", "description": "safe to show; never echoes input"},
        "header": {"type": "string", "description": "the request header at fault"},
        "parameter": {"type": "string", "description": "the parameter or body field at fault"},
    },
}  # fmt: skip

#: what every route may answer whatever it does: the audit log could not record it
ALWAYS: dict[int | str, dict[str, Any]] = {
    503: {"description": "the audit log (or store, grants, policy) could not answer: refused"},
}
#: a route taking a bearer credential and a terminal credential
AUTHENTICATED: dict[int | str, dict[str, Any]] = {
    400: {"description": "bad parameter, body or header (names it)"},
    401: {"description": "missing, malformed, unknown or expired bearer token or terminal "
          "credential (names the header; the same answer for each)"},
    403: {"description": "authenticated, but this action is not permitted"},
    **ALWAYS,
}  # fmt: skip


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every operation's error answers in the one shape, and FastAPI's
    automatic 422 replaced by the 400 the routes really answer."""
    comps = schema.setdefault("components", {}).setdefault("schemas", {})
    comps["Error"] = ERROR_SCHEMA
    content = {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}
    for ops in schema.get("paths", {}).values():
        for op in ops.values():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            responses = op["responses"]
            if responses.pop("422", None) is not None:
                responses.setdefault("400", {"description": "invalid parameter (names it)"})
            for code, resp in responses.items():
                if code[:1] in ("4", "5"):
                    resp["content"] = content
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in comps and unused not in json.dumps(schema.get("paths", {})):
            del comps[unused]
    return schema
