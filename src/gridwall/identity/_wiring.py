"""Wiring identity to the rest of a store: the retailer registry and disaster mode.

* Retailer kinds come from the ``retailers`` registry (code and kind only — public
  facts, no customer data), read with plain SQL and kept for a minute: the kind
  never changes a decision (I7), it is only reported in the facts.
* Disaster mode is asked of :class:`gridwall.grants.StoreGrantResolver` at the
  request's instant. If it cannot answer, disaster terminals are refused
  (fail closed).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

from sqlalchemy import Engine, text

from gridwall.identity._service import IdentityConfig, IdentityService
from gridwall.interfaces import AuditSink


class RetailerRegistry:
    """``code -> 'affiliated' | 'independent'`` from the store, cached for ``ttl`` seconds."""

    def __init__(self, engine: Engine, ttl: float = 60.0) -> None:
        self.engine = engine
        self.ttl = ttl
        self._kinds: dict[str, str] = {}
        self._at = -1e9
        self._lock = threading.Lock()

    def __call__(self, code: str) -> str | None:
        with self._lock:
            if time.monotonic() - self._at > self.ttl or code not in self._kinds:
                try:
                    with self.engine.connect() as c:
                        rows = c.execute(text("SELECT retailer_code, kind FROM retailers")).all()
                except Exception:
                    return None  # unknown → the principal is refused (fail closed)
                self._kinds = {str(r[0]): str(r[1]) for r in rows}
                self._at = time.monotonic()
            return self._kinds.get(code)


class StoreDisasterMode:
    """``disaster_active(now)`` from the grants tables (False when it cannot tell)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._resolver: object | None = None

    def __call__(self, now: datetime) -> bool:
        try:
            if self._resolver is None:
                from gridwall.grants import StoreGrantResolver

                self._resolver = StoreGrantResolver(self.engine)
            return bool(self._resolver.disaster_active(now))  # type: ignore[attr-defined]
        except Exception:
            return False


def store_service(
    engine: Engine, audit: AuditSink | None, config: IdentityConfig | None = None
) -> IdentityService:
    """An :class:`IdentityService` wired to the store's retailer registry and disaster mode."""
    return IdentityService(
        engine,
        audit,
        config,
        retailer_kinds=RetailerRegistry(engine),
        disaster_active=StoreDisasterMode(engine),
    )
