"""HTTP routes for login, logout and the current session (FastAPI), for the gateway app.

``create_router(service)`` returns an ``APIRouter`` with

* ``POST /v1/identity/login`` — JSON ``{account_id, password, totp}`` plus the header
  ``X-Gridwall-Terminal`` (a fresh ``gwt1.`` token signed by the enrolled terminal);
  answers ``{session_id, token, idle_expires_at, absolute_expires_at}``. The token
  is the ``Authorization: Bearer`` credential for every gateway route.
* ``POST /v1/identity/logout`` — ends the bearer's session (204).
* ``GET /v1/identity/session`` — who the bearer is on this terminal, with the facts
  the policy will see (account state, terminal owner …).

Refusals answer ``{"error": "unauthenticated"|"forbidden", "detail": ...}`` with a
neutral detail: the reason (wrong password, locked, transferred …) goes to the
audit log, not to a possibly hostile caller. Include it with
``app.include_router(create_router(service))``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from gridwall.identity._service import IdentityService, LoginRefused


class LoginBody(BaseModel):
    account_id: str = Field(max_length=128)
    password: str = Field(max_length=1024)
    totp: str | None = Field(default=None, max_length=10, description="current TOTP code")


def _refusal(e: LoginRefused) -> JSONResponse:
    kind = "forbidden" if e.status == 403 else "unauthenticated"
    headers = {"WWW-Authenticate": "Bearer"} if e.status == 401 else None
    return JSONResponse({"error": kind, "detail": str(e)}, e.status, headers)


def _bearer(authorization: str | None) -> str | None:
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip() or None
    return None


def _missing(header: str) -> JSONResponse:
    return JSONResponse(
        {"error": "unauthenticated", "detail": f"{header} header required", "header": header},
        401,
        {"WWW-Authenticate": "Bearer"},
    )


def create_router(service: IdentityService, clock: Any = None) -> APIRouter:
    """Routes over ``service``; ``clock()`` gives the request instant (default: system)."""
    now = clock or (lambda: datetime.now(UTC))
    router = APIRouter(prefix="/v1/identity", tags=["identity"])

    @router.post("/login", summary="Log in with password + TOTP on an enrolled terminal")
    def login(
        body: LoginBody,
        x_gridwall_terminal: Annotated[str | None, Header()] = None,
    ) -> Response:
        if not x_gridwall_terminal:
            return _missing("X-Gridwall-Terminal")
        try:
            res = service.login(
                body.account_id, body.password, body.totp, x_gridwall_terminal, now()
            )
        except LoginRefused as e:
            return _refusal(e)
        return JSONResponse(
            {
                "session_id": res.session_id,
                "token": res.token,
                "idle_expires_at": res.idle_expires_at.isoformat(),
                "absolute_expires_at": res.absolute_expires_at.isoformat(),
            }
        )

    @router.post("/logout", status_code=204, summary="End the bearer's session")
    def logout(authorization: Annotated[str | None, Header()] = None) -> Response:
        token = _bearer(authorization)
        if token is None:
            return _missing("Authorization")
        try:
            service.logout(token, now())
        except LoginRefused as e:
            return _refusal(e)
        return Response(status_code=204)

    @router.get("/session", summary="Who the bearer is on this terminal (facts for the policy)")
    def session(
        authorization: Annotated[str | None, Header()] = None,
        x_gridwall_terminal: Annotated[str | None, Header()] = None,
    ) -> Response:
        token = _bearer(authorization)
        if token is None:
            return _missing("Authorization")
        if not x_gridwall_terminal:
            return _missing("X-Gridwall-Terminal")
        try:
            p, t = service.authenticate(token, x_gridwall_terminal, now())
        except LoginRefused as e:
            return _refusal(e)
        f = p.facts
        return JSONResponse(
            {
                "account_id": p.account_id,
                "person_id": p.person_id,
                "org": p.org,
                "session_id": p.session_id,
                "principal": {
                    "org_kind": f.org_kind.value,
                    "retailer_kind": f.retailer_kind.value,
                    "role": f.role.value,
                    "account_kind": f.account_kind.value,
                    "account_state": f.account_state.value,
                    "training_current": f.training_current,
                },
                "terminal": {
                    "device_id": t.device_id,
                    "owner_org": t.owner_org,
                    "kind": t.facts.kind.value,
                    "owner": t.facts.owner.value,
                    "valid": t.facts.valid,
                },
            }
        )

    return router
