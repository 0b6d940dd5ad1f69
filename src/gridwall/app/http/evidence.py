"""Evidence over HTTP: retailer transparency statements and the published audit log head.

* ``GET /v1/reports/statement?from=YYYY-MM-DD&to=YYYY-MM-DD[&retailer=CODE]`` — the
  retailer transparency statement (JSON, as ``gridwall report statement`` writes it). A
  retailer's principal gets its own organisation's statement (``retailer`` defaults to
  it); NW compliance, audit, managers and the regulator name the retailer. Decided by the
  Cedar management step ``report.statement`` (another retailer's statement: 403) and
  audited as the request's one event, allowed or refused.
* ``GET /v1/audit/checkpoint`` — the latest signed checkpoint as stored (text/plain signed
  note; once witnesses cosigned it, with their cosignature lines). Public: a tree size, a
  root hash and signatures, no customer data.
* ``GET /v1/audit/consistency?old=N&new=M`` — the RFC 9162 consistency proof between two
  tree sizes (one base64 hash a line). Public.
* ``GET /v1/audit/proof?index=I&size=N`` — the inclusion proof of entry ``I`` in the tree
  of ``size`` (default: the latest checkpoint's). Public: hashes only, never the entry.

The three public routes take no credentials and are left out of the OpenAPI document
(whose every route needs a caller; ``tests/integration/test_route_walk.py`` walks it). They
are audited by :class:`~gridwall.app.http.audit.OneEventPerRequest` like every request. A
witness run by the regulator pulls from these routes.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from gridwall.app.http.context import Contexts
from gridwall.app.http.errors import AUTHENTICATED, ErrorMappingRoute
from gridwall.app.management import manage_request
from gridwall.errors import UsageError
from gridwall.gateway import BadRequest, Forbidden, Unavailable
from gridwall.interfaces import AuditSink
from gridwall.interfaces.events import audit_event
from gridwall.interfaces.facts import GrantStep

#: the longest statement period served in one request (a year and a day)
MAX_DAYS = 366


def _day(value: str | None, name: str) -> date:
    if not value:
        raise BadRequest(f"query parameter {name!r}: required (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"query parameter {name!r}: expected YYYY-MM-DD, got {value!r}") from None


def _count(value: str | None, name: str) -> int:
    if value is None or value == "":
        raise BadRequest(f"query parameter {name!r}: required (an integer >= 0)")
    if not value.isdigit() or len(value) > 18:
        raise BadRequest(f"query parameter {name!r}: expected an integer >= 0, got {value!r}")
    return int(value)


def _lines(hashes: list[bytes]) -> str:
    return "".join(base64.b64encode(h).decode() + "\n" for h in hashes)


def create_router(
    contexts: Contexts,
    audit: AuditSink,
    audit_log: Any,
    audit_url: str,
    *,
    engine: Any,
    decider: Any,
    secret: Callable[[], bytes | None],
    clock: Callable[[], datetime],
) -> APIRouter:
    """The evidence routes of the composed server (see the module docstring).

    ``secret`` gives the operator's pseudonym secret (None: statements are refused 503).
    """
    router = APIRouter(tags=["evidence"], route_class=ErrorMappingRoute)

    @router.get("/v1/reports/statement", responses=AUTHENTICATED)
    def statement(request: Request) -> JSONResponse:
        from gridwall.app.reporting import AuditLogView, supply_periods
        from gridwall.gateway import retailer_kinds
        from gridwall.reports import build_statement

        q = request.query_params
        caller = contexts.caller(request)
        p, t = caller.principal, caller.terminal
        own = p.org.split(":", 1)[1] if p.org.startswith("retail:") else None
        code = q.get("retailer") or own
        if not code:
            raise BadRequest("query parameter 'retailer': required (a retailer code)")
        first, last = _day(q.get("from"), "from"), _day(q.get("to"), "to")
        if last < first:
            raise BadRequest("query parameter 'to': before 'from'")
        if (last - first).days >= MAX_DAYS:
            raise BadRequest(f"query parameters 'from'/'to': at most {MAX_DAYS} days")
        d = decider.decide(
            manage_request(GrantStep.REPORT_STATEMENT, p, t, for_own_org=(code == own))
        )
        event = audit_event(
            source="web", ts=caller.now, account_id=p.account_id, action="view",
            screen=f"api/{GrantStep.REPORT_STATEMENT}", decision="allow" if d.allowed else "deny",
            device_id=t.device_id, source_ip=caller.source_ip, session_id=p.session_id,
            purpose="audit", query=f"retailer={code} from={first} to={last}",
            policy_ids=d.policy_ids, person_id=p.person_id, org=p.org,
        )  # fmt: skip
        try:
            audit.record(event)
        except Exception:  # no record, no answer
            raise Unavailable("audit log") from None
        if not d.allowed:
            raise Forbidden(f"{GrantStep.REPORT_STATEMENT}: not permitted for retailer {code}")
        key = secret()
        if key is None:
            raise Unavailable("pseudonym secret")
        if code not in retailer_kinds(engine):
            raise BadRequest(f"query parameter 'retailer': no retailer with code {code!r}")
        view = AuditLogView(audit_url)
        try:
            st = build_statement(
                view, supply_periods(engine), code, first, last, secret=key, generated_at=clock()
            )
        except UsageError as e:  # no signed checkpoint yet, or an entry archived away
            raise Unavailable("signed checkpoint") from e
        finally:
            view.close()
        return JSONResponse(st)

    @router.get("/v1/audit/checkpoint", include_in_schema=False)
    def checkpoint() -> PlainTextResponse:
        cp = audit_log.latest_checkpoint()
        if cp is None:
            raise Unavailable("signed checkpoint")
        return PlainTextResponse(cp.note)

    @router.get("/v1/audit/consistency", include_in_schema=False)
    def consistency(request: Request) -> PlainTextResponse:
        q = request.query_params
        old, new = _count(q.get("old"), "old"), _count(q.get("new"), "new")
        if not 0 < old <= new or new > audit_log.size():
            raise BadRequest("query parameters 'old'/'new': need 0 < old <= new <= log size")
        return PlainTextResponse(_lines(audit_log.consistency_proof(old, new)))

    @router.get("/v1/audit/proof", include_in_schema=False)
    def proof(request: Request) -> PlainTextResponse:
        q = request.query_params
        index = _count(q.get("index"), "index")
        if q.get("size"):
            size = _count(q.get("size"), "size")
        else:
            cp = audit_log.latest_checkpoint()
            if cp is None:
                raise Unavailable("signed checkpoint")
            size = int(cp.size)
        if not index < size <= audit_log.size():
            raise BadRequest("query parameters 'index'/'size': need index < size <= log size")
        return PlainTextResponse(_lines(audit_log.inclusion_proof(index, size)))

    return router
