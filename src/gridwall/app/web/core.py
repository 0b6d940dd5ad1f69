"""What every console page shares: templates, cookies, CSRF, the caller, refusals.

The console is one more face over the same gateway, identity and audit log as the API:

* **who** — the session token (``gw_session`` cookie: HttpOnly, SameSite=Strict, Secure over
  TLS, path ``/console``) and a fresh terminal token (``gw_terminal`` cookie, written by
  ``static/terminal.js`` with the enrolled terminal's key held in the browser, re-signed
  before it goes stale) are exactly the API's ``Authorization: Bearer`` and
  ``X-Gridwall-Terminal``; identity checks both on every request (idle and absolute
  timeouts, the terminal the session was opened on, C② for another organisation's
  terminal) and the gateway's decision and audit follow. Nothing is decided here.
* **CSRF** — every form carries ``csrf`` = HMAC(server key, session token) or, before
  sign-in, HMAC(server key, the ``gw_pre`` cookie); a POST without the right value is
  refused (403) before anything else happens. The server key is random per process: a
  restart only makes open forms stale.
* **no customer value in a URL** — pages with a supply point ID or search terms are POSTs.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from gridwall.app.web import i18n
from gridwall.app.web.details import localise
from gridwall.gateway import GatewayError
from gridwall.interfaces import AuthenticationError, Principal, RequestContext, Terminal
from gridwall.interfaces.clock import as_utc, system_clock
from gridwall.interfaces.facts import AccountState, OrgKind, Purpose

if TYPE_CHECKING:
    from gridwall.gateway import Gateway
    from gridwall.identity import IdentityService

PREFIX = "/console"
SESSION_COOKIE = "gw_session"
TERMINAL_COOKIE = "gw_terminal"
PRE_COOKIE = "gw_pre"
MAX_FIELD = 256
HERE = Path(__file__).parent

#: purposes offered in the forms, by organisation kind (the policy still decides)
PURPOSES: Mapping[OrgKind, tuple[Purpose, ...]] = {
    OrgKind.NW: (Purpose.TAKUSO, Purpose.LRS_OPERATIONS, Purpose.FIT, Purpose.DISASTER_SUPPORT),
    OrgKind.RETAIL: (Purpose.CUSTOMER_SERVICE, Purpose.SALES, Purpose.DISASTER_SUPPORT),
    OrgKind.CONTRACTOR: (Purpose.SYSTEM_MAINTENANCE, Purpose.METER_READING),
    OrgKind.REGULATOR: (Purpose.AUDIT,),
}


class FormError(ValueError):
    """A form field is missing or malformed; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class SignInNeeded(Exception):
    """No usable session: the caller is sent to the sign-in page."""


@dataclass(frozen=True, slots=True)
class Caller:
    principal: Principal
    terminal: Terminal
    now: datetime


def static_version(directory: Path = HERE / "static") -> str:
    """A hash of the shipped static files: their URLs carry it (``static/v-<hash>/``), so
    the browser may keep them (``immutable``,
    :data:`gridwall.app.http.security.PUBLIC_STATIC`) and a changed file is a new URL."""
    h = hashlib.sha256()
    for f in sorted(directory.iterdir()):
        if f.is_file():
            h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    # letters only (hex digits spelt a–p): no run of digits in a URL that could read as a
    # customer value (tests/console/test_routes.py checks every URL for them)
    return h.hexdigest()[:16].translate(str.maketrans("0123456789abcdef", "abcdefghijklmnop"))


def _environment(lang: str, version: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html", "svg"], default=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(i18n.translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.globals["static_version"] = version
    env.filters["jst"] = lambda v: i18n.jst(v, lang)
    env.filters["day"] = lambda v: i18n.day(v, lang)
    env.filters["number"] = lambda v: i18n.number(v, lang)
    env.filters["month"] = lambda v: i18n.month(v, lang)
    env.filters["epoch"] = lambda v: i18n.jst(datetime.fromtimestamp(int(v), UTC), lang)
    return env


class Console:
    """The console's shared state over the composed server's gateway and identity."""

    def __init__(
        self,
        gateway: Gateway,
        identity: IdentityService,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.gateway = gateway
        self.identity = identity
        self.clock = clock or system_clock
        #: the audit log read by the audit pages, the sink their events go to and the
        #: management decider of their steps (set by :func:`~gridwall.app.web.mount_console`;
        #: missing, those pages refuse with 503)
        self.audit_log: Any = None
        self.audit_sink: Any = None
        self.decider: Any = None
        #: the server's store (grants' declarations, the monitor's alerts, cases): the
        #: manager and compliance pages read it; missing, those parts stay empty
        self.engine: Any = None
        #: the server's one case desk (:class:`~gridwall.app.casework.CaseDesk`, the one
        #: ``/v1/cases`` uses); missing, the case pages refuse with 503
        self.cases: Any = None
        #: the server's lookup service factory (the one ``POST /v1/lookup`` uses);
        #: missing, the lookup page refuses with 503
        self.lookup: Callable[[], Any] | None = None
        self._key = secrets.token_bytes(32)
        self.static_version = version = static_version()
        self._envs = {lang: _environment(lang, version) for lang in i18n.LANGUAGES}
        #: the pages' routers (filled by :func:`gridwall.app.web.mount_console`)
        self.routers: list[APIRouter] = []

    # -- time, language ------------------------------------------------------------

    def now(self) -> datetime:
        return as_utc(self.clock(), "clock")

    @staticmethod
    def lang(request: Request) -> str:
        return i18n.language(request.cookies.get(i18n.COOKIE))

    def gettext(self, request: Request) -> Callable[[str], str]:
        return i18n.translations(self.lang(request)).gettext

    # -- CSRF -----------------------------------------------------------------------

    def _mac(self, value: str) -> str:
        return hmac.new(self._key, value.encode("utf-8"), hashlib.sha256).hexdigest()

    def csrf_token(self, request: Request, pre: str | None = None) -> str:
        session = request.cookies.get(SESSION_COOKIE)
        if session:
            return self._mac("session:" + session)
        return self._mac("pre:" + (pre or request.cookies.get(PRE_COOKIE) or ""))

    def csrf_ok(self, request: Request, sent: str) -> bool:
        """Is ``sent`` the token of this browser's session (or pre-session)?"""
        session = request.cookies.get(SESSION_COOKIE)
        pre = request.cookies.get(PRE_COOKIE)
        # with a session, only the session's token (the pages render no other)
        good = self._mac("session:" + session) if session else pre and self._mac("pre:" + pre)
        return bool(sent and good) and hmac.compare_digest(sent, str(good))

    # -- who is calling -------------------------------------------------------------

    @staticmethod
    def credentials(request: Request) -> tuple[str, str]:
        token = request.cookies.get(SESSION_COOKIE)
        terminal = request.cookies.get(TERMINAL_COOKIE)
        if not token or not terminal or len(token) > 4096 or len(terminal) > 4096:
            raise SignInNeeded
        return token, terminal

    def caller(self, request: Request) -> Caller:
        """The signed-in caller (identity decides, audited like the API); else SignInNeeded."""
        token, terminal = self.credentials(request)
        now = self.now()
        try:
            principal, term = self.gateway.auth.authenticate(token, terminal, now)
        except AuthenticationError as e:
            if e.status == 403:
                raise
            raise SignInNeeded from None
        self.recheck(principal, token, terminal, now)
        return Caller(principal, term, now)

    def recheck(self, principal: Principal, token: str, terminal: str, now: datetime) -> None:
        """Every page re-checks the account behind its session: revoked, locked, expired or
        transferred since sign-in, the session is ended server-side (identity's ``logout``,
        audited) and the browser signed out (:class:`SignInNeeded`). Timeouts (idle and
        absolute, the API's) are identity's own refusals and sign out the same way."""
        if principal.facts.account_state is AccountState.ACTIVE:
            return
        # already ended (e.g. revoked): nothing left to end, identity records the refusal
        with contextlib.suppress(AuthenticationError):
            self.identity.logout(token, now, terminal_credential=terminal)
        raise SignInNeeded

    @staticmethod
    def caller_from(ctx: RequestContext) -> Caller:
        return Caller(ctx.principal, ctx.terminal, ctx.now)

    def context(self, request: Request, purpose: str) -> RequestContext:
        """The gateway's request context for a declared purpose (the API's three headers)."""
        token, terminal = self.credentials(request)
        client = request.client.host if request.client else None
        try:
            ctx = self.gateway.authenticate(token, terminal, purpose, source_ip=client)
        except GatewayError as e:
            if e.status == 401:
                raise SignInNeeded from None
            raise
        self.recheck(ctx.principal, token, terminal, ctx.now)
        return ctx

    def may_open(self, caller: Caller | None) -> frozenset[str]:
        """The management steps whose pages the menu links to (the engine's own answer;
        each page asks it again and records its decision)."""
        if caller is None or self.decider is None:
            return frozenset()
        from gridwall.app.management import manage_request
        from gridwall.interfaces.facts import GrantStep

        steps = (
            GrantStep.AUDIT_EXPLORE,
            GrantStep.AUDIT_VERIFY,
            GrantStep.CONSOLE_COMPLIANCE,
            GrantStep.CONSOLE_MANAGER,
            GrantStep.CONSOLE_ADMIN,
        )
        try:
            out = {
                str(s)
                for s in steps
                if self.decider.decide(manage_request(s, caller.principal, caller.terminal)).allowed
            }
        except Exception:  # the menu only shows less; the pages themselves deny
            return frozenset()
        if self.cases is not None:  # the case policy's own answer (the case desk's)
            from gridwall.app.casework import Caller as CaseCaller
            from gridwall.interfaces.facts import CaseStep

            if self.cases.may(CaseCaller(caller.principal, caller.terminal), CaseStep.LIST):
                out.add(str(CaseStep.LIST))
        return frozenset(out)

    # -- answers --------------------------------------------------------------------

    def render(
        self,
        request: Request,
        template: str,
        status: int = 200,
        *,
        caller: Caller | None = None,
        **values: Any,
    ) -> Response:
        lang = self.lang(request)
        pre = None
        if not request.cookies.get(SESSION_COOKIE) and not request.cookies.get(PRE_COOKIE):
            pre = secrets.token_urlsafe(24)
        page = (
            self._envs[lang]
            .get_template(template)
            .render(
                lang=lang,
                other_lang="en" if lang == "ja" else "ja",
                csrf=self.csrf_token(request, pre),
                caller=caller,
                purposes=PURPOSES.get(caller.principal.facts.org_kind, ()) if caller else (),
                may=self.may_open(caller),
                path=request.url.path,
                **values,
            )
        )
        resp = HTMLResponse(page, status_code=status)
        if pre is not None:
            self.set_cookie(request, resp, PRE_COOKIE, pre)
        return resp

    @staticmethod
    def set_cookie(
        request: Request, resp: Response, name: str, value: str, *, http_only: bool = True
    ) -> None:
        resp.set_cookie(
            name,
            value,
            path=PREFIX,
            httponly=http_only,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    @staticmethod
    def redirect(to: str) -> Response:
        return RedirectResponse(to, status_code=303)

    def refusal(self, request: Request, e: Exception, caller: Caller | None = None) -> Response:
        """A gateway / identity refusal as a page (the neutral text, never the reason)."""
        if isinstance(e, SignInNeeded):
            resp = self.redirect(f"{PREFIX}/signin")
            resp.delete_cookie(SESSION_COOKIE, path=PREFIX)
            return resp
        if isinstance(e, FormError):
            return self.render(request, "error.html", 400, caller=caller, kind="form",
                               field=e.field, message="")  # fmt: skip
        status = int(getattr(e, "status", 500))
        kind = {404: "not_found", 403: "forbidden", 400: "bad_request", 503: "unavailable"}
        detail = getattr(e, "parameter", None) or getattr(e, "header", None)
        return self.render(
            request,
            "error.html",
            status if status in kind else 500,
            caller=caller,
            kind=kind.get(status, "unavailable"),
            field=detail,
            # the catalogue's words for the detail, never the capability's English text
            message=localise(str(getattr(e, "detail", "")), self.gettext(request))
            if status == 400
            else "",
        )


def purpose_field(form: Mapping[str, Any]) -> str:
    """The declared purpose of a form (one of the known purposes; the policy decides)."""
    value = field(form, "purpose")
    if value not in {p.value for p in Purpose}:
        raise FormError("purpose", "unknown purpose")
    return value


def field(form: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    """A text field of a posted form, stripped; refuses a missing, non-text or long one."""
    value = form.get(name)
    if value is None or value == "":
        if required:
            raise FormError(name, f"{name} is required")
        return ""
    if not isinstance(value, str):
        raise FormError(name, f"{name} must be text")
    value = value.strip()
    if len(value) > MAX_FIELD:
        raise FormError(name, f"{name} is longer than {MAX_FIELD} characters")
    if required and not value:
        raise FormError(name, f"{name} is required")
    return value
