"""The case workflow in the console (docs/cases.md): the three lines' steps, each taken
through the server's one :class:`~gridwall.app.casework.CaseDesk` — the same instance
``/v1/cases`` uses, so the console is never a second decision point.

* ``GET /console/cases`` (``case.list``) — the caller's queue: a line manager's cases about
  their own staff, compliance's and internal audit's cases (pseudonyms until a reveal),
  each with the deadline of the line that has it; for every case the forms of exactly the
  steps the case policy allows this principal on it now (and the case would take);
  for the step ``case.escalate``, the cases past their deadline by line and the button
  that escalates them.
* ``GET /console/cases/sample`` (``case.sample``) — internal audit's sample of closed cases.
* ``POST /console/cases/show`` (``case.view``) — one case with its whole history.
* ``POST /console/cases/act`` — one acting step (``confirm`` / ``explain``; ``decide``,
  ``discipline``, ``reveal``; ``signoff``, ``reopen``), its fields checked here first
  (a missing one names the field), then decided and written by the desk.
* ``POST /console/cases/escalate`` (``case.escalate``) — missed deadlines to the next line.

The case id travels in the POSTed form, never in a URL. Each page call is the desk's one
audit event (its decision, allowed or refused); a refusal is shown with its reasons from
the message catalogue (Japanese by default, English under the switch). Which forms to
offer is asked of the desk without a record (:meth:`CaseDesk.offered`); the step itself is
decided again, and recorded, when it is taken.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gridwall.app.casework import Caller as CaseCaller
from gridwall.app.casework import CaseDesk, CaseInvalid, CaseNotFound, CaseRefused
from gridwall.app.web.core import PREFIX, Caller, Console, FormError, field
from gridwall.app.web.details import N_
from gridwall.app.web.points import run_page
from gridwall.gateway import Unavailable
from gridwall.interfaces.facts import CaseStep

#: the longest text a case form takes (the API's bodies take the same)
MAX_TEXT = 4000
#: the acting steps by the name their form posts
STEPS: dict[str, CaseStep] = {
    "confirm": CaseStep.CONFIRM,
    "explain": CaseStep.EXPLAIN,
    "decide": CaseStep.DECIDE,
    "discipline": CaseStep.DISCIPLINE,
    "reveal": CaseStep.REVEAL,
    "signoff": CaseStep.SIGNOFF,
    "reopen": CaseStep.REOPEN,
}
DECISIONS = ("no_issue", "violation", "report_to_regulator")


#: each refusal reason of the desk (:attr:`CaseRefused.reasons`) as the catalogue says it
REASONS: dict[str, str] = {
    "case-forbid-inactive-or-impersonal": N_("Your account is not an active personal account."),
    "case-forbid-foreign-or-invalid-terminal": N_(
        "This terminal is not a valid terminal of yours."
    ),
    "case-forbid-off-terminal-or-untrained": N_(
        "Case work needs an NW terminal and current training."
    ),
    "case-forbid-outside-operator": N_(
        "Retailers', contractors' and the regulator's staff never see cases."
    ),
    "case-forbid-about-self": N_("The case is about you."),
    "case-forbid-about-own-manager": N_("The case is about your own manager."),
    "case-forbid-approved-subject": N_("You approved a change for this person: %(approval)s."),
    "case-forbid-second-third-line-not-independent": N_(
        "You work in the subject's organisation unit; the second and third lines must be "
        "independent of it."
    ),
    "not_routed": N_("The case is not routed to you as the subject's line manager."),
    "not_your_step": N_("This step is not a step of your role."),
    "undecided": N_("The case policy could not decide, so the step was refused."),
}


def desk_of(console: Console) -> CaseDesk:
    desk = console.cases
    if desk is None:  # no desk wired: nothing is offered, nothing is taken
        raise Unavailable("case desk")
    return desk  # type: ignore[no-any-return]


def case_caller(request: Request, caller: Caller) -> CaseCaller:
    client = request.client.host if request.client else None
    return CaseCaller(caller.principal, caller.terminal, client)


def text(form: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    """A free-text field of a case form (up to :data:`MAX_TEXT` characters)."""
    value = form.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise FormError(name, f"{name} is required")
        return ""
    if not isinstance(value, str):
        raise FormError(name, f"{name} must be text")
    if len(value) > MAX_TEXT:
        raise FormError(name, f"{name} is longer than {MAX_TEXT} characters")
    return value.strip()


def step_fields(step: CaseStep, form: Mapping[str, Any]) -> dict[str, str]:
    """The fields of ``step`` from its form; a missing or bad one is refused naming it
    (the fold's own rules, asked here first so the page names the field)."""
    if step in (CaseStep.CONFIRM, CaseStep.EXPLAIN):
        return {"text": text(form, "text")}
    if step == CaseStep.DECIDE:
        decision = field(form, "decision")
        if decision not in DECISIONS:
            raise FormError("decision", f"decision: one of {', '.join(DECISIONS)}")
        out = {"decision": decision}
        reason = text(form, "reason", required=decision == "no_issue")
        if reason:
            out["reason"] = reason
        if decision == "violation":
            out["incident_type"] = field(form, "incident_type")
            out["rule"] = field(form, "rule")
            if len(out["incident_type"]) > 16:
                raise FormError("incident_type", "incident_type is longer than 16 characters")
        return out
    if step == CaseStep.DISCIPLINE:
        return {"outcome": text(form, "outcome")}
    if step == CaseStep.SIGNOFF:
        note = text(form, "note", required=False)
        return {"note": note} if note else {}
    return {"reason": text(form, "reason")}  # reveal, reopen


def with_deadlines(desk: CaseDesk, cases: list[dict[str, Any]], now: datetime) -> None:
    for c in cases:
        due = desk.deadline(c)
        c["deadline"] = due
        c["overdue"] = due is not None and now >= due


def with_evidence(console: Console, cases: list[dict[str, Any]], lang: str) -> None:
    """Each case's alerts as the monitor stored them: the rule and what it detects, first
    and last seen, how many events, and the evidence as audit-log indexes (never the
    subject: a pseudonymised case stays so). Unreadable: the page is refused (503)."""
    from gridwall.monitor._periodic import stored_alerts
    from gridwall.monitor.rules import RULES

    wanted = {a for c in cases for a in c.get("alerts", [])}
    if not wanted:
        return
    if console.engine is None:
        raise Unavailable("monitor store")
    try:
        alerts = {
            a["alert_id"]: a for a in stored_alerts(console.engine) if a["alert_id"] in wanted
        }
    except Exception:
        raise Unavailable("monitor store") from None
    rules = {r.id: r.description_ja if lang == "ja" else r.description_en for r in RULES}
    for c in cases:
        c["evidence"] = [
            {"alert_id": aid, "rule": a["rule"], "detects": rules.get(a["rule"], ""),
             "first_ts": a["first_ts"], "last_ts": a["last_ts"], "events": a["event_count"],
             "indexes": [e["audit_idx"] for e in a["evidence"] if e["audit_idx"] is not None]}
            for aid in c.get("alerts", []) if (a := alerts.get(aid)) is not None
        ]  # fmt: skip


def create_router(console: Console) -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    def refused(request: Request, e: Exception) -> Response:
        try:
            caller: Caller | None = console.caller(request)
        except Exception:
            caller = None
        gettext = console.gettext(request)
        if isinstance(e, CaseRefused):
            reasons = [
                gettext(REASONS[k]) % {"approval": e.approval or "-"}
                if "%(approval)s" in REASONS[k]
                else gettext(REASONS[k])
                for k in e.reasons
                if k in REASONS
            ] or [gettext(REASONS["not_your_step"])]
            return console.render(request, "case_refused.html", 403, caller=caller,
                                  reasons=reasons)  # fmt: skip
        if isinstance(e, CaseNotFound):
            return console.render(request, "error.html", 404, caller=caller, kind="no_case")
        return console.render(request, "error.html", 400, caller=caller, kind="case_invalid")

    def guarded(request: Request, work: Callable[[], Response]) -> Callable[[], Response]:
        from gridwall.cases._outbox import AuditPending

        def run() -> Response:
            try:
                return run_page(console, request, work)()
            except (CaseRefused, CaseNotFound, CaseInvalid) as e:
                return refused(request, e)
            except AuditPending:  # the step waits in the outbox; its answer is withheld
                return console.refusal(request, Unavailable("audit log"))

        return run

    def queue_page(request: Request, sample: bool) -> Response:
        caller = console.caller(request)
        desk = desk_of(console)
        who = case_caller(request, caller)
        cases = desk.sample(who) if sample else desk.queue(who)
        with_deadlines(desk, cases, caller.now)
        with_evidence(console, cases, console.lang(request))
        offered = {c["case_id"]: {str(s) for s in desk.offered(who, c["case_id"])} for c in cases}
        escalate = not sample and desk.may(who, CaseStep.ESCALATE)
        overdue: dict[str, list[dict[str, Any]]] = {"first_line": [], "second_line": []}
        for c in cases:
            if c["overdue"] and c["status"] in overdue:
                overdue[c["status"]].append(c)
        return console.render(
            request, "cases.html", caller=caller, cases=cases, offered=offered,
            sample=sample, may_sample=desk.may(who, CaseStep.SAMPLE),
            may_escalate=escalate, overdue=overdue, decisions=DECISIONS,
        )  # fmt: skip

    @router.get("/cases")
    def cases_page(request: Request) -> Response:
        return guarded(request, lambda: queue_page(request, False))()

    @router.get("/cases/sample")
    def sample_page(request: Request) -> Response:
        return guarded(request, lambda: queue_page(request, True))()

    async def posted(request: Request) -> dict[str, Any] | None:
        form = await request.form()
        if not console.csrf_ok(request, str(form.get("csrf", ""))):
            return None
        return {k: v for k, v in form.items()}

    def case_page(request: Request, caller: Caller, view: dict[str, Any],
                  done: str | None = None) -> Response:  # fmt: skip
        desk = desk_of(console)
        with_deadlines(desk, [view], caller.now)
        with_evidence(console, [view], console.lang(request))
        offered = {str(s) for s in desk.offered(case_caller(request, caller), view["case_id"])}
        return console.render(request, "case.html", caller=caller, case=view, offered=offered,
                              done=done, decisions=DECISIONS)  # fmt: skip

    @router.post("/cases/show")
    async def show(request: Request) -> Response:
        form = await posted(request)
        if form is None:
            return console.render(request, "error.html", 403, kind="csrf")

        def work() -> Response:
            caller = console.caller(request)
            case_id = field(form, "case_id")
            view = desk_of(console).show(case_caller(request, caller), case_id)
            return case_page(request, caller, view)

        return await run_in_threadpool(guarded(request, work))

    @router.post("/cases/act")
    async def act(request: Request) -> Response:
        form = await posted(request)
        if form is None:
            return console.render(request, "error.html", 403, kind="csrf")

        def work() -> Response:
            caller = console.caller(request)
            case_id = field(form, "case_id")
            name = field(form, "step")
            if name not in STEPS:
                raise FormError("step", f"step: one of {', '.join(STEPS)}")
            step = STEPS[name]
            fields = step_fields(step, form)
            desk = desk_of(console)
            view = desk.act(case_caller(request, caller), case_id, step, fields)
            return case_page(request, caller, view, done=str(step))

        return await run_in_threadpool(guarded(request, work))

    @router.post("/cases/escalate")
    async def escalate(request: Request) -> Response:
        form = await posted(request)
        if form is None:
            return console.render(request, "error.html", 403, kind="csrf")

        def work() -> Response:
            caller = console.caller(request)
            done = desk_of(console).escalate(case_caller(request, caller))
            return console.render(request, "cases_escalated.html", caller=caller, done=done)

        return await run_in_threadpool(guarded(request, work))

    return router
