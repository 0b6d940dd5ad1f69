"""HTTP routes for login, logout and the current session (FastAPI), for the gateway app.

``create_router(service)`` returns an ``APIRouter`` with

* ``POST /v1/identity/login`` — JSON ``{account_id, password, totp}`` plus the header
  ``X-Gridwall-Terminal`` (a fresh ``gwt1.`` token signed by the enrolled terminal);
  answers ``{session_id, token, idle_expires_at, absolute_expires_at}``. The token
  is the ``Authorization: Bearer`` credential for every gateway route.
* ``POST /v1/identity/logout`` — ends the bearer's session (204); needs the terminal
  credential of the terminal the session was opened on, like every other use of the token.
* ``GET /v1/identity/session`` — who the bearer is on this terminal, with the facts
  the policy will see (account state, terminal owner …).

Refusals answer in the one error shape (:mod:`gridwall.app.http.errors`) with a
neutral detail: the reason (wrong password, locked, transferred …) goes to the
audit log, not to a possibly hostile caller. Include it with
``app.include_router(create_router(service))``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from gridwall.app.http.context import TERMINAL, Contexts, bearer_token, terminal_credential
from gridwall.app.http.errors import ALWAYS, AUTHENTICATED, ErrorMappingRoute, json_response
from gridwall.identity._service import IdentityService
from gridwall.interfaces.clock import system_clock


class LoginBody(BaseModel):
    account_id: str = Field(max_length=128)
    password: str = Field(max_length=1024)
    totp: str | None = Field(default=None, max_length=10, description="current TOTP code")


_TERMINAL_DOC: dict[str, Any] = {
    "parameters": [
        {
            "name": TERMINAL,
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
            "description": "a fresh token signed by the enrolled terminal (端末)",
        }
    ]
}
_BEARER_DOC: dict[str, Any] = {"security": [{"HTTPBearer": []}], **_TERMINAL_DOC}


def create_router(
    service: IdentityService, clock: Any = None, *, contexts: Contexts | None = None
) -> APIRouter:
    """Routes over ``service``; ``clock()`` gives the request instant (default: system);
    ``contexts`` is the app's request-context dependency (default: over ``service``)."""
    now = clock or system_clock
    ctx = contexts or Contexts(service, now)
    router = APIRouter(prefix="/v1/identity", tags=["identity"], route_class=ErrorMappingRoute)

    @router.post(
        "/login",
        summary="Log in with password + TOTP on an enrolled terminal",
        openapi_extra=_TERMINAL_DOC,
        responses={
            400: {"description": "invalid body (names the field)"},
            401: {"description": "refused: the same answer for a wrong password, a wrong "
                  "TOTP, an unknown or locked account, a bad terminal credential"},
            403: {"description": "credentials verify, but this account may not log in here "
                  "(transferred, other organisation's terminal, live elsewhere …)"},
            **ALWAYS,
        },
    )  # fmt: skip
    def login(body: LoginBody, request: Request) -> Response:
        terminal = terminal_credential(request.headers.get("x-gridwall-terminal"))
        res = service.login(
            body.account_id,
            body.password,
            body.totp,
            terminal,
            now(),
            source_ip=request.client.host if request.client else None,
        )
        return json_response(
            {
                "session_id": res.session_id,
                "token": res.token,
                "idle_expires_at": res.idle_expires_at.isoformat(),
                "absolute_expires_at": res.absolute_expires_at.isoformat(),
            }
        )

    @router.post(
        "/logout",
        status_code=204,
        summary="End the bearer's session (from the terminal it was opened on)",
        openapi_extra=_BEARER_DOC,
        responses=AUTHENTICATED,
    )
    def logout(request: Request) -> Response:
        h = request.headers
        token = bearer_token(h.get("authorization"))
        terminal = terminal_credential(h.get("x-gridwall-terminal"))
        service.logout(token, now(), terminal_credential=terminal)
        return Response(status_code=204)

    @router.get(
        "/session",
        summary="Who the bearer is on this terminal (facts for the policy)",
        openapi_extra=_BEARER_DOC,
        responses=AUTHENTICATED,
    )
    def session(request: Request) -> Response:
        c = ctx.caller(request)
        p, t = c.principal, c.terminal
        f = p.facts
        return json_response(
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
