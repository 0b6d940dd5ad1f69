"""The case core: entries, the fold that derives state, routing, escalation, sampling.

Everything here is pure: entries in, state or new entries out. Storage (append-only tables),
Cedar decisions and audit events belong to the callers.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gridwall.errors import GridwallError

KINDS = frozenset(
    {
        "opened",
        "routed",
        "alert_joined",
        "confirmed",
        "explained",
        "decided",
        "outcome",
        "escalated",
        "signed_off",
        "reopened",
        "revealed",
    }
)
DECISIONS = frozenset({"no_issue", "violation", "report_to_regulator"})
FIRST, SECOND, CLOSED, SIGNED_OFF = "first_line", "second_line", "closed", "signed_off"
SELF_REPORT = "self_report"
SOURCES = frozenset({"alert", SELF_REPORT})


class CaseError(GridwallError):
    """A case entry that does not fit the case; names the case, the entry and the field."""

    exit_code = 2


@dataclass(frozen=True)
class AlertRef:
    """A monitor alert as cases see it (built by the app from the stored alert)."""

    alert_id: str
    subject: str
    incident_type: str
    severity: str
    at: datetime


@dataclass(frozen=True)
class Entry:
    """One append-only case entry. ``seq`` counts from 1 within the case."""

    case_id: str
    seq: int
    kind: str
    actor: str
    at: datetime
    data: Mapping[str, str] = field(default_factory=dict)


@dataclass
class CaseState:
    """A case as its entries fold to."""

    case_id: str
    subject: str
    incident_type: str
    status: str
    since: datetime
    alerts: list[str] = field(default_factory=list)
    critical: bool = False
    decision: str | None = None
    outcome: str | None = None
    audit_escalated: bool = False
    reveals: list[tuple[str, str]] = field(default_factory=list)
    #: the person the case is routed to as first line (the subject's line manager at the
    #: alert's date); None before routing or when there is none (then compliance has it)
    first_line: str | None = None
    #: the instant the HR data of the routing was taken at (the first alert's time)
    routed_as_of: str | None = None
    #: the time of the first alert (what the routing reads HR data at)
    alert_at: datetime | None = None
    entries: int = 0
    #: what opened the case: a monitor ``alert``, or a ``self_report`` (自主申告), which
    #: starts in compliance's queue (second line): its reporter may be anonymous
    source: str = "alert"


@dataclass(frozen=True)
class Deadlines:
    """How long each line has before the case escalates to the next one."""

    first_line: timedelta = timedelta(days=5)
    second_line: timedelta = timedelta(days=10)


def _need(e: Entry, name: str) -> str:
    value = e.data.get(name, "").strip()
    if not value:
        raise CaseError(f"case {e.case_id} entry {e.seq} ({e.kind}): field '{name}' is required")
    return value


def _bad(e: Entry, message: str) -> CaseError:
    return CaseError(f"case {e.case_id} entry {e.seq} ({e.kind}): {message}")


def fold(entries: Iterable[Entry]) -> CaseState:
    """Derive a case's state from its entries, in order; refuse any entry that does not fit."""
    state: CaseState | None = None
    for n, e in enumerate(entries, start=1):
        if e.seq != n:
            raise _bad(e, f"sequence is {e.seq}, expected {n}")
        if e.kind not in KINDS:
            raise _bad(e, f"unknown kind; expected one of {sorted(KINDS)}")
        if state is None:
            if e.kind != "opened":
                raise _bad(e, "a case starts with 'opened'")
            source = e.data.get("source", "alert")
            if source not in SOURCES:
                raise _bad(e, f"field 'source' is {source!r}; expected one of {sorted(SOURCES)}")
            state = CaseState(
                case_id=e.case_id,
                subject=_need(e, "subject"),
                incident_type=_need(e, "incident_type"),
                status=SECOND if source == SELF_REPORT else FIRST,
                since=e.at,
                alerts=[_need(e, "alert_id")],
                critical=e.data.get("severity") == "critical",
                source=source,
            )
            if e.data.get("alert_at"):
                try:
                    state.alert_at = datetime.fromisoformat(e.data["alert_at"])
                except ValueError:
                    bad = e.data["alert_at"]
                    raise _bad(e, f"field 'alert_at' is not an ISO time: {bad!r}") from None

        else:
            if e.case_id != state.case_id:
                raise _bad(e, f"belongs to another case than {state.case_id}")
            _apply(state, e)
        state.entries = n
    if state is None:
        raise CaseError("a case needs at least its 'opened' entry")
    return state


def _apply(s: CaseState, e: Entry) -> None:
    k = e.kind
    if k == "opened":
        raise _bad(e, "the case is already open")
    if k == "routed":
        if s.status != FIRST or s.first_line is not None or s.routed_as_of is not None:
            raise _bad(e, "a case is routed once, when it opens")
        s.routed_as_of = _need(e, "as_of")
        who = e.data.get("first_line", "").strip()
        if who:
            s.first_line = who
        else:  # no line manager eligible: compliance has the case at once
            _need(e, "reason")
            s.status, s.since = SECOND, e.at
        return
    if k == "revealed":
        s.reveals.append((e.actor, _need(e, "reason")))
        return
    if k == "alert_joined":
        if s.status in (CLOSED, SIGNED_OFF):
            raise _bad(e, "alerts join open cases only")
        s.alerts.append(_need(e, "alert_id"))
        s.critical = s.critical or e.data.get("severity") == "critical"
        return
    if k in ("confirmed", "explained"):
        if s.status != FIRST:
            raise _bad(e, f"the first line acts only while the case is {FIRST} (it is {s.status})")
        _need(e, "text")
        s.status, s.since = SECOND, e.at
        return
    if k == "escalated":
        if s.status == FIRST:
            s.status, s.since = SECOND, e.at
        elif s.status == SECOND and not s.audit_escalated:
            s.audit_escalated, s.since = True, e.at
        else:
            raise _bad(e, f"nothing to escalate while the case is {s.status}")
        return
    if k == "decided":
        if s.status not in (FIRST, SECOND):
            raise _bad(
                e, f"a closed case is decided again only after 'reopened' (it is {s.status})"
            )
        decision = _need(e, "decision")
        if decision not in DECISIONS:
            raise _bad(e, f"field 'decision' is {decision!r}; expected one of {sorted(DECISIONS)}")
        if decision == "no_issue":
            _need(e, "reason")
        if decision == "violation":
            _need(e, "incident_type")
            _need(e, "rule")
        s.decision, s.status, s.since = decision, CLOSED, e.at
        return
    if k == "outcome":
        if s.status not in (CLOSED, SIGNED_OFF) or s.decision == "no_issue":
            raise _bad(e, "a disciplinary outcome follows a violation or a regulator report")
        s.outcome = _need(e, "outcome")
        return
    if k == "signed_off":
        if s.status != CLOSED:
            raise _bad(e, f"internal audit signs off closed cases only (it is {s.status})")
        s.status, s.since = SIGNED_OFF, e.at
        return
    # reopened
    if s.status not in (CLOSED, SIGNED_OFF):
        raise _bad(e, f"only a closed case is reopened (it is {s.status})")
    _need(e, "reason")
    s.status, s.since, s.decision, s.outcome = SECOND, e.at, None, None
    s.audit_escalated = False


def case_id_for(alert_id: str) -> str:
    """The id of the case an alert opens: stable, so opening twice opens the same case."""
    return "case-" + hashlib.sha256(alert_id.encode()).hexdigest()[:12]


def route_alerts(
    alerts: Sequence[AlertRef], cases: Sequence[CaseState], actor: str, at: datetime
) -> list[Entry]:
    """New entries for alerts no case holds yet: join the open case of the same subject and
    incident type, or open a new one. Alerts already in a case produce nothing."""
    known = {a for c in cases for a in c.alerts}
    open_by_key = {
        (c.subject, c.incident_type): c for c in cases if c.status not in (CLOSED, SIGNED_OFF)
    }
    next_seq = {c.case_id: c.entries + 1 for c in cases}
    out: list[Entry] = []
    for a in sorted(alerts, key=lambda x: (x.at, x.alert_id)):
        if a.alert_id in known:
            continue
        known.add(a.alert_id)
        data = {"alert_id": a.alert_id, "severity": a.severity, "alert_at": a.at.isoformat()}
        key = (a.subject, a.incident_type)
        target = open_by_key.get(key)
        if target is not None:
            seq = next_seq[target.case_id]
            next_seq[target.case_id] = seq + 1
            out.append(Entry(target.case_id, seq, "alert_joined", actor, at, data))
            continue
        cid = case_id_for(a.alert_id)
        opened = Entry(
            cid, 1, "opened", actor, at, {**data, "subject": a.subject, "incident_type": key[1]}
        )
        out.append(opened)
        open_by_key[key] = fold([opened])
        next_seq[cid] = 2
    return out


def due_escalations(
    cases: Sequence[CaseState], now: datetime, deadlines: Deadlines, actor: str = "clock"
) -> list[Entry]:
    """The 'escalated' entries due at ``now``: decided at the given time, never the wall clock."""
    out: list[Entry] = []
    for c in cases:
        if c.status == FIRST:
            due = c.since + deadlines.first_line
        elif c.status == SECOND and not c.audit_escalated:
            due = c.since + deadlines.second_line
        else:
            continue
        if now >= due:
            data = {"from": c.status, "due": due.isoformat()}
            out.append(Entry(c.case_id, c.entries + 1, "escalated", actor, now, data))
    return out


def needs_sampling(case: CaseState, share: float) -> bool:
    """Whether internal audit reviews this closed case: every violation, every no_issue on a
    critical alert, and a deterministic ``share`` of the rest (by a hash of the case id)."""
    if not 0.0 <= share <= 1.0:
        raise CaseError(f"sample share is {share}; expected a number from 0 to 1")
    if case.status != CLOSED:
        return False
    if case.decision == "violation" or (case.decision == "no_issue" and case.critical):
        return True
    bucket = int(hashlib.sha256(case.case_id.encode()).hexdigest()[:8], 16) / 2**32
    return bucket < share


def pseudonym(key: bytes, case_id: str, subject: str) -> str:
    """The subject as the second line sees it: stable within a case, unlinkable across cases."""
    if len(key) < 16:
        raise CaseError("the pseudonym key must be at least 16 bytes")
    mac = hmac.new(key, f"{case_id}\x00{subject}".encode(), hashlib.sha256).hexdigest()
    return "P-" + mac[:10]
