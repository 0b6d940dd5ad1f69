"""HTTP routes of the self-report channel (自主申告): ``/v1/selfreports…`` (docs/cases.md).

* ``POST /v1/selfreports`` ``{kind, text, anonymous?, contact?, subject?}``: file a report;
  201 with the one-time receipt code;
* ``GET /v1/selfreports/status`` with the code in ``X-Gridwall-Receipt`` (never in the
  URL): the public progress.

Both take requests without credentials (anyone may report, and follow a report with its
receipt). ``POST`` with ``Authorization: Bearer`` and ``X-Gridwall-Terminal`` files the
report as that account (refused 401 like every route when they do not verify); the
reporter is then visible to compliance only, unless the body says ``"anonymous": false``.
The audit events of these paths never carry the caller's address unless the reporter chose
to be named (``app/http/audit.py``, :data:`ADDRESS_WITHHELD`). The body is capped
(:data:`MAX_BODY`, 413 naming the limit); each source address has a limit per hour kept in
the store (429 with Retry-After); a malformed, unknown or wrong receipt answers the same
404; 503 when the store or the audit log cannot answer.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from gridwall.app.http.context import AUTHORIZATION, TERMINAL, Contexts, client_address
from gridwall.app.http.errors import ALWAYS, ApiError, ErrorMappingRoute, json_response
from gridwall.app.selfreports import (
    ComplianceDesk,
    IntakeLimited,
    Limits,
    ReceiptUnknown,
    ReportUnknown,
    SelfReportDesk,
    SelfReportInvalid,
    Signed,
    StepRefused,
)
from gridwall.cases import REPORT_KINDS
from gridwall.cases._outbox import AuditPending
from gridwall.interfaces import AuditSink
from gridwall.interfaces.clock import Clock, system_clock

#: the header that carries a receipt code (never the URL: URLs reach logs and history)
RECEIPT = "X-Gridwall-Receipt"
#: the largest request body taken (bytes): a 4 000-character text in UTF-8 and the rest
MAX_BODY = 16 * 1024


class SelfReportBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(max_length=32, description=" | ".join(REPORT_KINDS))
    text: str = Field(min_length=1, max_length=4000)
    anonymous: bool = Field(
        default=True,
        description="signed-in reporters only: false names you to everyone who sees the case",
    )
    contact: str | None = Field(default=None, max_length=200, description="shown to compliance")
    subject: str | None = Field(default=None, max_length=128, description="who was observed")


class CappedRoute(ErrorMappingRoute):
    """Refuses a body larger than :data:`MAX_BODY` (413) before anything parses it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            too_large = ApiError(
                413, "too_large", f"the request body is larger than {MAX_BODY} bytes",
                parameter="body",
            )  # fmt: skip
            declared = request.headers.get("content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
                return _error(too_large)
            body = b""
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BODY:
                    return _error(too_large)
            request._body = body  # the handler below reads the body we read
            return await inner(request)

        return handler


def _error(e: ApiError) -> Response:
    from gridwall.app.http.errors import error_response

    out = error_response(e)
    assert out is not None
    return out


_OPTIONAL_AUTH: dict[str, Any] = {
    "parameters": [
        {"name": AUTHORIZATION, "in": "header", "required": False, "schema": {"type": "string"},
         "description": "optional: Bearer <session token>, to report as your account"},
        {"name": TERMINAL, "in": "header", "required": False, "schema": {"type": "string"},
         "description": "with Authorization: the enrolled terminal's signed token"},
    ]
}  # fmt: skip
_RECEIPT_DOC: dict[str, Any] = {
    "parameters": [
        {"name": RECEIPT, "in": "header", "required": True, "schema": {"type": "string"},
         "description": "the receipt code the report was given"},
    ]
}  # fmt: skip
_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {"description": "too many requests from this address in this hour (Retry-After)"},
    **ALWAYS,
}
_SUBMIT_ANSWERS: dict[int | str, dict[str, Any]] = {
    400: {"description": "a field that cannot be taken (names it)"},
    401: {"description": "credentials were given and do not verify (names the header)"},
    403: {"description": "credentials were given for an account that may not be used"},
    413: {"description": f"the body is larger than {MAX_BODY} bytes"},
    **_LIMITED,
}
_STATUS_ANSWERS: dict[int | str, dict[str, Any]] = {
    400: {"description": f"no {RECEIPT} header"},
    404: {"description": "no report for this receipt (malformed, unknown or wrong alike)"},
    **_LIMITED,
}


def create_router(
    engine: Engine,
    audit: AuditSink,
    contexts: Contexts,
    clock: Clock | None = None,
    *,
    limits: Limits | None = None,
    decider: Any = None,
) -> APIRouter:
    """Self-report routes over ``engine`` auditing into ``audit``; with ``decider`` (the
    management engine) also compliance's steps ``selfreport.identity`` and ``.note``."""
    desk = SelfReportDesk(engine, audit, clock=clock or system_clock, limits=limits)
    compliance = ComplianceDesk(engine, audit, decider, clock=clock or system_clock)
    router = APIRouter(prefix="/v1/selfreports", tags=["selfreports"], route_class=CappedRoute)

    def answer(act: Callable[[], Any], status: int) -> Response:
        try:
            return json_response(act(), status)
        except SelfReportInvalid as e:
            raise ApiError(400, "bad_request", str(e), parameter=e.parameter) from None
        except IntakeLimited as e:
            retry = str(max(1, int(e.retry_after + 0.999)))
            raise ApiError(429, "rate_limited", str(e), headers={"Retry-After": retry}) from None
        except StepRefused as e:
            raise ApiError(403, "forbidden", str(e)) from None
        except ReportUnknown as e:
            raise ApiError(404, "not_found", str(e), parameter="report_id") from None
        except ReceiptUnknown:
            raise ApiError(404, "not_found", "no report for this receipt code",
                           header=RECEIPT) from None  # fmt: skip
        except AuditPending:
            raise ApiError(503, "unavailable", "the audit log could not record the step") from None
        except SQLAlchemyError:
            raise ApiError(503, "unavailable", "the store could not answer; refused") from None

    @router.post(
        "", status_code=201, openapi_extra=_OPTIONAL_AUTH, responses=_SUBMIT_ANSWERS,
        summary="File a self-report (自主申告); the receipt code is shown once",
    )  # fmt: skip
    def submit(body: SelfReportBody, request: Request) -> Any:
        h = request.headers
        signed = None
        if h.get("authorization") is not None or h.get("x-gridwall-terminal") is not None:
            c = contexts.caller(request)  # 401/403 in the one shape, like every route
            signed = Signed(c.principal, c.terminal)
        return answer(
            lambda: desk.submit(
                kind=body.kind, text=body.text, anonymous=body.anonymous, contact=body.contact,
                subject=body.subject, signed=signed, address=client_address(request),
            ),
            201,
        )  # fmt: skip

    @router.get(
        "/status", openapi_extra=_RECEIPT_DOC, responses=_STATUS_ANSWERS,
        summary="A self-report's progress, by its receipt code (in a header)",
    )  # fmt: skip
    def status(request: Request) -> Any:
        receipt = request.headers.get("x-gridwall-receipt")
        if receipt is None or not receipt.strip():
            raise ApiError(400, "bad_request", f"{RECEIPT} header required", header=RECEIPT)
        return answer(lambda: desk.status(receipt, client_address(request)), 200)

    if decider is None:
        return router

    def signed(request: Request) -> Signed:
        c = contexts.caller(request)
        return Signed(c.principal, c.terminal)

    @router.post(
        "/{report_id}/identity", responses=_STEP_ANSWERS,
        summary="Compliance: who filed a self-report (reasoned, audited; I15j)",
    )  # fmt: skip
    def identity(report_id: str, body: ReasonBody, request: Request) -> Any:
        who = signed(request)
        return answer(
            lambda: compliance.identity(who, report_id, body.reason, client_address(request)), 200
        )

    @router.post(
        "/{report_id}/notes", status_code=201, responses=_STEP_ANSWERS,
        summary="Compliance: a note the reporter reads with the receipt (I15j)",
    )  # fmt: skip
    def note(report_id: str, body: NoteBody, request: Request) -> Any:
        who = signed(request)
        return answer(
            lambda: compliance.note(who, report_id, body.text, client_address(request)), 201
        )

    return router


class ReasonBody(BaseModel):
    """Why compliance needs to know who reported (recorded in the audit event)."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)


class NoteBody(BaseModel):
    """A note for the reporter (shown with the receipt status; never who reported)."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=4000)


_STEP_ANSWERS: dict[int | str, dict[str, Any]] = {
    400: {"description": "a field that cannot be taken (names it)"},
    401: {"description": "no or bad credentials (names the header)"},
    403: {"description": "not NW compliance (I15j), or a refused account or terminal"},
    404: {"description": "no self-report with this id"},
    **ALWAYS,
}
