"""The monitor schedule inside ``gridwall serve`` (issue 13; docs/monitoring.md, docs/cases.md).

Each tick runs, in one background thread that never holds a request:

1. the same incremental analysis as ``gridwall monitor run`` over the served audit log
   (:func:`gridwall.monitor._periodic.run_periodic` with the operator's reference tables
   and a work folder kept between runs) — only when a reference folder is configured;
2. ``case open`` for every stored alert, through the server's **one**
   :class:`~gridwall.app.casework.CaseDesk` (alerts already in a case open nothing);
3. the deadline clock (``CaseDesk.escalate(None)``): missed deadlines move to the next line.

:class:`MonitorState` is the ``monitor`` component of ``GET /health``: the last tick's time,
what it did and its error. A failed tick turns the component (and so ``/health``) red until
a tick succeeds again; no tick for two intervals is red too (a stalled schedule). Serving
goes on either way.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from gridwall.app.casework import CaseDesk, alert_refs
from gridwall.errors import UsageError
from gridwall.interfaces import AuditReader
from gridwall.interfaces.clock import Clock, as_utc

log = logging.getLogger("gridwall.app.monitor")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")

#: ``--monitor-every``'s default: once a day
DAILY = "1d"


def parse_interval(value: str, option: str, *, allow_off: bool = True) -> float | None:
    """Seconds in ``value`` (``90``, ``90s``, ``15m``, ``6h``, ``1d``); None for ``off``.
    A bad value is a usage error naming ``option``."""
    text = value.strip().lower()
    if allow_off and text in ("off", "0"):
        return None
    m = _INTERVAL.match(text)
    if not m or float(m.group(1)) <= 0:
        hint = " or 'off'" if allow_off else ""
        raise UsageError(
            f"{option}: {value!r} is not an interval; give a positive number with a unit "
            f"s, m, h or d (e.g. 30s, 15m, 6h, 1d){hint}"
        )
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


@dataclass(frozen=True)
class TickReport:
    """What one tick did (or the error that stopped it)."""

    at: datetime
    analysed: bool = False
    audit_from: int | None = None
    audit_to: int | None = None
    alerts_opened: int = 0
    alerts_updated: int = 0
    cases_touched: list[str] = field(default_factory=list)
    escalated: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class MonitorState:
    """The ``monitor`` component of ``GET /health``."""

    def __init__(self, interval: float | None = None, reference: Path | None = None) -> None:
        self.interval = interval
        self.reference = reference
        self.last: TickReport | None = None
        self.last_ok: datetime | None = None
        self.runs = 0
        self.alerts_opened = 0
        self.cases_touched = 0
        self.escalated = 0
        self._last_tick: float | None = None  # time.monotonic() of the last record
        self._lock = threading.Lock()

    def record(self, report: TickReport) -> None:
        with self._lock:
            self.last = report
            self._last_tick = time.monotonic()
            self.runs += 1
            if report.ok:
                self.last_ok = report.at
                self.alerts_opened += report.alerts_opened
                self.cases_touched += len(report.cases_touched)
                self.escalated += len(report.escalated)

    def health(self, monotonic: float | None = None) -> tuple[bool, dict[str, Any]]:
        """(green?, the component). Staleness is measured on ``time.monotonic()`` (the
        reports carry the server's clock, which tests freeze)."""
        now = time.monotonic() if monotonic is None else monotonic
        with self._lock:
            last, last_ok, last_tick = self.last, self.last_ok, self._last_tick
            totals = {"runs": self.runs, "alerts_opened": self.alerts_opened,
                      "cases_touched": self.cases_touched, "escalated": self.escalated}  # fmt: skip
        out: dict[str, Any] = {
            "interval_seconds": self.interval,
            "analysis": "on" if self.reference is not None else "off (no --monitor-reference)",
        }
        if self.interval is None:
            return True, {**out, "status": "off"}
        if last is None:
            return True, {**out, "status": "pending"}
        out.update(
            status="ok" if last.ok else "failing",
            last_run=last.at.isoformat(),
            last_ok=last_ok.isoformat() if last_ok else None,
            last_error=last.error,
            last={"alerts_opened": last.alerts_opened, "alerts_updated": last.alerts_updated,
                  "cases_touched": len(last.cases_touched), "escalated": len(last.escalated),
                  "audit_to": last.audit_to},
            totals=totals,
        )  # fmt: skip
        ok = last.ok
        if last_tick is not None and now - last_tick > 2 * self.interval + 60:
            ok, out["status"] = False, "stale"
        return ok, out


class MonitorTicker:
    """One tick: analysis (if configured), cases from the stored alerts, the deadline clock."""

    def __init__(
        self,
        engine: Engine,
        desk: CaseDesk,
        reader_factory: Callable[[], AuditReader],
        *,
        reference: Path | None,
        work: Path,
        clock: Clock,
        memory_limit: str | None = None,
    ) -> None:
        self.engine, self.desk = engine, desk
        self.reader_factory = reader_factory
        self.reference, self.work = reference, work
        self.clock, self.memory_limit = clock, memory_limit
        self._lock = threading.Lock()  # one tick at a time (the schedule and a test's tick)

    def tick(self) -> TickReport:
        from gridwall.monitor._periodic import run_periodic, stored_alerts

        now = as_utc(self.clock(), "clock")
        with self._lock:
            analysed, lo, hi, opened, updated = False, None, None, 0, 0
            if self.reference is not None:
                reader = self.reader_factory()
                try:
                    r = run_periodic(self.engine, reader, self.reference, self.work, now=now,
                                     say=_quiet, memory_limit=self.memory_limit)  # fmt: skip
                finally:
                    close = getattr(reader, "close", None)
                    if close is not None:
                        close()
                analysed, lo, hi = True, r.audit_from, r.audit_to
                opened, updated = len(r.opened), len(r.updated)
            touched = self.desk.open_from_alerts(alert_refs(stored_alerts(self.engine)))
            escalated = self.desk.escalate(None)
        return TickReport(now, analysed, lo, hi, opened, updated, touched, escalated)


def _quiet(_: str) -> None:
    pass


class MonitorSchedule:
    """``gridwall serve``'s monitor thread: a first tick shortly after start, then one
    every ``interval`` seconds; a failed tick is recorded (red ``/health``) and logged."""

    def __init__(
        self, ticker: MonitorTicker, state: MonitorState, interval: float, first_after: float
    ) -> None:
        self.ticker, self.state = ticker, state
        self.interval, self.first_after = interval, first_after
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> TickReport:
        try:
            report = self.ticker.tick()
        except Exception as e:  # never kill the thread; the failure is the red component
            report = TickReport(datetime.now(UTC), error=f"{type(e).__name__}: {e}"[:500])
            log.error("monitor run failed: %s", report.error)
        else:
            log.info(
                "monitor run: %d alert(s) opened, %d case(s) touched, %d escalated",
                report.alerts_opened, len(report.cases_touched), len(report.escalated),
            )  # fmt: skip
        self.state.record(report)
        return report

    def _loop(self) -> None:
        wait = self.first_after
        while not self._stop.wait(wait):
            wait = self.interval
            self.run_once()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="gridwall-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
