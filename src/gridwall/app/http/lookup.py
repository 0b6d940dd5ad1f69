"""HTTP face of the lookup: a FastAPI ``APIRouter`` the gateway app includes.

``POST /v1/lookup`` with ``{"address": "...", "name": "..."?}`` answers the contract shape
(``{"candidates": [...], "name_match": ...}``). The caller comes from the gateway's own
authentication dependency (bearer token, terminal credential, declared purpose), so the
lookup sees exactly the principal every other route sees::

    app.include_router(make_router(service, context))  # context: the gateway's dependency

Errors are in the one shape of :mod:`gridwall.app.http.errors`: 400 too unspecific / bad input,
403 not permitted, 429 rate limited (``Retry-After``), 503 audit log unavailable, or the lookup
index missing or stale (``Retry-After``: :class:`IndexKeeper` is building it).
The same limits apply to every retailer; the router never looks at the retailer's kind.
"""

# no `from __future__ import annotations`: FastAPI must see the local Annotated types

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, Field

from gridwall.app.http.context import TERMINAL
from gridwall.app.http.errors import ALWAYS, ApiError, ErrorMappingRoute, json_response
from gridwall.errors import AccessDenied, UsageError
from gridwall.lookup._service import IndexUnavailable, LookupService, RateLimited

log = logging.getLogger("gridwall.lookup")


class IndexKeeper:
    """Keeps the served lookup off a missing or stale index: :meth:`check` (the service's
    ``ready`` hook, run before every search) reads the index's state; unless it is
    ``current`` it starts ``build`` in a background thread (once; the build itself takes the
    writers' lock, so a load or another process building meanwhile is not duplicated) and
    refuses with :class:`IndexUnavailable` — 503 with ``Retry-After`` — until the build has
    committed and ``on_built`` has reloaded the served index. A failed build is logged (by
    type) and tried again on a request at least ``backoff_s`` later; meanwhile every lookup is
    refused saying so. ``absent`` (no lookup tables: the store is not migrated) is refused
    without building."""

    RETRY_AFTER_S = 30.0

    def __init__(
        self,
        state: Callable[[], str],
        build: Callable[[], object],
        on_built: Callable[[], None],
        *,
        backoff_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._state, self._build, self._on_built = state, build, on_built
        self.backoff_s, self._clock = backoff_s, clock
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self._why = ""
        self._failed: tuple[float, str] | None = None  # (when, error type) of the last build
        self.builds = 0  # builds started (for tests and the log)

    @property
    def building(self) -> bool:
        t = self._thread
        return t is not None and t.is_alive()

    def check(self) -> None:
        """Return when the index is current and served; else raise :class:`IndexUnavailable`."""
        with self._lock:
            if not self.building:
                state = self._state()
                if state == "current":
                    return
                if state == "absent":
                    raise IndexUnavailable(
                        "lookup refused: this store has no lookup index tables (it is not "
                        "migrated); run `gridwall load DIR`",
                        self.RETRY_AFTER_S,
                    )
                now = self._clock()
                if self._failed is not None and now - self._failed[0] < self.backoff_s:
                    wait = self.backoff_s - (now - self._failed[0])
                    raise IndexUnavailable(
                        f"lookup refused: the lookup index is {state} and building it failed "
                        f"({self._failed[1]}); it is tried again in {math.ceil(wait)} s",
                        max(1.0, wait),
                    )
                self._start(state)
            elapsed = self._clock() - self._started
        raise IndexUnavailable(
            f"lookup refused while the lookup index is being built ({self._why}; started "
            f"{elapsed:.0f} s ago); retry later — no answer comes from an index that is not "
            "current",
            self.RETRY_AFTER_S,
        )

    def _start(self, state: str) -> None:
        self._why = f"it was {state}"
        self._started = self._clock()
        self.builds += 1
        log.warning("lookup index %s: building it; lookups are refused (503) until it is done",
                    state)  # fmt: skip
        self._thread = threading.Thread(target=self._run, name="lookup-index-build", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._build()
            self._on_built()  # before the thread ends: no answer from the old served state
        except Exception as e:  # logged by type; the next request after the backoff retries
            self._failed = (self._clock(), type(e).__name__)
            log.error("building the lookup index failed: %s", type(e).__name__)
        else:
            self._failed = None
            log.warning("lookup index built; lookups are answered again")

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a running build (tests, shutdown); True when none is running."""
        t = self._thread
        if t is not None:
            t.join(timeout)
        return not self.building


class LookupRequest(BaseModel):
    """An address to look up and, optionally, a 契約名義 to verify (match / no match)."""

    address: str = Field(min_length=1, max_length=300, description="the address as typed")
    name: str | None = Field(
        default=None, max_length=200, description="contract holder name to verify"
    )


_AUTH_DOC: dict[str, Any] = {
    "security": [{"HTTPBearer": []}],
    "parameters": [
        {"name": TERMINAL, "in": "header", "required": True, "schema": {"type": "string"},
         "description": "a fresh token signed by the enrolled terminal (端末)"},
        {"name": "X-Gridwall-Purpose", "in": "header", "required": True,
         "schema": {"type": "string"}, "description": "declared purpose (e.g. switching)"},
    ],
}  # fmt: skip


def make_router(
    service: LookupService | Callable[[], LookupService],
    context: Callable[..., Any],
    *,
    prefix: str = "/v1",
) -> APIRouter:
    """The lookup routes over ``service``; ``context`` is the app's request-context
    dependency (it returns an object with ``principal``, ``terminal``, ``purpose``,
    ``source_ip``; see :class:`gridwall.app.http.context.Contexts`)."""
    router = APIRouter(prefix=prefix, tags=["lookup"], route_class=ErrorMappingRoute)
    Ctx = Annotated[Any, Depends(context)]

    def _svc() -> LookupService:
        return service if isinstance(service, LookupService) else service()

    @router.post(
        "/lookup",
        summary="Equal-footing supply-point lookup (供給地点の照会): ID, equipment, address",
        openapi_extra=_AUTH_DOC,
        responses={
            400: {"description": "address too unspecific or invalid (names the parameter)"},
            401: {"description": "missing, malformed, unknown or expired credentials"},
            403: {"description": "the lookup is not permitted for this caller"},
            429: {"description": "rate limit reached (same for every retailer)"},
            **ALWAYS,
        },
    )
    def lookup(body: LookupRequest, ctx: Ctx) -> Response:
        try:
            ans = _svc().lookup(body.address, name=body.name, caller=ctx)
        except UsageError as e:
            raise ApiError(400, "bad_request", e.diagnostics(), parameter="address") from None
        except (RateLimited, AccessDenied):
            raise  # 429 / 403 by the one mapper
        except IndexUnavailable as e:  # missing/stale index: being built, never searched
            retry = str(max(1, math.ceil(e.retry_after)))
            raise ApiError(503, "unavailable", str(e), headers={"Retry-After": retry}) from None
        except Exception as e:  # audit log or store down: refuse, never answer unaudited
            raise ApiError(503, "unavailable", f"lookup refused: {type(e).__name__}") from None
        return json_response(ans.to_json())

    return router
