"""The case workflow, the parts every face shares (docs/cases.md).

Every step — by the CLI (``gridwall case …``) or the HTTP routes (``/v1/cases…``) — goes
through :class:`CaseDesk`: it computes the caller's relation to the case's subject from HR
data (:class:`StoreHr`, over identity's assignments and approvals), asks the case engine
(Cedar, proven as I16 by ``gridwall policy check``), and writes the case entry, its audit
event (the case outbox) and its notifications in one transaction; the step succeeds only
once its event is in the audit log. A refusal is one audit event too, and names its reason.
Second- and third-line views show the subject as a per-case pseudonym until a reveal (an
entry of its own, with its reason, kept in the history forever).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gridwall.cases import (
    AlertRef,
    CaseState,
    Deadlines,
    Entry,
    Notification,
    ack,
    append_entries,
    due_escalations,
    fold,
    load_entries,
    needs_sampling,
    notifications,
    notify,
    pseudonym,
    route_alerts,
    selfreports_of_cases,
)
from gridwall.cases._core import SELF_REPORT, SOURCES, _apply
from gridwall.cases._outbox import deliver_audit, enqueue, pseudonym_key
from gridwall.cases._routing import line_manager, relation
from gridwall.errors import AccessDenied, GridwallError
from gridwall.interfaces import AuditSink, HrDirectory, HrPosition, Principal, Terminal
from gridwall.interfaces.clock import Clock, as_utc, system_clock
from gridwall.interfaces.events import audit_event
from gridwall.interfaces.facts import CaseDecision, CaseRequest, CaseStep
from gridwall.policy import CaseEngine, default_case_engine

#: recipients of notifications that go to a line rather than a person
COMPLIANCE, INTERNAL_AUDIT = "role:compliance", "role:auditor"
#: the actor of entries the monitor's alerts open, and of the deadline clock
MONITOR_ACTOR, CLOCK_ACTOR = "monitor", "clock"

#: each refusing policy, as the refusal says it
REASONS: dict[str, str] = {
    "case-forbid-inactive-or-impersonal": "your account is not an active personal account",
    "case-forbid-foreign-or-invalid-terminal": "this terminal is not a valid terminal of yours",
    "case-forbid-off-terminal-or-untrained": (
        "case work needs an NW terminal and current training"
    ),
    "case-forbid-outside-operator": (
        "retailers', contractors' and the regulator's staff never see cases"
    ),
    "case-forbid-about-self": "the case is about you",
    "case-forbid-about-own-manager": "the case is about your own manager",
    "case-forbid-approved-subject": "you approved {approval}",
    "case-forbid-second-third-line-not-independent": (
        "you work in the subject's organisation unit; the second and third lines must be "
        "independent of it"
    ),
}

#: the entry each acting step writes, and the fields it takes
_ENTRY: dict[CaseStep, tuple[str, tuple[str, ...]]] = {
    CaseStep.CONFIRM: ("confirmed", ("text",)),
    CaseStep.EXPLAIN: ("explained", ("text",)),
    CaseStep.DECIDE: ("decided", ("decision", "reason", "incident_type", "rule")),
    CaseStep.DISCIPLINE: ("outcome", ("outcome",)),
    CaseStep.SIGNOFF: ("signed_off", ("note",)),
    CaseStep.REOPEN: ("reopened", ("reason",)),
    CaseStep.REVEAL: ("revealed", ("reason",)),
}
ACTING_STEPS = tuple(_ENTRY)


class CaseRefused(AccessDenied):
    """A case step the policy refuses; the message names the reason. HTTP 403.

    ``reasons`` are the same reasons as keys a face translates (a refusing policy id of
    :data:`REASONS`, or ``not_routed`` / ``not_your_step`` / ``undecided``), ``approval``
    the approved change the ``case-forbid-approved-subject`` reason names."""

    status = 403

    def __init__(
        self, message: str, reasons: tuple[str, ...] = (), approval: str | None = None
    ) -> None:
        super().__init__(message)
        self.reasons = reasons
        self.approval = approval


class CaseNotFound(GridwallError):
    """No such case. HTTP 404."""

    exit_code = 2
    status = 404


class CaseInvalid(GridwallError):
    """A step that does not fit the case (the fold's refusal, a missing field). HTTP 400."""

    exit_code = 2
    status = 400


# ------------------------------------------------------------------------------ HR data


class StoreHr:
    """:class:`HrDirectory` over identity's tables: HR assignments valid at an instant,
    account holders, and the changes each person approved (applied ``idn_changes``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def position(self, person_id: str, at: datetime) -> HrPosition | None:
        from gridwall.identity._state import assignment_at

        with Session(self.engine) as s:
            a = assignment_at(s, person_id, as_utc(at))
            return HrPosition(a.person_id, a.org, a.department, a.role) if a else None

    def positions(self, org: str, at: datetime) -> Sequence[HrPosition]:
        from sqlalchemy import or_

        from gridwall.identity._models import Assignment

        at = as_utc(at)
        with Session(self.engine) as s:
            rows = s.scalars(
                select(Assignment).where(
                    Assignment.org == org,
                    Assignment.valid_from <= at,
                    or_(Assignment.valid_to.is_(None), Assignment.valid_to > at),
                )
            )
            return [HrPosition(a.person_id, a.org, a.department, a.role) for a in rows]

    def person_of(self, account_id: str) -> str | None:
        from gridwall.identity._models import Account

        with Session(self.engine) as s:
            a = s.get(Account, account_id)
            return a.holder_person_id if a else None

    def approvals_by(self, person_id: str) -> Mapping[str, str]:
        from gridwall.identity._models import Account, Change

        out: dict[str, str] = {}
        with Session(self.engine) as s:
            changes = s.scalars(
                select(Change).where(Change.decided_by == person_id, Change.status == "applied")
            )
            for c in changes:
                acct = s.get(Account, c.subject)
                subject = acct.holder_person_id if acct is not None else c.subject
                what = "reactivation" if c.kind == "account_reactivate" else f"{c.kind} change"
                out.setdefault(subject, f"this person's {what} (change #{c.change_id})")
        return out


# ------------------------------------------------------------------------------ the desk


@dataclass(frozen=True)
class Caller:
    """Who takes a step, on which terminal, from where (for the audit event)."""

    principal: Principal
    terminal: Terminal
    source_ip: str | None = None


class CaseDesk:
    """Every case step: decided by Cedar, written with its audit event, notified."""

    def __init__(
        self,
        engine: Engine,
        audit: AuditSink,
        hr: HrDirectory,
        *,
        policy: CaseEngine | None = None,
        clock: Clock = system_clock,
        deadlines: Deadlines | None = None,
        sample_share: float = 0.1,
    ) -> None:
        self.engine = engine
        self.audit = audit
        self.hr = hr
        self.policy = policy if policy is not None else default_case_engine()
        self.clock = clock
        self.deadlines = deadlines or Deadlines()
        self.sample_share = sample_share
        self._key: bytes | None = None

    # -------------------------------------------------------------- helpers

    def _now(self) -> datetime:
        return as_utc(self.clock(), "clock")

    def _pseudonym(self, case_id: str, subject: str) -> str:
        if self._key is None:
            self._key = pseudonym_key(self.engine)
        return pseudonym(self._key, case_id, subject)

    def _subject_person(self, subject: str) -> str | None:
        if self.hr.position(subject, self._now()) is not None:
            return subject
        held = self.hr.person_of(subject)
        return held if held is not None else subject

    def _entries(self, case_id: str) -> list[Entry]:
        with self.engine.connect() as conn:
            entries = load_entries(conn, case_id).get(case_id)
        if not entries:
            raise CaseNotFound(f"no case {case_id!r}")
        return entries

    def _event(
        self, caller: Caller | None, now: datetime, step: CaseStep, decision: str, query: str,
        *, case_id: str | None = None, seq: int | None = None, reason: str | None = None,
        count: int | None = None, screen: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        p = caller.principal if caller else None
        reading = step in (CaseStep.LIST, CaseStep.VIEW, CaseStep.SAMPLE) and screen is None
        extra: dict[str, str | int | None] = {"case_id": case_id, "case_seq": seq}
        if reason:
            extra["reason"] = reason
        return dict(
            audit_event(
                source="cases", ts=now, account_id=p.account_id if p else None,
                action="view" if reading else "update", screen=screen or step.value, purpose="",
                decision=decision, query=query, result_count=count,
                person_id=p.person_id if p else None, org=p.org if p else "nw",
                device_id=caller.terminal.device_id if caller else None,
                session_id=p.session_id if p else None,
                source_ip=caller.source_ip if caller else None, extra=extra,
            )
        )  # fmt: skip

    def _record(
        self,
        event: Mapping[str, Any],
        entries: Sequence[Entry] = (),
        notes: Sequence[tuple[str, str, str]] = (),
    ) -> None:
        """Entries, their event and notifications in one transaction; then delivery."""
        try:
            with self.engine.begin() as conn:
                if entries:
                    append_entries(conn, entries)
                enqueue(conn, event)
                for recipient, kind, cid in notes:
                    notify(conn, recipient, kind, cid, entries[0].at if entries else self._now())
        except GridwallError as e:
            raise CaseInvalid(str(e)) from None
        except IntegrityError:  # another step took the same entry number first
            cid = entries[0].case_id if entries else "?"
            raise CaseInvalid(
                f"case {cid}: another step was recorded at the same time; nothing written, "
                "look at the case again"
            ) from None
        deliver_audit(self.engine, self.audit, frozenset({str(event["event_id"])}))

    def _decide(
        self, caller: Caller, step: CaseStep, state: CaseState | None, now: datetime
    ) -> tuple[CaseDecision, str | None]:
        p = caller.principal
        if state is None:
            rel = relation(self.hr, None, None, None, ())
        else:
            times = [now] + ([state.alert_at] if state.alert_at else [])
            rel = relation(
                self.hr, p.person_id, self._subject_person(state.subject), state.first_line, times
            )
        decision = self.policy.decide(
            CaseRequest(
                principal=p.facts, device=caller.terminal.facts, step=step,
                about_self=rel.about_self, about_own_manager=rel.about_own_manager,
                approved_subject=rel.approved_subject, first_line=rel.first_line,
                in_subject_unit=rel.in_subject_unit,
            )
        )  # fmt: skip
        return decision, rel.approval

    def _refuse(
        self, caller: Caller, step: CaseStep, decision: CaseDecision, approval: str | None,
        now: datetime, case_id: str | None,
    ) -> CaseRefused:  # fmt: skip
        what = approval or "a change for this person"
        keys = tuple(i for i in decision.policy_ids if i in REASONS)
        reasons = [REASONS[i].format(approval=what) for i in keys]
        if not reasons:
            if any(i.startswith("error:") for i in decision.policy_ids):
                keys, reasons = ("undecided",), ["the case policy could not decide (refused)"]
            elif step in (CaseStep.CONFIRM, CaseStep.EXPLAIN):
                keys = ("not_routed",)
                reasons = ["the case is not routed to you as the subject's line manager"]
            else:
                keys, reasons = ("not_your_step",), [f"{step.value} is not a step of your role"]
        why = "; ".join(reasons)
        what = f"case {case_id}" if case_id else "cases"
        self._record(
            self._event(caller, now, step, "deny", f"{what}: {step.value} refused", case_id=case_id,
                        reason=why)
        )  # fmt: skip
        return CaseRefused(f"{step.value} refused: {why}", keys, approval)

    def _missing(
        self, caller: Caller, step: CaseStep, case_id: str, now: datetime
    ) -> GridwallError:
        """An unknown case: refused as any case would be for a caller who may never take
        the step (a retailer's staff learn nothing), else not found; audited either way."""
        decision, approval = self._decide(caller, step, None, now)
        if not decision.allowed and step not in (CaseStep.CONFIRM, CaseStep.EXPLAIN):
            return self._refuse(caller, step, decision, approval, now, case_id)
        self._record(
            self._event(caller, now, step, "deny", f"case {case_id}: not found",
                        case_id=case_id, reason="no such case")
        )  # fmt: skip
        return CaseNotFound(f"no case {case_id!r}")

    def _may_view(self, caller: Caller, state: CaseState, now: datetime) -> bool:
        return self._decide(caller, CaseStep.VIEW, state, now)[0].allowed

    def _view(
        self, caller: Caller, entries: Sequence[Entry], *, history: bool,
        reports: Mapping[str, Mapping[str, object]] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        state = fold(entries)
        p = caller.principal
        routed_to_me = state.first_line is not None and state.first_line == p.person_id
        hidden = not state.reveals and not routed_to_me
        alias = self._pseudonym(state.case_id, state.subject)
        out: dict[str, Any] = {
            "case_id": state.case_id,
            "subject": alias if hidden else state.subject,
            "pseudonymised": hidden,
            "incident_type": state.incident_type,
            "status": state.status,
            "since": state.since.isoformat(),
            "critical": state.critical,
            "alerts": list(state.alerts),
            "first_line": None if hidden else state.first_line,
            "decision": state.decision,
            "outcome": state.outcome,
            "reveals": [{"by": by, "reason": why} for by, why in state.reveals],
            "needs_sampling": needs_sampling(state, self.sample_share),
            "audit_escalated": state.audit_escalated,
            # a self-report is voluntary (自主申告): valued, not counted as a detection
            "origin": state.source,
            "voluntary": state.source == SELF_REPORT,
        }
        if state.source == SELF_REPORT:
            if reports is None:
                with self.engine.connect() as conn:
                    reports = selfreports_of_cases(conn)
            report = reports.get(state.case_id)  # never the reporter: see selfreport.identity
            out["report"] = dict(report) if report is not None else None
        if history:
            rows = []
            for e in entries:
                data = dict(e.data)
                if hidden:
                    for k in ("subject", "first_line"):
                        if data.get(k):
                            data[k] = alias if k == "subject" else "(hidden until a reveal)"
                actor = e.actor
                if hidden and e.kind in ("confirmed", "explained"):
                    actor = "(first line)"  # the subject's manager would name the subject
                rows.append(
                    {"seq": e.seq, "kind": e.kind, "actor": actor, "at": e.at.isoformat(),
                     "data": data}
                )  # fmt: skip
            out["history"] = rows
        return out

    # -------------------------------------------------------------- what a face offers

    def may(self, caller: Caller, step: CaseStep) -> bool:
        """Whether the policy lets ``caller`` take a step that names no case (``case.list``,
        ``case.sample``, ``case.escalate``) now. Nothing is recorded: a face asks this to
        decide what to offer; the step itself is decided again and recorded when taken."""
        try:
            return self._decide(caller, step, None, self._now())[0].allowed
        except Exception:  # cannot tell: offer nothing (the step itself still decides)
            return False

    def offered(self, caller: Caller, case_id: str) -> tuple[CaseStep, ...]:
        """The acting steps ``caller`` could take on the case now: those the policy allows
        and whose entry the case's fold would take. Nothing is recorded (as :meth:`may`)."""
        now = self._now()
        try:
            state = fold(self._entries(case_id))
            out = []
            for step in ACTING_STEPS:
                if self._decide(caller, step, state, now)[0].allowed and _fits(state, step):
                    out.append(step)
            return tuple(out)
        except Exception:  # cannot tell: offer nothing
            return ()

    def deadline(self, case: Mapping[str, Any]) -> datetime | None:
        """When the line that has a case (a view of :meth:`queue`) misses its deadline and
        the case escalates (``None``: closed, or already escalated to internal audit)."""
        since = datetime.fromisoformat(str(case["since"]))
        if case["status"] == "first_line":
            return since + self.deadlines.first_line
        if case["status"] == "second_line" and not case.get("audit_escalated"):
            return since + self.deadlines.second_line
        return None

    # -------------------------------------------------------------- the steps

    def queue(self, caller: Caller, origin: str | None = None) -> list[dict[str, Any]]:
        """The cases the caller may view (each a ``case.view`` decision); ``origin``
        (``alert`` or ``self_report``) keeps only the cases it opened."""
        if origin is not None and origin not in SOURCES:
            raise CaseInvalid(f"origin: {origin!r} is not one of {sorted(SOURCES)}")
        now = self._now()
        decision, approval = self._decide(caller, CaseStep.LIST, None, now)
        if not decision.allowed:
            raise self._refuse(caller, CaseStep.LIST, decision, approval, now, None)
        with self.engine.connect() as conn:
            everything = load_entries(conn)
            reports = selfreports_of_cases(conn)
        out = []
        for es in everything.values():
            state = fold(es)
            if origin is not None and state.source != origin:
                continue
            if self._may_view(caller, state, now):
                out.append(self._view(caller, es, history=False, reports=reports))
        what = "case queue" + (f" (origin {origin})" if origin else "")
        self._record(self._event(caller, now, CaseStep.LIST, "allow", what, count=len(out)))
        return out

    def sample(self, caller: Caller) -> list[dict[str, Any]]:
        """Internal audit's sample: closed cases to review (every violation, every
        no-issue on a critical alert, a deterministic share of the rest)."""
        now = self._now()
        decision, approval = self._decide(caller, CaseStep.SAMPLE, None, now)
        if not decision.allowed:
            raise self._refuse(caller, CaseStep.SAMPLE, decision, approval, now, None)
        with self.engine.connect() as conn:
            everything = load_entries(conn)
        out = []
        for es in everything.values():
            st = fold(es)
            if needs_sampling(st, self.sample_share) and self._may_view(caller, st, now):
                out.append(self._view(caller, es, history=False))
        self._record(
            self._event(caller, now, CaseStep.SAMPLE, "allow", "internal-audit sample",
                        count=len(out))
        )  # fmt: skip
        return out

    def show(self, caller: Caller, case_id: str) -> dict[str, Any]:
        """One case with its whole history."""
        now = self._now()
        try:
            entries = self._entries(case_id)
        except CaseNotFound:
            raise self._missing(caller, CaseStep.VIEW, case_id, now) from None
        decision, approval = self._decide(caller, CaseStep.VIEW, fold(entries), now)
        if not decision.allowed:
            raise self._refuse(caller, CaseStep.VIEW, decision, approval, now, case_id)
        view = self._view(caller, entries, history=True)
        self._record(self._event(caller, now, CaseStep.VIEW, "allow", f"case {case_id}",
                                 case_id=case_id))  # fmt: skip
        return view

    def act(
        self, caller: Caller, case_id: str, step: CaseStep, fields: Mapping[str, str]
    ) -> dict[str, Any]:
        """One acting step on a case: an entry, its audit event, its notifications."""
        if step not in _ENTRY:
            raise CaseInvalid(f"{step.value} is not a step that writes an entry")
        kind, allowed_fields = _ENTRY[step]
        unknown = sorted(set(fields) - set(allowed_fields))
        if unknown:
            raise CaseInvalid(
                f"{step.value}: unknown field(s) {unknown}; takes {list(allowed_fields)}"
            )
        now = self._now()
        try:
            entries = self._entries(case_id)
        except CaseNotFound:
            raise self._missing(caller, step, case_id, now) from None
        state = fold(entries)
        decision, approval = self._decide(caller, step, state, now)
        if not decision.allowed:
            raise self._refuse(caller, step, decision, approval, now, case_id)
        data = {k: v for k, v in fields.items() if v is not None and str(v).strip()}
        entry = Entry(case_id, state.entries + 1, kind, caller.principal.account_id, now, data)
        try:
            after = fold([*entries, entry])
        except GridwallError as e:
            self._record(
                self._event(caller, now, step, "deny", f"case {case_id}: {step.value} "
                            "does not fit the case", case_id=case_id, reason=str(e))
            )  # fmt: skip
            raise CaseInvalid(str(e)) from None
        notes = _notes_after(step, after, self.sample_share)
        detail = ", ".join(f"{k}={v}" for k, v in sorted(data.items()) if k != "text")
        self._record(
            self._event(caller, now, step, "allow",
                        f"case {case_id}: {kind}" + (f" ({detail})" if detail else ""),
                        case_id=case_id, seq=entry.seq),
            [entry], notes,
        )  # fmt: skip
        return self._view(caller, [*entries, entry], history=True)

    def escalate(self, caller: Caller | None) -> list[dict[str, str]]:
        """Escalate every case whose line missed its deadline now (``caller`` None: the
        server's own clock, as the schedule inside ``gridwall serve`` runs it)."""
        now = self._now()
        if caller is not None:
            decision, approval = self._decide(caller, CaseStep.ESCALATE, None, now)
            if not decision.allowed:
                raise self._refuse(caller, CaseStep.ESCALATE, decision, approval, now, None)
        with self.engine.connect() as conn:
            cases = [fold(es) for es in load_entries(conn).values()]
        actor = caller.principal.account_id if caller else CLOCK_ACTOR
        due = due_escalations(cases, now, self.deadlines, actor=actor)
        done: list[dict[str, str]] = []
        for e in due:
            to = COMPLIANCE if e.data["from"] == "first_line" else INTERNAL_AUDIT
            self._record(
                self._event(caller, now, CaseStep.ESCALATE, "allow",
                            f"case {e.case_id}: {e.data['from']} missed its deadline "
                            f"{e.data['due']}; escalated to {to}", case_id=e.case_id, seq=e.seq),
                [e], [(to, "case.escalated", e.case_id)],
            )  # fmt: skip
            done.append({"case_id": e.case_id, "from": e.data["from"], "to": to})
        if not due:
            self._record(self._event(caller, now, CaseStep.ESCALATE, "allow",
                                     "no deadline missed", count=0))  # fmt: skip
        return done

    # -------------------------------------------------------------- notifications

    @staticmethod
    def recipients_of(principal: Principal) -> list[str]:
        """The outbox recipients that are the caller: their person, and their line when
        they are compliance or internal audit (a retailer's staff have none: no case is
        ever about them to read)."""
        out = [f"person:{principal.person_id}"] if principal.person_id else []
        role = str(principal.facts.role)
        if principal.facts.org_kind == "nw" and role == "compliance":
            out.append(COMPLIANCE)
        if principal.facts.org_kind == "nw" and role == "auditor":
            out.append(INTERNAL_AUDIT)
        return out

    def _my_notifications(
        self, caller: Caller, now: datetime, *, after: int, limit: int | None,
        pending_only: bool,
    ) -> tuple[list[Notification], int]:  # fmt: skip
        """The caller's notifications after ``after`` about cases they may view (each a
        ``case.view`` decision), and the last id looked at (the next cursor)."""
        with self.engine.connect() as conn:
            rows = notifications(conn, pending_only=pending_only, after=after, limit=limit,
                                 recipients=self.recipients_of(caller.principal))  # fmt: skip
            cases = {cid: fold(es) for cid, es in load_entries(conn).items()} if rows else {}
        mine = [n for n in rows if n.case_id in cases
                and self._may_view(caller, cases[n.case_id], now)]  # fmt: skip
        return mine, (rows[-1].id if rows else after)

    def notifications(
        self, caller: Caller, *, after: int = 0, limit: int = 100, pending_only: bool = False
    ) -> dict[str, Any]:
        """The caller's own notifications with an id above ``after``, oldest first (never
        anyone else's: a person's own, and their line's when compliance or internal audit,
        each about a case the caller may view); ``next_after`` is the cursor to ask next."""
        if after < 0:
            raise CaseInvalid(f"after: must be >= 0, not {after}")
        if not 1 <= limit <= 1000:
            raise CaseInvalid(f"limit: 1..1000, not {limit}")
        now = self._now()
        decision, approval = self._decide(caller, CaseStep.NOTIFICATIONS, None, now)
        if not decision.allowed:
            raise self._refuse(caller, CaseStep.NOTIFICATIONS, decision, approval, now, None)
        mine, cursor = self._my_notifications(caller, now, after=after, limit=limit,
                                              pending_only=pending_only)  # fmt: skip
        out = [
            {"id": n.id, "recipient": n.recipient, "kind": n.kind, "case_id": n.case_id,
             "created": n.created.isoformat(),
             "delivered_at": n.delivered_at.isoformat() if n.delivered_at else None}
            for n in mine
        ]  # fmt: skip
        self._record(
            self._event(caller, now, CaseStep.NOTIFICATIONS, "allow",
                        f"notifications after {after}", count=len(out))
        )  # fmt: skip
        return {"notifications": out, "next_after": cursor}

    def ack_notifications(self, caller: Caller, ids: Sequence[int]) -> dict[str, Any]:
        """Mark the caller's own notifications delivered. Idempotent: an id already
        delivered is reported, not refused; an id that is not the caller's (unknown, or
        someone else's) refuses the whole call and marks nothing."""
        now = self._now()
        wanted = sorted(set(ids))
        if not wanted or len(wanted) > 1000:
            raise CaseInvalid("ids: give 1..1000 notification ids")
        decision, approval = self._decide(caller, CaseStep.NOTIFICATIONS, None, now)
        if not decision.allowed:
            raise self._refuse(caller, CaseStep.NOTIFICATIONS, decision, approval, now, None)
        mine = {
            n.id: n
            for n in self._my_notifications(caller, now, after=wanted[0] - 1, limit=None,
                                            pending_only=False)[0]
            if n.id in wanted
        }  # fmt: skip
        foreign = [i for i in wanted if i not in mine]
        if foreign:
            self._record(
                self._event(caller, now, CaseStep.NOTIFICATIONS, "deny",
                            "acknowledge notifications", reason=f"not yours: {foreign}")
            )  # fmt: skip
            raise CaseInvalid(f"ids: notification(s) {foreign} unknown or not yours; none marked")
        fresh = [i for i in wanted if mine[i].delivered_at is None]
        event = self._event(caller, now, CaseStep.NOTIFICATIONS, "allow",
                            f"acknowledge notifications {wanted}", count=len(fresh))  # fmt: skip
        try:
            with self.engine.begin() as conn:
                if fresh:
                    ack(conn, fresh, now)
                enqueue(conn, event)
        except GridwallError as e:  # another consumer acknowledged one meanwhile
            raise CaseInvalid(f"ids: {e}; look again") from None
        deliver_audit(self.engine, self.audit, frozenset({str(event["event_id"])}))
        return {"acknowledged": fresh, "already": [i for i in wanted if i not in fresh]}

    def open_from_alerts(self, alerts: Sequence[AlertRef]) -> list[str]:
        """Open or join cases for stored alerts (the monitor's), routing each new case to
        the subject's line manager from HR data valid at the alert's time; the ids of the
        cases touched. Alerts already in a case open nothing."""
        now = self._now()
        with self.engine.connect() as conn:
            cases = [fold(es) for es in load_entries(conn).values()]
        new = route_alerts(alerts, cases, MONITOR_ACTOR, now)
        by_case: dict[str, list[Entry]] = {}
        for e in new:
            by_case.setdefault(e.case_id, []).append(e)
        for cid, entries in by_case.items():
            notes: list[tuple[str, str, str]] = []
            if entries[0].kind == "opened":
                at = datetime.fromisoformat(entries[0].data["alert_at"])
                subject = self._subject_person(entries[0].data["subject"])
                manager = line_manager(self.hr, subject, at) if subject else None
                pos = self.hr.position(manager, at) if manager else None
                data = {"as_of": at.isoformat()}
                if manager is not None and pos is not None and pos.org == "nw":
                    data["first_line"] = manager
                    notes.append((f"person:{manager}", "case.routed", cid))
                else:
                    data["reason"] = (
                        "no line manager in HR data at the alert's time"
                        if manager is None
                        else "the subject's line manager is outside the operator "
                        "(retailers' staff never see cases)"
                    )
                    notes.append((COMPLIANCE, "case.opened", cid))
                last = entries[-1]
                entries.append(Entry(cid, last.seq + 1, "routed", MONITOR_ACTOR, now, data))
            kinds = ",".join(e.kind for e in entries)
            self._record(
                self._event(None, now, CaseStep.VIEW, "allow",
                            f"case {cid}: {kinds} from alerts "
                            + ",".join(e.data["alert_id"] for e in entries if "alert_id" in e.data),
                            case_id=cid, seq=entries[-1].seq, screen="case.open"),
                entries, notes,
            )  # fmt: skip
        return list(by_case)


#: a stand-in for each acting step's fields, to ask the fold whether the step fits a case
_PROBE: dict[CaseStep, dict[str, str]] = {
    CaseStep.CONFIRM: {"text": "-"},
    CaseStep.EXPLAIN: {"text": "-"},
    CaseStep.DECIDE: {"decision": "no_issue", "reason": "-"},
    CaseStep.DISCIPLINE: {"outcome": "-"},
    CaseStep.SIGNOFF: {},
    CaseStep.REOPEN: {"reason": "-"},
    CaseStep.REVEAL: {"reason": "-"},
}


def _fits(state: CaseState, step: CaseStep) -> bool:
    """Would the case take this step's entry now (the fold's own rules decide)?"""
    if step == CaseStep.REVEAL and state.reveals:
        return False  # revealed once, shown to every line from then on
    entry = Entry(state.case_id, state.entries + 1, _ENTRY[step][0], "-", state.since,
                  _PROBE[step])  # fmt: skip
    try:
        _apply(copy.deepcopy(state), entry)
    except GridwallError:
        return False
    return True


def _notes_after(step: CaseStep, after: CaseState, share: float) -> list[tuple[str, str, str]]:
    cid = after.case_id
    if step in (CaseStep.CONFIRM, CaseStep.EXPLAIN):
        return [(COMPLIANCE, "case.first_line_done", cid)]
    if step == CaseStep.DECIDE and needs_sampling(after, share):
        return [(INTERNAL_AUDIT, "case.to_sample", cid)]
    if step == CaseStep.REOPEN:
        return [(COMPLIANCE, "case.reopened", cid)]
    return []


def alert_refs(alerts: Sequence[Mapping[str, Any]]) -> list[AlertRef]:
    """The monitor's stored alerts (``gridwall.monitor`` ``stored_alerts``) as cases see
    them: the subject is the person when known, else the account; severity 5 is critical."""
    out = []
    for a in alerts:
        out.append(
            AlertRef(
                alert_id=str(a["alert_id"]),
                subject=str(a.get("person_id") or a["account_id"]),
                incident_type=str(a["incident_type"]),
                severity="critical" if int(a["severity"]) >= 5 else "normal",
                at=as_utc(datetime.fromisoformat(str(a["first_ts"]))),
            )
        )
    return out
