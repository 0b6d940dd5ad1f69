"""The gateway core: decide, mask, audit — the one path to 託送 customer data.

Per request: the caller is authenticated (principal + terminal), the point's
facts are read *at decision time* (relation to the caller's retailer, LRS, FIT),
the grants in force are resolved, the policy decides per field group, ONE audit
event is recorded durably, and only the allowed field groups are returned.

No oracle: a point of which no field group is allowed answers exactly like a
point that does not exist (same exception, same message, same work done).
Searches and lists run only over points the caller may see (retailers: their own
customers) and filter, sort and count only on allowed field groups.

Fail closed: an error in the store, the grant resolver, the policy or the audit
sink refuses the request (:class:`Unavailable`), and no error message carries a
non-public value.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime
from typing import Any, NoReturn, Protocol, TypeVar

from sqlalchemy import Connection, Engine

from gridwall.gateway import _store
from gridwall.gateway._errors import (
    AUDIT_LOG,
    ID_DETAIL,
    BadRequest,
    Forbidden,
    GatewayError,
    NotVisible,
    Unauthenticated,
    Unavailable,
)
from gridwall.gateway._history import (
    CONSENT_MONTHS,
    consent_from,
    first_month_from,
    history_window,
    visible_history,
)
from gridwall.gateway._masking import EXPORTABLE, mask_point
from gridwall.gateway._requests import (
    MAX_EXPORT,
    MAX_LIST,
    MAX_SEARCH,
    check_id,
    parse_purpose,
)
from gridwall.gateway._store import PointRow, SearchCriteria
from gridwall.interfaces import (
    AuditSink,
    AuthenticationError,
    Authenticator,
    GrantResolver,
    PointContext,
    PolicyEngine,
    Principal,
    RequestContext,
    Terminal,
)
from gridwall.interfaces.clock import system_clock
from gridwall.interfaces.events import AuditEvent, audit_event
from gridwall.interfaces.facts import (
    FIELDS,
    AccessRequest,
    Action,
    ConsentState,
    Decision,
    Era,
    GrantFacts,
    OrgKind,
    Purpose,
    Relation,
    ResourceFacts,
)
from gridwall.store import rls
from gridwall.store.customer import is_valid_supply_point_id

log = logging.getLogger("gridwall.gateway")
_T = TypeVar("_T")


class ExportSeal(Protocol):
    """Watermarks and registers an export before it leaves; returns the keys that replace
    the response's (e.g. the watermarked ``rows``); raises to stop the release."""

    def __call__(
        self, ctx: RequestContext, export_id: str, recipient_org: str, rows: list[dict[str, Any]]
    ) -> Mapping[str, Any]: ...


#: what :meth:`Gateway._facts` decides on when no point has the requested ID
_NO_POINT = PointRow(
    "", "", "", None, None, None, None, None, None, "", None, "", None, None, None, None, False
)


# ---------------------------------------------------------------------------


class Gateway:
    """The in-process gateway used by the HTTP API, the CLI and the benchmarks.

    Collaborators are the seams of :mod:`gridwall.interfaces`; swapping the interim
    ones for ``gridwall.identity`` / ``gridwall.grants`` / ``gridwall.audit`` objects is
    one argument each. Decisions are cached per request class (the request space is
    finite; Cedar stays the source of truth).
    """

    def __init__(
        self,
        engine: Engine,
        policy: PolicyEngine,
        *,
        auth: Authenticator,
        grants: GrantResolver,
        audit: AuditSink,
        clock: Callable[[], datetime] = system_clock,
        cache_decisions: bool = True,
        seal: ExportSeal | None = None,
        wall: bool | None = None,
    ) -> None:
        self.engine = engine
        #: set the second wall's per-transaction settings on every read (PostgreSQL row-level
        #: security, :mod:`gridwall.store.rls`); default: on PostgreSQL, never on SQLite
        self.wall = engine.dialect.name == "postgresql" if wall is None else wall
        #: seals an export's rows before release (``gridwall.grants.seal_export`` in the
        #: composed server); if it raises, the file is not released
        self.seal = seal
        self.policy: PolicyEngine = policy
        self.auth = auth
        self.grants = grants
        self.audit = audit
        self.clock = clock
        self._cache: dict[AccessRequest, Decision] | None = {} if cache_decisions else None

    # -- authentication --------------------------------------------------------

    def authenticate(
        self,
        credential: str | None,
        terminal_credential: str | None,
        purpose: str | None,
        *,
        source_ip: str | None = None,
    ) -> RequestContext:
        """Resolve the three request headers into a :class:`RequestContext` (or refuse)."""
        if not credential:
            raise Unauthenticated(
                "missing bearer credential (Authorization: Bearer <token>)",
                header="Authorization",
            )
        if not terminal_credential:
            raise Unauthenticated(
                "missing terminal credential (X-Gridwall-Terminal)", header="X-Gridwall-Terminal"
            )
        p = parse_purpose(purpose)
        now = self.clock()
        try:
            principal, terminal = self.auth.authenticate(credential, terminal_credential, now)
        except AuthenticationError as e:
            cls = Forbidden if e.status == 403 else Unauthenticated
            msg = str(e) or "authentication failed"
            header = "X-Gridwall-Terminal" if "terminal" in msg.lower() else "Authorization"
            raise cls(msg, header=header) from None
        except Exception as e:
            log.error("authenticator failed: %s", type(e).__name__)
            raise Unavailable("authenticator") from None
        return RequestContext(principal, terminal, p, now, source_ip)

    # -- decisions ---------------------------------------------------------------

    def decide(self, request: AccessRequest) -> Decision:
        """The policy decision for one request class (cached; the engine stays the source)."""
        cache = self._cache
        if cache is not None:
            hit = cache.get(request)
            if hit is not None:
                return hit
        d = self.policy.decide(request)
        if cache is not None:
            if len(cache) >= 100_000:
                cache.clear()
            cache[request] = d
        return d

    def decide_lookup(
        self, principal: Principal, terminal: Terminal, purpose: Purpose, *, is_lrs: bool
    ) -> Decision:
        """The lookup's decision (:class:`gridwall.interfaces.LookupDecider`): may this
        caller use the equal-footing lookup for a point under last-resort supply or not."""
        from gridwall.gateway._decisions import lookup_request

        return self.decide(lookup_request(principal, terminal, purpose, is_lrs=is_lrs))

    def clear_decision_cache(self) -> None:
        """Forget cached decisions (call after the policy engine was replaced or reloaded)."""
        if self._cache is not None:
            self._cache.clear()

    def _request(
        self, ctx: RequestContext, action: Action, resource: ResourceFacts, grants: GrantFacts
    ) -> AccessRequest:
        return AccessRequest(
            ctx.principal.facts, ctx.terminal.facts, action, ctx.purpose, resource, grants
        )

    def _safe_decide(self, req: AccessRequest) -> Decision:
        try:
            return self.decide(req)
        except Exception as e:
            log.error("policy failed: %s", type(e).__name__)
            raise Unavailable("policy") from None

    def _resolve(
        self,
        ctx: RequestContext,
        action: Action,
        point: PointContext | None,
        *,
        consent_token: str | None = None,
        recipient_org: str | None = None,
    ) -> GrantFacts:
        try:
            return self.grants.resolve(
                ctx.principal,
                ctx.terminal,
                ctx.purpose,
                action,
                point,
                ctx.now,
                consent_token=consent_token,
                recipient_org=recipient_org,
            )
        except Exception as e:
            log.error("grant resolver failed: %s", type(e).__name__)
            raise Unavailable("grant resolver") from None

    @staticmethod
    def relation(principal: Principal, row: PointRow | None) -> Relation:
        """The point's relation to the principal's retailer now (自社顧客 or not)."""
        code = principal.retailer_code
        if principal.facts.org_kind is not OrgKind.RETAIL or code is None:
            return Relation.NOT_APPLICABLE
        if row is None or row.retailer_code is None or row.contract_kind != "retail":
            return Relation.NO_RETAILER
        return Relation.OWN_CUSTOMER if row.retailer_code == code else Relation.OTHER_RETAILER

    def _facts(
        self, ctx: RequestContext, pid: str, row: PointRow | None
    ) -> tuple[ResourceFacts, PointContext]:
        # a nonexistent point goes through the same steps as an invisible one, on a
        # placeholder with no contract, no FIT and no place (no timing oracle)
        r = _NO_POINT if row is None else row
        rel = self.relation(ctx.principal, r)
        return (
            ResourceFacts(rel, r.is_lrs, r.has_fit),
            PointContext(pid, r.pref, r.city, r.is_lrs),
        )

    # -- audit ---------------------------------------------------------------------

    def _event(
        self,
        ctx: RequestContext,
        *,
        action: str,
        screen: str,
        decision: str,
        supply_point_ids: Sequence[str],
        fields: Iterable[str],
        policy_ids: Iterable[str],
        query: str | None = None,
        result_count: int | None = None,
        recipient_org: str | None = None,
    ) -> AuditEvent:
        p = ctx.principal
        return audit_event(
            source="gw",
            ts=ctx.now,
            account_id=p.account_id,
            device_id=ctx.terminal.device_id,
            source_ip=ctx.source_ip,
            session_id=p.session_id,
            action=action,
            screen=screen,
            purpose=ctx.purpose.value,
            supply_point_ids=supply_point_ids,
            query=query,
            fields=fields,
            result_count=result_count,
            recipient_org=recipient_org,
            decision=decision,
            policy_ids=policy_ids,
            person_id=p.person_id,
            org=p.org,
        )

    def _record(self, event: Mapping[str, Any]) -> None:
        try:
            self.audit.record(event)
        except Exception as e:
            log.error("audit sink failed: %s", type(e).__name__)
            raise Unavailable(AUDIT_LOG) from None

    def _refuse_unseen(
        self, ctx: RequestContext, screen: str, pid: str, decision: Decision
    ) -> NoReturn:
        """Record the denial, then answer exactly as for a nonexistent point (no oracle)."""
        self._record(
            self._event(
                ctx,
                action="view",
                screen=screen,
                decision="deny",
                supply_point_ids=[pid],
                fields=(),
                policy_ids=decision.policy_ids,
            )
        )
        raise NotVisible()

    def _record_denial_quietly(self, event: Mapping[str, Any]) -> None:
        """On a failure path the request is refused anyway; still try to log it."""
        try:
            self.audit.record(event)
        except Exception as e:
            log.error("audit sink failed on a refusal: %s", type(e).__name__)

    @contextmanager
    def _fail_closed(self, denial: Callable[[str], AuditEvent]) -> Iterator[None]:
        """The one fail-closed block of every operation: a collaborator that cannot answer
        refuses the request (:class:`Unavailable`, naming only what failed) and the refusal
        is logged as a denial (``denial(what)``) unless the audit log itself failed; the
        gateway's own refusals pass through unchanged; anything else is a store failure."""
        try:
            yield
        except Unavailable as e:
            if not e.audit_failed:
                self._record_denial_quietly(denial(e.what))
            raise
        except GatewayError:
            raise
        except Exception as e:  # e.g. the connection itself
            log.error("store failed: %s", type(e).__name__)
            self._record_denial_quietly(denial("store"))
            raise Unavailable("store") from None

    @contextmanager
    def _connect(self, ctx: RequestContext) -> Iterator[Connection]:
        """A pooled connection whose transaction reads for ``ctx``'s caller: on PostgreSQL
        the second wall's settings (:func:`gridwall.store.rls.set_scope`, transaction-local,
        gone when the connection goes back to the pool) are set before any statement."""
        with self.engine.connect() as conn:
            if self.wall:
                rls.set_scope(conn, self._scope(ctx))
            yield conn

    @staticmethod
    def _scope(ctx: RequestContext) -> rls.Scope:
        """The caller's authenticated facts, as the row-level security sees them: the
        inputs the decision was made on (never its output, so a wrong decision cannot
        widen what the database returns)."""
        p = ctx.principal
        return rls.Scope(
            org_kind=p.facts.org_kind.value,
            org=p.org,
            org_code=p.retailer_code if p.facts.org_kind is OrgKind.RETAIL else None,
            purpose=ctx.purpose.value,
            today=ctx.today,
            now=ctx.now,
            canary=p.facts.canary,
        )

    def _fetch(self, ctx: RequestContext, fn: Callable[[Connection], _T]) -> _T:
        """Run ``fn`` on one pooled connection (read for ``ctx``'s caller) and release it
        before anything else is asked.

        No request holds a connection while it waits for another (the grant resolver and
        the authenticator draw from the same pool, the audit sink may too): a request
        holds at most one pooled connection at a time, so any number of concurrent callers
        share a pool of any size without waiting on each other (issue 11 item 10)."""
        try:
            with self._connect(ctx) as conn:
                return fn(conn)
        except GatewayError:
            raise
        except Exception as e:  # the connection itself (e.g. pool timeout) or a statement
            log.error("store failed: %s", type(e).__name__)
            raise Unavailable("store") from None

    # -- operations -----------------------------------------------------------------

    def read_point(
        self, ctx: RequestContext, supply_point_id: str, *, screen: str = "read_point"
    ) -> dict[str, Any]:
        """Read one supply point: only the allowed field groups (switching history and
        FIT contracts included when allowed). Invisible ≡ nonexistent."""
        pid = check_id(supply_point_id)
        today = ctx.today
        action = Action.VIEW

        def fail(what: str) -> AuditEvent:
            return self._event(
                ctx,
                action="view",
                screen=screen,
                decision="deny",
                supply_point_ids=[pid],
                fields=(),
                policy_ids=(),
                query=f"error:{what}",
            )

        with self._fail_closed(fail):
            # Before the decision: the point's fixed-size facts only, through a probe that
            # does the same work whether the point exists or not (no timing oracle). Each
            # read releases its connection before the grants, the policy or the audit log
            # are asked (no request holds a connection while waiting for another).
            row = self._fetch(ctx, lambda conn: _store.probe_point(conn, pid, today))
            facts, pctx = self._facts(ctx, pid, row)
            grants = self._resolve(ctx, action, pctx)
            decision = self._safe_decide(self._request(ctx, action, facts, grants))
            allowed = decision.allowed_fields
            if not allowed or row is None:
                self._refuse_unseen(ctx, screen, pid, decision)
            view = mask_point(row, allowed)
            # After it: what grows with the point's content, only for the allowed groups.
            want_history, want_fit = "switching_history" in allowed, "fit" in allowed
            history: list[dict[str, Any]] = []
            fit: list[dict[str, Any]] = []
            if want_history or want_fit:  # no second checkout for a read that shows neither
                history, fit = self._fetch(
                    ctx,
                    lambda conn: _store.fetch_extras(conn, pid, history=want_history, fit=want_fit),
                )
            if want_history:
                # I13: entries from before the caller's relationship are their own decision
                before = self._safe_decide(
                    self._request(ctx, action, replace(facts, era=Era.BEFORE_RELATIONSHIP), grants)
                )
                view["switching_history"] = visible_history(
                    history,
                    history_window(ctx.principal, facts.relation, row, today, history),
                    "switching_history" in before.allowed_fields,
                )
            if want_fit:
                view["fit"] = fit
        shown = [f for f in allowed if f != "usage"]
        self._record(
            self._event(
                ctx,
                action="view",
                screen=screen,
                decision="allow",
                supply_point_ids=[pid],
                fields=shown,
                policy_ids=decision.policy_ids,
                result_count=1,
            )
        )
        return view

    def _class_decisions(
        self, ctx: RequestContext, action: Action, relation: Relation, grants: GrantFacts
    ) -> dict[tuple[bool, bool], Decision]:
        out = {}
        for lrs in (False, True):
            for fit in (False, True):
                req = self._request(ctx, action, ResourceFacts(relation, lrs, fit), grants)
                out[(lrs, fit)] = self._safe_decide(req)
        return out

    def _many(
        self,
        ctx: RequestContext,
        *,
        action: Action,
        screen: str,
        key_groups: Sequence[str],
        query: str,
        fetch: Callable[[set[tuple[bool, bool]], str | None], list[PointRow]],
        limit: int,
    ) -> tuple[list[dict[str, Any]], bool]:
        """Shared by search and list: decide per resource class, refuse if no class allows
        the key, fetch only allowed classes (invisible points are absent, like nonexistent
        ones), mask each row by its class, audit once."""
        p = ctx.principal
        is_retail = p.facts.org_kind is OrgKind.RETAIL
        own = p.retailer_code if is_retail else None
        relation = Relation.OWN_CUSTOMER if is_retail else Relation.NOT_APPLICABLE
        ev_action = "search"

        def fail(what: str) -> AuditEvent:
            return self._event(
                ctx,
                action=ev_action,
                screen=screen,
                decision="deny",
                supply_point_ids=(),
                fields=(),
                policy_ids=(),
                query=query,
            )

        with self._fail_closed(fail):
            if is_retail and own is None:
                raise Forbidden("this account is not bound to a retailer")
            grants = self._resolve(ctx, action, None)
            decisions = self._class_decisions(ctx, action, relation, grants)

            def key_ok(d: Decision) -> bool:
                allowed = d.allowed_fields
                if not key_groups:
                    return bool(allowed)
                return all(g in allowed for g in key_groups)

            classes = {c for c, d in decisions.items() if key_ok(d)}
            if not classes:
                pids = {x for d in decisions.values() for x in d.policy_ids}
                self._record(
                    self._event(
                        ctx,
                        action=ev_action,
                        screen=screen,
                        decision="deny",
                        supply_point_ids=(),
                        fields=(),
                        policy_ids=pids,
                        query=query,
                        result_count=0,
                    )
                )
                what = ", ".join(key_groups) if key_groups else "listing"
                raise Forbidden(f"{action.value} by {what} is not permitted for this purpose")
            rows = fetch(classes, own)
        results = []
        shown: set[str] = set()
        pids_used: set[str] = set()
        more = len(rows) > limit
        for r in rows[:limit]:
            d = decisions[(r.is_lrs, r.has_fit)]
            allowed = d.allowed_fields
            view = mask_point(r, allowed)
            shown.update(k for k in view if k != "supply_point_id")
            pids_used.update(d.policy_ids)
            results.append(view)
        self._record(
            self._event(
                ctx,
                action=ev_action,
                screen=screen,
                decision="allow",
                supply_point_ids=[v["supply_point_id"] for v in results],
                fields=shown,
                policy_ids=pids_used,
                query=query,
                result_count=len(results),
            )
        )
        return results, more

    def search(
        self,
        ctx: RequestContext,
        criteria: SearchCriteria,
        *,
        limit: int = 50,
        screen: str = "search",
    ) -> dict[str, Any]:
        """Exact search by ID, meter (``equipment``) or address parts (``address``).

        NW staff search every point their decision allows for the key; retailers only
        their own current customers. Ordered by supply point ID."""
        if criteria.is_empty():
            raise BadRequest("give at least one search criterion", parameter="query")
        if criteria.supply_point_id is not None:
            check_id(criteria.supply_point_id)
        if not 1 <= limit <= MAX_SEARCH:
            raise BadRequest(f"limit must be 1..{MAX_SEARCH}", parameter="limit")
        keys: list[str] = []
        if criteria.meter_id is not None:
            keys.append("equipment")
        if criteria.address():
            keys.append("address")
        today = ctx.today

        def fetch(classes: set[tuple[bool, bool]], own: str | None) -> list[PointRow]:
            return self._fetch(
                ctx,
                lambda conn: _store.search_points(
                    conn, criteria, today, classes=classes, own_retailer=own, limit=limit + 1
                ),
            )

        results, truncated = self._many(
            ctx,
            action=Action.SEARCH,
            screen=screen,
            key_groups=keys,
            query=criteria.as_text(),
            fetch=fetch,
            limit=limit,
        )
        return {"results": results, "count": len(results), "truncated": truncated}

    def list_customers(
        self,
        ctx: RequestContext,
        *,
        after: str | None = None,
        limit: int = 100,
        screen: str = "list_customers",
    ) -> dict[str, Any]:
        """A retailer's own current customers (自社顧客一覧), keyset-paged by ID."""
        if ctx.principal.facts.org_kind is not OrgKind.RETAIL:
            # a refusal is a decision too: audited like every other (issue 3)
            self._record(
                self._event(
                    ctx,
                    action="search",
                    screen=screen,
                    decision="deny",
                    supply_point_ids=(),
                    fields=(),
                    policy_ids=(),
                    query="error:not_a_retailer",
                    result_count=0,
                )
            )
            raise Forbidden("only a retailer's principals list customers")
        if after is not None:
            check_id(after, "after")
        if not 1 <= limit <= MAX_LIST:
            raise BadRequest(f"limit must be 1..{MAX_LIST}", parameter="limit")
        today = ctx.today

        def fetch(classes: set[tuple[bool, bool]], own: str | None) -> list[PointRow]:
            assert own is not None
            rows = self._fetch(
                ctx,
                lambda conn: _store.list_customers(conn, own, today, after=after, limit=limit + 1),
            )
            return [r for r in rows if (r.is_lrs, r.has_fit) in classes]

        page, more = self._many(
            ctx,
            action=Action.LIST,
            screen=screen,
            key_groups=(),
            query=f"after={after or ''} limit={limit}",
            fetch=fetch,
            limit=limit,
        )
        nxt = page[-1]["supply_point_id"] if more and page else None
        return {"results": page, "count": len(page), "next_after": nxt}

    def export(
        self,
        ctx: RequestContext,
        recipient_org: str,
        supply_point_ids: Sequence[str],
        fields: Sequence[str] | None = None,
        *,
        screen: str = "export",
    ) -> dict[str, Any]:
        """A watermarked export to ``recipient_org``: per point and field, the policy decides
        with the recipient facts from grants (I8). Points with nothing allowed are absent,
        exactly like nonexistent ones."""
        if not recipient_org or not recipient_org.strip():
            raise BadRequest("recipient_org is required", parameter="recipient_org")
        if not supply_point_ids:
            raise BadRequest("supply_point_ids is empty", parameter="supply_point_ids")
        if len(supply_point_ids) > MAX_EXPORT:
            raise BadRequest(
                f"at most {MAX_EXPORT} points per export", parameter="supply_point_ids"
            )
        for i, sid in enumerate(supply_point_ids):
            if not is_valid_supply_point_id(sid):
                raise BadRequest(f"item {i}: {ID_DETAIL}", parameter="supply_point_ids")
        wanted = frozenset(fields) if fields else frozenset(EXPORTABLE)
        bad = sorted(wanted - set(EXPORTABLE))
        if bad:
            known = [f for f in bad if f in FIELDS]
            what = ", ".join(known) if known else "unknown field group"
            raise BadRequest(
                f"not exportable: {what} (exportable: {', '.join(EXPORTABLE)})",
                parameter="fields",
            )
        recipient = recipient_org.strip()
        ids = list(dict.fromkeys(supply_point_ids))
        today = ctx.today
        action = Action.EXPORT
        rows_out: list[dict[str, Any]] = []
        shown: set[str] = set()
        pids_used: set[str] = set()

        def fail(what: str) -> AuditEvent:
            return self._event(
                ctx,
                action="export",
                screen=screen,
                decision="deny",
                supply_point_ids=ids,
                fields=(),
                policy_ids=(),
                recipient_org=recipient,
            )

        with self._fail_closed(fail):
            found = {
                r.supply_point_id: r
                for r in self._fetch(ctx, lambda conn: _store.fetch_points(conn, ids, today))
            }
            for sid in ids:
                row = found.get(sid)
                facts, pctx = self._facts(ctx, sid, row)
                g = self._resolve(ctx, action, pctx, recipient_org=recipient)
                d = self._safe_decide(self._request(ctx, action, facts, g))
                pids_used.update(d.policy_ids)
                allowed = d.allowed_fields & wanted
                if row is None or not allowed:
                    continue
                view = mask_point(row, allowed)
                shown.update(k for k in view if k != "supply_point_id")
                rows_out.append(view)
        export_id = f"exp-{uuid.uuid4().hex}"
        sealed: Mapping[str, Any] = {}
        if rows_out and self.seal is not None:
            try:
                sealed = self.seal(ctx, export_id, recipient, rows_out)
            except Exception as e:  # no seal, no file: audited as a refusal
                log.error("export seal refused: %s", type(e).__name__)
                self._record(
                    self._event(
                        ctx,
                        action="export",
                        screen=screen,
                        decision="deny",
                        supply_point_ids=(),
                        fields=(),
                        policy_ids=pids_used,
                        query=f"export_id={export_id} requested={len(ids)} seal=refused",
                        result_count=0,
                        recipient_org=recipient,
                    )
                )
                raise Unavailable("export seal") from None
        self._record(
            self._event(
                ctx,
                action="export",
                screen=screen,
                decision="allow" if rows_out else "deny",
                supply_point_ids=[r["supply_point_id"] for r in rows_out],
                fields=shown,
                policy_ids=pids_used,
                query=f"export_id={export_id} requested={len(ids)}",
                result_count=len(rows_out),
                recipient_org=recipient,
            )
        )
        return {
            "export_id": export_id,
            "recipient_org": recipient,
            "generated_at": ctx.now.isoformat(),
            "watermark": (
                f"gridwall export {export_id} for {recipient} by {ctx.principal.account_id} "
                f"at {ctx.now.isoformat()}; 非公開情報 — use only under the named agreement"
            ),
            "count": len(rows_out),
            "rows": rows_out,
            **sealed,
        }

    def usage(
        self,
        ctx: RequestContext,
        supply_point_id: str,
        *,
        consent_token: str | None = None,
        screen: str = "usage",
    ) -> dict[str, Any]:
        """Monthly kWh (使用量). NW staff: all months; a retailer's own customer: since its
        contract and the current holder; a consent read: at most 13 months back and nothing
        before the last change of contract holder (I9). Not allowed ≡ nonexistent."""
        pid = check_id(supply_point_id)
        today = ctx.today
        action = Action.VIEW
        p = ctx.principal

        def fail(what: str) -> AuditEvent:
            return self._event(
                ctx,
                action="view",
                screen=screen,
                decision="deny",
                supply_point_ids=[pid],
                fields=(),
                policy_ids=(),
            )

        with self._fail_closed(fail):
            # the same probe as read_point (the same work whether the point exists or not);
            # holder changes and months only once the decision allowed usage. Each read
            # releases its connection before the grants or a consent check are asked.
            row = self._fetch(ctx, lambda conn: _store.probe_point(conn, pid, today))
            facts, pctx = self._facts(ctx, pid, row)
            g = self._resolve(ctx, action, pctx, consent_token=consent_token)
            d = self._safe_decide(self._request(ctx, action, facts, g))
            allowed = d.allowed_fields  # computed on both paths, as in read_point
            if "usage" not in allowed or row is None:
                self._refuse_unseen(ctx, screen, pid, d)
            contract_start = row.contract_start
            nw = p.facts.org_kind is OrgKind.NW
            own = facts.relation is Relation.OWN_CUSTOMER and g.consent is not ConsentState.VALID
            scope = 0 if nw or own else self._consent_months(ctx, pid, consent_token)

            def read_usage(conn: Connection) -> tuple[date | None, str, list[dict[str, Any]]]:
                change = _store.last_holder_change(conn, pid, today)
                day: date | None
                if nw:
                    day = None
                elif own:
                    bounds = [x for x in (contract_start, change) if x is not None]
                    day = max(bounds) if bounds else None
                else:
                    day = consent_from(ctx.now, scope, change)
                month = "0000-00" if day is None else first_month_from(day)
                return day, month, _store.usage(conn, pid, month)

            from_day, from_month, months = self._fetch(ctx, read_usage)
        self._record(
            self._event(
                ctx,
                action="view",
                screen=screen,
                decision="allow",
                supply_point_ids=[pid],
                fields=["usage"],
                policy_ids=d.policy_ids,
                result_count=len(months),
            )
        )
        return {"supply_point_id": pid, "from_month": None if from_day is None else from_month,
                "usage": months}  # fmt: skip

    def _consent_months(self, ctx: RequestContext, pid: str, token: str | None) -> int:
        """The consent's scope in months when the resolver can tell (≤ 13), else 13."""
        check = getattr(self.grants, "consent_check", None)
        if token and callable(check):
            try:
                months = int(check(token, pid, ctx.principal.retailer_code, ctx.now).scope_months)
            except Exception as e:
                log.error("consent check failed: %s", type(e).__name__)
                raise Unavailable("grant resolver") from None
            if months <= 0:
                raise Unavailable("grant resolver")
            return min(months, CONSENT_MONTHS)
        return CONSENT_MONTHS
