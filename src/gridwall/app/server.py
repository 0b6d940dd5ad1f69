"""The composition root: one store, one audit log, one policy, every capability's routes.

:func:`create_server_app` opens the store (``gridwall.store.upgrade``), the tamper-evident
audit log (``gridwall.audit.open_log``), identity's authenticator (sessions and enrolled
terminal keys; retailer kinds from the gateway's registry, disaster mode from grants), the
grant resolver and the shipped Cedar policy, and builds the gateway's FastAPI app with
identity's login routes, grants' management routes and the equal-footing lookup mounted on
it. Every collaborator writes to the same audit log through :mod:`gridwall.app.http.audit`,
so one request leaves one event; exports leave only once sealed by
``gridwall.grants.seal_export`` (watermarked for the named recipient, registered).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gridwall.app.canary import AlertOutbox, CanaryMarkingSink, CanaryState
from gridwall.app.casework import CaseDesk, StoreHr
from gridwall.app.http.audit import (
    IdentityAuditSink,
    OneEventPerRequest,
    RequestAuditSink,
    RequestAuthenticator,
)
from gridwall.app.monitoring import MonitorState
from gridwall.app.wiring import RetailerKinds, disaster_mode, ensure_lookup_index, export_sealer
from gridwall.errors import UsageError
from gridwall.interfaces.clock import JST, system_clock

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy import Engine

    from gridwall.app.canary import FencedGateway
    from gridwall.app.selfreports import Limits
    from gridwall.audit import AuditLog
    from gridwall.cases import Deadlines
    from gridwall.grants import StoreGrantResolver
    from gridwall.identity import IdentityConfig, IdentityService
    from gridwall.lookup import LookupService

log = logging.getLogger("gridwall.app")

#: environment variable naming the audit signing key file (as ``gridwall audit``)
AUDIT_KEY_ENV = "GRIDWALL_AUDIT_KEY"


@dataclass
class Server:
    """Everything the composed application holds; :meth:`close` releases it."""

    db_url: str
    engine: Engine
    audit_log: AuditLog
    audit: RequestAuditSink
    identity: IdentityService
    grants: StoreGrantResolver
    gateway: FencedGateway
    lookup_factory: Callable[[], LookupService]
    #: the canary component of ``GET /health`` (``gridwall serve`` runs the schedule)
    canary: CanaryState = field(default_factory=CanaryState)
    #: the server's one case desk: the HTTP case routes and the monitor schedule share it
    cases: CaseDesk | None = None
    #: the monitor component of ``GET /health`` (``gridwall serve --monitor-every``)
    monitor: MonitorState = field(default_factory=MonitorState)
    signer: Any = None
    checkpoint_seconds: float = 300.0
    #: witnesses asked to cosign each new checkpoint (URLs or state files) and their keys
    witnesses: list[str] = field(default_factory=list)
    witness_keys: list[Any] = field(default_factory=list)
    #: where a witness refusal raises its critical alert (the canary outbox)
    alerts: Any = None
    #: where after-action reports of ended disaster declarations are written (none: cron)
    report_dir: Path | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _wake: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _closed: bool = False

    def checkpoint(self) -> int | None:
        """Sign the audit log's current tree head (if a signing key was given)."""
        if self.signer is None:
            return None
        latest = self.audit_log.latest_checkpoint()
        size = self.audit_log.size()
        if latest is not None and latest.size == size:
            return size
        cp = self.audit_log.checkpoint([self.signer])
        if self.witnesses:
            self.witness(cp.note, int(cp.size))
        return int(cp.size)

    def witness(self, cp_note: str, size: int) -> bool:
        """Ask every witness to cosign; store the cosigned checkpoint (then published by
        ``GET /v1/audit/checkpoint``). A refusal is logged, audited and a critical alert;
        the signed checkpoint stays, uncosigned."""
        from gridwall.audit._witnessing import cosign_checkpoint, store_cosigned
        from gridwall.errors import CheckFailed

        try:
            text = cosign_checkpoint(
                self.audit_log, cp_note, size, self.witnesses, self.witness_keys
            )
        except CheckFailed as e:
            self._refused(size, str(e))
            return False
        store_cosigned(self.audit_log.url, text, [self.signer.verifier])
        return True

    def _refused(self, size: int, why: str) -> None:
        from gridwall.interfaces.clock import system_clock
        from gridwall.interfaces.events import audit_event

        log.error("witness refused checkpoint of size %d: %s", size, why)
        now = system_clock()
        try:
            self.audit_log.record(
                audit_event(
                    source="gridwall", ts=now, account_id="gridwall-serve", action="update",
                    screen="audit.witness", decision="deny", query=f"size={size}",
                    extra={"reason": why[:500]},
                )
            )  # fmt: skip
        except Exception as e:  # the alert below still says it
            log.error("audit log failed recording a witness refusal: %s", type(e).__name__)
        if self.alerts is not None:
            self.alerts.alert(
                "witness",
                "証人が監査ログのチェックポイントを拒否 / a witness refused the audit "
                f"checkpoint of size {size}: {why}",
                now,
                {"size": size},
            )

    def disaster_reports(self) -> list[tuple[str, str, str]]:
        """Write the after-action report of every ended declaration that has none in
        ``report_dir`` and whose end the latest signed checkpoint reaches past."""
        if self.report_dir is None:
            return []
        from gridwall.app.reporting import due_disasters
        from gridwall.interfaces.clock import system_clock

        done = due_disasters(self.audit_log.url, self.engine, self.report_dir, system_clock())
        for did, state, what in done:
            log.info("disaster %s after-action report %s: %s", did, state, what)
        return done

    def disaster_ended(self, disaster_id: str) -> None:
        """A declaration was ended early: sign and report now, not at the next round."""
        log.info("disaster %s ended: after-action report scheduled", disaster_id)
        self._wake.set()

    def _checkpoints(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.checkpoint_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.checkpoint()
            except Exception as e:  # the next round retries; verification will show a gap
                log.error("audit checkpoint failed: %s", type(e).__name__)
                continue
            try:
                self.disaster_reports()
            except Exception as e:  # the next round retries (a report is written once)
                log.error("disaster after-action reports failed: %s", e)

    def start(self) -> None:
        """Start signing checkpoints every ``checkpoint_seconds`` (only with a key)."""
        if self.signer is not None and self._thread is None and self.checkpoint_seconds > 0:
            self._thread = threading.Thread(
                target=self._checkpoints, name="gridwall-checkpoints", daemon=True
            )
            self._thread.start()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            self.checkpoint()
        finally:
            self.audit_log.close()
            self.engine.dispose()


def _read_signer(path: Path) -> Any:
    from gridwall.audit import note

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"--audit-key {path}: cannot read the signing key ({e.strerror})") from e
    try:
        return note.Signer.parse(text)
    except note.NoteError as e:
        raise UsageError(f"--audit-key {path}: {e}") from e


def _witness_keys(witnesses: list[str], keys: list[str], signer: Any) -> list[Any]:
    from gridwall.audit import note
    from gridwall.audit.standalone import _load_witness_keys

    if witnesses and not keys:
        raise UsageError("--witness-url: give each witness's public key with --witness-key")
    if keys and not witnesses:
        raise UsageError("--witness-key: give the witnesses to ask with --witness-url")
    if witnesses and signer is None:
        raise UsageError("--witness-url: needs --audit-key (only signed checkpoints are sent)")
    if not keys:
        return []
    try:
        return list(_load_witness_keys(keys))
    except (note.NoteError, OSError) as e:
        raise UsageError(f"--witness-key: {e}") from e


def _secret(path: Path | None) -> bytes | None:
    from gridwall.app.reporting import SECRET_ENV, read_secret

    if path is None and not os.environ.get(SECRET_ENV):
        return None
    return read_secret(path)


def create_server_app(
    db_url: str,
    *,
    clock: Callable[[], datetime] | None = None,
    audit_key: str | Path | None = None,
    audit_url: str | None = None,
    checkpoint_seconds: float = 300.0,
    identity_config: IdentityConfig | None = None,
    audit_durability: str = "fsync",
    migrate: bool = True,
    trusted_proxies: str | None = None,
    policy_dir: Path | None = None,
    pseudonym_key: Path | None = None,
    witnesses: list[str] | None = None,
    witness_keys: list[str] | None = None,
    alerts_path: Path | None = None,
    report_dir: Path | None = None,
    case_deadlines: Deadlines | None = None,
    selfreport_limits: Limits | None = None,
) -> FastAPI:
    """The whole gridwall API over the store at ``db_url``.

    ``clock`` gives every request's instant (tests freeze it). ``audit_key`` is the audit
    signing key file (default ``$GRIDWALL_AUDIT_KEY``; none: checkpoints are left to
    ``gridwall audit checkpoint``); with it the server signs a checkpoint every
    ``checkpoint_seconds`` and on close. The audit log lives in the store's database unless
    ``audit_url`` names another. ``app.state.server`` is the :class:`Server`; call its
    ``close()`` when done (``gridwall serve`` does).

    The client address of every request (and so of every audit event and of identity's
    "live in two places" rule) is the socket's peer, or the ``X-Forwarded-For`` client
    when the peer is one of ``trusted_proxies`` (default ``$GRIDWALL_TRUSTED_PROXIES``;
    :func:`gridwall.config.trusted_proxies`). Every response carries the hardening
    headers of :mod:`gridwall.app.http.security`.

    ``policy_dir`` replaces the shipped Cedar policy with the one in that folder (the canary
    tests load a deliberately broken one). Every audit event goes through
    :class:`~gridwall.app.canary.CanaryMarkingSink` and the gateway is the
    :class:`~gridwall.app.canary.FencedGateway` (canary principals reach canary points only);
    ``GET /health`` reports the audit log and the canary runs (``app.state.server.canary``).

    ``pseudonym_key`` is the operator's pseudonym secret file for statements served by
    ``GET /v1/reports/statement`` (default ``$GRIDWALL_PSEUDONYM_KEY``; none: refused 503).
    ``witnesses`` (URLs or witness state files) are asked to cosign every newly signed
    checkpoint, checked against ``witness_keys``; a refusal is a critical alert in
    ``alerts_path`` (JSON lines, the canary outbox's format).

    ``report_dir`` is where after-action reports of ended disaster declarations go: after
    each signed checkpoint (and at once when a declaration is ended through the API) the
    server writes every one that is due (:func:`gridwall.app.reporting.due_disasters`).

    ``case_deadlines`` are the lines' deadlines of the server's one
    :class:`~gridwall.app.casework.CaseDesk` (``app.state.server.cases``), which the case
    routes and the monitor schedule share (default: 5 and 10 days).
    ``selfreport_limits`` are the self-report channel's attempts per source address and
    window (default :class:`gridwall.app.selfreports.Limits`).
    """
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    from gridwall.app.canary import FencedGateway
    from gridwall.app.http.cases import create_notifications_router as notifications_router
    from gridwall.app.http.cases import create_router as cases_router
    from gridwall.app.http.context import Contexts
    from gridwall.app.http.evidence import create_router as evidence_router
    from gridwall.app.http.gateway import create_app
    from gridwall.app.http.grants import create_router as grants_router
    from gridwall.app.http.health import create_router as health_router
    from gridwall.app.http.identity import create_router as identity_router
    from gridwall.app.http.lookup import IndexKeeper
    from gridwall.app.http.lookup import make_router as lookup_router
    from gridwall.app.http.security import SecurityHeaders
    from gridwall.app.http.selfreports import create_router as selfreports_router
    from gridwall.audit import open_log
    from gridwall.cases import deliver_audit as deliver_cases_audit
    from gridwall.config import trusted_proxies as resolve_proxies
    from gridwall.grants import StoreGrantResolver
    from gridwall.grants import deliver_audit as deliver_grants_audit
    from gridwall.identity import IdentityAuthenticator, IdentityService
    from gridwall.policy import PolicyEngine, default_engine, default_management_engine
    from gridwall.store import make_engine, upgrade

    now = clock or system_clock
    proxies = resolve_proxies(trusted_proxies)  # bad setting: refused before anything opens
    if audit_key is None and os.environ.get(AUDIT_KEY_ENV):
        audit_key = os.environ[AUDIT_KEY_ENV]
    signer = _read_signer(Path(audit_key)) if audit_key else None
    wkeys = _witness_keys(witnesses or [], witness_keys or [], signer)
    secret = _secret(pseudonym_key)
    engine = make_engine(db_url)
    try:
        if migrate:
            from gridwall.config import owner_database_url

            owner_url = owner_database_url(app_url=db_url)
            # with a separate owner role ($GRIDWALL_OWNER_DB) migrations run as that role
            upgrade(db_url, engine) if owner_url == db_url else upgrade(owner_url)
        audit_log = open_log(
            audit_url or db_url,
            migrate=migrate or (audit_url is not None and audit_url != db_url),
            durability=audit_durability,
        )
    except Exception:
        engine.dispose()
        raise
    if signer is not None:
        known = {k.id for k in audit_log.keys()}  # noqa: SIM118 (a method)
        if signer.id not in known:
            audit_log.register_key(signer.verifier, "gridwall serve")
    # every writer below goes through one sink that marks canary principals' events
    marked = CanaryMarkingSink(audit_log)
    audit = RequestAuditSink(marked)
    policy = PolicyEngine.from_directory(policy_dir) if policy_dir else default_engine()
    resolver = StoreGrantResolver(engine, now)
    identity = IdentityService(
        engine,
        IdentityAuditSink(marked),
        identity_config,
        retailer_kinds=RetailerKinds(engine),
        disaster_active=disaster_mode(resolver),
    )
    # Identity's journal and grants' outbox first: events of changes that committed while
    # the audit log was down reach the log before anything is served. If the log still
    # cannot take them the server does not start (nothing fails open).
    try:
        identity.deliver_audit()
        deliver_grants_audit(engine, audit)
        deliver_cases_audit(engine, audit)
    except Exception:
        audit_log.close()
        engine.dispose()
        raise
    auth = RequestAuthenticator(IdentityAuthenticator(engine, service=identity))
    gateway = FencedGateway(
        engine,
        policy,
        auth=auth,
        grants=resolver,
        audit=audit,
        clock=now,
        seal=export_sealer(engine),
    )

    lookup_lock = threading.Lock()
    lookup_cell: list[LookupService] = []

    def lookup_index_state() -> str:
        from gridwall.lookup import index_state

        return index_state(engine)

    def lookup_index_built() -> None:
        with lookup_lock:
            if lookup_cell:
                lookup_cell[0].index.reload()

    # a missing or stale index is built in the background (as `gridwall lookup` does) and
    # every lookup meanwhile is refused 503 with Retry-After: never searched (docs/lookup.md)
    keeper = IndexKeeper(
        lookup_index_state,
        lambda: ensure_lookup_index(engine, progress=False),
        lookup_index_built,
    )

    def lookup_service() -> LookupService:
        """Built on first use, so that ``gridwall lookup index`` may run after start-up."""
        from gridwall.gateway import holder_name_matches, lrs_points
        from gridwall.lookup import LookupIndex, LookupService

        with lookup_lock:
            if not lookup_cell:
                lookup_cell.append(
                    LookupService(
                        LookupIndex(engine),
                        audit,
                        name_checker=lambda spid, name: holder_name_matches(engine, spid, name),
                        lrs_checker=lambda ids: lrs_points(
                            engine, ids, now().astimezone(JST).date()
                        ),
                        decider=gateway,
                        clock=now,
                        ready=keeper.check,
                    )
                )
            return lookup_cell[0]

    desk = CaseDesk(engine, audit, StoreHr(engine), clock=now, deadlines=case_deadlines)
    server = Server(
        db_url=db_url,
        engine=engine,
        audit_log=audit_log,
        audit=audit,
        identity=identity,
        grants=resolver,
        gateway=gateway,
        lookup_factory=lookup_service,
        signer=signer,
        checkpoint_seconds=checkpoint_seconds,
        witnesses=list(witnesses or []),
        witness_keys=wkeys,
        alerts=AlertOutbox(alerts_path) if alerts_path else None,
        report_dir=report_dir,
        cases=desk,
    )
    contexts = Contexts(auth, now, gateway=gateway)  # the one request-context dependency
    routers = [
        identity_router(identity, now, contexts=contexts),
        grants_router(
            engine,
            auth,
            audit,
            now,
            contexts=contexts,
            person_of=identity.person_of,
            on_ended=server.disaster_ended if report_dir is not None and signer else None,
        ),
        lookup_router(lookup_service, contexts.request_context),
        cases_router(engine, audit, contexts, now, desk=desk),
        notifications_router(desk, contexts),
        selfreports_router(
            engine,
            audit,
            contexts,
            now,
            limits=selfreport_limits,
            decider=default_management_engine(),
        ),
        health_router(server.canary, audit_log.size, server.monitor),
        evidence_router(
            contexts,
            audit,
            audit_log,
            audit_url or db_url,
            engine=engine,
            decider=default_management_engine(),
            secret=lambda: secret,
            clock=now,
        ),
    ]
    app = create_app(gateway, routers=routers)
    app.title = "gridwall"
    app.state.server = server
    app.state.case_desk = desk
    app.state.lookup_index = keeper
    from gridwall.app.web import mount_console  # the console's pages (docs/console.md)

    mount_console(app, gateway, identity, now, cases=desk)
    # outermost last: proxy address → hardening headers → one audit event per request
    app.add_middleware(OneEventPerRequest, sink=marked, clock=now)
    app.add_middleware(SecurityHeaders)
    # uvicorn's own parser of X-Forwarded-For, believed only from the configured proxies
    # (none: the header is ignored and the socket's peer is the client)
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=proxies or [])
    return app
