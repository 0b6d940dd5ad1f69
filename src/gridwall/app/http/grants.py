"""HTTP routes for managing grants (FastAPI), for the gateway app.

``create_router(engine, auth, audit)`` returns an ``APIRouter`` under ``/v1/grants``:

| method and path | step |
|---|---|
| ``GET /v1/grants/disasters`` | list declarations and their status now |
| ``POST /v1/grants/disasters`` | declare ``{disaster_id, area, planned_end, max_hours}`` |
| ``POST /v1/grants/disasters/{id}/approve`` | second-person approval |
| ``POST /v1/grants/disasters/{id}/extend`` | ``{planned_end}`` |
| ``POST /v1/grants/disasters/{id}/end`` | end now / cancel |
| ``GET /v1/grants/disasters/{id}/report`` | every access under it (from the audit log) |
| ``POST /v1/grants/disasters/{id}/deletion-attestations`` | ``{org, copies, statement}`` |
| ``GET /v1/grants/agreements`` / ``POST`` / ``POST …/{id}/end`` | list / register / end |
| ``POST /v1/grants/consents`` / ``POST /v1/grants/consents/revoke`` | issue / revoke a token |

Every route needs ``Authorization: Bearer <token>`` and ``X-Gridwall-Terminal``. Who may
do what is the one table :data:`PERMISSIONS` below (grant *management*, not customer
data: that is the Cedar policy's). A refused step answers 403 and is audited like every
other step; bad input answers 400 naming the parameter; nothing is half-written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from gridwall.grants._agreements import AgreementRegistry
from gridwall.grants._common import audit_log_events, grant_event
from gridwall.grants._consent import ConsentDesk
from gridwall.grants._disaster import DisasterDesk
from gridwall.grants._errors import GrantRefused
from gridwall.interfaces import (
    AuditSink,
    AuthenticationError,
    Authenticator,
    Principal,
    Terminal,
)
from gridwall.interfaces.clock import Clock, as_utc, system_clock
from gridwall.interfaces.facts import AccountKind, AccountState, DeviceKind, DeviceOwner, Role

#: Who may take each step: organisation kind → roles (``None``: any role). NW staff act
#: from an NW terminal with current training; everyone from their own organisation's
#: valid terminal, on an active personal account.
PERMISSIONS: dict[str, dict[str, frozenset[Role] | None]] = {
    "disaster.list": {"nw": None, "retail": None, "contractor": None, "regulator": None},
    "disaster.declare": {"nw": frozenset({Role.TAKUSO_OPERATOR, Role.MANAGER})},
    "disaster.extend": {"nw": frozenset({Role.TAKUSO_OPERATOR, Role.MANAGER})},
    "disaster.end": {"nw": frozenset({Role.TAKUSO_OPERATOR, Role.MANAGER})},
    "disaster.approve": {"nw": frozenset({Role.MANAGER})},
    "disaster.report": {
        "nw": frozenset({Role.MANAGER, Role.COMPLIANCE, Role.AUDITOR}),
        "regulator": frozenset({Role.AUDITOR}),
    },
    # a retailer's or contractor's manager attests for their own organisation only
    "disaster.attest-deletion": {
        "nw": frozenset({Role.MANAGER}),
        "retail": frozenset({Role.MANAGER}),
        "contractor": frozenset({Role.MANAGER}),
    },
    "agreement.list": {
        "nw": frozenset({Role.TAKUSO_OPERATOR, Role.MANAGER, Role.COMPLIANCE, Role.AUDITOR}),
        "regulator": frozenset({Role.AUDITOR}),
    },
    "agreement.register": {"nw": frozenset({Role.MANAGER})},
    "agreement.end": {"nw": frozenset({Role.MANAGER})},
    "consent.issue": {"nw": frozenset({Role.TAKUSO_OPERATOR, Role.MANAGER})},
    "consent.revoke": {"nw": frozenset({Role.TAKUSO_OPERATOR, Role.MANAGER})},
}


def permitted(step: str, principal: Principal, terminal: Terminal) -> bool:
    """May ``principal`` on ``terminal`` take ``step``? (Default deny.)"""
    f, d = principal.facts, terminal.facts
    if f.account_state is not AccountState.ACTIVE or f.account_kind is not AccountKind.PERSONAL:
        return False
    if d.owner is not DeviceOwner.SAME_ORG or not d.valid:
        return False
    org_kind = principal.org.split(":", 1)[0]
    if org_kind == "nw" and (d.kind is not DeviceKind.NW_TERMINAL or not f.training_current):
        return False
    rules = PERMISSIONS.get(step, {})
    if org_kind not in rules:
        return False
    roles = rules[org_kind]
    return roles is None or f.role in roles


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


Auth = Annotated[str | None, Header()]
Term = Annotated[str | None, Header(alias="X-Gridwall-Terminal")]


def _err(status: int, error: str, detail: str, **extra: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": error, "detail": detail, **extra}, status, headers)


def _bearer(authorization: str | None) -> str | None:
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip() or None
    return None


def create_router(
    engine: Engine,
    auth: Authenticator,
    audit: AuditSink,
    clock: Clock | None = None,
    *,
    events: Callable[[], Iterable[Mapping[str, Any]]] | None = None,
) -> APIRouter:
    """Grant-management routes. ``events()`` feeds disaster reports (default: the audit
    log's own events when ``audit`` is a :class:`gridwall.audit.AuditLog`)."""
    now_of: Clock = clock or system_clock
    router = APIRouter(prefix="/v1/grants", tags=["grants"])

    def event_source() -> Iterable[Mapping[str, Any]]:
        if events is not None:
            return events()
        if hasattr(audit, "size") and hasattr(audit, "entry"):
            return audit_log_events(audit)
        raise GrantRefused("no event source for reports", "report", "events")

    def run(
        step: str,
        authorization: str | None,
        terminal: str | None,
        act: Callable[[Principal, datetime], Any],
        *,
        status: int = 200,
        extra_check: Callable[[Principal], bool] | None = None,
    ) -> JSONResponse:
        now = as_utc(now_of(), "clock")
        bearer = _bearer(authorization)
        if bearer is None:
            return _err(401, "unauthenticated", "Authorization header required",
                        header="Authorization")  # fmt: skip
        if not terminal:
            return _err(401, "unauthenticated", "X-Gridwall-Terminal header required",
                        header="X-Gridwall-Terminal")  # fmt: skip
        try:
            principal, term = auth.authenticate(bearer, terminal, now)
        except AuthenticationError as e:
            kind = "forbidden" if e.status == 403 else "unauthenticated"
            return _err(e.status, kind, "not authenticated" if e.status == 401 else "refused")
        if not permitted(step, principal, term) or (
            extra_check is not None and not extra_check(principal)
        ):
            audit.record(
                grant_event(
                    now=now, actor=principal.account_id, actor_org=principal.org,
                    screen=f"grants.{step}", purpose="", decision="deny",
                    query=f"{step} not permitted for this account on this terminal",
                    person_id=principal.person_id, device_id=term.device_id,
                    session_id=principal.session_id,
                )
            )  # fmt: skip
            return _err(403, "forbidden", f"{step}: not permitted")
        try:
            return JSONResponse(act(principal, now), status)
        except GrantRefused as e:
            param = e.where.field if e.where is not None and e.where.field else "body"
            return _err(400, "bad_request", e.message, parameter=param)
        except ValueError as e:  # e.g. a time without its UTC offset
            return _err(400, "bad_request", str(e), parameter="body")

    def disasters(p: Principal) -> DisasterDesk:
        return DisasterDesk(engine, audit, now_of, actor_org=p.org)

    def agreements(p: Principal) -> AgreementRegistry:
        return AgreementRegistry(engine, audit, now_of, actor_org=p.org)

    def consents(p: Principal) -> ConsentDesk:
        return ConsentDesk(engine, audit, now_of, actor_org=p.org)

    @router.get("/disasters", summary="Disaster declarations and their status now")
    def list_disasters(authorization: Auth = None, x_gridwall_terminal: Term = None) -> Any:
        return run("disaster.list", authorization, x_gridwall_terminal,
                   lambda p, _: disasters(p).list())  # fmt: skip

    @router.post("/disasters", status_code=201, summary="Declare (pending a second approval)")
    def declare(body: DeclareBody, authorization: Auth = None,
                x_gridwall_terminal: Term = None) -> Any:  # fmt: skip
        def act(p: Principal, _: datetime) -> Any:
            return disasters(p).declare(
                body.disaster_id, body.area, body.planned_end, timedelta(hours=body.max_hours),
                p.account_id, start=body.start, title=body.title,
            )  # fmt: skip

        return run("disaster.declare", authorization, x_gridwall_terminal, act, status=201)

    @router.post("/disasters/{disaster_id}/approve", summary="Second-person approval")
    def approve(disaster_id: str, authorization: Auth = None,
                x_gridwall_terminal: Term = None) -> Any:  # fmt: skip
        return run("disaster.approve", authorization, x_gridwall_terminal,
                   lambda p, _: disasters(p).approve(disaster_id, p.account_id))  # fmt: skip

    @router.post("/disasters/{disaster_id}/extend", summary="Extend (≤ the hard maximum)")
    def extend(disaster_id: str, body: ExtendBody, authorization: Auth = None,
               x_gridwall_terminal: Term = None) -> Any:  # fmt: skip
        return run("disaster.extend", authorization, x_gridwall_terminal,
                   lambda p, _: disasters(p).extend(disaster_id, body.planned_end,
                                                    p.account_id))  # fmt: skip

    @router.post("/disasters/{disaster_id}/end", summary="End now (or cancel if pending)")
    def end(disaster_id: str, authorization: Auth = None,
            x_gridwall_terminal: Term = None) -> Any:  # fmt: skip
        return run("disaster.end", authorization, x_gridwall_terminal,
                   lambda p, _: disasters(p).end(disaster_id, p.account_id))  # fmt: skip

    @router.get("/disasters/{disaster_id}/report", summary="Every access made under it")
    def report(disaster_id: str, authorization: Auth = None,
               x_gridwall_terminal: Term = None) -> Any:  # fmt: skip
        return run("disaster.report", authorization, x_gridwall_terminal,
                   lambda p, _: disasters(p).report(disaster_id, event_source()))  # fmt: skip

    @router.post("/disasters/{disaster_id}/deletion-attestations", status_code=201,
                 summary="削除証明: an organisation's copies are deleted")  # fmt: skip
    def attest(disaster_id: str, body: AttestBody, authorization: Auth = None,
               x_gridwall_terminal: Term = None) -> Any:  # fmt: skip
        return run(
            "disaster.attest-deletion", authorization, x_gridwall_terminal,
            lambda p, _: disasters(p).attest_deletion(
                disaster_id, body.org, p.account_id, copies=body.copies,
                statement=body.statement,
            ),
            status=201,
            extra_check=lambda p: p.org == "nw" or p.org == body.org.strip(),
        )  # fmt: skip

    @router.get("/agreements", summary="Agreements and their status now")
    def list_agreements(authorization: Auth = None, x_gridwall_terminal: Term = None) -> Any:
        return run("agreement.list", authorization, x_gridwall_terminal,
                   lambda p, _: agreements(p).list())  # fmt: skip

    @router.post("/agreements", status_code=201, summary="Register an agreement")
    def register(body: AgreementBody, authorization: Auth = None,
                 x_gridwall_terminal: Term = None) -> Any:  # fmt: skip
        return run(
            "agreement.register", authorization, x_gridwall_terminal,
            lambda p, _: agreements(p).register(
                body.agreement_id, body.counterparty_org, body.purpose, body.fields, body.area,
                body.valid_from, body.valid_to, p.account_id,
            ),
            status=201,
        )  # fmt: skip

    @router.post("/agreements/{agreement_id}/end", summary="End an agreement now")
    def end_agreement(agreement_id: str, authorization: Auth = None,
                      x_gridwall_terminal: Term = None) -> Any:  # fmt: skip
        return run("agreement.end", authorization, x_gridwall_terminal,
                   lambda p, _: agreements(p).end(agreement_id, p.account_id))  # fmt: skip

    @router.post("/consents", status_code=201, summary="Register a consent; returns its token")
    def issue(body: ConsentBody, authorization: Auth = None,
              x_gridwall_terminal: Term = None) -> Any:  # fmt: skip
        def act(p: Principal, _: datetime) -> Any:
            token, claims = consents(p).issue(
                body.supply_point_id, body.retailer_code, body.days, body.months, p.account_id
            )
            return {"token": token, **claims}

        return run("consent.issue", authorization, x_gridwall_terminal, act, status=201)

    @router.post("/consents/revoke", summary="Revoke a consent token")
    def revoke(body: RevokeBody, authorization: Auth = None,
               x_gridwall_terminal: Term = None) -> Any:  # fmt: skip
        return run("consent.revoke", authorization, x_gridwall_terminal,
                   lambda p, _: consents(p).revoke(body.token, p.account_id))  # fmt: skip

    return router
