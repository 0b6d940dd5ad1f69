"""Supply points: search (by supply point ID, meter or address, with a declared purpose),
the supply point page and its monthly usage.

Each page is one gateway call (``search``, ``read_point``, ``usage``), decided by the Cedar
policy and audited by the gateway as one event; this module only turns forms into calls
and answers into pages. Everything is a POST: no supply point ID, address or other
customer value ever appears in a URL. A point the caller may not see answers exactly like
one that does not exist (the gateway's ``NotVisible``); field groups the policy withholds
are shown as 「非表示（権限なし）」 with nothing about their value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gridwall.app.web.charts import usage_chart
from gridwall.app.web.core import (
    PREFIX,
    Console,
    FormError,
    SignInNeeded,
    field,
    purpose_field,
)
from gridwall.gateway import GatewayError, SearchCriteria
from gridwall.interfaces import AuthenticationError

#: the field groups of the supply point page, in display order (usage has its own page)
GROUPS = (
    "contract_name",
    "address",
    "phone",
    "retailer",
    "contract",
    "equipment",
    "lrs",
    "switching_history",
    "fit",
)
SEARCH_FIELDS = ("supply_point_id", "meter_id", "pref", "city", "town", "banchi")
PAGE_SIZE = 50


def run_page(
    console: Console, request: Request, work: Callable[[], Response]
) -> Callable[[], Response]:
    """``work`` with refusals turned into pages (sign-in, 400 naming the field, 403/404/503)."""

    def guarded() -> Response:
        try:
            return work()
        except (SignInNeeded, FormError, GatewayError, AuthenticationError) as e:
            caller = None
            if not isinstance(e, SignInNeeded):
                try:
                    caller = console.caller(request)
                except (SignInNeeded, AuthenticationError):
                    caller = None
            return console.refusal(request, e, caller)

    return guarded


def create_router(console: Console) -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    async def posted(request: Request) -> dict[str, Any] | None:
        form = await request.form()
        if not console.csrf_ok(request, str(form.get("csrf", ""))):
            return None
        return {k: v for k, v in form.items()}

    @router.get("/search")
    def search_page(request: Request) -> Response:
        def work() -> Response:
            caller = console.caller(request)
            return console.render(request, "search.html", caller=caller, form={}, results=None)

        return run_page(console, request, work)()

    @router.post("/search")
    async def search(request: Request) -> Response:
        form = await posted(request)
        if form is None:
            return console.render(request, "error.html", 403, kind="csrf")

        def work() -> Response:
            purpose = purpose_field(form)
            values = {k: field(form, k, required=False) or None for k in SEARCH_FIELDS}
            if not any(values.values()):
                raise FormError("supply_point_id", "give at least one search criterion")
            ctx = console.context(request, purpose)
            crit = SearchCriteria(**values)
            out = console.gateway.search(ctx, crit, limit=PAGE_SIZE, screen="console/search")
            caller = console.caller_from(ctx)
            return console.render(request, "search.html", caller=caller, form=values,
                                  purpose=purpose, results=out)  # fmt: skip

        return await run_in_threadpool(run_page(console, request, work))

    @router.post("/point")
    async def point(request: Request) -> Response:
        form = await posted(request)
        if form is None:
            return console.render(request, "error.html", 403, kind="csrf")

        def work() -> Response:
            purpose = purpose_field(form)
            pid = field(form, "supply_point_id")
            ctx = console.context(request, purpose)
            view = console.gateway.read_point(ctx, pid, screen="console/point")
            caller = console.caller_from(ctx)
            return console.render(request, "point.html", caller=caller, purpose=purpose,
                                  point=view, groups=GROUPS)  # fmt: skip

        return await run_in_threadpool(run_page(console, request, work))

    @router.post("/usage")
    async def usage(request: Request) -> Response:
        form = await posted(request)
        if form is None:
            return console.render(request, "error.html", 403, kind="csrf")

        def work() -> Response:
            purpose = purpose_field(form)
            pid = field(form, "supply_point_id")
            ctx = console.context(request, purpose)
            out = console.gateway.usage(ctx, pid, screen="console/usage")
            caller = console.caller_from(ctx)
            return console.render(request, "usage.html", caller=caller, purpose=purpose,
                                  usage=out, chart=usage_chart(out["usage"]))  # fmt: skip

        return await run_in_threadpool(run_page(console, request, work))

    return router
