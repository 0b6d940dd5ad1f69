"""Sign-in, sign-out and the language switch.

Sign-in is identity's login, exactly as ``POST /v1/identity/login``: account ID, password,
the current TOTP code and a fresh token of the enrolled terminal (the ``gw_terminal``
cookie ``static/terminal.js`` signs with the terminal key imported into this browser).
Every refusal answers the same neutral page (the reason goes to the audit log); a
terminal of another organisation is refused by identity with its C② alert. Sign-out ends
the session server-side (identity's logout), then drops the cookie.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gridwall.app.web import i18n
from gridwall.app.web.core import (
    PREFIX,
    SESSION_COOKIE,
    TERMINAL_COOKIE,
    Console,
    FormError,
    SignInNeeded,
    field,
)
from gridwall.interfaces import AuthenticationError

#: pages the language switch may return to (nothing else: no open redirect)
RETURNABLE = ("/console/", "/console/signin", "/console/search", "/console/customers")


def create_router(console: Console) -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.get("/signin")
    def signin_page(request: Request) -> Response:
        return console.render(request, "signin.html")

    @router.post("/signin")
    async def signin(request: Request) -> Response:
        form = await request.form()
        if not console.csrf_ok(request, str(form.get("csrf", ""))):
            return console.render(request, "error.html", 403, kind="csrf")
        try:
            account = field(form, "account_id")
            password = field(form, "password")
            totp = field(form, "totp")
        except FormError as e:
            return console.render(request, "signin.html", 400, problem="form", field=e.field)
        terminal = request.cookies.get(TERMINAL_COOKIE)
        if not terminal or len(terminal) > 4096:
            return console.render(request, "signin.html", 401, problem="terminal")
        client = request.client.host if request.client else None

        def login() -> Response:
            try:
                res = console.identity.login(
                    account, password, totp, terminal, console.now(), source_ip=client
                )
            except AuthenticationError as e:
                problem = "refused" if e.status == 401 else "forbidden"
                return console.render(request, "signin.html", e.status, problem=problem)
            resp = console.redirect(f"{PREFIX}/")
            console.set_cookie(request, resp, SESSION_COOKIE, res.token)
            return resp

        return await run_in_threadpool(login)

    @router.post("/signout")
    async def signout(request: Request) -> Response:
        form = await request.form()
        if not console.csrf_ok(request, str(form.get("csrf", ""))):
            return console.render(request, "error.html", 403, kind="csrf")

        def logout() -> Response:
            try:
                token, terminal = console.credentials(request)
                console.identity.logout(token, console.now(), terminal_credential=terminal)
            except (SignInNeeded, AuthenticationError):
                pass  # already ended: the cookie goes all the same
            resp = console.redirect(f"{PREFIX}/signin")
            resp.delete_cookie(SESSION_COOKIE, path=PREFIX)
            return resp

        return await run_in_threadpool(logout)

    @router.post("/lang")
    async def switch_language(request: Request) -> Response:
        form = await request.form()
        if not console.csrf_ok(request, str(form.get("csrf", ""))):
            return console.render(request, "error.html", 403, kind="csrf")
        lang = str(form.get("lang", ""))
        if lang not in i18n.LANGUAGES:
            return console.render(request, "error.html", 400, kind="form", field="lang")
        back = str(form.get("next", ""))
        resp = console.redirect(back if back in RETURNABLE else f"{PREFIX}/")
        # remembered for a year; not secret, but no script needs to read it either
        resp.set_cookie(
            i18n.COOKIE,
            lang,
            max_age=365 * 24 * 3600,
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return resp

    return router
