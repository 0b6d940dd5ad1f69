"""The gateway core on SQLite and PostgreSQL: masking on every path, no oracle, fail closed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from gridwall.gateway import (
    Forbidden,
    Gateway,
    NotVisible,
    SearchCriteria,
    Unauthenticated,
    Unavailable,
)
from gridwall.gateway._errors import BadRequest
from gridwall.interfaces import PointContext, Principal, RequestContext, Terminal
from gridwall.interfaces.facts import (
    AccessRequest,
    Action,
    AgreementState,
    ConsentState,
    Decision,
    GrantFacts,
    Purpose,
    Recipient,
)
from gridwall.policy import default_engine
from support.doubles import MemoryAuditSink, NoGrants

from . import tiny
from .conftest import NOW, World

SECRETS = [p[k] for p in tiny.POINTS for k in ("contract_name", "phone") if p.get(k)]


def ctx(gw: Gateway, w: World, account: str, terminal: str, purpose: str) -> RequestContext:
    return gw.authenticate(w.tokens[account], w.terminals[terminal], purpose)


def nw(gw: Gateway, w: World) -> RequestContext:
    return ctx(gw, w, "nw-op", "T-NW", "takuso")


def aff(gw: Gateway, w: World) -> RequestContext:
    return ctx(gw, w, "aff-agent", "T-AFF", "customer_service")


def ind(gw: Gateway, w: World) -> RequestContext:
    return ctx(gw, w, "ind-agent", "T-IND", "customer_service")


def test_nw_reads_everything_but_fit(gw: Gateway, world: World, audit: MemoryAuditSink) -> None:
    v = gw.read_point(nw(gw, world), tiny.P_AFF)
    assert v["contract_name"] == "青木 一郎"
    assert v["address"]["town"] == "一番町"
    assert v["retailer"] == tiny.AFF
    assert v["contract"]["kind"] == "retail"
    assert v["equipment"]["meter_id"] == "M001"
    assert "fit" not in v
    v = gw.read_point(nw(gw, world), tiny.P_FORMER)
    assert [s["application_id"] for s in v["switching_history"]] == ["S1"]
    assert v["switching_history"][0]["applied_at"] == "2025-04-10T01:00:00Z"
    assert v["switching_history"][0]["effective_date"] == "2025-05-01"
    ev = audit.events[-1]
    assert ev["decision"] == "allow" and ev["action"] == "view"
    assert ev["supply_point_ids"] == [tiny.P_FORMER]
    assert "contract_name" in ev["fields"] and "fit" not in ev["fields"]
    assert ev["policy_ids"] and ev["org"] == "nw" and ev["person_id"] == "P-nw-op"
    assert ev["device_id"] == "T-NW" and ev["purpose"] == "takuso"


def test_nw_fit_team_sees_fit(gw: Gateway, world: World) -> None:
    v = gw.read_point(ctx(gw, world, "nw-fit", "T-NW", "fit"), tiny.P_FIT)
    assert v["fit"] == [{"generator_name": "江藤ソーラー", "capacity_kw": 9.9,
                         "start_date": "2022-05-01", "end_date": None}]  # fmt: skip
    assert "phone" not in v


def test_retailer_sees_own_customer_only(gw: Gateway, world: World) -> None:
    v = gw.read_point(aff(gw, world), tiny.P_AFF)
    assert v["contract_name"] == "青木 一郎" and v["phone"] == "022-111-1111"
    assert "lrs" not in v and "fit" not in v
    v = gw.read_point(ind(gw, world), tiny.P_IND)
    assert v["contract_name"] == "井上 二郎"


@pytest.mark.parametrize(
    "pid",
    [tiny.P_IND, tiny.P_FORMER, tiny.P_MOVED, tiny.P_VACANT, tiny.P_LRS, tiny.P_FIT, tiny.MISSING],
)
def test_invisible_equals_nonexistent(
    gw: Gateway, world: World, audit: MemoryAuditSink, pid: str
) -> None:
    """Incidents 1-5: the affiliated retailer asking about anything not its own gets the
    same answer as for a point that does not exist."""
    with pytest.raises(NotVisible) as a:
        gw.read_point(aff(gw, world), pid)
    with pytest.raises(NotVisible) as b:
        gw.read_point(aff(gw, world), tiny.MISSING)
    assert a.value.body() == b.value.body()
    assert audit.events[-2]["decision"] == "deny" and audit.events[-2]["fields"] == []
    with pytest.raises(NotVisible):
        gw.usage(aff(gw, world), pid)


def test_bad_id_is_400_not_404(gw: Gateway, world: World) -> None:
    with pytest.raises(BadRequest) as e:
        gw.read_point(aff(gw, world), "11" + "0" * 20)
    assert e.value.parameter == "supply_point_id"


def test_search_retailer_only_own_customers(gw: Gateway, world: World) -> None:
    r = gw.search(aff(gw, world), SearchCriteria(town="一番町"))
    assert [x["supply_point_id"] for x in r["results"]] == [tiny.P_AFF]
    assert r["count"] == 1 and not r["truncated"]
    r = gw.search(ind(gw, world), SearchCriteria(town="一番町"))
    assert [x["supply_point_id"] for x in r["results"]] == [tiny.P_IND, tiny.P_FORMER, tiny.P_MOVED]
    # another retailer's point by ID or meter: nothing, same as a nonexistent one
    assert gw.search(aff(gw, world), SearchCriteria(supply_point_id=tiny.P_IND))["count"] == 0
    assert gw.search(aff(gw, world), SearchCriteria(meter_id="M002"))["count"] == 0
    assert gw.search(aff(gw, world), SearchCriteria(meter_id="nope"))["count"] == 0


def test_search_nw(gw: Gateway, world: World, audit: MemoryAuditSink) -> None:
    r = gw.search(nw(gw, world), SearchCriteria(pref="宮城県", town="一番町"), limit=3)
    assert [x["supply_point_id"] for x in r["results"]] == [tiny.P_AFF, tiny.P_IND, tiny.P_FORMER]
    assert r["truncated"]
    ev = audit.events[-1]
    assert ev["action"] == "search" and ev["result_count"] == 3
    assert ev["query"] == "pref=宮城県 town=一番町"
    r = gw.search(nw(gw, world), SearchCriteria(meter_id="M004"))
    assert r["results"][0]["lrs"]["active"] is True
    assert r["results"][0]["contract_name"] == "上田 四郎"


def test_search_refused_when_key_not_allowed(gw: Gateway, world: World) -> None:
    with pytest.raises(Forbidden):
        gw.search(ctx(gw, world, "auditor", "T-REG", "audit"), SearchCriteria(town="一番町"))
    with pytest.raises(BadRequest):
        gw.search(nw(gw, world), SearchCriteria())


def test_fit_team_search_only_fit_points(gw: Gateway, world: World) -> None:
    """The FIT team sees FIT points only: others (LRS, vacant) are absent, like nonexistent."""
    c = ctx(gw, world, "nw-fit", "T-NW", "fit")
    assert gw.search(c, SearchCriteria(town="二日町"))["results"] == []
    r = gw.search(c, SearchCriteria(town="三条町"))
    assert [x["supply_point_id"] for x in r["results"]] == [tiny.P_FIT]


def test_list_customers(gw: Gateway, world: World) -> None:
    r = gw.list_customers(aff(gw, world))
    assert [x["supply_point_id"] for x in r["results"]] == [tiny.P_AFF, tiny.P_OTHER_AREA]
    assert r["results"][0]["contract_name"] == "青木 一郎"
    r1 = gw.list_customers(ind(gw, world), limit=2)
    assert [x["supply_point_id"] for x in r1["results"]] == [tiny.P_IND, tiny.P_FORMER]
    r2 = gw.list_customers(ind(gw, world), after=r1["next_after"], limit=2)
    assert [x["supply_point_id"] for x in r2["results"]] == [tiny.P_MOVED]
    assert r2["next_after"] is None
    with pytest.raises(Forbidden):
        gw.list_customers(nw(gw, world))


def test_usage_windows(gw: Gateway, world: World) -> None:
    u = gw.usage(aff(gw, world), tiny.P_AFF)
    assert len(u["usage"]) == len(
        [r for r in tiny.usage_rows() if r["supply_point_id"] == tiny.P_AFF]
    )
    # own customer since a move-in on 2026-03-15: nothing of the previous holder
    u = gw.usage(ind(gw, world), tiny.P_MOVED)
    assert u["usage"][0]["month"] == "2026-04"
    u = gw.usage(nw(gw, world), tiny.P_MOVED)
    assert u["usage"][0]["month"] == "2024-01"


class ConsentGrants(NoGrants):
    def resolve(self, principal: Principal, terminal: Terminal, purpose: Purpose,
                action: Action, point: PointContext | None, now: datetime, *,
                consent_token: str | None = None, recipient_org: str | None = None,
                ) -> GrantFacts:  # fmt: skip
        if consent_token == "ok" and point is not None:
            return GrantFacts(consent=ConsentState.VALID)
        return super().resolve(
            principal,
            terminal,
            purpose,
            action,
            point,
            now,
            consent_token=consent_token,
            recipient_org=recipient_org,
        )


def test_consent_usage_13_months_and_holder(loaded: Engine, world: World) -> None:
    audit = MemoryAuditSink()
    gw = Gateway(loaded, default_engine(), auth=world.auth, grants=ConsentGrants(),
                 audit=audit, clock=lambda: NOW)  # fmt: skip
    c = ctx(gw, world, "ind2-agent", "T-IND2", "consent_usage")
    u = gw.usage(c, tiny.P_AFF, consent_token="ok")
    months = [m["month"] for m in u["usage"]]
    assert months[0] == "2025-11" and months[-1] == "2026-10" and len(months) == 12
    u = gw.usage(c, tiny.P_MOVED, consent_token="ok")
    assert u["usage"][0]["month"] == "2026-04"
    with pytest.raises(NotVisible):
        gw.usage(c, tiny.P_AFF, consent_token="bad")
    with pytest.raises(NotVisible):  # consent gives usage only, never the point's fields
        gw.read_point(c, tiny.P_AFF)


class AgreementGrants(NoGrants):
    def resolve(self, principal: Principal, terminal: Terminal, purpose: Purpose,
                action: Action, point: PointContext | None, now: datetime, *,
                consent_token: str | None = None, recipient_org: str | None = None,
                ) -> GrantFacts:  # fmt: skip
        if action is Action.EXPORT and recipient_org == "contractor:METER1":
            return GrantFacts(agreement=AgreementState.VALID_IN_SCOPE,
                              agreement_fields=frozenset({"address", "equipment"}),
                              recipient=Recipient.AGREEMENT_COUNTERPARTY)  # fmt: skip
        return super().resolve(
            principal,
            terminal,
            purpose,
            action,
            point,
            now,
            consent_token=consent_token,
            recipient_org=recipient_org,
        )


def test_export(loaded: Engine, world: World) -> None:
    audit = MemoryAuditSink()
    gw = Gateway(loaded, default_engine(), auth=world.auth, grants=AgreementGrants(),
                 audit=audit, clock=lambda: NOW)  # fmt: skip
    c = nw(gw, world)
    out = gw.export(c, "contractor:METER1", [tiny.P_AFF, tiny.MISSING, tiny.P_IND])
    assert [r["supply_point_id"] for r in out["rows"]] == [tiny.P_AFF, tiny.P_IND]
    assert set(out["rows"][0]) == {"supply_point_id", "address", "equipment"}
    assert out["export_id"] in out["watermark"]
    ev = audit.events[-1]
    assert ev["action"] == "export" and ev["recipient_org"] == "contractor:METER1"
    assert ev["fields"] == ["address", "equipment"]
    # never to a retailer, never without an agreement
    for rcpt in (f"retail:{tiny.IND}", "contractor:OTHER"):
        out = gw.export(c, rcpt, [tiny.P_AFF])
        assert out["rows"] == [] and audit.events[-1]["decision"] == "deny"
    # retailers cannot export at all
    assert gw.export(aff(gw, world), "contractor:METER1", [tiny.P_AFF])["rows"] == []
    with pytest.raises(BadRequest):
        gw.export(c, "contractor:METER1", [tiny.P_AFF], ["usage"])


def test_authentication_errors(gw: Gateway, world: World) -> None:
    with pytest.raises(Unauthenticated) as e:
        gw.authenticate(None, world.terminals["T-NW"], "takuso")
    assert e.value.header == "Authorization"
    with pytest.raises(Unauthenticated) as e:
        gw.authenticate(world.tokens["nw-op"], None, "takuso")
    assert e.value.header == "X-Gridwall-Terminal"
    with pytest.raises(BadRequest) as e2:
        gw.authenticate(world.tokens["nw-op"], world.terminals["T-NW"], "curiosity")
    assert e2.value.header == "X-Gridwall-Purpose"
    with pytest.raises(Unauthenticated) as e:
        gw.authenticate(world.tokens["nw-op"] + "x", world.terminals["T-NW"], "takuso")
    assert e.value.header == "Authorization"
    with pytest.raises(Unauthenticated) as e:
        gw.authenticate(world.tokens["nw-op"], "gwt1.VC1OVw.forged", "takuso")
    assert e.value.header == "X-Gridwall-Terminal"


def test_terminal_of_other_org_and_revoked_get_nothing(gw: Gateway, world: World) -> None:
    """C②: the affiliated agent on an NW terminal; I6: a revoked account."""
    with pytest.raises(NotVisible):
        gw.read_point(ctx(gw, world, "aff-agent", "T-NW", "customer_service"), tiny.P_AFF)
    with pytest.raises(NotVisible):
        gw.read_point(ctx(gw, world, "aff-revoked", "T-AFF", "customer_service"), tiny.P_AFF)
    # I10: without current training, nothing non-public (equipment is public)
    v = gw.read_point(ctx(gw, world, "nw-untrained", "T-NW", "takuso"), tiny.P_AFF)
    assert set(v) == {"supply_point_id", "equipment"}


# -- fail closed -------------------------------------------------------------------


class BrokenAudit:
    def __init__(self) -> None:
        self.calls = 0

    def record(self, event: Mapping[str, Any]) -> None:
        self.calls += 1
        raise OSError("disk full")


class BrokenPolicy:
    def decide(self, request: AccessRequest) -> Decision:
        raise RuntimeError("cedar exploded")


class BrokenGrants(NoGrants):
    def resolve(self, *a: Any, **k: Any) -> GrantFacts:
        raise RuntimeError("grants store down")


def _all_ops(gw: Gateway, c: RequestContext) -> list[Any]:
    return [
        lambda: gw.read_point(c, tiny.P_AFF),
        lambda: gw.read_point(c, tiny.MISSING),
        lambda: gw.usage(c, tiny.P_AFF),
        lambda: gw.search(c, SearchCriteria(town="一番町")),
        lambda: gw.list_customers(c),
        lambda: gw.export(c, "contractor:METER1", [tiny.P_AFF]),
    ]


@pytest.mark.parametrize("broken", ["audit", "policy", "grants", "store"])
def test_fail_closed(loaded: Engine, world: World, broken: str) -> None:
    audit: Any = BrokenAudit() if broken == "audit" else MemoryAuditSink()
    policy: Any = BrokenPolicy() if broken == "policy" else default_engine()
    grants: Any = BrokenGrants() if broken == "grants" else NoGrants()
    gw = Gateway(loaded, policy, auth=world.auth, grants=grants, audit=audit,
                 clock=lambda: NOW)  # fmt: skip
    if broken == "store":
        from sqlalchemy import text

        with loaded.begin() as conn:
            conn.execute(text("DROP TABLE usage_monthly"))
            conn.execute(text("DROP TABLE fit_contracts"))
    c = aff(gw, world)
    for op in _all_ops(gw, c):
        with pytest.raises((Unavailable, Forbidden)) as e:
            op()
        assert not any(s in str(e.value.body()) for s in SECRETS)
    if broken == "audit":
        assert audit.calls >= 5


def test_errors_never_carry_values(gw: Gateway, world: World) -> None:
    errors: list[Any] = []
    ops: list[Callable[[], object]] = [
        lambda: gw.read_point(ind(gw, world), tiny.P_AFF),
        lambda: gw.read_point(ind(gw, world), "0" * 22),
        lambda: gw.search(ind(gw, world), SearchCriteria(supply_point_id="x")),
        lambda: gw.list_customers(nw(gw, world)),
        lambda: gw.export(nw(gw, world), "", [tiny.P_AFF]),
        lambda: gw.export(nw(gw, world), "contractor:X", ["bad"]),
    ]
    for op in ops:
        with pytest.raises(Exception) as e:
            op()
        errors.append(e.value)
    for err in errors:
        text = str(err.body())
        assert not any(s in text for s in SECRETS)
        assert tiny.P_AFF not in text


def test_invisible_and_nonexistent_run_the_same_statements(
    gw: Gateway, world: World, audit: MemoryAuditSink
) -> None:
    """Same timing shape: the same SQL statements, one audit event each, same error."""
    from sqlalchemy import event

    seen: list[str] = []

    def spy(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        seen.append(statement)

    event.listen(gw.engine, "before_cursor_execute", spy)
    try:
        shapes = []
        # another retailer's point, a nonexistent one, and a former own customer (R2)
        for who, pid in ((ind, tiny.P_AFF), (ind, tiny.MISSING), (aff, tiny.P_FORMER)):
            c = who(gw, world)
            seen.clear()
            n = len(audit.events)
            with pytest.raises(NotVisible):
                gw.read_point(c, pid)
            shapes.append((tuple(seen), len(audit.events) - n))
    finally:
        event.remove(gw.engine, "before_cursor_execute", spy)
    assert shapes[0] == shapes[1] == shapes[2]
    # one read (on PostgreSQL after the second wall's settings; on psycopg they go with the
    # BEGIN, in one message below SQLAlchemy, so no statement of their own is seen here)
    wall = [s for s in shapes[0][0] if s.startswith("SELECT set_config('gridwall.")]
    assert len(wall) == (1 if gw.wall and gw.engine.dialect.driver != "psycopg" else 0)
    assert shapes[0][1] == 1 and len(shapes[0][0]) == 1 + len(wall)


def test_decision_cache_is_per_request_class(gw: Gateway, world: World) -> None:
    calls: list[AccessRequest] = []
    inner = default_engine()

    class Counting:
        def decide(self, request: AccessRequest) -> Decision:
            calls.append(request)
            return inner.decide(request)

    g2 = Gateway(gw.engine, Counting(), auth=world.auth, grants=NoGrants(),
                 audit=MemoryAuditSink(), clock=lambda: NOW)  # fmt: skip
    c = aff(g2, world)
    for _ in range(3):
        g2.read_point(c, tiny.P_AFF)
    # two classes per read: the point now, and its history from before the relationship (I13)
    assert [r.resource.era.value for r in calls] == ["current", "before_relationship"]
    g2.clear_decision_cache()
    g2.read_point(c, tiny.P_AFF)
    assert len(calls) == 4


class MaintenanceGrants(NoGrants):
    """A contractor with a system-maintenance agreement naming contact and contract fields,
    and no lrs_operations agreement (issue 11 item 2)."""

    def resolve(self, principal: Principal, terminal: Terminal, purpose: Purpose,
                action: Action, point: PointContext | None, now: datetime, *,
                consent_token: str | None = None, recipient_org: str | None = None,
                ) -> GrantFacts:  # fmt: skip
        if action is Action.EXPORT and recipient_org == "contractor:MAINT1":
            fields = frozenset({"contract_name", "address", "contract", "equipment"})
            return GrantFacts(agreement=AgreementState.VALID_IN_SCOPE, agreement_fields=fields,
                              recipient=Recipient.AGREEMENT_COUNTERPARTY)  # fmt: skip
        return super().resolve(
            principal,
            terminal,
            purpose,
            action,
            point,
            now,
            consent_token=consent_token,
            recipient_org=recipient_org,
        )


def test_export_never_carries_lrs_data_without_an_lrs_agreement(
    loaded: Engine, world: World
) -> None:
    gw = Gateway(loaded, default_engine(), auth=world.auth, grants=MaintenanceGrants(),
                 audit=MemoryAuditSink(), clock=lambda: NOW)  # fmt: skip
    out = gw.export(nw(gw, world), "contractor:MAINT1", [tiny.P_AFF, tiny.P_LRS])
    rows = {r["supply_point_id"]: r for r in out["rows"]}
    assert {"contract_name", "address", "contract"} <= set(rows[tiny.P_AFF])
    # the LRS point: nothing non-public, whatever the sender's role (I3)
    lrs = rows.get(tiny.P_LRS, {})
    assert not ({"contract_name", "address", "contract", "phone", "lrs"} & set(lrs))
