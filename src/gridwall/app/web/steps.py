"""The decision and the audit event of a console step (manager, compliance and administrator
pages): one Cedar decision of the management engine and exactly one audit event per request.

* **a page** (:func:`view`) — the step is decided and the decision recorded as the
  request's event (allowed or refused); refused, nothing is read.
* **a change** (:func:`change`) — the step is decided; refused, the refusal is the event
  and nothing changes. Allowed, the capability makes the change and writes its own event
  in the same transaction (identity's outbox); within the request that event is held by the
  server's request sink and folded into the page's event, recorded right after, so the
  request still leaves one event carrying both (``identity_event_ids``). A change the
  capability itself refuses (e.g. identity's two-person rule) is recorded as a refusal with
  its reason, and the page shows the reason.

Without a decider or a sink every step is refused (503): nothing fails open.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from fastapi import Request

from gridwall.app.management import manage_request
from gridwall.app.web.core import Caller, Console
from gridwall.errors import UsageError
from gridwall.gateway import Forbidden, Unavailable
from gridwall.interfaces.events import audit_event
from gridwall.interfaces.facts import GrantStep

T = TypeVar("T")


class StepRefused(Exception):
    """The step was refused with a reason the person may be shown (``own_request``: by the
    two-person rule in the policy; else the capability's own message, ``detail``)."""

    status = 403

    def __init__(
        self, step: GrantStep, reason: str, detail: str = "", *, bad_input: bool = False
    ) -> None:
        super().__init__(f"{step}: {reason} {detail}".strip())
        #: the capability refused bad input (its detail names the field)
        self.bad_input = bad_input
        self.step = step
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Decided:
    allowed: bool
    policy_ids: tuple[str, ...]


def _decide(console: Console, caller: Caller, step: GrantStep, own_request: bool) -> Decided:
    if console.decider is None or console.audit_sink is None:
        raise Unavailable("management policy")
    try:
        d = console.decider.decide(
            manage_request(step, caller.principal, caller.terminal, own_request=own_request)
        )
    except Exception:  # the engine could not answer: refused
        raise Unavailable("management policy") from None
    return Decided(bool(d.allowed), tuple(d.policy_ids))


def record(
    console: Console,
    request: Request,
    caller: Caller,
    step: GrantStep,
    decision: str,
    *,
    query: str = "",
    reason: str = "",
    policy_ids: tuple[str, ...] = (),
) -> None:
    """The request's one event for ``step`` (no record: 503, nothing shown)."""
    p, t = caller.principal, caller.terminal
    client = request.client.host if request.client else None
    event = audit_event(
        source="web", ts=caller.now, account_id=p.account_id,
        action="view" if step.value.startswith("console.") else "update",
        screen=f"console/{step}", decision=decision, device_id=t.device_id,
        source_ip=client, session_id=p.session_id, purpose="audit", query=query or None,
        policy_ids=list(policy_ids), person_id=p.person_id, org=p.org,
        extra={"reason": reason} if reason else None,
    )  # fmt: skip
    sink = console.audit_sink
    if sink is None:
        raise Unavailable("audit log")
    try:
        sink.record(event)
    except Exception:  # no record, no page
        raise Unavailable("audit log") from None


def view(console: Console, request: Request, caller: Caller, step: GrantStep) -> None:
    """Decide a page's step and record it; refused: :class:`Forbidden` (already recorded)."""
    d = _decide(console, caller, step, False)
    record(console, request, caller, step, "allow" if d.allowed else "deny",
           policy_ids=d.policy_ids)  # fmt: skip
    if not d.allowed:
        raise Forbidden(f"{step}: not permitted")


def change(
    console: Console,
    request: Request,
    caller: Caller,
    step: GrantStep,
    act: Callable[[], T],
    *,
    query: str,
    own_request: bool = False,
    refusals: tuple[type[Exception], ...] = (),
    records_itself: bool = False,
) -> T:
    """Decide ``step``; allowed, run ``act`` and record the one event (unless ``act``'s
    capability records its own, ``records_itself``: the grant desks). An exception of
    ``refusals`` raised by ``act`` is the capability refusing: recorded (when it did not
    record it itself) and raised as :class:`StepRefused` with its message."""
    d = _decide(console, caller, step, own_request)
    if not d.allowed:
        reason = "own_request" if own_request else "policy"
        record(console, request, caller, step, "deny", query=query, reason=reason,
               policy_ids=d.policy_ids)  # fmt: skip
        raise StepRefused(step, reason)
    try:
        out = act()
    except refusals as e:
        message = str(getattr(e, "message", "") or e)
        if not records_itself:
            record(console, request, caller, step, "deny", query=query, reason=message,
                   policy_ids=d.policy_ids)  # fmt: skip
        raise StepRefused(
            step, "capability", message, bad_input=isinstance(e, UsageError)
        ) from None
    if not records_itself:
        record(console, request, caller, step, "allow", query=query, policy_ids=d.policy_ids)
    return out


def person(caller: Caller) -> str:
    """The caller's person (identity's governance steps name people; none: refused)."""
    if not caller.principal.person_id:
        raise Forbidden("no person holds this account")
    return caller.principal.person_id
