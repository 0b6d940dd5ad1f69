"""Canary requests: a fixed set of requests, sent every interval through the served HTTP path,
that prove the walls hold (issue 17 item 2).

A policy that "never took effect, with no error anywhere" is the silent failure other policy
systems are known for. So gridwall asks itself, through the same HTTP path every client uses,
a fixed set of questions whose answers are known: five that must be refused (a retailer reading
a competitor's customer, a contractor outside its agreement, a disaster view outside a
declaration, an untrained NW operator, an unenrolled terminal) and four that must be answered.
Any other answer is a critical alert (:class:`AlertOutbox`) and turns ``GET /health`` red
(:class:`CanaryState`).

The canaries never touch real data:

* **dedicated principals** (:data:`PRINCIPALS`): persons, accounts and terminals of their own,
  in canary organisations (retailers :data:`OWN_RETAILER` and :data:`RIVAL_RETAILER`,
  contractor :data:`CONTRACTOR`) or in ``nw``;
* **dedicated supply points** (:data:`POINTS`) with IDs from a reserved range and fictitious
  towns and names, created by :func:`setup` (``gridwall canary setup``, and at every
  ``gridwall serve`` start; idempotent);
* **the canary fence** (:class:`FencedGateway`): whatever the policy says, a canary principal
  reaches canary points only — a read, usage read or export naming any other point answers
  like a nonexistent point, a search must be scoped to a canary town or a canary ID,
  the lookup (real addresses) is refused. It is the gateway the composed server serves, so
  every face (API, console) goes through it. A load of a real dataset naming a canary point's
  ID or a canary retailer code is refused (:func:`refusals`), at its file, line and column.

Every audit event of a canary account carries ``"canary": true``, set by the server from the
event's account (:class:`CanaryMarkingSink`, the one sink every writer of the composed server
goes through), never from anything the client sends; the monitor drops those events on input.
The mark and the fence are the same predicate (:func:`is_canary_account`): an account that
is marked canary — and so not watched by the monitor — can read nothing but canary points.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gridwall.app.http.deferred import ForwardingSink, submit_via
from gridwall.errors import UsageError
from gridwall.gateway import Forbidden, Gateway, NotVisible
from gridwall.interfaces import Principal, RequestContext
from gridwall.interfaces.facts import (
    CANARY_POINT_ID_STEM,
    FIELDS,
    AccessRequest,
    Action,
    Decision,
    FieldDecision,
    GrantFacts,
    Purpose,
    Relation,
    ResourceFacts,
)
from gridwall.store import rls

if TYPE_CHECKING:
    import httpx
    from sqlalchemy import Engine

    from gridwall.gateway import SearchCriteria
    from gridwall.identity import IdentityService
    from gridwall.interfaces import AuditSink, PointContext, Terminal

log = logging.getLogger("gridwall.canary")

# --------------------------------------------------------------------------- the roster

#: the prefecture of every canary point, and the city the canary contractor's agreement
#: covers and one it does not (grants accept only real places; the towns are fictitious,
#: so an exact search by town finds canary points only)
CANARY_PREF = "北海道"
CITY_IN = "夕張市"
CITY_OUT = "歌志内市"
#: canary retailers: the canary agent's own, and its competitor (both 新電力)
OWN_RETAILER = "Z9901"
RIVAL_RETAILER = "Z9902"
CANARY_RETAILERS = frozenset({OWN_RETAILER, RIVAL_RETAILER})
CONTRACTOR = "contractor:CANARY"
AGREEMENT_ID = "CANARY-SYSTEM-MAINTENANCE"
AGREEMENT_FIELDS = ("contract", "equipment")
#: the policy id a fence refusal carries in its audit event
FENCE = "canary-fence"
#: a serial range no real supply point uses: area 01, office 0000, serial 9999…
_ID_STEM = CANARY_POINT_ID_STEM


@dataclass(frozen=True)
class CanaryPoint:
    supply_point_id: str
    city: str
    town: str
    banchi: str
    contract_name: str
    phone: str
    meter_id: str
    retailer_code: str


def _pid(n: int) -> str:
    return f"{_ID_STEM}{n:03d}"


POINTS: tuple[CanaryPoint, ...] = (
    # the canary agent's own customer, inside the contractor's agreement area
    CanaryPoint(_pid(1), CITY_IN, "カナリア町一丁目", "1-1", "金糸雀 一郎", "099-901-0001",
                "CNRY-M-0001", OWN_RETAILER),
    # the competitor's customer, same city
    CanaryPoint(_pid(2), CITY_IN, "カナリア町一丁目", "2-2", "金糸雀 二郎", "099-901-0002",
                "CNRY-M-0002", RIVAL_RETAILER),
    # the competitor's customer outside the contractor's agreement area
    CanaryPoint(_pid(3), CITY_OUT, "ツグミ町三丁目", "3-3", "鶫 三郎", "099-902-0003",
                "CNRY-M-0003", RIVAL_RETAILER),
)  # fmt: skip
OWN_POINT, RIVAL_POINT, FAR_POINT = POINTS
CANARY_POINT_IDS = frozenset(p.supply_point_id for p in POINTS)
CANARY_TOWNS = frozenset(p.town for p in POINTS)


@dataclass(frozen=True)
class CanaryPrincipal:
    account_id: str
    person_id: str
    name: str
    org: str
    role: str
    device_id: str
    device_kind: str
    trained: bool = True


PRINCIPALS: tuple[CanaryPrincipal, ...] = (
    CanaryPrincipal("canary-retail", "CANARY-P-RETAIL", "カナリア 小売担当",
                    f"retail:{OWN_RETAILER}",
                    "call_center", "CANARY-T-RETAIL", "retail_terminal"),
    CanaryPrincipal("canary-contractor", "CANARY-P-CONTRACTOR", "カナリア 委託先",
                    CONTRACTOR, "it_maintenance", "CANARY-T-CONTRACTOR", "contractor_terminal"),
    CanaryPrincipal("canary-nw", "CANARY-P-NW", "カナリア 託送担当 (災害対応)", "nw",
                    "takuso_operator", "CANARY-T-NW", "nw_terminal"),
    CanaryPrincipal("canary-nw-untrained", "CANARY-P-NW-UNTRAINED", "カナリア 未受講",
                    "nw", "takuso_operator", "CANARY-T-NW-UNTRAINED", "nw_terminal",
                    trained=False),
)  # fmt: skip
CANARY_ACCOUNTS = frozenset(p.account_id for p in PRINCIPALS)
#: a terminal that is never registered nor enrolled (the foreign-terminal probe)
UNENROLLED_TERMINAL = "CANARY-T-UNENROLLED"


def is_canary_account(account_id: object) -> bool:
    """The one predicate of the mark and of the fence: the account is a canary principal."""
    return isinstance(account_id, str) and account_id in CANARY_ACCOUNTS


def is_canary_point(supply_point_id: object) -> bool:
    """The point's ID is in the reserved canary range (``0100009999000000000nnn``: the
    roster's points and the rest of the range, which no real dataset may use)."""
    return (
        isinstance(supply_point_id, str)
        and len(supply_point_id) == len(_ID_STEM) + 3
        and supply_point_id.startswith(_ID_STEM)
        and supply_point_id[len(_ID_STEM) :].isdigit()
    )


def is_canary_retailer(retailer_code: object) -> bool:
    """A retailer code reserved for the canary retailers (never a real retailer's)."""
    return isinstance(retailer_code, str) and retailer_code in CANARY_RETAILERS


def is_canary(principal: Principal) -> bool:
    return is_canary_account(principal.account_id)


# --------------------------------------------------------------------------- the mark


class CanaryMarkingSink(ForwardingSink):
    """Wraps the audit log: an event whose account is a canary principal gets
    ``"canary": true``; any other event loses a ``canary`` key it may carry. Every writer of
    the composed server (gateway, grants, lookup, identity, the per-request middleware)
    writes through this one sink, so the mark is derived in one place, server-side."""

    def __init__(self, sink: AuditSink) -> None:
        super().__init__(sink)

    def record(self, event: Mapping[str, Any]) -> None:
        self.sink.record(mark(event))

    def submit(self, events: Sequence[Mapping[str, Any]]) -> Future[list[int]]:
        """The HTTP handlers' queued path (``app/http/deferred.py``), marked the same way."""
        return submit_via(self.sink, [mark(e) for e in events])


def mark(event: Mapping[str, Any]) -> Mapping[str, Any]:
    if is_canary_account(event.get("account_id")):
        return {**event, "canary": True}
    if "canary" in event:
        return {k: v for k, v in event.items() if k != "canary"}
    return event


# --------------------------------------------------------------------------- the fence


class FencedGateway(Gateway):
    """The gateway of the composed server: canary principals and canary points meet only
    each other. Two walls:

    * **in Cedar** (``forbid-canary-fence``, invariant I17 proved by ``gridwall policy
      check``): every request this gateway decides carries ``principal.canary`` (the
      account is a canary principal) and ``context.point.canary`` (the point's ID is in the
      reserved range); the forbid denies every field where the two differ. Searches and
      lists are decided for the caller's own class (canary points for a canary principal,
      real points for everyone else) and rows of the other class are dropped;
    * **in Python**, ahead of the policy: whatever the policy says, a canary principal's
      read, usage read or export naming any other point answers like a nonexistent point,
      its searches must name a canary town or ID, and the lookup (real addresses) is
      refused. These refusals are audited with the policy id :data:`FENCE`.

    So a broken policy set (``policy_dir``) still cannot make a canary principal read real
    data, and a real principal is kept off the canary points by the Cedar wall."""

    # -- the facts the Cedar fence decides on -------------------------------------------

    def _scope(self, ctx: RequestContext) -> rls.Scope:  # type: ignore[override]
        """The second wall's settings say whether the caller is a canary principal (by its
        account, the fence's one predicate): on PostgreSQL a canary principal's transaction
        reads canary rows only, any other caller's none of them (:data:`rls.FENCE`)."""
        return replace(Gateway._scope(ctx), canary=is_canary(ctx.principal))

    def _request(
        self, ctx: RequestContext, action: Action, resource: ResourceFacts, grants: GrantFacts
    ) -> AccessRequest:
        req = super()._request(ctx, action, resource, grants)
        mine = is_canary(ctx.principal)
        if req.principal.canary == mine:
            return req
        return replace(req, principal=replace(req.principal, canary=mine))

    def _facts(self, ctx: RequestContext, pid: str, row: Any) -> tuple[ResourceFacts, PointContext]:
        facts, pctx = super()._facts(ctx, pid, row)
        return replace(facts, canary=is_canary_point(pid)), pctx

    def _class_decisions(
        self, ctx: RequestContext, action: Action, relation: Relation, grants: GrantFacts
    ) -> dict[tuple[bool, bool], Decision]:
        """A search or list is decided for the caller's own class of points only (its rows
        of the other class are dropped by :meth:`_many`)."""
        mine = is_canary(ctx.principal)
        out = {}
        for lrs in (False, True):
            for fit in (False, True):
                res = ResourceFacts(relation, lrs, fit, canary=mine)
                out[(lrs, fit)] = self._safe_decide(self._request(ctx, action, res, grants))
        return out

    def _many(
        self,
        ctx: RequestContext,
        *,
        action: Action,
        screen: str,
        key_groups: Sequence[str],
        query: str,
        fetch: Callable[[set[tuple[bool, bool]], str | None], list[Any]],
        limit: int,
    ) -> tuple[list[dict[str, Any]], bool]:
        mine = is_canary(ctx.principal)

        def fenced(classes: set[tuple[bool, bool]], own: str | None) -> list[Any]:
            return [r for r in fetch(classes, own) if is_canary_point(r.supply_point_id) == mine]

        return super()._many(
            ctx,
            action=action,
            screen=screen,
            key_groups=key_groups,
            query=query,
            fetch=fenced,
            limit=limit,
        )

    # -- the Python fence ahead of the policy -------------------------------------------

    def _fence(self, ctx: RequestContext, screen: str, ids: Sequence[str], action: str) -> None:
        self._record(
            self._event(
                ctx,
                action=action,
                screen=screen,
                decision="deny",
                supply_point_ids=list(ids)[:50],
                fields=(),
                policy_ids=(FENCE,),
            )
        )

    def read_point(self, ctx: RequestContext, supply_point_id: str, **kw: Any) -> dict[str, Any]:
        if is_canary(ctx.principal) and not is_canary_point(supply_point_id):
            self._fence(ctx, str(kw.get("screen", "view")), [supply_point_id], "view")
            raise NotVisible()
        return super().read_point(ctx, supply_point_id, **kw)

    def usage(self, ctx: RequestContext, supply_point_id: str, **kw: Any) -> dict[str, Any]:
        if is_canary(ctx.principal) and not is_canary_point(supply_point_id):
            self._fence(ctx, str(kw.get("screen", "usage")), [supply_point_id], "view")
            raise NotVisible()
        return super().usage(ctx, supply_point_id, **kw)

    def export(
        self,
        ctx: RequestContext,
        recipient_org: str,
        supply_point_ids: Sequence[str],
        fields: Sequence[str] | None = None,
        **kw: Any,
    ) -> dict[str, Any]:
        if is_canary(ctx.principal) and not all(map(is_canary_point, supply_point_ids)):
            self._fence(ctx, str(kw.get("screen", "export")), supply_point_ids, "export")
            raise NotVisible()
        return super().export(ctx, recipient_org, supply_point_ids, fields, **kw)

    def search(self, ctx: RequestContext, criteria: SearchCriteria, **kw: Any) -> dict[str, Any]:
        if is_canary(ctx.principal):
            scoped = criteria.town in CANARY_TOWNS or is_canary_point(criteria.supply_point_id)
            if not scoped:
                self._fence(ctx, str(kw.get("screen", "search")), (), "search")
                raise Forbidden("a canary principal searches canary points only")
        return super().search(ctx, criteria, **kw)

    def list_customers(self, ctx: RequestContext, **kw: Any) -> dict[str, Any]:
        code = ctx.principal.retailer_code
        if is_canary(ctx.principal) and code not in CANARY_RETAILERS:
            self._fence(ctx, str(kw.get("screen", "list_customers")), (), "search")
            raise Forbidden("a canary principal lists canary customers only")
        return super().list_customers(ctx, **kw)

    def decide_lookup(
        self, principal: Principal, terminal: Terminal, purpose: Purpose, *, is_lrs: bool
    ) -> Decision:
        if is_canary(principal):  # the Cedar fence sees a canary principal on a real point
            principal = replace(principal, facts=replace(principal.facts, canary=True))
        d = super().decide_lookup(principal, terminal, purpose, is_lrs=is_lrs)
        if not is_canary(principal):
            return d
        # the lookup searches real addresses: never for a canary principal
        return Decision(d.request, {f: FieldDecision(False, (FENCE,)) for f in FIELDS})


def refusals(*, canary: bool) -> tuple[Callable[[str], str | None], Callable[[str], str | None]]:
    """What a load may not write (``gateway.load_dataset``'s ``refuse_point`` and
    ``refuse_retailer``): a real dataset (``canary`` false) no canary point ID and no canary
    retailer code, in any table; the canary set-up's own load nothing else, so it can never
    touch a real point or retailer."""
    if canary:
        return (
            lambda p: None if is_canary_point(p) else "the canary set-up writes canary points only",
            lambda c: (
                None if is_canary_retailer(c) else "the canary set-up writes canary retailers only"
            ),
        )
    return (
        lambda p: (
            "reserved for gridwall's canary points (0100009999000000000nnn); "
            "real data must not use the canary range"
            if is_canary_point(p)
            else None
        ),
        lambda c: (
            f"reserved for gridwall's canary retailers ({', '.join(sorted(CANARY_RETAILERS))});"
            " real data must not use it"
            if is_canary_retailer(c)
            else None
        ),
    )


# --------------------------------------------------------------------------- setup

CREDENTIALS = "canary.json"


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    path.chmod(0o600)


def _dataset(folder: Path) -> None:
    from gridwall import dataset

    since = date(2000, 1, 1)
    with dataset.CsvTableWriter(folder, dataset.RETAILERS) as w:
        for code in sorted(CANARY_RETAILERS):
            w.write({"retailer_code": code, "name": f"カナリア電力 {code} (canary)",
                     "kind": "independent"})  # fmt: skip
    with dataset.CsvTableWriter(folder, dataset.SUPPLY_POINTS) as w:
        for p in POINTS:
            w.write({"supply_point_id": p.supply_point_id, "pref": CANARY_PREF, "city": p.city,
                     "town": p.town, "banchi": p.banchi, "building": None, "room": None,
                     "contract_name": p.contract_name, "phone": p.phone, "voltage": "low",
                     "meter_id": p.meter_id, "status": "active"})  # fmt: skip
    with dataset.CsvTableWriter(folder, dataset.SUPPLY_CONTRACTS) as w:
        for p in POINTS:
            w.write({"supply_point_id": p.supply_point_id, "retailer_code": p.retailer_code,
                     "start_date": since, "end_date": None, "kind": "retail"})  # fmt: skip
    with dataset.CsvTableWriter(folder, dataset.AGREEMENTS) as w:
        w.write({"agreement_id": AGREEMENT_ID, "counterparty_org": CONTRACTOR,
                 "purpose": "system_maintenance", "fields": list(AGREEMENT_FIELDS),
                 "area": [f"{CANARY_PREF}/{CITY_IN}"], "valid_from": since,
                 "valid_to": None})  # fmt: skip


@dataclass
class Credentials:
    """The canary principals' secrets (``canary.json``, mode 600) and live sessions."""

    accounts: dict[str, dict[str, Any]]
    path: Path | None = None

    @classmethod
    def read(cls, directory: Path) -> Credentials:
        path = directory / CREDENTIALS
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsageError(
                f"--dir {directory}: no {CREDENTIALS} (run `gridwall canary setup` first)"
            ) from None
        except (OSError, ValueError) as e:
            raise UsageError(f"--dir {directory}: {CREDENTIALS} unreadable ({e})") from None
        accounts = data.get("accounts") if isinstance(data, dict) else None
        if not isinstance(accounts, dict) or set(accounts) != set(CANARY_ACCOUNTS):
            raise UsageError(f"{path}: not this version's canary credentials (run setup again)")
        return cls(accounts, path)

    def save(self) -> None:
        if self.path is not None:
            _write_private(self.path, json.dumps({"accounts": self.accounts}, indent=1) + "\n")


def setup(engine: Engine, identity: IdentityService, directory: Path, now: datetime) -> list[str]:
    """Create (or confirm) the canary points, organisations, agreement, principals and
    terminals; write the principals' credentials to ``directory/canary.json``. Idempotent:
    credentials already on file are kept; missing ones are (re)issued. Returns what it did."""
    from gridwall.app.wiring import load_dataset
    from gridwall.identity import attest_training

    done: list[str] = []
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    with tempfile.TemporaryDirectory(prefix="gridwall-canary-") as tmp:
        _dataset(Path(tmp))
        report = load_dataset(Path(tmp), engine, progress=False, canary=True)
    done.append(f"canary points: {len(POINTS)} ({report!s:.80})")
    try:
        creds = Credentials.read(directory)
    except UsageError:
        creds = Credentials({}, directory / CREDENTIALS)
    before = now - timedelta(days=1)
    today = (now + timedelta(hours=9)).date()
    attester = next(p for p in PRINCIPALS if p.account_id == "canary-nw")
    for p in PRINCIPALS:
        steps: tuple[Callable[[], Any], ...] = (
            lambda p=p: identity.create_person(  # type: ignore[misc]
                p.person_id, p.name, p.org, p.role, before, department="canary",
                valid_from=before),
            lambda p=p: identity.create_account(p.account_id, p.person_id, before),  # type: ignore[misc]
            lambda p=p: identity.register_terminal(  # type: ignore[misc]
                p.device_id, p.org, p.device_kind, before, location="canary"),
        )  # fmt: skip
        for step in steps:
            try:
                step()
            except UsageError as e:
                if "already exists" not in str(e):
                    raise
    for p in PRINCIPALS:
        if p.trained:  # nobody attests their own training: the NW canary's by the retailer's
            by = attester if p is not attester else PRINCIPALS[0]
            attest_training(identity, p.person_id, today, by.person_id, now)
        if p.account_id in creds.accounts:
            continue
        password = secrets.token_urlsafe(24)
        identity.set_password(p.account_id, password, now)
        totp, _ = identity.enroll_totp(p.account_id, now)
        key = identity.enroll_terminal(p.device_id, now)
        creds.accounts[p.account_id] = {"password": password, "totp": totp, "terminal_key": key}
        done.append(f"credentials issued: {p.account_id}")
    creds.save()
    return done


# --------------------------------------------------------------------------- probes


@dataclass(frozen=True)
class Probe:
    """One canary request and the answer it must get."""

    name: str
    account: str
    purpose: str
    path: str
    #: ``answered``: 200 showing ``shows`` and none of ``hides``; ``refused``: 401/403/404
    #: and none of the point's non-public values in the body
    expect: str
    shows: tuple[str, ...] = ()
    hides: tuple[str, ...] = ()
    #: the request comes from an unenrolled terminal
    unenrolled: bool = False
    #: the statuses a refusal may have (200: only public field groups, e.g. equipment)
    refusals: tuple[int, ...] = (401, 403, 404)


def _secrets(p: CanaryPoint) -> tuple[str, ...]:
    """Values of the point's non-public field groups (name, phone, address, retailer)."""
    return (p.contract_name, p.phone, p.town, p.retailer_code)


def _point(p: CanaryPoint) -> str:
    return f"/v1/supply-points/{p.supply_point_id}"


PROBES: tuple[Probe, ...] = (
    Probe("retailer reads a competitor's customer", "canary-retail", "customer_service",
          _point(RIVAL_POINT), "refused", hides=_secrets(RIVAL_POINT)),
    Probe("retailer searches past its own customers", "canary-retail", "customer_service",
          f"/v1/supply-points?town={OWN_POINT.town}", "answered",
          shows=(OWN_POINT.supply_point_id,),
          hides=(RIVAL_POINT.supply_point_id, RIVAL_POINT.contract_name, RIVAL_POINT.phone,
                 RIVAL_POINT.retailer_code)),
    Probe("contractor outside its agreement's area", "canary-contractor", "system_maintenance",
          _point(FAR_POINT), "refused", hides=_secrets(FAR_POINT)),
    Probe("disaster view outside a declaration", "canary-nw", "disaster_support",
          _point(OWN_POINT), "refused", hides=_secrets(OWN_POINT)),
    Probe("untrained NW operator", "canary-nw-untrained", "takuso", _point(OWN_POINT),
          "refused", hides=_secrets(OWN_POINT), refusals=(200, 403, 404)),
    Probe("unenrolled (foreign) terminal", "canary-retail", "customer_service",
          _point(OWN_POINT), "refused", hides=_secrets(OWN_POINT), unenrolled=True),
    Probe("retailer reads its own customer", "canary-retail", "customer_service",
          _point(OWN_POINT), "answered", shows=_secrets(OWN_POINT)),
    Probe("contractor inside its agreement", "canary-contractor", "system_maintenance",
          _point(OWN_POINT), "answered", shows=(OWN_POINT.meter_id,),
          hides=_secrets(OWN_POINT)[:3]),
    Probe("NW operator, 託送 purpose", "canary-nw", "takuso", _point(RIVAL_POINT), "answered",
          shows=_secrets(RIVAL_POINT)),
)  # fmt: skip


@dataclass(frozen=True)
class ProbeResult:
    name: str
    expect: str
    status: int | None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass
class RunReport:
    at: datetime
    results: list[ProbeResult] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.results) and all(r.ok for r in self.results)

    @property
    def failures(self) -> list[ProbeResult]:
        return [r for r in self.results if not r.ok]

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "ok": self.ok,
            "error": self.error,
            "probes": [
                {"name": r.name, "expect": r.expect, "status": r.status, "ok": r.ok,
                 "problem": r.problem}
                for r in self.results
            ],
        }  # fmt: skip


def judge(probe: Probe, status: int, body: str) -> str | None:
    """Why this answer is not the one the probe must get (None: it is)."""
    leaked = [v for v in probe.hides if v in body]
    if probe.expect == "answered":
        if status != 200:
            return f"must be answered, got HTTP {status}"
        missing = [v for v in probe.shows if v not in body]
        if missing:
            return f"answer lacks {missing[0]!r}"
        if leaked:
            return f"answer shows {leaked[0]!r}, which must stay hidden"
        return None
    if status in probe.refusals and not leaked:
        return None
    if leaked:
        return f"must be refused, got HTTP {status} showing {leaked[0]!r}"
    return f"must be refused, got HTTP {status}"


class Runner:
    """Sends :data:`PROBES` through ``client`` (an ``httpx.Client`` on the served URL; tests
    pass the app's ``TestClient``), logging each canary principal in over HTTP when it has
    no live session. Sessions are kept between runs (and in ``canary.json``) so that
    back-to-back runs never replay a TOTP code."""

    def __init__(self, client: httpx.Client, creds: Credentials) -> None:
        self.client = client
        self.creds = creds
        self._lock = threading.Lock()

    def _terminal(self, account: str, now: datetime) -> str:
        from gridwall.identity import terminal_token

        return str(terminal_token(self.creds.accounts[account]["terminal_key"], now))

    def _unenrolled(self, now: datetime) -> str:
        from gridwall.identity import terminal_token
        from gridwall.identity._keys import new_key, private_key_text

        key, _ = new_key()
        return str(terminal_token(private_key_text(key, UNENROLLED_TERMINAL, "terminal"), now))

    def _login(self, account: str) -> str | None:
        """A session token for ``account`` (reused while it lives); None if refused."""
        import pyotp

        acct = self.creds.accounts[account]
        now = datetime.now(UTC)
        token = acct.get("session")
        if token:
            h = {"Authorization": f"Bearer {token}",
                 "X-Gridwall-Terminal": self._terminal(account, now)}  # fmt: skip
            if self.client.get("/v1/identity/session", headers=h).status_code == 200:
                return str(token)
        totp = pyotp.TOTP(acct["totp"])
        step = totp.timecode(now)
        last = int(acct.get("totp_step", -1))
        if last >= step + 1:  # both codes this window already used: wait for the next
            time.sleep(max(0.0, (last + 1) * totp.interval - time.time() + 0.1))
            now = datetime.now(UTC)
            step = totp.timecode(now)
        step = max(step, last + 1)
        body = {"account_id": account, "password": acct["password"],
                "totp": totp.generate_otp(step)}  # fmt: skip
        r = self.client.post(
            "/v1/identity/login",
            json=body,
            headers={"X-Gridwall-Terminal": self._terminal(account, now)},
        )
        acct["totp_step"] = step
        if r.status_code != 200:
            acct.pop("session", None)
            return None
        acct["session"] = r.json()["token"]
        return str(acct["session"])

    def run(self) -> RunReport:
        with self._lock:
            report = RunReport(datetime.now(UTC))
            try:
                sessions = {p.account: self._login(p.account) for p in PROBES}
                for p in PROBES:
                    report.results.append(self._probe(p, sessions[p.account]))
            except Exception as e:  # unreachable server, bad answer: the run itself failed
                report.error = f"{type(e).__name__}: {e}"[:300]
            finally:
                try:
                    self.creds.save()
                except OSError as e:
                    log.error("canary credentials not saved: %s", e.strerror)
            return report

    def _probe(self, p: Probe, token: str | None) -> ProbeResult:
        now = datetime.now(UTC)
        if token is None:  # the login itself was refused
            status, problem = 401, None
            if p.expect == "answered":
                problem = f"{p.account} cannot log in"
            return ProbeResult(p.name, p.expect, status, problem)
        term = self._unenrolled(now) if p.unenrolled else self._terminal(p.account, now)
        h = {"Authorization": f"Bearer {token}", "X-Gridwall-Terminal": term,
             "X-Gridwall-Purpose": p.purpose}  # fmt: skip
        r = self.client.get(p.path, headers=h)
        return ProbeResult(p.name, p.expect, r.status_code, judge(p, r.status_code, r.text))


# --------------------------------------------------------------------------- alerts, health


class AlertOutbox:
    """Where a canary failure goes: one JSON line per alert in ``path`` (append, 0600) and a
    CRITICAL log line. A small interface of its own (``critical(report)``) so that the alert
    store of issue 13 can take the outbox over later."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def critical(self, report: RunReport) -> dict[str, Any]:
        failed = report.failures
        what = report.error or "; ".join(f"{r.name}: {r.problem}" for r in failed)
        alert = {
            "alert_id": f"canary-{uuid.uuid4().hex}",
            "ts": report.at.isoformat(),
            "rule": "canary",
            "severity": 5,
            "summary": "カナリア要求が想定外の応答 / a canary request got an unexpected answer: "
            + what,
            "failures": [r.name for r in failed],
            "run": report.as_dict(),
        }
        log.critical("canary failed: %s", what)
        self._append(alert)
        return alert

    def alert(
        self, rule: str, summary: str, at: datetime, details: dict[str, Any]
    ) -> dict[str, Any]:
        """Any other critical alert (e.g. a witness refusing a checkpoint), same format."""
        alert = {
            "alert_id": f"{rule}-{uuid.uuid4().hex}",
            "ts": at.isoformat(),
            "rule": rule,
            "severity": 5,
            "summary": summary,
            **details,
        }
        log.critical("%s: %s", rule, summary)
        self._append(alert)
        return alert

    def _append(self, alert: dict[str, Any]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as f:
                f.write(json.dumps(alert, ensure_ascii=False) + "\n")
        except OSError as e:  # the log line above still says it; health is red anyway
            log.error("canary alert outbox %s not writable: %s", self.path, e.strerror)


class CanaryState:
    """The canary component of ``GET /health``: red after a failed run, or when no run has
    reported for two intervals (a stalled schedule is a failure too)."""

    def __init__(self, interval: float | None = None) -> None:
        self.interval = interval
        self.last: RunReport | None = None
        self._lock = threading.Lock()

    def record(self, report: RunReport) -> None:
        with self._lock:
            self.last = report

    def health(self, now: datetime | None = None) -> tuple[bool, dict[str, Any]]:
        now = now or datetime.now(UTC)
        with self._lock:
            last = self.last
        if last is None:
            return True, {"status": "pending", "interval_seconds": self.interval}
        out: dict[str, Any] = {"status": "ok" if last.ok else "failing",
                               "last_run": last.at.isoformat(),
                               "interval_seconds": self.interval,
                               "failures": [r.name for r in last.failures]}  # fmt: skip
        if last.error:
            out["error"] = last.error
        ok = last.ok
        if self.interval and now - last.at > timedelta(seconds=2 * self.interval + 60):
            ok, out["status"] = False, "stale"
        return ok, out


def run_and_report(runner: Runner, state: CanaryState | None, outbox: AlertOutbox) -> RunReport:
    """One canary run: the report to ``state`` (health) and, if it failed, a critical alert."""
    report = runner.run()
    if state is not None:
        state.record(report)
    if not report.ok:
        outbox.critical(report)
    else:
        log.info("canary run ok: %d probes", len(report.results))
    return report


class Schedule:
    """``gridwall serve``'s canary thread: a first run shortly after start, then one every
    ``interval`` seconds."""

    def __init__(
        self,
        runner_factory: Callable[[], Runner],
        state: CanaryState,
        outbox: AlertOutbox,
        interval: float,
        first_after: float = 5.0,
    ) -> None:
        self.runner_factory = runner_factory
        self.state, self.outbox = state, outbox
        self.interval, self.first_after = interval, first_after
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        wait = self.first_after
        runner: Runner | None = None
        while not self._stop.wait(wait):
            wait = self.interval
            try:
                runner = runner or self.runner_factory()
                run_and_report(runner, self.state, self.outbox)
            except Exception as e:  # never kill the thread; the failure is the alert
                report = RunReport(datetime.now(UTC), error=f"{type(e).__name__}: {e}"[:300])
                self.state.record(report)
                self.outbox.critical(report)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="gridwall-canary", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
