"""The gridwall console: server-rendered pages over the same gateway, identity and audit
log as the API (issue 12, first landing).

:func:`mount_console` adds the pages under ``/console/`` and the package's own static
files under ``/console/static/`` (no CDN, nothing fetched at run time) to the composed
app of :func:`gridwall.app.server.create_server_app`. One module per area:

* :mod:`~gridwall.app.web.signin` — sign-in (password + TOTP + enrolled terminal), sign-out,
  the language switch;
* :mod:`~gridwall.app.web.home` — who is signed in and what they may open;
* :mod:`~gridwall.app.web.points` — search, the supply point page, monthly usage;
* :mod:`~gridwall.app.web.customers` — a retailer's own current customers;
* :mod:`~gridwall.app.web.lookup` — a retailer's equal-footing supply-point lookup;
* :mod:`~gridwall.app.web.auditlog` — the audit-log explorer (internal audit) and the
  log's verification with its checkpoints and public keys (audit, compliance, regulator);
* :mod:`~gridwall.app.web.compliance` — the second line's alert and case queue, rule
  catalogue and dashboard;
* :mod:`~gridwall.app.web.manager` — the first line's access reviews and two-person
  approvals;
* :mod:`~gridwall.app.web.cases` — the case workflow's steps for the three lines, through
  the server's one case desk;
* :mod:`~gridwall.app.web.admin` — persons, accounts, terminals, HR import with its
  preview, training attestations.

Shared machinery (templates, cookies, CSRF, refusals) is :mod:`~gridwall.app.web.core`;
languages, JST and number formats :mod:`~gridwall.app.web.i18n`. See ``docs/console.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.staticfiles import StaticFiles

from gridwall.app.web.core import HERE, PREFIX, Console

if TYPE_CHECKING:
    from fastapi import FastAPI

    from gridwall.gateway import Gateway
    from gridwall.identity import IdentityService

__all__ = ["Console", "mount_console"]


def mount_console(
    app: FastAPI,
    gateway: Gateway,
    identity: IdentityService,
    clock: Callable[[], datetime] | None = None,
    *,
    audit_log: Any = None,
    audit_sink: Any = None,
    decider: Any = None,
    cases: Any = None,
) -> Console:
    """Mount the console's pages and static files on ``app``; returns its :class:`Console`
    (also ``app.state.console``; its ``routers`` are the pages' routers).

    The audit pages read ``audit_log``, record to ``audit_sink`` and ask ``decider`` (the
    management engine); by default the composed server's (``app.state.server``: its log,
    its request sink) and the shipped management policy. ``cases`` is the server's one
    :class:`~gridwall.app.casework.CaseDesk` (the one ``/v1/cases`` uses); without it the
    case pages refuse with 503."""
    from gridwall.app.web import (
        admin,
        auditlog,
        compliance,
        customers,
        enrol,
        home,
        lookup,
        manager,
        points,
        signin,
    )
    from gridwall.app.web import cases as casepages
    from gridwall.policy import default_management_engine

    console = Console(gateway, identity, clock)
    server = getattr(app.state, "server", None)
    console.audit_log = audit_log if audit_log is not None else getattr(server, "audit_log", None)
    console.audit_sink = audit_sink if audit_sink is not None else getattr(server, "audit", None)
    console.decider = decider if decider is not None else default_management_engine()
    console.engine = getattr(server, "engine", None)
    console.cases = cases
    console.lookup = getattr(server, "lookup_factory", None)
    pages = (
        signin,
        home,
        points,
        customers,
        lookup,
        auditlog,
        compliance,
        manager,
        admin,
        casepages,
        enrol,
    )
    for module in pages:
        router = module.create_router(console)
        console.routers.append(router)
        app.include_router(router)
    # the pages link the content-versioned path (cacheable: PUBLIC_STATIC of
    # gridwall.app.http.security); the plain one stays for anything that names it (no-store)
    static = StaticFiles(directory=HERE / "static")
    app.mount(f"{PREFIX}/static/v-{console.static_version}", static, name="console-static-v")
    app.mount(f"{PREFIX}/static", static, name="console-static")
    app.state.console = console
    return console
