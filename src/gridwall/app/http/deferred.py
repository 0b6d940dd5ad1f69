"""Audit durability off the request thread (issue 15 item 1).

A gateway call runs in a worker thread as before (decision, read, event), but the
event is only *queued* for the audit log's next group commit there. The thread and
its pooled connection are released at once; the handler then awaits the durability
future on the event loop and only then sends the answer. So no data leaves before
its entry is durable, an audit failure still answers 503 with no data, and requests
waiting for the fsync hold no thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar

from anyio import to_thread

from gridwall.gateway._errors import AUDIT_LOG, Unavailable

log = logging.getLogger(__name__)

T = TypeVar("T")


class SubmittingSink(Protocol):
    """An audit sink that can queue events and give a durability future (AuditLog)."""

    def record(self, event: Mapping[str, Any]) -> None: ...

    def submit(self, events: Sequence[Mapping[str, Any]]) -> Future[list[int]]: ...


# the futures of the current deferred call; None outside one (then record waits as usual)
_pending: ContextVar[list[Future[list[int]]] | None] = ContextVar(
    "gridwall_audit_pending", default=None
)


class DeferringSink:
    """AuditSink over a :class:`SubmittingSink`: inside :func:`call` it queues the
    event and leaves the wait to the handler; anywhere else it records and waits."""

    def __init__(self, inner: SubmittingSink) -> None:
        self.inner = inner

    def record(self, event: Mapping[str, Any]) -> None:
        pending = _pending.get()
        if pending is None:
            self.inner.record(event)
            return
        # encoding errors raise here, in the gateway's own fail-closed block
        pending.append(self.inner.submit([event]))


class ForwardingSink:
    """Base of the audit-sink wrappers of the composed server (request folding, identity's
    hold-back, the canary mark): ``record`` is each wrapper's own; everything else (the
    log's read side) is forwarded to the wrapped ``sink``. It defines no ``submit``, so a
    wrapper queues events (:func:`can_submit`) only if it defines ``submit`` itself."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink

    def record(self, event: Mapping[str, Any]) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define record")

    def __getattr__(self, name: str) -> Any:
        if name == "sink":  # not yet set (copy, unpickling): no endless recursion
            raise AttributeError(name)
        return getattr(self.sink, name)


def can_submit(sink: Any) -> bool:
    """Whether ``sink``'s own class defines ``submit`` (a wrapper forwarding unknown
    attributes with ``__getattr__`` does not count: it would skip the wrapper's work)."""
    return callable(getattr(type(sink), "submit", None))


def submit_via(sink: Any, events: Sequence[Mapping[str, Any]]) -> Future[list[int]]:
    """Queue ``events`` on ``sink`` if it can, else record them now (a resolved future)."""
    if can_submit(sink):
        fut: Future[list[int]] = sink.submit(events)
        return fut
    for e in events:
        sink.record(e)
    done: Future[list[int]] = Future()
    done.set_result([])
    return done


def defer_audit(sink: Any) -> Any:
    """``sink`` wrapped in a :class:`DeferringSink` when it can queue events."""
    if isinstance(sink, DeferringSink) or not can_submit(sink):
        return sink
    return DeferringSink(sink)


def _run(fn: Callable[[], T], pending: list[Future[list[int]]]) -> T:
    token = _pending.set(pending)
    try:
        return fn()
    finally:
        _pending.reset(token)


async def _settle(pending: list[Future[list[int]]]) -> None:
    """Wait for every queued event to be durable; any failure refuses the request."""
    failed = False
    for f in pending:
        try:
            await asyncio.wrap_future(f)
        except Exception as e:  # any audit failure is a refusal
            log.error("audit sink failed: %s", type(e).__name__)
            failed = True
    if failed:
        raise Unavailable(AUDIT_LOG)


async def call(fn: Callable[[], T]) -> T:
    """Run ``fn`` (a gateway call) in a worker thread, then await the durability of
    the events it recorded before its result (or its refusal) is returned."""
    pending: list[Future[list[int]]] = []
    try:
        result = await to_thread.run_sync(_run, fn, pending)
    except BaseException:
        await _settle(pending)  # an unaudited refusal becomes 503 like any audit failure
        raise
    await _settle(pending)
    return result
