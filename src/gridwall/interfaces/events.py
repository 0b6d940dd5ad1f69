"""The audit event: one typed record, built in one place, for every capability and face.

Every access and every administrative step is recorded as one event in the ``events`` layout
of ``spec/dataset.md`` (``event_id`` … ``decision``) plus the attribution the audit log keeps
beside it: ``policy_ids`` (the Cedar policies that decided), ``person_id`` and ``org`` (who,
resolved at decision time), and a few named extras (a denial ``reason``, the lookup's
``name_verification``, the route and status of a request no capability audited).

:func:`audit_event` is the one builder. It validates what the layout fixes (the action and
decision vocabularies, an aware timestamp, lists as lists) so that a malformed event fails
where it is built, not when the log or the monitor reads it. :class:`AuditEvent` is a
read-only :class:`~collections.abc.Mapping` of exactly the record the log stores, so every
:class:`gridwall.interfaces.AuditSink` writes it as it is.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from gridwall.interfaces.clock import as_utc

if TYPE_CHECKING:
    from gridwall.interfaces import AuditSink

#: The ``action`` vocabulary of the events layout.
ACTIONS: Final = frozenset(
    {"login", "login_failed", "logout", "view", "search", "export", "update"}
)
#: The ``decision`` vocabulary of the events layout.
DECISIONS: Final = frozenset({"allow", "deny"})
#: Extras an event may carry beside the layout's columns (scalars or lists of strings).
EXTRA_KEYS: Final = frozenset(
    {
        "reason",  # identity: why a login or step was refused
        "name_verification",  # lookup: whether the caller asked for a name match
        "denial",  # lookup: the kind of refusal (rate limit, policy, bad input)
        "route",  # app: the route and status of a request no capability audited
        "status",
        "identity_event_ids",  # app: the identity events a request's authentication held
        "grant_kind",  # grants: which desk, which grant, which export
        "grant_id",
        "export_id",
        "case_id",  # cases: the case a step acted on, and the entry it wrote
        "case_seq",
        "report_kind",  # cases: a self-report's kind (the voluntary-reports figure)
    }
)
#: The columns of the events layout, in order, then the attribution the log keeps.
EVENT_COLUMNS: Final = (
    "event_id",
    "ts",
    "system",
    "account_id",
    "device_id",
    "source_ip",
    "session_id",
    "action",
    "screen",
    "purpose",
    "supply_point_ids",
    "query",
    "fields",
    "result_count",
    "recipient_org",
    "decision",
)
ATTRIBUTION: Final = ("policy_ids", "person_id", "org")

Scalar = str | int | tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class AuditEvent(Mapping[str, Any]):
    """One audit event, immutable; read it as the mapping the audit log stores."""

    event_id: str
    ts: datetime
    account_id: str
    action: str
    screen: str
    decision: str
    system: str = "gridwall"
    device_id: str | None = None
    source_ip: str | None = None
    session_id: str | None = None
    purpose: str | None = None
    supply_point_ids: tuple[str, ...] = ()
    query: str | None = None
    fields: tuple[str, ...] = ()
    result_count: int | None = None
    recipient_org: str | None = None
    policy_ids: tuple[str, ...] = ()
    person_id: str | None = None
    org: str | None = None
    extra: Mapping[str, Scalar] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """The stored record: layout columns, attribution, then the extras."""
        out: dict[str, Any] = {
            "event_id": self.event_id,
            "ts": self.ts.isoformat(),
            "system": self.system,
            "account_id": self.account_id,
            "device_id": self.device_id,
            "source_ip": self.source_ip,
            "session_id": self.session_id,
            "action": self.action,
            "screen": self.screen,
            "purpose": self.purpose,
            "supply_point_ids": list(self.supply_point_ids),
            "query": self.query,
            "fields": list(self.fields),
            "result_count": self.result_count,
            "recipient_org": self.recipient_org,
            "decision": self.decision,
            "policy_ids": list(self.policy_ids),
            "person_id": self.person_id,
            "org": self.org,
        }
        out.update({k: list(v) if isinstance(v, tuple) else v for k, v in self.extra.items()})
        return out

    # Mapping protocol: an AuditEvent reads exactly as its stored record.
    def __getitem__(self, key: str) -> Any:
        return self.record()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.record())

    def __len__(self) -> int:
        return len(EVENT_COLUMNS) + len(ATTRIBUTION) + len(self.extra)


def audit_event(
    *,
    source: str,
    ts: datetime,
    account_id: str | None,
    action: str,
    screen: str,
    decision: str,
    device_id: str | None = None,
    source_ip: str | None = None,
    session_id: str | None = None,
    purpose: str | None = None,
    supply_point_ids: Iterable[str] = (),
    query: str | None = None,
    fields: Iterable[str] = (),
    result_count: int | None = None,
    recipient_org: str | None = None,
    policy_ids: Iterable[str] = (),
    person_id: str | None = None,
    org: str | None = None,
    extra: Mapping[str, Scalar | list[str]] | None = None,
) -> AuditEvent:
    """Build one event; ``source`` (``gw``, ``lk``, ``idn``, ``grants``, ``web`` …) prefixes a
    fresh unique ``event_id``. Raises ``ValueError`` naming the field for anything the layout
    does not allow, so nothing malformed reaches the log."""
    if action not in ACTIONS:
        raise ValueError(f"audit event action: {action!r} is not one of {sorted(ACTIONS)}")
    if decision not in DECISIONS:
        raise ValueError(f"audit event decision: {decision!r} is not 'allow' or 'deny'")
    if not source or not source.isascii() or not source.replace("-", "").isalnum():
        raise ValueError(f"audit event source: {source!r} must be a short ASCII word")
    if not screen:
        raise ValueError("audit event screen: must not be empty")
    if result_count is not None and result_count < 0:
        raise ValueError(f"audit event result_count: {result_count} is negative")
    extras: dict[str, Scalar] = {
        k: tuple(v) if isinstance(v, list | tuple) else v for k, v in (extra or {}).items()
    }
    unknown = sorted(set(extras) - EXTRA_KEYS)
    if unknown:
        raise ValueError(f"audit event extra: unknown keys {unknown}")
    for k, v in extras.items():
        ok = v is None or (isinstance(v, str | int) and not isinstance(v, bool))
        if isinstance(v, tuple):
            ok = all(isinstance(x, str) for x in v)
        if not ok:
            raise ValueError(f"audit event extra {k}: {type(v).__name__} is not a scalar")
    return AuditEvent(
        event_id=f"{source}-{uuid.uuid4().hex}",
        ts=as_utc(ts, "audit event ts"),
        account_id=account_id or "",
        action=action,
        screen=screen,
        decision=decision,
        device_id=device_id,
        source_ip=source_ip,
        session_id=session_id,
        purpose=purpose,
        supply_point_ids=tuple(supply_point_ids),
        query=query,
        fields=tuple(sorted(set(fields))),
        result_count=result_count,
        recipient_org=recipient_org,
        policy_ids=tuple(sorted(set(policy_ids))),
        person_id=person_id,
        org=org,
        extra=extras,
    )


# ---------------------------------------------------------------------------
# Backlog delivery: an outbox (identity's, grants') that delivers events an earlier step
# left undelivered (an audit-log outage, a crash) marks them while it sends them, so a
# request-scoped sink of the app layer passes them through as they were written: a
# backlog event is not stamped with the address of the request that happened to deliver
# it, nor folded into that request's own event.

_backlog: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "gridwall_audit_backlog", default=False
)


@contextmanager
def delivering_backlog() -> Iterator[None]:
    """Within this block the events handed to an :class:`AuditSink` belong to an earlier
    step, not to the request (if any) that is running."""
    token = _backlog.set(True)
    try:
        yield
    finally:
        _backlog.reset(token)


def is_backlog() -> bool:
    """Whether the event being recorded is an earlier step's (see :func:`delivering_backlog`)."""
    return _backlog.get()


def record_as_written(
    sink: AuditSink, event: Mapping[str, Any], current: frozenset[str] = frozenset()
) -> None:
    """Hand an outbox's ``event`` to ``sink``: as the running step's own when its
    ``event_id`` is in ``current``, else marked as backlog."""
    if str(event.get("event_id")) in current:
        sink.record(event)
        return
    with delivering_backlog():
        sink.record(event)
