"""Response hardening for every answer of the app, and ``/docs`` without a CDN.

:class:`SecurityHeaders` (ASGI middleware) sets on every response — data, refusal, 404,
the docs — ``Cache-Control: no-store`` (but the console's public static files, which the browser may
cache: :data:`PUBLIC_STATIC`), ``X-Content-Type-Options: nosniff``,
``Referrer-Policy: no-referrer`` and a restrictive ``Content-Security-Policy`` (nothing but
the app's own scripts and styles, forms posting only to the app itself — the console's
pages — and ``frame-ancestors 'none'``), and drops any ``Server``
header (``gridwall serve`` also turns uvicorn's off).

:func:`mount_docs` serves Swagger UI from the ``swagger-ui-bundle`` package (its files are
installed with gridwall): the page loads only ``/docs/assets/…`` and a local initialiser
script, so it works offline and under the CSP (no inline script).
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[..., Any]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS: list[tuple[bytes, bytes]] = [
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
_REPLACED = {k for k, _ in HEADERS} | {b"server"}
#: path prefixes of public, content-versioned static files (the console's CSS and script:
#: no customer data, no account data). A successful answer under them may be cached by
#: the browser (``immutable``: the path carries the content's hash, so a new release has a
#: new URL); everything else stays ``no-store``. Re-fetching them on every page cost each
#: page two more round trips (and two more audit events) — the console's latency cause.
PUBLIC_STATIC: tuple[str, ...] = ("/console/static/v-",)
CACHEABLE = b"public, max-age=31536000, immutable"
_CACHED_HEADERS = [(k, CACHEABLE if k == b"cache-control" else v) for k, v in HEADERS
                   if k != b"pragma"]  # fmt: skip


class SecurityHeaders:
    """ASGI middleware: the hardening headers on every HTTP response (see module doc)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        path = str(scope.get("path", ""))
        public = any(path.startswith(p) for p in PUBLIC_STATIC) and ".." not in path

        async def harden(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", ()) if k.lower() not in _REPLACED]
                cached = public and int(message.get("status", 500)) == 200
                message["headers"] = kept + (_CACHED_HEADERS if cached else HEADERS)
            await send(message)

        await self.app(scope, receive, harden)


def swagger_assets() -> Path:
    """The Swagger UI distribution shipped by the ``swagger-ui-bundle`` package."""
    vendor = Path(str(importlib.resources.files("swagger_ui_bundle") / "vendor"))
    dists = sorted(p for p in vendor.iterdir() if p.name.startswith("swagger-ui"))
    if not dists:
        raise RuntimeError("swagger-ui-bundle is installed without its assets")
    return dists[-1]


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} — API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script></body></html>
"""
_INIT = """window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout"});
"""


def mount_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI from the installed package). Build ``app`` with
    ``docs_url=None, redoc_url=None`` so FastAPI's CDN pages are not served."""
    assets = swagger_assets()
    app.mount("/docs/assets", StaticFiles(directory=assets), name="swagger-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        return HTMLResponse(_PAGE.format(title=app.title))

    @app.get("/docs/init.js", include_in_schema=False)
    def docs_init() -> Response:
        return Response(_INIT, media_type="text/javascript")
