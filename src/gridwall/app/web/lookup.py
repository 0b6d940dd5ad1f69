"""The equal-footing supply-point lookup (供給地点の照会) for a retailer agent.

One more face over the SAME lookup service ``POST /v1/lookup`` uses (the server's
``lookup_factory``): one Cedar decision and one audit event per lookup, made by the
service, never here. The form is a POST (address and the optional contract holder name
never appear in a URL); the declared purpose is ``switching``, as for the API. The page
shows exactly the API's answer to a retailer: candidates (supply point ID, address, score,
voltage, meter ID) and, when a name was given, match / no match. Refusals are the API's:
400 naming the field, 403, 429, 503; the retailer's kind is never looked at.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gridwall.app.web.core import PREFIX, Console, FormError, field
from gridwall.app.web.points import run_page
from gridwall.errors import AccessDenied, UsageError
from gridwall.interfaces.facts import Purpose
from gridwall.lookup._service import IndexUnavailable, RateLimited

PURPOSE = Purpose.SWITCHING.value
MAX_ADDRESS, MAX_NAME = 300, 200  # the API's limits (LookupRequest)


def create_router(console: Console) -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.get("/lookup")
    def lookup_page(request: Request) -> Response:
        def work() -> Response:
            caller = console.caller(request)
            return console.render(request, "lookup.html", caller=caller, answer=None)

        return run_page(console, request, work)()

    @router.post("/lookup")
    async def lookup(request: Request) -> Response:
        form = await request.form()
        if not console.csrf_ok(request, str(form.get("csrf", ""))):
            return console.render(request, "error.html", 403, kind="csrf")

        def work() -> Response:
            address = field(form, "address")
            if len(address) > MAX_ADDRESS:
                raise FormError("address", f"address is longer than {MAX_ADDRESS} characters")
            name = field(form, "name", required=False) or None
            if name is not None and len(name) > MAX_NAME:
                raise FormError("name", f"name is longer than {MAX_NAME} characters")
            ctx = console.context(request, PURPOSE)
            caller = console.caller_from(ctx)
            if console.lookup is None:
                return console.render(request, "error.html", 503, caller=caller,
                                      kind="unavailable")  # fmt: skip
            try:
                ans = console.lookup().lookup(address, name=name, caller=ctx)
            except UsageError:  # too unspecific or invalid: the API's 400 naming the field
                raise FormError("address", "address too unspecific") from None
            except AccessDenied:
                return console.render(request, "error.html", 403, caller=caller,
                                      kind="forbidden")  # fmt: skip
            except RateLimited:
                return console.render(request, "error.html", 429, caller=caller,
                                      kind="rate_limited")  # fmt: skip
            except IndexUnavailable:
                return console.render(request, "error.html", 503, caller=caller,
                                      kind="unavailable")  # fmt: skip
            except Exception:  # audit log or store down: refused, never answered unaudited
                return console.render(request, "error.html", 503, caller=caller,
                                      kind="unavailable")  # fmt: skip
            return console.render(request, "lookup.html", caller=caller, answer=ans.to_json(),
                                  address=address, name=name)  # fmt: skip

        return await run_in_threadpool(run_page(console, request, work))

    return router
