"""The start page: who is signed in, on which terminal, and the areas they may open."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gridwall.app.web.core import PREFIX, Console
from gridwall.app.web.points import run_page


def create_router(console: Console) -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.get("/")
    def home(request: Request) -> Response:
        def work() -> Response:
            return console.render(request, "home.html", caller=console.caller(request))

        return run_page(console, request, work)()

    @router.get("")
    def bare() -> Response:
        return console.redirect(f"{PREFIX}/")

    return router
