"""``GET /health``: is the server answering as it should (no credentials, no customer data).

Components: ``audit`` (the audit log answers a size), ``canary`` (the last canary run:
:class:`gridwall.app.canary.CanaryState`), ``monitor`` (the last tick of the monitor
schedule — analysis, cases, deadlines: :class:`gridwall.app.monitoring.MonitorState`).
Any red component makes the whole answer 503 ``{"status": "failing", …}`` so that a
load balancer or an operator's probe sees it; green is 200 ``{"status": "ok", …}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from gridwall.app.canary import CanaryState
from gridwall.app.http.errors import ErrorMappingRoute, json_response
from gridwall.app.monitoring import MonitorState


def create_router(
    canary: CanaryState, audit_size: Callable[[], int], monitor: MonitorState | None = None
) -> APIRouter:
    router = APIRouter(tags=["health"], route_class=ErrorMappingRoute)

    # an operations probe without credentials: outside the API's schema (like /docs), which
    # documents authenticated routes only; still audited like every request
    @router.get("/health", include_in_schema=False)
    def health() -> Response:
        components: dict[str, Any] = {}
        try:
            audit_size()
            components["audit"] = {"status": "ok"}
        except Exception as e:
            components["audit"] = {"status": "failing", "error": type(e).__name__}
        canary_ok, components["canary"] = canary.health()
        monitor_ok = True
        if monitor is not None:
            monitor_ok, components["monitor"] = monitor.health()
        ok = canary_ok and monitor_ok and components["audit"]["status"] == "ok"
        body = {"status": "ok" if ok else "failing", "components": components}
        return json_response(body, status=200 if ok else 503)

    return router
