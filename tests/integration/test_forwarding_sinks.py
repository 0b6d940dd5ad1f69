"""The audit-sink wrappers of the composed server share :class:`ForwardingSink`: each
overrides what it must (``record``, and ``submit`` only where it may queue) and forwards
the log's read side to the sink it wraps."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import Any

import pytest

from gridwall.app import canary
from gridwall.app.http import audit as request_audit
from gridwall.app.http.deferred import ForwardingSink, can_submit


class Log:
    """A log with a read side and a queued write path."""

    def __init__(self) -> None:
        self.recorded: list[Mapping[str, Any]] = []
        self.submitted: list[Mapping[str, Any]] = []

    def record(self, event: Mapping[str, Any]) -> None:
        self.recorded.append(event)

    def submit(self, events: Sequence[Mapping[str, Any]]) -> Future[list[int]]:
        self.submitted.extend(events)
        fut: Future[list[int]] = Future()
        fut.set_result(list(range(len(events))))
        return fut

    def events(self, account_id: str) -> list[str]:
        return [f"read {account_id}"]


WRAPPERS = [
    request_audit.RequestAuditSink,
    request_audit.IdentityAuditSink,
    canary.CanaryMarkingSink,
]


@pytest.mark.parametrize("wrapper", WRAPPERS, ids=lambda w: w.__name__)
def test_a_wrapper_forwards_the_read_side_and_overrides_record(wrapper: Any) -> None:
    log = Log()
    sink = wrapper(log)
    assert isinstance(sink, ForwardingSink)
    assert sink.events("a-1") == ["read a-1"]  # forwarded
    assert type(sink).record is not ForwardingSink.record  # its own
    with pytest.raises(AttributeError):
        sink.no_such_method  # noqa: B018 - missing on the log: missing on the wrapper


def test_only_wrappers_that_define_submit_queue() -> None:
    log = Log()
    assert can_submit(request_audit.RequestAuditSink(log))
    assert can_submit(canary.CanaryMarkingSink(log))
    # identity's events are held back per request, never queued past the hold-back
    assert not can_submit(request_audit.IdentityAuditSink(log))


def test_the_marking_wrapper_marks_on_both_write_paths() -> None:
    log = Log()
    sink = canary.CanaryMarkingSink(log)
    sink.record({"account_id": "canary-retail"})
    sink.submit([{"account_id": "someone", "canary": True}]).result()
    assert log.recorded == [{"account_id": "canary-retail", "canary": True}]
    assert log.submitted == [{"account_id": "someone"}]


def test_the_base_has_no_record_of_its_own_and_copies_cleanly() -> None:
    with pytest.raises(NotImplementedError, match="must define record"):
        ForwardingSink(Log()).record({})
    clone = copy.copy(canary.CanaryMarkingSink(Log()))
    assert clone.events("x") == ["read x"]
