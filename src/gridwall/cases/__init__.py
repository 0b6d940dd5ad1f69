"""gridwall.cases — the three lines of defence for monitor alerts (三線防御).

A case is an append-only list of entries; its state is derived by folding them
(:func:`fold`). Alerts open a case or join the open case of the same subject and incident
type (:func:`route_alerts`). First line (the subject's line manager) confirms or explains,
second line (compliance) decides, internal audit (third line) samples closed cases
(:func:`needs_sampling`) and signs off or reopens. Missed deadlines escalate to the next line
(:func:`due_escalations`, decided at a given time). Second-line views carry a stable per-case
pseudonym (:func:`pseudonym`). Self-reports (自主申告, :func:`submit_selfreport`) open a
case in compliance's queue and give the reporter a one-time receipt code
(:func:`follow_selfreport`). See ``docs/cases.md``.

Routing reads HR data through :class:`gridwall.interfaces.HrDirectory` (:func:`line_manager`,
:func:`relation`: the facts separation of duties needs); every case step's audit event
goes through the case outbox (:func:`deliver_audit`), written with its entry.

This package is a library: it imports no other capability, and alerts reach it as
:class:`AlertRef` values built by the app from the monitor's stored alerts.
"""

from gridwall.cases._core import (
    AlertRef,
    CaseError,
    CaseState,
    Deadlines,
    Entry,
    due_escalations,
    fold,
    needs_sampling,
    pseudonym,
    route_alerts,
)
from gridwall.cases._outbox import AuditPending, deliver_audit, pending_audit, pseudonym_key
from gridwall.cases._routing import Relation, line_manager, manager_chain, relation, same_unit
from gridwall.cases._selfreport import (
    ANONYMOUS,
    REPORT_KINDS,
    Progress,
    Reporter,
    SelfReportError,
    Submitted,
)
from gridwall.cases._selfreport import add_note as add_selfreport_note
from gridwall.cases._selfreport import counts as selfreport_counts
from gridwall.cases._selfreport import follow as follow_selfreport
from gridwall.cases._selfreport import queue as selfreport_queue
from gridwall.cases._selfreport import reports_of_cases as selfreports_of_cases
from gridwall.cases._selfreport import submit as submit_selfreport
from gridwall.cases._store import (
    Notification,
    ack,
    append_entries,
    load_cases,
    load_entries,
    notifications,
    notify,
)

__all__ = [
    "ANONYMOUS",
    "REPORT_KINDS",
    "AlertRef",
    "AuditPending",
    "CaseError",
    "CaseState",
    "Deadlines",
    "Entry",
    "Notification",
    "Progress",
    "Relation",
    "Reporter",
    "SelfReportError",
    "Submitted",
    "ack",
    "add_selfreport_note",
    "append_entries",
    "deliver_audit",
    "due_escalations",
    "fold",
    "follow_selfreport",
    "line_manager",
    "load_cases",
    "load_entries",
    "manager_chain",
    "needs_sampling",
    "notifications",
    "notify",
    "pending_audit",
    "pseudonym",
    "pseudonym_key",
    "relation",
    "route_alerts",
    "same_unit",
    "selfreport_counts",
    "selfreport_queue",
    "selfreports_of_cases",
    "submit_selfreport",
]
