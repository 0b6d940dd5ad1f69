"""The audit log's pages: the internal auditor's explorer and the verification page shared
with compliance and the regulator (read-only).

* ``GET/POST /console/audit`` — the explorer (management step ``audit.explore``): entries
  newest first, filtered by account, supply point, time (JST) and decision, paged with a
  POSTed cursor (no account or supply point ID in any URL). Every entry shown carries its
  RFC 9162 inclusion proof checked, in the server, against the latest signed checkpoint
  whose signature verifies (entries after it: "not yet signed").
* ``GET /console/audit/verify`` — checkpoints, public keys and the verification of the
  whole log against the latest signed checkpoint (``gridwall audit verify``'s check): the
  result and the first bad index, if any (step ``audit.verify``).
* ``GET /console/audit/keys`` — the log's public keys as a text file to download, one per
  line (what the regulator pins to verify exports offline; step ``audit.verify``).

Each page is one Cedar decision of the management engine (the one that decides the grant
desks, proven by ``gridwall policy check``) and one audit event: allowed or refused, the
page records it through the server's request sink, so the request leaves exactly one.
Without an audit log or a decider the pages refuse (503): nothing fails open.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gridwall.app.management import manage_request
from gridwall.app.web.core import PREFIX, Caller, Console, FormError, field
from gridwall.app.web.points import run_page
from gridwall.audit import merkle, note
from gridwall.errors import UsageError
from gridwall.gateway import Forbidden, Unavailable
from gridwall.interfaces.clock import JST
from gridwall.interfaces.events import audit_event
from gridwall.interfaces.facts import GrantStep

PAGE_SIZE = 25
#: entries read per explorer page at most (the scan continues on the next page)
SCAN_BUDGET = 5_000
DECISIONS = ("", "allow", "deny")


@dataclass(frozen=True)
class Filters:
    account_id: str
    supply_point_id: str
    since: datetime | None
    until: datetime | None
    decision: str

    def matches(self, ev: Mapping[str, Any]) -> bool:
        if self.account_id and ev.get("account_id") != self.account_id:
            return False
        if self.supply_point_id and self.supply_point_id not in (ev.get("supply_point_ids") or []):
            return False
        if self.decision and ev.get("decision") != self.decision:
            return False
        if self.since or self.until:
            try:
                ts = datetime.fromisoformat(str(ev.get("ts", "")).replace("Z", "+00:00"))
            except ValueError:
                return False
            if ts.tzinfo is None:
                return False
            if self.since and ts < self.since:
                return False
            if self.until and ts >= self.until:
                return False
        return True

    def query(self) -> str:
        """What was searched, for the page's own audit event (IDs only, as the API logs)."""
        parts = {
            "account_id": self.account_id,
            "supply_point_id": self.supply_point_id,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "decision": self.decision,
        }
        return json.dumps({k: v for k, v in parts.items() if v}, sort_keys=True)


def jst_field(form: Mapping[str, Any], name: str) -> datetime | None:
    """A ``datetime-local`` field read as JST wall-clock time (the page's time zone)."""
    text = field(form, name, required=False)
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise FormError(name, f"{name}: expected a date and time (YYYY-MM-DDTHH:MM)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=JST)
    return value


def filters_of(form: Mapping[str, Any]) -> Filters:
    decision = field(form, "decision", required=False)
    if decision not in DECISIONS:
        raise FormError("decision", "decision: expected allow or deny")
    spid = field(form, "supply_point_id", required=False)
    if spid and not (spid.isascii() and spid.isdigit()):
        raise FormError("supply_point_id", "supply_point_id: digits only")
    since, until = jst_field(form, "since"), jst_field(form, "until")
    if since and until and until <= since:
        raise FormError("until", "until: must be after since")
    return Filters(field(form, "account_id", required=False), spid, since, until, decision)


@dataclass(frozen=True)
class Signed:
    """The latest checkpoint whose signed note verifies with the log's recorded keys."""

    id: int
    size: int
    root: bytes
    created_at: int


def latest_signed(log: Any) -> tuple[Signed | None, str | None]:
    """The latest checkpoint, opened with the keys recorded in the log; else the problem."""
    row = log.latest_checkpoint()
    if row is None:
        return None, "no signed checkpoint yet"
    try:
        cp = note.open_checkpoint(row.note, log.keys())
    except note.NoteError as e:
        return None, f"checkpoint #{row.id}: {e}"
    if cp.size != row.size or cp.root != row.root:
        return None, f"checkpoint #{row.id}: stored size/root differ from its signed note"
    return Signed(row.id, cp.size, cp.root, row.created_at), None


def proof_state(log: Any, index: int, entry: bytes, signed: Signed | None) -> str:
    """``verified`` / ``failed`` / ``unsigned`` (after the checkpoint, or none yet)."""
    if signed is None or index >= signed.size:
        return "unsigned"
    proof = log.inclusion_proof(index, signed.size)
    ok = merkle.verify_inclusion(merkle.leaf_hash(entry), index, signed.size, proof, signed.root)
    return "verified" if ok else "failed"


def explore(log: Any, flt: Filters, before: int | None) -> dict[str, Any]:
    """One explorer page: matching entries newest first below ``before`` (default: all)."""
    size = int(log.size())
    hi = size if before is None else max(0, min(before, size))
    signed, problem = latest_signed(log)
    rows: list[dict[str, Any]] = []
    scanned = 0
    cursor = hi  # entries below ``cursor`` are still to be read
    while cursor > 0 and len(rows) < PAGE_SIZE and scanned < SCAN_BUDGET:
        cursor -= 1
        scanned += 1
        try:
            raw = log.entry(cursor)
        except UsageError:  # archived out of the database: checked through its export
            continue
        data = json.loads(raw)
        ev = data.get("event") if isinstance(data, dict) else None
        if not isinstance(ev, dict) or not flt.matches(ev):
            continue
        rows.append(
            {
                "index": cursor,
                "ts": ev.get("ts"),
                "account_id": ev.get("account_id") or "",
                "org": ev.get("org") or "",
                "screen": ev.get("screen") or "",
                "action": ev.get("action") or "",
                "purpose": ev.get("purpose") or "",
                "decision": ev.get("decision") or "",
                "supply_point_ids": [str(x) for x in ev.get("supply_point_ids") or []],
                "result_count": ev.get("result_count"),
                "proof": proof_state(log, cursor, bytes(raw), signed),
            }
        )
    return {
        "size": size,
        "rows": rows,
        "next_before": cursor if cursor > 0 else None,
        "scanned": scanned,
        "signed": signed,
        "checkpoint_problem": problem,
    }


def verification(log: Any) -> dict[str, Any]:
    """Checkpoints, keys and the whole log checked against the latest signed checkpoint."""
    from gridwall.audit._verify import verify_log

    report = verify_log(log.url, None, workers=1)
    checkpoints = [
        {"id": c.id, "size": c.size, "root": c.root.hex(), "created_at": c.created_at}
        for c in reversed(log.checkpoints())
    ]
    keys = [k.text() for k in log.keys()]  # noqa: SIM118 (a method)
    return {"report": report, "checkpoints": checkpoints, "public_keys": keys}


def reading(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``fn()``, or the page refused if the audit log cannot be read (never a partial page)."""
    try:
        return fn()
    except (FormError, Forbidden, Unavailable):
        raise
    except Exception:
        raise Unavailable("audit log") from None


def create_router(console: Console) -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    def decide(request: Request, caller: Caller, step: GrantStep, query: str = "") -> None:
        """The management engine's decision on ``step``, recorded as the request's event."""
        log, sink, decider = console.audit_log, console.audit_sink, console.decider
        if log is None or sink is None or decider is None:
            raise Unavailable("audit log")
        p, t = caller.principal, caller.terminal
        d = decider.decide(manage_request(step, p, t))
        client = request.client.host if request.client else None
        event = (
            audit_event(
                source="web", ts=caller.now, account_id=p.account_id, action="view",
                screen=f"console/{step}", decision="allow" if d.allowed else "deny",
                device_id=t.device_id, source_ip=client, session_id=p.session_id,
                purpose="audit", query=query or None, policy_ids=d.policy_ids,
                person_id=p.person_id, org=p.org,
            )
        )  # fmt: skip
        try:
            sink.record(event)
        except Exception:  # no record, no page
            raise Unavailable("audit log") from None
        if not d.allowed:
            raise Forbidden(f"{step}: not permitted")

    def page(request: Request, form: Mapping[str, Any] | None) -> Response:
        caller = console.caller(request)
        flt = filters_of(form or {})
        before_text = field(form or {}, "before", required=False)
        if before_text and not before_text.isdigit():
            raise FormError("before", "before: an entry index")
        decide(request, caller, GrantStep.AUDIT_EXPLORE, flt.query() if form else "")
        out = reading(lambda: explore(console.audit_log, flt, int(before_text or 0) or None))
        return console.render(request, "audit.html", caller=caller, flt=flt,
                              searched=form is not None, out=out)  # fmt: skip

    @router.get("/audit")
    def audit_page(request: Request) -> Response:
        return run_page(console, request, lambda: page(request, None))()

    @router.post("/audit")
    async def audit_search(request: Request) -> Response:
        form = await request.form()
        if not console.csrf_ok(request, str(form.get("csrf", ""))):
            return console.render(request, "error.html", 403, kind="csrf")
        posted = {k: v for k, v in form.items()}
        return await run_in_threadpool(run_page(console, request, lambda: page(request, posted)))

    @router.get("/audit/verify")
    def verify_page(request: Request) -> Response:
        def work() -> Response:
            caller = console.caller(request)
            decide(request, caller, GrantStep.AUDIT_VERIFY)
            out = reading(lambda: verification(console.audit_log))
            return console.render(request, "verify.html", caller=caller, out=out)

        return run_page(console, request, work)()

    @router.get("/audit/keys")
    def key_file(request: Request) -> Response:
        def work() -> Response:
            caller = console.caller(request)
            decide(request, caller, GrantStep.AUDIT_VERIFY, "public keys")
            keys = reading(lambda: {"keys": [k.text() for k in console.audit_log.keys()]})  # noqa: SIM118
            return Response(
                "".join(k + "\n" for k in keys["keys"]),
                media_type="text/plain; charset=utf-8",
                headers={"Content-Disposition": 'attachment; filename="gridwall-audit.pub"'},
            )

        return run_page(console, request, work)()

    return router
