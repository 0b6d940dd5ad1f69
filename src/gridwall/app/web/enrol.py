"""Terminal enrolment from the browser (端末登録), by an NW administrator, approved by a
second person (issue 12).

* ``GET /console/admin/enrol`` (step ``console.admin``) — the enrolment form: an existing
  terminal, or a new terminal record (organisation, kind, location).
* ``POST /console/admin/enrol`` (``terminal.enrol``) — ``static/terminal.js`` has generated
  a **non-extractable** Ed25519 key pair in this browser (WebCrypto, kept in IndexedDB as
  the browser's *pending* terminal key) and posts only the public key with a signature of
  ``gridwall-enrol/v1|device|key`` proving it holds the private key. Identity files a
  ``terminal_enrol`` change (:func:`gridwall.identity.request_terminal_enrolment`); the key
  becomes the terminal's, bound to its organisation, only when another person approves
  it on the manager's page (``change.approve``: never the requester, I15i). Until then a
  sign-in from this browser is refused like any unenrolled terminal.

Each call is one management decision and one audit event (:mod:`~gridwall.app.web.steps`);
the POST needs the form's CSRF token.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gridwall.app.web import steps
from gridwall.app.web.core import PREFIX, Caller, Console, FormError, field
from gridwall.app.web.manager import guarded
from gridwall.app.web.points import run_page
from gridwall.errors import UsageError
from gridwall.interfaces.facts import DeviceKind, GrantStep

#: the kinds a browser may be enrolled as (a disaster terminal is issued, not enrolled here)
BROWSER_KINDS = tuple(k.value for k in DeviceKind if k is not DeviceKind.DISASTER_TERMINAL)


def terminals(console: Console) -> list[dict[str, Any]]:
    """The terminals a key may be enrolled for (registered, not retired)."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from gridwall.identity._models import Terminal as TerminalRow

    with Session(console.identity.engine) as s:
        rows = s.scalars(
            select(TerminalRow)
            .where(TerminalRow.revoked_at.is_(None))
            .order_by(TerminalRow.device_id)
        )
        return [{"device_id": t.device_id, "org": t.owner_org, "kind": t.kind,
                 "enrolled": t.public_key is not None} for t in rows]  # fmt: skip


def enrolment(form: dict[str, Any]) -> tuple[str, str, str, tuple[str, str, str | None] | None]:
    """The posted enrolment: device, public key, proof and (new terminal) its record."""
    mode = field(form, "mode")
    if mode not in ("existing", "new"):
        raise FormError("mode", "mode: existing or new")
    public_key = field(form, "public_key")
    proof = field(form, "proof")
    if mode == "existing":
        return field(form, "device_id"), public_key, proof, None
    kind = field(form, "kind")
    if kind not in BROWSER_KINDS:
        raise FormError("kind", f"kind: one of {', '.join(BROWSER_KINDS)}")
    location = field(form, "location", required=False) or None
    return field(form, "new_device_id"), public_key, proof, (field(form, "org"), kind, location)


def create_router(console: Console) -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.get("/admin/enrol")
    def enrol_page(request: Request) -> Response:
        def work() -> Response:
            caller = console.caller(request)
            steps.view(console, request, caller, GrantStep.CONSOLE_ADMIN)
            return console.render(request, "enrol.html", caller=caller,
                                  terminals=terminals(console), kinds=BROWSER_KINDS)  # fmt: skip

        return run_page(console, request, work)()

    @router.post("/admin/enrol")
    async def enrol(request: Request) -> Response:
        form = await request.form()
        if not console.csrf_ok(request, str(form.get("csrf", ""))):
            return console.render(request, "error.html", 403, kind="csrf")
        posted = {k: v for k, v in form.items()}

        def work() -> Response:
            from gridwall.identity import request_terminal_enrolment

            caller: Caller = console.caller(request)
            device, public_key, proof, register = enrolment(posted)
            change_id = steps.change(
                console, request, caller, GrantStep.TERMINAL_ENROL,
                lambda: request_terminal_enrolment(
                    console.identity, device, public_key, proof, steps.person(caller),
                    caller.now, register=register),
                query=f"terminal={device} enrol key={public_key[:16]}"
                      + (f" new {register[0]} {register[1]}" if register else ""),
                refusals=(UsageError,),
            )  # fmt: skip
            return console.render(request, "admin_done.html", caller=caller,
                                  what="enrol_requested", device=device,
                                  change_id=change_id)  # fmt: skip

        return await run_in_threadpool(guarded(console, request, work))

    return router
