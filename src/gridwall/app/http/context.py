"""FastAPI dependencies of the composed app (no ``from __future__ import annotations``:
FastAPI must see the ``Annotated`` header types)."""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Header, Request

from gridwall.gateway import Gateway


def caller_dependency(gateway: Gateway) -> Callable[..., Any]:
    """The lookup's caller: the gateway's own authentication — the same three headers and
    the same refusals (401/403 as JSON naming the header) as every gateway route."""

    def caller(
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
        x_gridwall_terminal: Annotated[
            str | None, Header(description="terminal credential of the enrolled 端末")
        ] = None,
        x_gridwall_purpose: Annotated[
            str | None, Header(description="declared purpose (e.g. switching)")
        ] = None,
    ) -> Any:
        bearer = None
        if authorization and authorization[:7].lower() == "bearer ":
            bearer = authorization[7:].strip() or None
        return gateway.authenticate(
            bearer,
            x_gridwall_terminal,
            x_gridwall_purpose,
            source_ip=request.client.host if request.client else None,
        )

    return caller
