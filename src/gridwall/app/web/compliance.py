"""The second line (compliance): the alert and case queue, the rule catalogue, the dashboard.

* ``GET /console/compliance`` — the monitor's stored alerts (``gridwall monitor run``):
  type, organisation, the subject as a pseudonym (stable within a case, unlinkable across
  cases: :func:`gridwall.cases.pseudonym`), first and last seen (JST), and the evidence as
  audit-log indexes — buttons into the audit explorer where the viewer may open it
  (``audit.explore``), plain numbers otherwise; then the open cases, read-only (the case
  actions come with the case workflow).
* ``GET /console/compliance/rules`` — the rule catalogue from the monitor's own rule
  metadata (:data:`gridwall.monitor.rules.RULES`: one source of truth), with the
  description and the rationale in Japanese and English.
* ``GET /console/compliance/dashboard`` — charts drawn on the server as inline SVG:
  alerts by first-seen JST day stacked by type, and by organisation; accesses by
  organisation kind and purpose and denials (the latest :data:`DASHBOARD_SCAN` entries of
  the audit log); open cases by age.

Each page is one management decision (``console.compliance``) and one audit event.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gridwall.app.web import charts, steps
from gridwall.app.web.core import PREFIX, Console
from gridwall.app.web.points import run_page
from gridwall.gateway import Unavailable
from gridwall.interfaces.clock import JST
from gridwall.interfaces.facts import GrantStep

#: audit-log entries the dashboard reads at most (newest first)
DASHBOARD_SCAN = 20_000
#: days of the alerts-over-time chart
DAYS = 14
#: the ages of open cases, in days: [0, 2), [2, 5), [5, 10), [10, ∞)
AGE_BUCKETS = ((0, 2), (2, 5), (5, 10), (10, None))
#: the actions that read or search customer data (the gateway's events)
ACCESS_ACTIONS = frozenset({"view", "search", "export"})


def org_kind(org: str | None) -> str:
    org = org or ""
    if org == "nw":
        return "nw"
    if org == "regulator":
        return "regulator"
    for kind in ("retail", "contractor"):
        if org.startswith(kind + ":"):
            return kind
    return "other"


def _pseudonym_key(console: Console) -> bytes:
    """The store's case pseudonym key (the case desk's): a case's subject reads the same
    here as on the case pages and in ``/v1/cases``, and stays the same across restarts."""
    from gridwall.cases._outbox import pseudonym_key

    return pseudonym_key(console.engine)


def _day(ts: Any) -> str:
    try:
        t = datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
    except ValueError:
        return ""
    return t.astimezone(JST).date().isoformat() if t.tzinfo else ""


def _cases(console: Console) -> list[Any]:
    from gridwall.cases import load_cases

    with console.engine.connect() as conn:
        return list(load_cases(conn))


def queue(console: Console) -> dict[str, Any]:
    """Alerts (pseudonymised) and the open cases."""
    from gridwall.cases import pseudonym
    from gridwall.monitor._periodic import stored_alerts

    if console.engine is None:
        raise Unavailable("monitor store")
    key = _pseudonym_key(console)
    cases = _cases(console)
    case_of = {a: c.case_id for c in cases for a in c.alerts}
    alerts = []
    for a in stored_alerts(console.engine):
        scope = case_of.get(a["alert_id"], "alert:" + a["alert_id"])
        subject = a.get("person_id") or a["account_id"]
        alerts.append(
            {
                "alert_id": a["alert_id"],
                "type": a["incident_type"],
                "rule": a["rule"],
                "severity": a["severity"],
                "org": a.get("org") or "",
                "subject": pseudonym(key, scope, subject),
                "first_ts": a["first_ts"],
                "last_ts": a["last_ts"],
                "events": a["event_count"],
                "case_id": case_of.get(a["alert_id"]),
                "evidence": [e["audit_idx"] for e in a["evidence"] if e["audit_idx"] is not None],
                "legacy_evidence": sum(1 for e in a["evidence"] if e["audit_idx"] is None),
                "account_id": a["account_id"],
            }
        )
    open_cases = [
        {"case_id": c.case_id, "type": c.incident_type, "status": c.status, "since": c.since,
         "alerts": len(c.alerts), "subject": pseudonym(key, c.case_id, c.subject)}
        for c in cases if c.status not in ("closed", "signed_off")
    ]  # fmt: skip
    open_cases.sort(key=lambda c: c["since"])
    return {"alerts": alerts, "cases": open_cases}


def rule_catalogue() -> list[dict[str, Any]]:
    from gridwall.monitor.rules import RULES

    return [
        {"id": r.id, "type": r.incident_type, "severity": r.severity,
         "description_ja": r.description_ja, "description_en": r.description_en,
         "rationale_ja": r.rationale_ja, "rationale_en": r.rationale}
        for r in RULES
    ]  # fmt: skip


def _events(log: Any, budget: int) -> Iterable[Mapping[str, Any]]:
    from gridwall.errors import GridwallError

    size = int(log.size())
    for i in range(size - 1, max(-1, size - 1 - budget), -1):
        try:
            raw = log.entry(i)
        except GridwallError:  # archived out of the database
            continue
        ev = json.loads(raw).get("event")
        if isinstance(ev, dict):
            yield ev


def dashboard(console: Console, now: datetime) -> dict[str, Any]:
    data = queue(console)
    today = now.astimezone(JST).date()
    days = [(today - timedelta(days=d)).isoformat() for d in range(DAYS - 1, -1, -1)]
    by_day: dict[str, Counter[str]] = {d: Counter() for d in days}
    by_org: Counter[str] = Counter()
    for a in data["alerts"]:
        d = _day(a["first_ts"])
        if d in by_day:
            by_day[d][a["type"]] += 1
        by_org[a["org"] or "-"] += 1
    access: Counter[str] = Counter()
    denials: Counter[str] = Counter()
    scanned = 0
    if console.audit_log is not None:
        for ev in _events(console.audit_log, DASHBOARD_SCAN):
            scanned += 1
            if ev.get("action") not in ACCESS_ACTIONS or not ev.get("purpose"):
                continue
            if str(ev.get("screen") or "").startswith("console/"):
                continue  # the console's own management pages
            label = f"{org_kind(ev.get('org'))} / {ev.get('purpose')}"
            access[label] += 1
            if ev.get("decision") == "deny":
                denials[label] += 1
    ages: Counter[int] = Counter()
    for c in data["cases"]:
        age = (now - c["since"]).total_seconds() / 86400
        for i, (lo, hi) in enumerate(AGE_BUCKETS):
            if age >= lo and (hi is None or age < hi):
                ages[i] += 1
    return {
        "over_time": charts.stacked_chart(by_day, days),
        "by_org": charts.count_chart(sorted(by_org.items(), key=lambda kv: (-kv[1], kv[0]))),
        "access": charts.count_chart(sorted(access.items(), key=lambda kv: (-kv[1], kv[0]))),
        "denials": charts.count_chart(sorted(denials.items(), key=lambda kv: (-kv[1], kv[0]))),
        "ages": [(lo, hi, ages[i]) for i, (lo, hi) in enumerate(AGE_BUCKETS)],
        "ages_chart": charts.count_chart(
            [
                (f"{lo}–{hi if hi is not None else '∞'}", ages[i])
                for i, (lo, hi) in enumerate(AGE_BUCKETS)
            ]
        ),
        "alerts": len(data["alerts"]),
        "open_cases": len(data["cases"]),
        "scanned": scanned,
        "scan_budget": DASHBOARD_SCAN,
        "days": DAYS,
    }


def reading(fn: Any) -> Any:
    """``fn()``, or the page refused if a store cannot be read (never a partial page)."""
    try:
        return fn()
    except Unavailable:
        raise
    except Exception:
        raise Unavailable("monitor store") from None


def create_router(console: Console) -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    def page(request: Request, template: str, load: Any) -> Response:
        def work() -> Response:
            caller = console.caller(request)
            steps.view(console, request, caller, GrantStep.CONSOLE_COMPLIANCE)
            values = reading(lambda: load(caller))
            return console.render(request, template, caller=caller, **values)

        return run_page(console, request, work)()

    @router.get("/compliance")
    def queue_page(request: Request) -> Response:
        return page(request, "compliance.html", lambda _c: queue(console))

    @router.get("/compliance/rules")
    def rules_page(request: Request) -> Response:
        return page(request, "rules.html", lambda _c: {"rules": rule_catalogue()})

    @router.get("/compliance/dashboard")
    def dashboard_page(request: Request) -> Response:
        return page(request, "dashboard.html", lambda c: {"d": dashboard(console, c.now)})

    return router
