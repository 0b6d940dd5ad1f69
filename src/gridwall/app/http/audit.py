"""One HTTP request, one audit event (監査ログ: アクセス1件につき1イベント).

The capabilities each audit what they decide: the gateway every read, search, list and
export; grants every management step; the lookup every lookup; identity every login,
logout and refused credential. Composed into one server, two gaps and one overlap appear,
and this module closes them:

* **overlap** — identity audits every credential check, and a route then audits its own
  decision; one login can also write two events (the fifth bad password and the lockout).
  Here identity's events are held for the length of the request: folded into the route's
  event when the route records one (``authentication`` reason and ``identity_event_ids``;
  e.g. credentials that verify for an account or terminal that may no longer be used —
  transferred, revoked, expired, locked, another organisation's terminal — so that the
  policy denies and explains, I5/I6), or else written as one event at the end of the
  request. Identity's own journal (``gridwall identity events``) keeps every original.
* **gaps** — a request no capability audited (a refused credential answered 401 before any
  decision, ``GET /v1/identity/session``, a malformed body): the middleware appends one
  event for it, with the route, the answer's status and the caller when known.
* **fail closed** — if that event cannot be written, the answer is replaced by 503 and
  nothing the handler produced leaves.

Outside a request (CLI, background jobs) events pass straight through.
"""

from __future__ import annotations

import contextvars
import json
import logging
import uuid
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gridwall.app.http.deferred import ForwardingSink, submit_via
from gridwall.interfaces import AuditSink, Authenticator, Principal, Terminal
from gridwall.interfaces.events import is_backlog

log = logging.getLogger("gridwall.app")

#: Paths under this prefix are API routes. Every HTTP request leaves one audit event
#: whatever its path (``/V1/…``, ``//v1/…``, absolute-form targets, unknown paths, the
#: docs): the middleware does not trust routing to decide what deserves a trace.
API_PREFIX = "/v1/"
#: longest path kept in an event (a hostile target must not bloat the log)
MAX_PATH = 512
#: Paths whose events never get the request's address added: the self-report channel, where
#: a reporter may be anonymous towards every reader of the log but compliance (its events
#: carry an address only when a named reporter's route put it there itself; docs/cases.md)
ADDRESS_WITHHELD = frozenset({"/v1/selfreports", "/v1/selfreports/status"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]
ASGIApp = Callable[[Scope, Receive, Send], Any]


@dataclass
class RequestAudit:
    """The audit state of one HTTP request (shared with the handler's worker thread)."""

    method: str
    path: str
    source_ip: str | None
    purpose: str | None
    recorded: int = 0
    pending: list[dict[str, Any]] = field(default_factory=list)
    #: who the request authenticated as (for the gap-filling event)
    principal: Principal | None = None
    terminal: Terminal | None = None

    @property
    def withhold_address(self) -> bool:
        return self.path.rstrip("/") in ADDRESS_WITHHELD


_current: contextvars.ContextVar[RequestAudit | None] = contextvars.ContextVar(
    "gridwall_request_audit", default=None
)


def current() -> RequestAudit | None:
    return _current.get()


class RequestAuditSink(ForwardingSink):
    """The :class:`~gridwall.interfaces.AuditSink` the deciding capabilities of the server
    write to (gateway, grants, lookup): within a request it counts what is recorded and folds
    identity's held-back events into the request's event. The log's read side (grants'
    disaster reports read the events back) is forwarded."""

    def __init__(self, sink: AuditSink) -> None:
        super().__init__(sink)

    def record(self, event: Mapping[str, Any]) -> None:
        rq = _current.get()
        self.sink.record(self._prepare(event, rq))
        if rq is not None and not is_backlog():
            rq.recorded += 1

    def submit(self, events: Sequence[Mapping[str, Any]]) -> Future[list[int]]:
        """The HTTP handlers' queued path (``deferred.py``), folded and counted the same way
        (a failed future refuses the request with 503 in the handler)."""
        rq = _current.get()
        fut = submit_via(self.sink, [self._prepare(e, rq) for e in events])
        if rq is not None and not is_backlog():
            rq.recorded += len(events)
        return fut

    @staticmethod
    def _prepare(event: Mapping[str, Any], rq: RequestAudit | None) -> Mapping[str, Any]:
        if rq is None or is_backlog():
            # outside a request, or an earlier step's event an outbox delivers now: as written
            return event
        if rq.pending:
            event = fold(event, rq.pending)
            rq.pending = []
        return with_address(event, rq)


class IdentityAuditSink(ForwardingSink):
    """Identity's sink: within a request its events wait for the request's own event (see
    the module docstring); outside a request they go straight to the log. It has no
    ``submit`` of its own: identity's events are never queued past the hold-back."""

    def __init__(self, sink: AuditSink) -> None:
        super().__init__(sink)

    def record(self, event: Mapping[str, Any]) -> None:
        rq = _current.get()
        if rq is None or is_backlog():
            self.sink.record(event)
        else:
            rq.pending.append(dict(event))


def with_address(event: Mapping[str, Any], rq: RequestAudit) -> Mapping[str, Any]:
    """``event`` carrying the request's resolved client address (issue 11 item 7), except on
    the paths of :data:`ADDRESS_WITHHELD`."""
    if event.get("source_ip") or rq.source_ip is None or rq.withhold_address:
        return event
    return {**event, "source_ip": rq.source_ip}


def fold(event: Mapping[str, Any], held: list[dict[str, Any]]) -> dict[str, Any]:
    """``event`` carrying the reasons and ids of identity's held-back events."""
    out = dict(event)
    reasons = [str(h["reason"]) for h in held if h.get("reason")]
    if reasons:
        out.setdefault("authentication", "; ".join(reasons))
    out["identity_event_ids"] = [str(h.get("event_id")) for h in held]
    return out


def merged(held: list[dict[str, Any]]) -> dict[str, Any]:
    """Identity's events of one request as one event: the first, with every reason."""
    out = dict(held[0])
    if len(held) > 1:
        out["reason"] = "; ".join(str(h["reason"]) for h in held if h.get("reason"))
        out["identity_event_ids"] = [str(h.get("event_id")) for h in held]
        if any(h.get("decision") == "deny" for h in held):
            out["decision"] = "deny"
    return out


class RequestAuthenticator:
    """Wraps identity's authenticator to remember who the request is (for its event)."""

    def __init__(self, inner: Authenticator) -> None:
        self.inner = inner

    def authenticate(
        self, credential: str, terminal_credential: str, now: datetime
    ) -> tuple[Principal, Terminal]:
        principal, terminal = self.inner.authenticate(credential, terminal_credential, now)
        rq = _current.get()
        if rq is not None:
            rq.principal, rq.terminal = principal, terminal
        return principal, terminal


class RememberingService:
    """Identity's service as its HTTP routes see it: the same, except that ``authenticate``
    also remembers who the request is, so that e.g. ``GET /v1/identity/session`` is audited
    under the caller's account."""

    def __init__(self, service: Any) -> None:
        self._service = service
        self._auth = RequestAuthenticator(service)

    def authenticate(
        self, credential: str, terminal_credential: str, now: datetime
    ) -> tuple[Principal, Terminal]:
        return self._auth.authenticate(credential, terminal_credential, now)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._service, name)


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", ()):
        if k.lower() == name:
            return str(v.decode("latin-1"))
    return None


def gap_event(rq: RequestAudit, status: int, now: datetime) -> dict[str, Any]:
    """The event for a request no capability audited (events format + route and status)."""
    p, t = rq.principal, rq.terminal
    if rq.withhold_address:  # a refused self-report request: nobody, from nowhere
        p, t = None, None
    return {
        "event_id": f"web-{uuid.uuid4().hex}",
        "ts": now.isoformat(),
        "system": "gridwall",
        "account_id": p.account_id if p else "",
        "device_id": t.device_id if t else None,
        "source_ip": None if rq.withhold_address else rq.source_ip,
        "session_id": p.session_id if p else None,
        "action": "view" if rq.method in ("GET", "HEAD") else "update",
        "screen": f"{rq.method} {rq.path}",
        "purpose": rq.purpose,
        "supply_point_ids": [],
        "query": None,
        "fields": [],
        "result_count": None,
        "recipient_org": None,
        "decision": "allow" if status < 400 else "deny",
        "policy_ids": [],
        "person_id": p.person_id if p else None,
        "org": p.org if p else None,
        "reason": f"HTTP {status}",
    }


_UNAVAILABLE = json.dumps(
    {
        "error": "unavailable",
        "detail": "the request was refused because the audit log could not answer",
    }
).encode()


class OneEventPerRequest:
    """ASGI middleware: every HTTP request leaves exactly one audit event, or 503."""

    def __init__(self, app: ASGIApp, sink: AuditSink, clock: Callable[[], datetime]) -> None:
        self.app = app
        self.sink = sink
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        rq = RequestAudit(
            method=str(scope.get("method", "GET"))[:16],
            path=str(scope.get("path", ""))[:MAX_PATH],
            source_ip=str(client[0]) if client else None,
            purpose=_header(scope, b"x-gridwall-purpose"),
        )
        token = _current.set(rq)
        held: list[Message] = []
        status = 500

        async def keep(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            held.append(message)

        try:
            await self.app(scope, receive, keep)
        except Exception:
            if rq.recorded == 0:  # a crash is a refusal too: leave its trace if we can
                try:
                    ev = merged(rq.pending) if rq.pending else gap_event(rq, 500, self.clock())
                    self.sink.record(with_address(ev, rq))
                except Exception as e:
                    why = type(e).__name__
                    log.error("audit log failed: %s %s: %s", rq.method, rq.path, why)
            raise
        finally:
            _current.reset(token)
        if rq.recorded == 0 or rq.pending:
            try:
                if rq.pending:  # e.g. a login, or refused credentials: identity's record
                    # (after the route's own event only if identity wrote later: never lost)
                    self.sink.record(with_address(merged(rq.pending), rq))
                else:
                    self.sink.record(gap_event(rq, status, self.clock()))
            except Exception as e:  # no record, no answer
                log.error("audit log failed: %s %s: %s", rq.method, rq.path, type(e).__name__)
                await send(
                    {
                        "type": "http.response.start",
                        "status": 503,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(_UNAVAILABLE)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": _UNAVAILABLE})
                return
        for m in held:
            await send(m)
