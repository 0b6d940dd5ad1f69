"""Wiring: where one capability is plugged into another (the only place that knows them all).

Capability packages never import each other; what one needs of another it takes as a
constructor argument typed in :mod:`gridwall.interfaces`. This module builds those
arguments:

* :class:`RetailerKinds` — ``code -> affiliated | independent`` for identity, from the
  gateway's retailer registry (public registration data, no customer data), cached for a
  minute. The kind never changes a decision (I7); identity only reports it in the facts.
* :func:`disaster_mode` — "is a disaster declared now?" for identity (disaster terminals),
  asked of the grant resolver at the request's instant; ``False`` when it cannot tell.
* :func:`identity_service` — an identity service wired to both.
* :func:`export_sealer` — the gateway's export seal: grants watermarks and registers the
  masked rows before they leave.
* :func:`load_dataset` — ``gridwall load``: the gateway's customer tables plus identity's and
  grants' reference tables, in one transaction — and in the same transaction the lookup's
  index for exactly the supply points the load inserted or updated (:func:`index_points`).
* :func:`ensure_lookup_index` — build the lookup's index from the gateway's feed unless it
  is current (``gridwall lookup`` on a store whose index is missing or stale).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from gridwall.gateway import LoadReport
    from gridwall.grants import StoreGrantResolver
    from gridwall.identity import IdentityConfig, IdentityService
    from gridwall.interfaces import AuditSink, ReferenceLoader, RequestContext
    from gridwall.lookup import BuildReport, SyncReport

log = logging.getLogger("gridwall.app")


class RetailerKinds:
    """``code -> affiliated | independent`` from the gateway's retailer registry, cached for
    ``ttl`` seconds; ``None`` (the principal is refused: fail closed) when the registry
    cannot be read."""

    def __init__(self, engine: Engine, ttl: float = 60.0) -> None:
        self.engine = engine
        self.ttl = ttl
        self._kinds: dict[str, str] = {}
        self._at = float("-inf")
        self._lock = threading.Lock()

    def __call__(self, code: str) -> str | None:
        from gridwall.gateway import retailer_kinds

        with self._lock:
            if time.monotonic() - self._at > self.ttl or code not in self._kinds:
                try:
                    self._kinds = retailer_kinds(self.engine)
                except Exception as e:
                    log.error("retailer registry unreadable: %s", type(e).__name__)
                    return None
                self._at = time.monotonic()
            return self._kinds.get(code)


def disaster_mode(resolver: StoreGrantResolver) -> Callable[[datetime], bool]:
    """``active(now)``: a declaration is in force at ``now`` (``False`` if it cannot tell, so
    disaster terminals are refused: fail closed)."""

    def active(now: datetime) -> bool:
        try:
            return bool(resolver.disaster_active(now))
        except Exception as e:
            log.error("disaster mode unknown: %s", type(e).__name__)
            return False

    return active


def identity_service(
    engine: Engine,
    audit: AuditSink | None,
    config: IdentityConfig | None = None,
    *,
    resolver: StoreGrantResolver | None = None,
) -> IdentityService:
    """An identity service wired to the retailer registry and to disaster mode."""
    from gridwall.grants import StoreGrantResolver
    from gridwall.identity import IdentityService

    return IdentityService(
        engine,
        audit,
        config,
        retailer_kinds=RetailerKinds(engine),
        disaster_active=disaster_mode(resolver or StoreGrantResolver(engine)),
    )


def _flat(row: Mapping[str, Any]) -> dict[str, Any]:
    """A masked gateway row as export columns (address and equipment parts side by side)."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if k in ("address", "equipment") and isinstance(v, Mapping):
            out.update(v)
        elif k == "contract" and isinstance(v, Mapping):
            out[k] = f"{v.get('kind')} {v.get('start_date') or ''}..{v.get('end_date') or ''}"
        elif k == "lrs" and isinstance(v, Mapping):
            out[k] = "active" if v.get("active") else "inactive"
        else:
            out[k] = v
    return out


def export_sealer(engine: Engine) -> Callable[..., Mapping[str, Any]]:
    """The gateway's export seal: ``gridwall.grants.seal_export`` over the masked rows."""

    def seal(
        ctx: RequestContext, export_id: str, recipient_org: str, rows: list[dict[str, Any]]
    ) -> Mapping[str, Any]:
        from gridwall.app.management import StoreParties
        from gridwall.grants import seal_export

        wm = seal_export(
            engine,
            [_flat(r) for r in rows],
            recipient_org=recipient_org,
            purpose=ctx.purpose.value,
            export_id=export_id,
            now=ctx.now,
            created_by=ctx.principal.account_id,
            point_exists=StoreParties(engine).point_exists,  # canary IDs avoid real points
        )
        return {
            "agreement_id": wm.agreement_id,
            "fingerprint": wm.fingerprint,
            "watermark": "\n".join(wm.header_lines()),
            "columns": wm.columns,
            "count": len(wm.rows),
            "rows": wm.rows,
            "file": wm.to_csv(),
        }

    return seal


def reference_loaders() -> dict[str, ReferenceLoader]:
    """The dataset tables identity and grants own, with their loaders."""
    from gridwall import grants, identity

    return {
        "persons": identity.load_reference,
        "accounts": identity.load_reference,
        "devices": identity.load_reference,
        "disasters": grants.load_reference,
        "agreements": grants.load_reference,
    }


def load_dataset(
    directory: Path,
    engine: Engine,
    *,
    progress: bool = True,
    max_errors: int | None = None,
    canary: bool = False,
) -> LoadReport:
    """``gridwall load``: every reference table of a dataset folder, all or nothing, with the
    lookup's index brought up to date in the same transaction. A real dataset (``canary``
    false) with a cell holding a canary point's ID or a canary retailer's code is refused
    (file, line, column; nothing written); only ``gridwall canary setup`` loads those, and
    its load (``canary`` true) refuses anything else (:func:`gridwall.app.canary.refusals`)."""
    return load_and_index(
        directory, engine, progress=progress, max_errors=max_errors, canary=canary
    )[0]


def load_and_index(
    directory: Path,
    engine: Engine,
    *,
    progress: bool = True,
    max_errors: int | None = None,
    canary: bool = False,
) -> tuple[LoadReport, SyncReport]:
    """:func:`load_dataset`, also returning what the lookup's index did."""
    from gridwall.app.canary import refusals
    from gridwall.gateway import load_dataset as load_customer_tables

    done: list[SyncReport] = []

    def changed(conn: Connection, supply_point_ids: Sequence[str]) -> None:
        done.append(index_points(conn, supply_point_ids, progress=progress))

    refuse_point, refuse_retailer = refusals(canary=canary)

    kw: dict[str, Any] = {} if max_errors is None else {"max_errors": max_errors}
    report = load_customer_tables(
        directory,
        engine,
        reference_loaders=reference_loaders(),
        progress=progress,
        on_points_changed=changed,
        refuse_point=refuse_point,
        refuse_retailer=refuse_retailer,
        **kw,
    )
    if not done:  # pragma: no cover - the loader calls it on every successful load
        raise RuntimeError("the loader did not report the supply points it changed")
    return report, done[0]


def index_points(conn: Connection, ids: Sequence[str], *, progress: bool = False) -> SyncReport:
    """The lookup's index after a change of the supply points ``ids``, inside ``conn``'s
    transaction: those points refreshed in place, or the whole index built from the
    gateway's feed when it is missing, stale or the change is large. A failure raises, and
    the caller's transaction (the load) rolls back with the index untouched."""
    from gridwall.gateway import lookup_feed, lookup_records, supply_point_count
    from gridwall.lookup import sync_index

    with _bar("lookup index", lambda: supply_point_count(conn), enabled=progress) as tick:
        return sync_index(
            conn,
            ids,
            fetch=lambda chunk: lookup_records(conn, chunk),
            feed=lambda: lookup_feed(conn),
            progress=tick,
        )


def ensure_lookup_index(engine: Engine, *, progress: bool = True) -> BuildReport | None:
    """Build the lookup's index from the gateway's feed unless it is current (None then)."""
    from gridwall.gateway import lookup_feed, supply_point_count
    from gridwall.lookup import ensure_index

    with _bar("lookup index", lambda: supply_point_count(engine), enabled=progress) as tick:
        return ensure_index(engine, lookup_feed, progress=tick)


@contextmanager
def _bar(label: str, total: Callable[[], int], *, enabled: bool) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr, created on the first tick (a refresh that builds nothing
    shows none); ``tick(n)`` sets the count done."""
    if not enabled:
        yield lambda n: None
        return
    import sys

    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    state: dict[str, Any] = {}

    def tick(n: int) -> None:
        if "bar" not in state:
            bar = Progress(
                TextColumn("{task.description:<18}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(file=sys.stderr),
            )
            bar.start()
            state["bar"], state["task"] = bar, bar.add_task(label, total=total())
        state["bar"].update(state["task"], completed=n)

    try:
        yield tick
    finally:
        if "bar" in state:
            state["bar"].stop()
