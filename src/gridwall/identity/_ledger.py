"""Identity's unit of work: a change and its audit events commit together (transactional
outbox), then the journal is delivered to the audit log; and the alerts identity raises."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session

from gridwall.identity._config import IdentityConfig, RetailerKinds, _never
from gridwall.identity._models import (
    Account,
    Alert,
    AuditRecord,
)
from gridwall.identity._passwords import PasswordHashing
from gridwall.interfaces import AuditSink
from gridwall.interfaces.events import audit_event, record_as_written

#: PostgreSQL advisory lock that orders writers of identity's journal
JOURNAL_LOCK = 0x6964_656E_7479  # "identy"


class IdentityLedger:
    """The plumbing every identity operation shares: one store, the audit sink, the limits,
    and the unit of work whose audit events commit with the change (transactional outbox).
    Operations are grouped by subject in subclasses (accounts, terminals, login,
    authentication); :class:`~gridwall.identity.IdentityService` is their union."""

    def __init__(
        self,
        engine: Engine,
        audit: AuditSink | None = None,
        config: IdentityConfig | None = None,
        *,
        disaster_active: Callable[[datetime], bool] = _never,
        retailer_kinds: RetailerKinds | None = None,
    ) -> None:
        self.engine = engine
        self.audit = audit
        self.config = config or IdentityConfig()
        self.disaster_active = disaster_active
        self.retailer_kinds = retailer_kinds
        self.passwords = PasswordHashing(self.config.hash_params)
        self._relay = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[tuple[Session, list[dict[str, Any]]]]:
        """A unit of work whose audit events commit with it (transactional outbox).

        Events queued during the work are written to the journal (``idn_audit_events``) in
        the same database transaction as the change, so a change never stands without its
        event and an event never exists for a change that did not commit. After the commit
        the journal's undelivered events (this one's, and any an earlier failure left) are
        sent to the audit log in journal order; if the log fails, the error propagates (the
        caller is denied) and the events stay queued for the next delivery. The audit log
        may live in another database, so one transaction cannot span both: this is why."""
        events: list[dict[str, Any]] = []
        with Session(self.engine, expire_on_commit=False) as s:
            yield s, events
            if events and s.get_bind().dialect.name == "postgresql":
                # writers of the journal take turns to the commit, so ``seq`` order is
                # commit order and a delivery never sends a later event before an earlier
                # one still uncommitted (SQLite has one writer at a time anyway)
                s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": JOURNAL_LOCK})
            for ev in events:
                s.add(
                    AuditRecord(
                        event_id=ev["event_id"],
                        ts=datetime.fromisoformat(ev["ts"]),
                        action=ev["action"],
                        account_id=ev.get("account_id"),
                        event_json=json.dumps(ev, ensure_ascii=False, sort_keys=True),
                        delivered=False,
                    )
                )
            s.commit()
        if events:
            self.deliver_audit(current=frozenset(str(ev["event_id"]) for ev in events))

    def deliver_audit(self, batch: int = 5000, *, current: frozenset[str] = frozenset()) -> int:
        """Send every journaled, undelivered event to the audit sink, oldest first; returns
        how many were sent. Raises if the sink fails (what was sent stays marked sent).

        Called after every identity change and once when a server starts, so a backlog left
        by an audit-log outage is delivered before anything else is served. Delivery is
        at-least-once: a crash between the log's acknowledgement and the journal's mark
        sends that event again, under the same ``event_id``. On PostgreSQL the pending rows
        are locked (``FOR UPDATE``): another server sharing the store waits, then skips what was
        sent, so no event is sent twice and none overtakes an older one (``SKIP LOCKED``
        would let a later event reach the log first); SQLite is one process, serialised by a
        lock here. ``current`` names the events of the step that is delivering; every other
        event is an earlier step's backlog and is sent marked so
        (:func:`gridwall.interfaces.events.delivering_backlog`)."""
        sink = self.audit
        if sink is None:
            return 0
        sent = 0
        with self._relay:
            while True:
                n = self._deliver_batch(sink, batch, current)
                sent += n
                if n < batch:
                    return sent

    def _deliver_batch(self, sink: AuditSink, batch: int, current: frozenset[str]) -> int:
        pg = self.engine.dialect.name == "postgresql"
        with Session(self.engine) as s:
            q = (
                select(AuditRecord.seq, AuditRecord.event_json)
                .where(AuditRecord.delivered.is_(False))
                .order_by(AuditRecord.seq)
                .limit(batch)
            )
            if pg:
                q = q.with_for_update()
            rows = s.execute(q).all()
            if not pg:
                # End SQLite's read transaction before the audit log (possibly this very
                # file) takes its write lock.
                s.rollback()
            done: list[int] = []
            try:
                for seq, payload in rows:
                    record_as_written(sink, json.loads(payload), current)
                    done.append(seq)
            finally:
                if done:
                    s.execute(
                        update(AuditRecord).where(AuditRecord.seq.in_(done)).values(delivered=True)
                    )
                    s.commit()
            return len(done)

    def pending_audit(self) -> int:
        """How many journaled events the audit log does not have yet (0 when healthy)."""
        from sqlalchemy import func

        with Session(self.engine) as s:
            n = s.scalar(
                select(func.count())
                .select_from(AuditRecord)
                .where(AuditRecord.delivered.is_(False))
            )
        return int(n or 0)

    @staticmethod
    def event(
        now: datetime,
        action: str,
        *,
        decision: str,
        screen: str,
        reason: str,
        account_id: str | None = None,
        device_id: str | None = None,
        session_id: str | None = None,
        person_id: str | None = None,
        org: str | None = None,
        source_ip: str | None = None,
    ) -> dict[str, Any]:
        """An audit event in the ``events`` format (dataset.md) plus person/org/reason, built
        by the one builder every capability uses (validated: nothing malformed is journaled)."""
        return audit_event(
            source="idn",
            ts=now,
            account_id=account_id,
            action=action,
            screen=screen,
            decision=decision,
            device_id=device_id,
            source_ip=source_ip,
            session_id=session_id,
            person_id=person_id,
            org=org,
            extra={"reason": reason},
        ).record()

    # ------------------------------------------------------------------ alerts

    def _alert(
        self,
        s: Session,
        now: datetime,
        rule: str,
        incident: str,
        severity: int,
        account: Account,
        devices: list[str],
        sessions: list[str],
        summary: str,
    ) -> str:
        alert_id = f"idn-alert-{uuid.uuid4().hex[:16]}"
        s.add(
            Alert(
                alert_id=alert_id,
                ts=now,
                rule=rule,
                incident_type=incident,
                severity=severity,
                account_id=account.account_id,
                person_id=account.holder_person_id,
                org=account.org,
                device_ids=";".join(devices),
                session_ids=";".join(sessions),
                summary=summary,
            )
        )
        return alert_id

    @staticmethod
    def _evidence(s: Session, alert_id: str | None, event: dict[str, Any]) -> None:
        """Link an alert to the audit event that records the refusal it is about."""
        if alert_id is not None and (alert := s.get(Alert, alert_id)) is not None:
            alert.event_ids = ";".join(x for x in (alert.event_ids, event["event_id"]) if x)
