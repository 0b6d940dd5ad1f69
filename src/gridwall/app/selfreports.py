"""The self-report channel (自主申告), the parts every face shares (docs/cases.md).

Anyone — signed in or not — files a report (:meth:`SelfReportDesk.submit`) and follows it
with the one-time receipt code (:meth:`SelfReportDesk.status`). Each call writes exactly one
audit event, through the case outbox in the same transaction as the report and its case, and
answers only once the event is in the audit log (else :class:`~gridwall.cases.AuditPending`,
503).

Who can see what (the design, also in docs/cases.md):

* the report's text, kind and case: compliance and internal audit (the case queue);
* who reported (account, person, organisation, contact): compliance only, after the Cedar
  step ``selfreport.identity`` (I15j) — or everyone who sees the case when the reporter
  chose not to be anonymous;
* the audit event of an **anonymous** report, or of a receipt check, carries no account,
  person, organisation, terminal, session or source address (every reader of the audit log
  — internal audit, the monitor, the regulator's evidence export — sees ``None``); it
  carries the report's kind, case and time, which the voluntary-reports figure needs;
* the rate limit keeps, per attempt, only an HMAC of the source address under the store's
  secret and the number of the window (an hour by default), never the time or the report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from gridwall.cases import (
    Reporter,
    SelfReportError,
    add_selfreport_note,
    deliver_audit,
    follow_selfreport,
    pseudonym_key,
    selfreport_queue,
    submit_selfreport,
)
from gridwall.cases._outbox import enqueue
from gridwall.cases._selfreport import source_key, take_slot
from gridwall.errors import AccessDenied, GridwallError
from gridwall.interfaces import AuditSink, Principal, Terminal
from gridwall.interfaces.clock import Clock, as_utc, system_clock
from gridwall.interfaces.events import audit_event
from gridwall.interfaces.facts import GrantStep

#: the audit event's ``screen`` of each self-report step
SUBMIT, STATUS = "selfreport.submit", "selfreport.status"
IDENTITY, NOTE = str(GrantStep.SELFREPORT_IDENTITY), str(GrantStep.SELFREPORT_NOTE)


@dataclass(frozen=True)
class Limits:
    """Attempts per source address per window (seconds), per channel."""

    submit: int = 5
    status: int = 30
    window: int = 3600


class SelfReportInvalid(GridwallError):
    """A report that cannot be taken (names the field). HTTP 400, exit 2."""

    exit_code = 2
    status = 400

    def __init__(self, message: str, parameter: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class IntakeLimited(GridwallError):
    """Too many attempts from this source in this window. HTTP 429 with Retry-After."""

    exit_code = 1
    status = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ReceiptUnknown(GridwallError):
    """No report for this receipt code (malformed, unknown or wrong alike). HTTP 404."""

    exit_code = 1
    status = 404


@dataclass(frozen=True)
class Signed:
    """A signed-in reporter (the HTTP bearer + terminal, or the CLI's sign-in)."""

    principal: Principal
    terminal: Terminal


class SelfReportDesk:
    """Self-report submission and receipt checks: limited, audited, fail closed."""

    def __init__(
        self,
        engine: Engine,
        audit: AuditSink,
        *,
        clock: Clock = system_clock,
        limits: Limits | None = None,
        console: bool = False,
    ) -> None:
        self.engine = engine
        self.audit = audit
        self.clock = clock
        self.limits = limits or Limits()
        #: the server console (``gridwall selfreport``) has no source address to limit:
        #: whoever runs it already holds the store's credentials
        self.console = console
        self._key: bytes | None = None

    def _now(self) -> datetime:
        return as_utc(self.clock(), "clock")

    def _source(self, address: str | None) -> str:
        if self._key is None:
            self._key = pseudonym_key(self.engine)
        return source_key(self._key, address)

    def _event(
        self, now: datetime, screen: str, decision: str, query: str, *,
        named: Signed | None = None, address: str | None = None, case_id: str | None = None,
        kind: str | None = None, reason: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """One event; only a report whose reporter chose to be named carries who and from
        where (``named`` and ``address``); every other carries nobody."""
        p = named.principal if named else None
        extra: dict[str, str | int | None] = {"case_id": case_id}
        if kind:
            extra["report_kind"] = kind
        if reason:
            extra["reason"] = reason
        return dict(
            audit_event(
                source="cases", ts=now, account_id=p.account_id if p else None,
                action="view" if screen == STATUS else "update", screen=screen, purpose="",
                decision=decision, query=query,
                person_id=p.person_id if p else None, org=p.org if p else None,
                device_id=named.terminal.device_id if named else None,
                session_id=p.session_id if p else None,
                source_ip=address if named else None, extra=extra,
            )
        )  # fmt: skip

    def _record(self, event: Mapping[str, Any], write: Callable[[Any], Any] | None = None) -> Any:
        """``write`` (in a transaction) and the event's outbox row together; then delivery."""
        with self.engine.begin() as conn:
            out = write(conn) if write is not None else None
            enqueue(conn, event)
        deliver_audit(self.engine, self.audit, frozenset({str(event["event_id"])}))
        return out

    def _limit(self, channel: str, address: str | None, now: datetime, screen: str) -> None:
        if self.console:
            return
        limit = self.limits.submit if channel == "submit" else self.limits.status
        src = self._source(address)
        with self.engine.begin() as conn:
            wait = take_slot(conn, src, channel, now, limit=limit, window=self.limits.window)
        if wait is not None:
            why = (
                f"at most {limit} self-report {channel} requests per {self.limits.window} s "
                "from one address"
            )
            self._record(self._event(now, screen, "deny", f"self-report {channel}: rate limited",
                                     reason=why))  # fmt: skip
            raise IntakeLimited(f"too many requests: {why}; try again later", wait)

    def submit(
        self,
        *,
        kind: str,
        text: str,
        anonymous: bool = True,
        contact: str | None = None,
        subject: str | None = None,
        signed: Signed | None = None,
        address: str | None = None,
    ) -> dict[str, Any]:
        """Take one report and open its case; the receipt code is in the answer only."""
        now = self._now()
        self._limit("submit", address, now, SUBMIT)
        named = signed if signed is not None and not anonymous else None
        reporter = None
        if signed is not None:
            p = signed.principal
            reporter = Reporter(p.account_id, p.person_id, p.org)
        holder: dict[str, Any] = {}

        def write(conn: Any) -> None:
            sub = submit_selfreport(
                conn, kind=kind, text=text, at=now, reporter=reporter, anonymous=anonymous,
                contact=contact, subject=subject,
            )  # fmt: skip
            holder["sub"] = sub
            event = self._event(now, SUBMIT, "allow", f"self-report {sub.report_id}: received",
                                named=named, address=address, case_id=sub.case_id,
                                kind=kind)  # fmt: skip
            holder["event_id"] = str(event["event_id"])
            enqueue(conn, event)

        try:
            with self.engine.begin() as conn:
                write(conn)
        except SelfReportError as e:
            msg = str(e)
            field = msg.split("'")[1] if msg.count("'") >= 2 else "body"
            self._record(self._event(now, SUBMIT, "deny", "self-report refused",
                                     reason=msg))  # fmt: skip
            raise SelfReportInvalid(msg, field) from None
        sub = holder["sub"]
        deliver_audit(self.engine, self.audit, frozenset({holder["event_id"]}))
        return {
            "report_id": sub.report_id,
            "receipt": sub.receipt,
            "status": "received",
            "anonymous": anonymous,
            "note": "keep the receipt code: it is shown only once and is the only way to "
            "follow this report",
        }

    def status(self, receipt: str, address: str | None = None) -> dict[str, Any]:
        """The progress a receipt code shows (public status and notes), never who."""
        now = self._now()
        self._limit("status", address, now, STATUS)
        with self.engine.connect() as conn:
            progress = follow_selfreport(conn, receipt)
        if progress is None:
            self._record(self._event(now, STATUS, "deny", "self-report status: no report",
                                     reason="no report for the receipt given"))  # fmt: skip
            raise ReceiptUnknown("no report for this receipt code")
        self._record(
            self._event(now, STATUS, "allow", f"self-report {progress.report_id}: status shown")
        )
        return {
            "report_id": progress.report_id,
            "kind": progress.kind,
            "submitted_at": progress.submitted_at,
            "status": progress.status,
            "notes": [{"at": at, "text": t} for at, t in progress.notes],
        }


class ReportUnknown(GridwallError):
    """No self-report with this id. HTTP 404, exit 1."""

    exit_code = 1
    status = 404


class StepRefused(AccessDenied):
    """The Cedar decision refused a compliance step on a self-report (I15j). HTTP 403."""


class ComplianceDesk:
    """Compliance's steps on a self-report (I15j): ``selfreport.identity`` reveals who filed
    it (with a reason) and ``selfreport.note`` writes a note the reporter reads with the
    receipt. Each call is one management decision and one audit event (fail closed)."""

    def __init__(
        self, engine: Engine, audit: AuditSink, decider: Any, *, clock: Clock = system_clock
    ) -> None:
        self.engine = engine
        self.audit = audit
        self.decider = decider
        self.clock = clock

    def _step(
        self, step: GrantStep, signed: Signed, report_id: str, reason: str,
        write: Callable[[Any], Any], address: str | None,
    ) -> Any:  # fmt: skip
        from gridwall.app.management import manage_request

        now = as_utc(self.clock(), "clock")
        p, t = signed.principal, signed.terminal
        d = self.decider.decide(manage_request(step, p, t))
        holder: dict[str, Any] = {}

        def event(decision: str, query: str, case_id: str | None) -> dict[str, Any]:
            return dict(
                audit_event(
                    source="cases", ts=now, account_id=p.account_id,
                    action="view" if step == GrantStep.SELFREPORT_IDENTITY else "update",
                    screen=str(step), purpose="compliance", decision=decision, query=query,
                    person_id=p.person_id, org=p.org, device_id=t.device_id,
                    session_id=p.session_id, source_ip=address,
                    policy_ids=d.policy_ids, extra={"case_id": case_id, "reason": reason},
                )
            )  # fmt: skip

        with self.engine.begin() as conn:
            rows = {str(r["report_id"]): r for r in selfreport_queue(conn, identity=True)}
            row = rows.get(report_id)
            case_id = str(row["case_id"]) if row is not None else None
            if not d.allowed:
                ev = event("deny", f"{step} {report_id}: not permitted", case_id)
            elif row is None:
                ev = event("deny", f"{step} {report_id}: no such report", None)
            else:
                holder["out"] = write(conn)
                ev = event("allow", f"{step} {report_id}", case_id)
            enqueue(conn, ev)
        deliver_audit(self.engine, self.audit, frozenset({str(ev["event_id"])}))
        if not d.allowed:
            raise StepRefused(f"{step}: not permitted (compliance only, I15j)")
        if row is None:
            raise ReportUnknown(f"self-report {report_id!r}: no such report")
        return holder["out"]

    def identity(
        self, signed: Signed, report_id: str, reason: str, address: str | None = None
    ) -> dict[str, Any]:
        """Who filed ``report_id`` (account, person, organisation, contact), for a reason."""
        if not reason.strip():
            raise SelfReportInvalid(
                "parameter 'reason': required for selfreport.identity", "reason"
            )

        def write(conn: Any) -> dict[str, Any]:
            row = next(r for r in selfreport_queue(conn, identity=True)
                       if r["report_id"] == report_id)  # fmt: skip
            keys = ("report_id", "case_id", "kind", "anonymous", "reporter", "reporter_person",
                    "reporter_org", "contact")  # fmt: skip
            return {k: row[k] for k in keys}

        out: dict[str, Any] = self._step(
            GrantStep.SELFREPORT_IDENTITY, signed, report_id, reason.strip(), write, address
        )
        return out

    def note(
        self, signed: Signed, report_id: str, text: str, address: str | None = None
    ) -> dict[str, Any]:
        """Append a note the reporter reads through the receipt status."""
        now = as_utc(self.clock(), "clock")

        def write(conn: Any) -> dict[str, Any]:
            try:
                seq = add_selfreport_note(conn, report_id, signed.principal.account_id, text, now)
            except SelfReportError as e:
                raise SelfReportInvalid(str(e), "text") from None
            return {"report_id": report_id, "note": seq}

        if not text.strip():
            raise SelfReportInvalid("parameter 'text': required for selfreport.note", "text")
        out: dict[str, Any] = self._step(
            GrantStep.SELFREPORT_NOTE, signed, report_id, "note", write, address
        )
        return out
