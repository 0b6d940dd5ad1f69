"""A retailer's own current customers (自社顧客), paged by supply point ID.

One gateway call per page (``list_customers``: decided, masked, audited as one event).
Paging is a POST carrying the last ID seen, so no supply point ID is ever in a URL. Only
the caller's own current customers can be listed: the gateway never fetches others.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gridwall.app.web.core import PREFIX, Console, field, purpose_field
from gridwall.app.web.points import run_page

PAGE_SIZE = 20


def create_router(console: Console) -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.get("/customers")
    def customers_page(request: Request) -> Response:
        def work() -> Response:
            caller = console.caller(request)
            return console.render(request, "customers.html", caller=caller, page=None)

        return run_page(console, request, work)()

    @router.post("/customers")
    async def customers(request: Request) -> Response:
        form = await request.form()
        if not console.csrf_ok(request, str(form.get("csrf", ""))):
            return console.render(request, "error.html", 403, kind="csrf")

        def work() -> Response:
            purpose = purpose_field(form)
            after = field(form, "after", required=False) or None
            ctx = console.context(request, purpose)
            page = console.gateway.list_customers(
                ctx, after=after, limit=PAGE_SIZE, screen="console/customers"
            )
            caller = console.caller_from(ctx)
            return console.render(request, "customers.html", caller=caller, purpose=purpose,
                                  page=page, after=after)  # fmt: skip

        return await run_in_threadpool(run_page(console, request, work))

    return router
