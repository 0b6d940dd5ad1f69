"""Who is calling: the one bearer parser and the one request-context dependency of the app.

Every route that needs a caller gets it from :class:`Contexts`:

* :meth:`Contexts.request_context` — bearer token, terminal credential and declared purpose
  → :class:`~gridwall.interfaces.RequestContext` (the gateway's routes and the lookup);
* :meth:`Contexts.caller` — bearer token and terminal credential → principal and terminal
  (grant management and ``GET /v1/identity/session``, which take no purpose).

Both read the credentials with :func:`bearer_token` and :func:`terminal_credential`, so
that every route answers a missing header, a wrong scheme, a malformed value and an
unknown or expired token alike: 401 ``unauthenticated`` naming the header (errors.py shape).

The client address is the socket's peer (``request.client``); behind a trusted reverse
proxy the server's :func:`gridwall.app.server.create_server_app` has already replaced it
with the address the proxy saw (``X-Forwarded-For`` is believed only from a configured
proxy, see :func:`gridwall.config.trusted_proxies`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastapi import Request

from gridwall.gateway._errors import Unauthenticated
from gridwall.interfaces import Authenticator, Principal, RequestContext, Terminal
from gridwall.interfaces.clock import as_utc, system_clock

if TYPE_CHECKING:
    from gridwall.gateway import Gateway

AUTHORIZATION = "Authorization"
TERMINAL = "X-Gridwall-Terminal"
#: longest credential we parse at all (a session token is ~50 characters, a gwt1/gwc1 token
#: ~150): longer values are refused as malformed without further work
MAX_CREDENTIAL = 4096


def _malformed(header: str, what: str) -> Unauthenticated:
    return Unauthenticated(f"{header} header {what}", header=header)


def bearer_token(authorization: str | None) -> str:
    """The token of ``Authorization: Bearer <token>``; refuses (401 naming the header) a
    missing header, another scheme, an empty or malformed token."""
    if authorization is None or not authorization.strip():
        raise _malformed(AUTHORIZATION, "required (Authorization: Bearer <token>)")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer":
        raise _malformed(AUTHORIZATION, "must use the Bearer scheme")
    if not token or len(token) > MAX_CREDENTIAL or any(c.isspace() for c in token):
        raise _malformed(AUTHORIZATION, "must be 'Bearer <token>'")
    return token


def terminal_credential(value: str | None) -> str:
    """The terminal credential (``X-Gridwall-Terminal``), or 401 naming the header."""
    if value is None or not value.strip():
        raise _malformed(TERMINAL, "required (the enrolled terminal's signed token)")
    if len(value) > MAX_CREDENTIAL:
        raise _malformed(TERMINAL, "malformed")
    return value.strip()


def client_address(request: Request) -> str | None:
    """The resolved client address (socket peer, or what a trusted proxy forwarded)."""
    return request.client.host if request.client else None


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller without a declared purpose."""

    principal: Principal
    terminal: Terminal
    now: datetime
    source_ip: str | None


class Contexts:
    """The request-context dependency of every router (see the module docstring)."""

    def __init__(
        self,
        auth: Authenticator,
        clock: Callable[[], datetime] | None = None,
        *,
        gateway: Gateway | None = None,
    ) -> None:
        self.auth = auth
        self.clock = clock or system_clock
        self.gateway = gateway

    def caller(self, request: Request) -> Caller:
        """Bearer + terminal credential → the caller (401/403 in the one shape)."""
        h = request.headers
        bearer = bearer_token(h.get("authorization"))
        terminal = terminal_credential(h.get("x-gridwall-terminal"))
        now = as_utc(self.clock(), "clock")
        principal, term = self.auth.authenticate(bearer, terminal, now)
        return Caller(principal, term, now, client_address(request))

    def request_context(self, request: Request) -> RequestContext:
        """Bearer + terminal credential + declared purpose → the gateway's context."""
        if self.gateway is None:
            raise RuntimeError("Contexts.request_context needs the gateway")
        h = request.headers
        bearer = bearer_token(h.get("authorization"))
        terminal = terminal_credential(h.get("x-gridwall-terminal"))
        return self.gateway.authenticate(
            bearer, terminal, h.get("x-gridwall-purpose"), source_ip=client_address(request)
        )


def caller_dependency(gateway: Gateway) -> Callable[..., Any]:
    """The gateway's request context as a FastAPI dependency (for routers that declare it)."""
    contexts = Contexts(gateway.auth, gateway.clock, gateway=gateway)

    def context(request: Request) -> RequestContext:
        return contexts.request_context(request)

    return context
