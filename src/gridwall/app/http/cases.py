"""HTTP routes of the case workflow (FastAPI): ``/v1/cases…`` (docs/cases.md).

| method and path | step (line) |
|---|---|
| ``GET /v1/cases`` | the caller's queue (pseudonyms until a reveal); ``?origin=self_report`` |
| ``GET /v1/cases/sample`` | internal audit's sample of closed cases |
| ``GET /v1/cases/{id}`` | one case and its whole history |
| ``POST /v1/cases/{id}/confirm`` / ``explain`` | ``{text}`` (first line) |
| ``POST /v1/cases/{id}/decide`` | ``{decision, reason?, incident_type?, rule?}`` (second) |
| ``POST /v1/cases/{id}/discipline`` | ``{outcome}`` (second) |
| ``POST /v1/cases/{id}/reveal`` | ``{reason}`` (second) |
| ``POST /v1/cases/{id}/signoff`` / ``reopen`` | ``{note?}`` / ``{reason}`` (third) |
| ``POST /v1/cases/escalate`` | missed deadlines to the next line now |
| ``GET /v1/notifications?after=N`` | the caller's own notifications after id N |
| ``POST /v1/notifications/ack`` | ``{ids}``: mark the caller's own delivered (idempotent) |

Every route needs ``Authorization: Bearer`` and ``X-Gridwall-Terminal``; every step is a
Cedar decision of the case policies (I16) and writes exactly one audit event (with its
case entry, through the case outbox). A refusal answers 403 naming the reason; an unknown
case 404; a step that does not fit the case 400 naming the entry and field; 503 when the
audit log cannot take the event (the step waits in the outbox, its answer is withheld).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from gridwall.app.casework import (
    Caller,
    CaseDesk,
    CaseInvalid,
    CaseNotFound,
    CaseRefused,
    StoreHr,
)
from gridwall.app.http.context import TERMINAL, Contexts
from gridwall.app.http.errors import AUTHENTICATED, ApiError, ErrorMappingRoute, json_response
from gridwall.cases._outbox import AuditPending
from gridwall.interfaces import AuditSink, HrDirectory
from gridwall.interfaces.clock import Clock, system_clock
from gridwall.interfaces.facts import CaseStep
from gridwall.policy import CaseEngine


class CaseTextBody(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class CaseDecideBody(BaseModel):
    decision: str = Field(max_length=32, description="no_issue | violation | report_to_regulator")
    reason: str | None = Field(default=None, max_length=4000)
    incident_type: str | None = Field(default=None, max_length=16)
    rule: str | None = Field(default=None, max_length=200)


class CaseOutcomeBody(BaseModel):
    outcome: str = Field(min_length=1, max_length=2000)


class CaseReasonBody(BaseModel):
    reason: str = Field(min_length=1, max_length=4000)


class CaseNoteBody(BaseModel):
    note: str | None = Field(default=None, max_length=4000)


class NotificationAckBody(BaseModel):
    ids: list[int] = Field(min_length=1, max_length=1000, description="notification ids")


_AUTH_DOC: dict[str, Any] = {
    "security": [{"HTTPBearer": []}],
    "parameters": [
        {
            "name": TERMINAL,
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
            "description": "a fresh token signed by the enrolled terminal (端末)",
        }
    ],
}
#: what a case route may answer besides 200
_ANSWERS: dict[int | str, dict[str, Any]] = {
    **AUTHENTICATED,
    403: {"description": "the case policy refuses the step; the detail names the reason"},
}
_ON_CASE: dict[int | str, dict[str, Any]] = {
    **_ANSWERS,
    400: {"description": "the step does not fit the case (names the entry and field)"},
    404: {"description": "no such case"},
}


_Run = Callable[[Request, Callable[[Caller], Any]], Response]


def _runner(contexts: Contexts, parameter: str = "body") -> _Run:
    """A step for the signed-in caller, its refusals in the one error shape."""

    def run(request: Request, act: Callable[[Caller], Any]) -> Response:
        c = contexts.caller(request)  # 401/403 in the one shape (errors.py)
        caller = Caller(c.principal, c.terminal, c.source_ip)
        try:
            return json_response(act(caller), 200)
        except CaseRefused as e:
            raise ApiError(403, "forbidden", str(e)) from None
        except CaseNotFound:
            raise ApiError(404, "not_found", "no such case", parameter="case_id") from None
        except CaseInvalid as e:
            # the message starts with the parameter it is about ("ids: …", "after: …")
            named = str(e).split(":", 1)[0]
            where = named if named in ("ids", "after", "limit") else parameter
            raise ApiError(400, "bad_request", str(e), parameter=where) from None
        except AuditPending:
            raise ApiError(503, "unavailable", "the audit log could not record the step") from None

    return run


def create_router(
    engine: Engine,
    audit: AuditSink,
    contexts: Contexts,
    clock: Clock | None = None,
    *,
    hr: HrDirectory | None = None,
    policy: CaseEngine | None = None,
    desk: CaseDesk | None = None,
) -> APIRouter:
    """Case routes over ``engine`` (cases, and identity's HR data unless ``hr`` is given),
    auditing into ``audit``; ``contexts`` is the app's request-context dependency. ``desk``
    is the server's one :class:`CaseDesk` (shared with the monitor schedule); without it
    the router makes its own."""
    if desk is None:
        desk = CaseDesk(
            engine, audit, hr or StoreHr(engine), policy=policy, clock=clock or system_clock
        )
    router = APIRouter(prefix="/v1/cases", tags=["cases"], route_class=ErrorMappingRoute)
    run = _runner(contexts)
    doc: dict[str, Any] = {"openapi_extra": _AUTH_DOC}

    @router.get("", **doc, responses=_ANSWERS, summary="Your queue of cases")
    def queue(
        request: Request,
        origin: Literal["alert", "self_report"] | None = Query(
            None, description="only the cases monitor alerts (alert) or self-reports opened"
        ),
    ) -> Any:
        return run(request, lambda c: desk.queue(c, origin))

    @router.get("/sample", **doc, responses=_ANSWERS, summary="Internal audit's sample")
    def sample(request: Request) -> Any:
        return run(request, desk.sample)

    @router.post("/escalate", **doc, responses=_ANSWERS, summary="Escalate missed deadlines")
    def escalate(request: Request) -> Any:
        return run(request, desk.escalate)

    @router.get("/{case_id}", **doc, responses=_ON_CASE, summary="One case and its history")
    def show(case_id: str, request: Request) -> Any:
        return run(request, lambda c: desk.show(c, case_id))

    def step(step: CaseStep, case_id: str, request: Request, fields: dict[str, Any]) -> Response:
        clean = {k: v for k, v in fields.items() if v is not None}
        return run(request, lambda c: desk.act(c, case_id, step, clean))

    @router.post("/{case_id}/confirm", **doc, responses=_ON_CASE, summary="First line: confirm")
    def confirm(case_id: str, body: CaseTextBody, request: Request) -> Any:
        return step(CaseStep.CONFIRM, case_id, request, body.model_dump())

    @router.post("/{case_id}/explain", **doc, responses=_ON_CASE, summary="First line: explain")
    def explain(case_id: str, body: CaseTextBody, request: Request) -> Any:
        return step(CaseStep.EXPLAIN, case_id, request, body.model_dump())

    @router.post("/{case_id}/decide", **doc, responses=_ON_CASE, summary="Second line: decide")
    def decide(case_id: str, body: CaseDecideBody, request: Request) -> Any:
        return step(CaseStep.DECIDE, case_id, request, body.model_dump())

    @router.post("/{case_id}/discipline", **doc, responses=_ON_CASE, summary="Second line: outcome")
    def discipline(case_id: str, body: CaseOutcomeBody, request: Request) -> Any:
        return step(CaseStep.DISCIPLINE, case_id, request, body.model_dump())

    @router.post(
        "/{case_id}/reveal", **doc, responses=_ON_CASE, summary="Second line: reveal the subject"
    )
    def reveal(case_id: str, body: CaseReasonBody, request: Request) -> Any:
        return step(CaseStep.REVEAL, case_id, request, body.model_dump())

    @router.post("/{case_id}/signoff", **doc, responses=_ON_CASE, summary="Third line: sign off")
    def signoff(case_id: str, body: CaseNoteBody, request: Request) -> Any:
        return step(CaseStep.SIGNOFF, case_id, request, body.model_dump())

    @router.post("/{case_id}/reopen", **doc, responses=_ON_CASE, summary="Third line: reopen")
    def reopen(case_id: str, body: CaseReasonBody, request: Request) -> Any:
        return step(CaseStep.REOPEN, case_id, request, body.model_dump())

    return router


def create_notifications_router(desk: CaseDesk, contexts: Contexts) -> APIRouter:
    """``/v1/notifications``: the caller's own case notifications (the outbox a mail or
    chat integration consumes, docs/cases.md), over the server's one case desk."""
    router = APIRouter(prefix="/v1/notifications", tags=["cases"], route_class=ErrorMappingRoute)
    run = _runner(contexts)
    doc: dict[str, Any] = {"openapi_extra": _AUTH_DOC}
    answers: dict[int | str, dict[str, Any]] = {
        **_ANSWERS, 400: {"description": "a bad parameter (named)"},
    }  # fmt: skip

    @router.get("", **doc, responses=answers, summary="Your case notifications")
    def listing(
        request: Request,
        after: int = Query(0, ge=0, description="only notifications with a larger id"),
        limit: int = Query(100, ge=1, le=1000),
        pending: bool = Query(False, description="only those not yet acknowledged"),
    ) -> Any:
        return run(
            request, lambda c: desk.notifications(c, after=after, limit=limit, pending_only=pending)
        )

    @router.post("/ack", **doc, responses=answers, summary="Acknowledge your notifications")
    def acknowledge(body: NotificationAckBody, request: Request) -> Any:
        return run(request, lambda c: desk.ack_notifications(c, body.ids))

    return router
