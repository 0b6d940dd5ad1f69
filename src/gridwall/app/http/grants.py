"""HTTP routes for managing grants (FastAPI), for the gateway app.

``create_router(engine, auth, audit)`` returns an ``APIRouter`` under ``/v1/grants``:

| method and path | step |
|---|---|
| ``GET /v1/grants/disasters`` | list declarations and their status now |
| ``POST /v1/grants/disasters`` | declare ``{disaster_id, area, planned_end, max_hours}`` |
| ``POST /v1/grants/disasters/{id}/approve`` | second-person approval |
| ``POST /v1/grants/disasters/{id}/extend`` | ``{planned_end}`` |
| ``POST /v1/grants/disasters/{id}/end`` | end now / cancel (then ``on_ended(id)``) |
| ``GET /v1/grants/disasters/{id}/report`` | every access under it (from the audit log) |
| ``POST /v1/grants/disasters/{id}/deletion-attestations`` | ``{org, copies, statement}`` |
| ``GET /v1/grants/agreements`` / ``POST`` / ``POST …/{id}/end`` | list / register / end |
| ``POST /v1/grants/consents`` / ``POST /v1/grants/consents/revoke`` | issue / revoke a token |

Every route needs ``Authorization: Bearer <token>`` and ``X-Gridwall-Terminal`` (read by the
app's one request-context dependency; refusals in the one error shape of errors.py). Who may
do what is decided by Cedar (the grant-management policies of ``gridwall.policy``, proven
by ``gridwall policy check`` as I15), like every other decision. A refused step answers 403
and is audited like every other step; bad input answers 400 naming the parameter; nothing
is half-written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from gridwall.app.http.context import TERMINAL, Contexts
from gridwall.app.http.errors import AUTHENTICATED, ApiError, ErrorMappingRoute, json_response
from gridwall.app.management import StoreParties, manage_request, same_person
from gridwall.grants._agreements import AgreementRegistry
from gridwall.grants._consent import ConsentDesk
from gridwall.grants._disaster import DisasterDesk
from gridwall.grants._errors import GrantRefused
from gridwall.grants._outbox import audit_log_events, grant_event, record_refusal
from gridwall.interfaces import AuditSink, Authenticator, Principal
from gridwall.interfaces.clock import Clock, system_clock
from gridwall.interfaces.facts import GrantStep
from gridwall.policy import ManagementEngine, default_management_engine

_log = logging.getLogger("gridwall.grants")


class DeclareBody(BaseModel):
    disaster_id: str = Field(max_length=64)
    area: list[str] = Field(max_length=200, description="'pref' or 'pref/city' entries")
    planned_end: datetime
    max_hours: float = Field(gt=0)
    start: datetime | None = None
    title: str = Field(default="", max_length=200)


class ExtendBody(BaseModel):
    planned_end: datetime


class AttestBody(BaseModel):
    org: str = Field(max_length=128)
    copies: int = Field(ge=0)
    statement: str = Field(default="", max_length=2000)


class AgreementBody(BaseModel):
    agreement_id: str = Field(max_length=64)
    counterparty_org: str = Field(max_length=128)
    purpose: str = Field(max_length=64)
    fields: list[str] = Field(default_factory=list, max_length=20)
    area: list[str] = Field(default_factory=list, max_length=200)
    valid_from: date
    valid_to: date | None = None


class ConsentBody(BaseModel):
    supply_point_id: str = Field(max_length=22)
    retailer_code: str = Field(max_length=64)
    days: int
    months: int = 13


class RevokeBody(BaseModel):
    token: str = Field(max_length=2000, description="the token or its token id")


#: OpenAPI: every grant route takes the bearer and the terminal credential (read by the
#: app's one request-context dependency, :class:`gridwall.app.http.context.Contexts`)
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


def create_router(
    engine: Engine,
    auth: Authenticator,
    audit: AuditSink,
    clock: Clock | None = None,
    *,
    events: Callable[[], Iterable[Mapping[str, Any]]] | None = None,
    contexts: Contexts | None = None,
    policy: ManagementEngine | None = None,
    person_of: Callable[[str], str | None] | None = None,
    on_ended: Callable[[str], None] | None = None,
) -> APIRouter:
    """Grant-management routes. ``events()`` feeds disaster reports (default: the audit
    log's own events when ``audit`` is a :class:`gridwall.audit.AuditLog`); ``contexts``
    is the app's request-context dependency (default: over ``auth``); ``policy`` decides
    every step (default: the shipped management policies); ``person_of`` names the person
    holding an account (identity), so that a person's second account cannot approve its
    first account's request (default: accounts are compared as they are). ``on_ended(id)``
    is told after a declaration was ended early (the server then signs a checkpoint and
    writes the after-action report in the background); it must not block, and its failure
    never changes the answer."""
    now_of: Clock = clock or system_clock
    decider = policy if policy is not None else default_management_engine()
    holder: Callable[[str], str | None] = person_of or (lambda _account: None)
    ctx = contexts or Contexts(auth, now_of)
    router = APIRouter(prefix="/v1/grants", tags=["grants"], route_class=ErrorMappingRoute)

    def route_doc() -> dict[str, Any]:
        return {"openapi_extra": _AUTH_DOC, "responses": AUTHENTICATED}

    def event_source() -> Iterable[Mapping[str, Any]]:
        if events is not None:
            return events()
        if hasattr(audit, "size") and hasattr(audit, "entry"):
            return audit_log_events(audit)
        raise GrantRefused("no event source for reports", "report", "events")

    def run(
        step: GrantStep,
        request: Request,
        act: Callable[[Principal, datetime], Any],
        *,
        status: int = 200,
        own_request: Callable[[Principal], bool] | None = None,
        for_own_org: Callable[[Principal], bool] | None = None,
    ) -> Response:
        c = ctx.caller(request)  # 401/403 in the one shape (errors.py)
        principal, term, now = c.principal, c.terminal, c.now
        try:
            mine = own_request is not None and own_request(principal)
            ours = for_own_org is not None and for_own_org(principal)
        except GrantRefused:  # e.g. no such declaration: the step itself will say so
            mine = ours = False
        decision = decider.decide(
            manage_request(step, principal, term, own_request=mine, for_own_org=ours)
        )
        if not decision.allowed:
            why = ",".join(decision.policy_ids) or "default-deny"
            record_refusal(
                engine,
                audit,
                grant_event(
                    now=now, actor=principal.account_id, actor_org=principal.org,
                    screen=f"grants.{step}", purpose="", decision="deny",
                    query=f"{step} not permitted for this account on this terminal ({why})",
                    person_id=principal.person_id, device_id=term.device_id,
                    session_id=principal.session_id, source_ip=c.source_ip,
                )
            )  # fmt: skip
            raise ApiError(403, "forbidden", f"{step}: not permitted")
        try:
            return json_response(act(principal, now), status)
        except ValueError as e:  # e.g. a time without its UTC offset
            if isinstance(e, GrantRefused):
                raise
            raise ApiError(400, "bad_request", str(e), parameter="body") from None

    parties = StoreParties(engine)

    def disasters(p: Principal) -> DisasterDesk:
        return DisasterDesk(engine, audit, now_of, actor_org=p.org, parties=parties)

    def agreements(p: Principal) -> AgreementRegistry:
        return AgreementRegistry(engine, audit, now_of, actor_org=p.org, parties=parties)

    def consents(p: Principal) -> ConsentDesk:
        return ConsentDesk(engine, audit, now_of, actor_org=p.org, parties=parties)

    @router.get("/disasters", **route_doc(), summary="Disaster declarations and their status now")
    def list_disasters(request: Request) -> Any:
        return run(GrantStep.DISASTER_LIST, request,
                   lambda p, _: disasters(p).list())  # fmt: skip

    @router.post(
        "/disasters", **route_doc(), status_code=201, summary="Declare (pending a second approval)"
    )
    def declare(body: DeclareBody, request: Request) -> Any:  # fmt: skip
        def act(p: Principal, _: datetime) -> Any:
            return disasters(p).declare(
                body.disaster_id, body.area, body.planned_end, timedelta(hours=body.max_hours),
                p.account_id, start=body.start, title=body.title,
            )  # fmt: skip

        return run(GrantStep.DISASTER_DECLARE, request, act, status=201)

    @router.post(
        "/disasters/{disaster_id}/approve", **route_doc(), summary="Second-person approval"
    )
    def approve(disaster_id: str, request: Request) -> Any:  # fmt: skip
        return run(
            GrantStep.DISASTER_APPROVE, request,
            lambda p, _: disasters(p).approve(disaster_id, p.account_id),
            own_request=lambda p: same_person(
                p, disasters(p).get(disaster_id)["requested_by"], holder
            ),
        )  # fmt: skip

    @router.post(
        "/disasters/{disaster_id}/extend", **route_doc(), summary="Extend (≤ the hard maximum)"
    )
    def extend(disaster_id: str, body: ExtendBody, request: Request) -> Any:  # fmt: skip
        return run(GrantStep.DISASTER_EXTEND, request,
                   lambda p, _: disasters(p).extend(disaster_id, body.planned_end,
                                                    p.account_id))  # fmt: skip

    @router.post(
        "/disasters/{disaster_id}/end", **route_doc(), summary="End now (or cancel if pending)"
    )
    def end(disaster_id: str, request: Request) -> Any:  # fmt: skip
        def act(p: Principal, _: datetime) -> Any:
            d = disasters(p).end(disaster_id, p.account_id)
            if on_ended is not None and d.get("status") == "ended":
                try:
                    on_ended(disaster_id)
                except Exception:  # the end stands; the serve loop's --due pass catches up
                    _log.exception("after-action report trigger failed for %s", disaster_id)
            return d

        return run(GrantStep.DISASTER_END, request, act)

    @router.get(
        "/disasters/{disaster_id}/report", **route_doc(), summary="Every access made under it"
    )
    def report(disaster_id: str, request: Request) -> Any:  # fmt: skip
        return run(GrantStep.DISASTER_REPORT, request,
                   lambda p, _: disasters(p).report(disaster_id, event_source()))  # fmt: skip

    @router.post("/disasters/{disaster_id}/deletion-attestations", **route_doc(), status_code=201,
                 summary="削除証明: an organisation's copies are deleted")  # fmt: skip
    def attest(disaster_id: str, body: AttestBody, request: Request) -> Any:  # fmt: skip
        return run(
            GrantStep.DISASTER_ATTEST_DELETION, request,
            lambda p, _: disasters(p).attest_deletion(
                disaster_id, body.org, p.account_id, copies=body.copies,
                statement=body.statement,
            ),
            status=201,
            for_own_org=lambda p: p.org == body.org.strip(),
        )  # fmt: skip

    @router.get("/agreements", **route_doc(), summary="Agreements and their status now")
    def list_agreements(request: Request) -> Any:
        return run(GrantStep.AGREEMENT_LIST, request,
                   lambda p, _: agreements(p).list())  # fmt: skip

    @router.post("/agreements", **route_doc(), status_code=201, summary="Register an agreement")
    def register(body: AgreementBody, request: Request) -> Any:  # fmt: skip
        return run(
            GrantStep.AGREEMENT_REGISTER, request,
            lambda p, _: agreements(p).register(
                body.agreement_id, body.counterparty_org, body.purpose, body.fields, body.area,
                body.valid_from, body.valid_to, p.account_id,
            ),
            status=201,
        )  # fmt: skip

    @router.post("/agreements/{agreement_id}/end", **route_doc(), summary="End an agreement now")
    def end_agreement(agreement_id: str, request: Request) -> Any:  # fmt: skip
        return run(GrantStep.AGREEMENT_END, request,
                   lambda p, _: agreements(p).end(agreement_id, p.account_id))  # fmt: skip

    @router.post(
        "/consents", **route_doc(), status_code=201, summary="Register a consent; returns its token"
    )
    def issue(body: ConsentBody, request: Request) -> Any:  # fmt: skip
        def act(p: Principal, _: datetime) -> Any:
            token, claims = consents(p).issue(
                body.supply_point_id, body.retailer_code, body.days, body.months, p.account_id
            )
            return {"token": token, **claims}

        return run(GrantStep.CONSENT_ISSUE, request, act, status=201)

    @router.post("/consents/revoke", **route_doc(), summary="Revoke a consent token")
    def revoke(body: RevokeBody, request: Request) -> Any:  # fmt: skip
        return run(GrantStep.CONSENT_REVOKE, request,
                   lambda p, _: consents(p).revoke(body.token, p.account_id))  # fmt: skip

    return router
