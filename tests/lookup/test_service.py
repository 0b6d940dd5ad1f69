"""The lookup as a service: specificity, cap, rate limit, audit, policy, name check,
equal footing between affiliated and independent retailers, no personal data out."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pytest

from gridwall.errors import AccessDenied
from gridwall.gateway import LookupDecisions
from gridwall.interfaces import Principal, Terminal
from gridwall.interfaces.facts import (
    AccountKind,
    AccountState,
    Decision,
    DeviceFacts,
    DeviceKind,
    DeviceOwner,
    FieldDecision,
    OrgKind,
    PrincipalFacts,
    Purpose,
    RetailerKind,
    Role,
)
from gridwall.lookup import (
    RESULT_CAP,
    LookupIndex,
    LookupService,
    RateLimited,
    SpecificityError,
    TokenBucket,
)
from gridwall.policy import default_engine
from gridwall.store import make_engine

from .conftest import ListSink


@dataclass(frozen=True)
class Ctx:
    principal: Principal
    terminal: Terminal
    purpose: Purpose = Purpose.SWITCHING
    source_ip: str | None = "192.0.2.10"


def retailer(code: str, kind: RetailerKind, state: AccountState = AccountState.ACTIVE) -> Ctx:
    facts = PrincipalFacts(
        OrgKind.RETAIL, kind, Role.SALES, AccountKind.PERSONAL, state, training_current=True
    )
    p = Principal(f"acct-{code}", f"person-{code}", f"retail:{code}", facts, "sess-1")
    t = Terminal(
        f"dev-{code}",
        f"retail:{code}",
        DeviceFacts(DeviceKind.RETAIL_TERMINAL, DeviceOwner.SAME_ORG, True),
    )
    return Ctx(p, t)


AFFILIATED = retailer("A0001", RetailerKind.AFFILIATED)
INDEPENDENT = retailer("B0002", RetailerKind.INDEPENDENT)

NAMES = {"0300000000000000000103": "霞 太郎"}


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def index(index_url: str) -> Iterator[LookupIndex]:
    engine = make_engine(index_url)
    yield LookupIndex(engine)
    engine.dispose()


def service(index: LookupIndex, sink: ListSink | None = None, **kw: Any) -> LookupService:
    calls: list[str] = []

    def names(spid: str, name: str) -> bool:
        calls.append(spid)
        return NAMES.get(spid, "").replace(" ", "") == name.replace(" ", "")

    kw.setdefault("lrs_checker", lambda ids: set())  # no last-resort-supply points
    kw.setdefault("decider", LookupDecisions(default_engine()))
    svc = LookupService(index, sink or ListSink(), name_checker=names, **kw)
    svc.name_calls = calls  # type: ignore[attr-defined]
    return svc


@pytest.mark.parametrize(
    "vague",
    [
        "大阪市",
        "大阪府大阪市",
        "東京都千代田区",
        "東京都千代田区丸の内",
        "東京都",
        "丸の内",
        "京都市中京区烏丸通御池下ル",
        "   ",
    ],
)
def test_minimum_specificity(index: LookupIndex, vague: str) -> None:
    sink = ListSink()
    with pytest.raises(SpecificityError) as e:
        service(index, sink).lookup(vague, caller=INDEPENDENT)
    assert "番地" in e.value.diagnostics()
    assert sink.events[-1]["decision"] == "deny"  # refused lookups are audited too


def test_result_cap(index: LookupIndex) -> None:
    ans = service(index).lookup("東京都千代田区丸の内二丁目7-3", caller=AFFILIATED)
    assert len(ans.candidates) == RESULT_CAP
    assert not ans.confident


def test_every_lookup_is_an_audit_event(index: LookupIndex) -> None:
    sink = ListSink()
    svc = service(index, sink)
    ans = svc.lookup("東京都千代田区霞ヶ関2-1-1", caller=INDEPENDENT)
    svc.lookup("東京都千代田区丸の内二丁目7-3")  # the operator's own lookup, audited too
    assert len(sink.events) == 2
    ev = sink.events[0]
    assert ev["action"] == "search" and ev["screen"] == "lookup"
    assert ev["query"] == "東京都千代田区霞ヶ関2-1-1"
    assert ev["supply_point_ids"] == [c.supply_point_id for c in ans.candidates]
    assert ev["fields"] == ["address", "equipment"]
    assert ev["decision"] == "allow" and ev["result_count"] == 1
    assert ev["account_id"] == "acct-B0002" and ev["org"] == "retail:B0002"
    assert ev["device_id"] == "dev-B0002" and ev["policy_ids"]
    assert sink.events[1]["org"] == "nw" and sink.events[1]["result_count"] == RESULT_CAP


def test_audit_failure_refuses_the_lookup(index: LookupIndex) -> None:
    sink = ListSink()
    sink.fail = True
    with pytest.raises(RuntimeError):
        service(index, sink).lookup("東京都千代田区霞ヶ関2-1-1", caller=AFFILIATED)


def test_rate_limit_per_organisation(index: LookupIndex) -> None:
    clock = Clock()
    svc = service(index, limiter=TokenBucket(burst=3, per_second=0.5, clock=clock))
    for _ in range(3):
        svc.lookup("東京都千代田区霞ヶ関2-1-1", caller=AFFILIATED)
    with pytest.raises(RateLimited) as e:
        svc.lookup("東京都千代田区霞ヶ関2-1-1", caller=AFFILIATED)
    assert e.value.retry_after == pytest.approx(2.0)
    # another organisation has its own bucket
    svc.lookup("東京都千代田区霞ヶ関2-1-1", caller=INDEPENDENT)
    clock.t += 2.0  # one token back
    svc.lookup("東京都千代田区霞ヶ関2-1-1", caller=AFFILIATED)
    # the operator's own lookup has no retailer limit
    for _ in range(10):
        svc.lookup("東京都千代田区霞ヶ関2-1-1")


def test_refused_callers_do_not_drain_their_organisations_budget(index: LookupIndex) -> None:
    clock = Clock()
    svc = service(index, limiter=TokenBucket(burst=3, per_second=0.001, clock=clock))
    revoked_colleague = retailer("A0001", RetailerKind.AFFILIATED, AccountState.REVOKED)
    assert revoked_colleague.principal.org == AFFILIATED.principal.org
    for _ in range(10):
        with pytest.raises(AccessDenied):
            svc.lookup("東京都千代田区霞ヶ関2-1-1", caller=revoked_colleague)
    for _ in range(3):  # the whole burst is still there for entitled staff
        svc.lookup("東京都千代田区霞ヶ関2-1-1", caller=AFFILIATED)
    with pytest.raises(RateLimited):
        svc.lookup("東京都千代田区霞ヶ関2-1-1", caller=AFFILIATED)


def test_equal_footing_identical_answers_and_limits(index: LookupIndex) -> None:
    """I7 / 同等性: the same queries give the same answers and the same limits."""
    queries = [
        "東京都千代田区霞ヶ関2-1-1",
        "千代田区丸ノ内1-2-3 第2〇〇ビル 301号室",
        "東京都千代田区丸の内二丁目7-3",
        "東京都千代田区新開池5-6",
        "東京都千代田区一番町99",
        "大阪市梅田3-1-3",
    ]

    def run(ctx: Ctx) -> list[Any]:
        clock = Clock()
        svc = service(index, limiter=TokenBucket(burst=8, per_second=0.5, clock=clock))
        out: list[Any] = []
        for i in range(12):
            q = queries[i % len(queries)]
            try:
                out.append(json.dumps(svc.lookup(q, name="霞 太郎", caller=ctx).to_json()))
            except RateLimited as e:
                out.append(("limited", e.retry_after))
        return out

    a, b = run(AFFILIATED), run(INDEPENDENT)
    assert a == b
    assert a.count(("limited", 2.0)) == 4  # the 9th..12th are refused for both alike


def test_policy_decides_who_may_look_up(index: LookupIndex) -> None:
    revoked = retailer("C0003", RetailerKind.INDEPENDENT, AccountState.REVOKED)
    sink = ListSink()
    with pytest.raises(AccessDenied):
        service(index, sink).lookup("東京都千代田区霞ヶ関2-1-1", caller=revoked)
    assert sink.events[-1]["decision"] == "deny"
    other_terminal = replace(
        AFFILIATED,
        terminal=Terminal(
            "dev-x", "retail:Z9999",
            DeviceFacts(DeviceKind.RETAIL_TERMINAL, DeviceOwner.OTHER_ORG, True),
        ),
    )  # fmt: skip
    with pytest.raises(AccessDenied):
        service(index).lookup("東京都千代田区霞ヶ関2-1-1", caller=other_terminal)


def test_name_match_only_for_a_confident_top(index: LookupIndex) -> None:
    svc = service(index)
    assert svc.lookup("東京都千代田区霞ヶ関2-1-1", caller=AFFILIATED).name_match is None
    ok = svc.lookup("東京都千代田区霞ヶ関2-1-1", name="霞 太郎", caller=AFFILIATED)
    assert ok.name_match is True
    no = svc.lookup("東京都千代田区霞ヶ関2-1-1", name="別 人", caller=AFFILIATED)
    assert no.name_match is False
    # ambiguous (12 rooms): the name is not checked at all
    amb = svc.lookup("東京都千代田区丸の内二丁目7-3", name="霞 太郎", caller=AFFILIATED)
    assert amb.name_match is None
    assert svc.name_calls == ["0300000000000000000103"] * 2  # type: ignore[attr-defined]


def test_never_a_name_or_phone_in_any_output(index: LookupIndex) -> None:
    sink = ListSink()
    svc = service(index, sink)
    outs = [
        svc.lookup(q, name="霞 太郎", caller=INDEPENDENT).to_json()
        for q in ("東京都千代田区霞ヶ関2-1-1", "東京都千代田区丸の内二丁目7-3")
    ]
    blob = json.dumps(outs, ensure_ascii=False) + json.dumps(sink.events, ensure_ascii=False)
    assert "霞 太郎" not in blob and "霞太郎" not in blob
    for o in outs:
        assert set(o) == {"candidates", "name_match"}
        for c in o["candidates"]:
            assert set(c) == {"supply_point_id", "address", "score", "equipment"}
            assert set(c["equipment"]) == {"voltage", "meter_id"}
    for e in sink.events:
        assert not {"contract_name", "phone", "name"} & set(e)


def test_last_resort_supply_point_is_decided_with_its_real_status(index: LookupIndex) -> None:
    """I3 through the lookup: the policy is asked with the point's real LRS status; an LRS
    point still gives a retailer its ID and equipment (what a switching application needs),
    and, like every candidate, only the caller's own normalised key as address."""
    lrs_id = "0300000000000000000101"
    typed = "東京都千代田区丸の内一丁目2-3"  # the stored address also names building and room
    plain = {
        c.supply_point_id: c for c in service(index).lookup(typed, caller=INDEPENDENT).candidates
    }
    asked: list[list[str]] = []

    def lrs(ids: Sequence[str]) -> set[str]:
        asked.append(list(ids))
        return {i for i in ids if i == lrs_id}

    svc = service(index, lrs_checker=lrs)
    ans = svc.lookup(typed, caller=INDEPENDENT)
    assert asked and lrs_id in asked[0]
    got = {c.supply_point_id: c for c in ans.candidates}
    assert got[lrs_id].address == ans.query.typed_form()
    assert got[lrs_id].voltage == plain[lrs_id].voltage  # equipment still answered
    assert got == plain
    # identical for the affiliated retailer (equal footing) and for the operator
    assert svc.lookup(typed, caller=AFFILIATED).candidates == ans.candidates
    assert svc.lookup(typed).candidates == ans.candidates


def test_unknown_lrs_status_withholds_stored_addresses(index: LookupIndex) -> None:
    """Fail closed: without a way to tell LRS points, no stored address reaches a caller."""
    typed = "東京都千代田区丸の内二丁目7-3"
    svc = service(index, lrs_checker=None)
    ans = svc.lookup(typed, caller=INDEPENDENT)
    assert ans.candidates
    assert {c.address for c in ans.candidates} == {ans.query.typed_form()}


def test_the_lookup_asks_the_gateway_for_its_decision(index: LookupIndex) -> None:
    """The lookup builds no access request itself (issue 10): it hands the caller and the
    point's LRS status to the gateway's ``decide_lookup`` and obeys the answer."""
    asked: list[tuple[str, bool]] = []
    inner = LookupDecisions(default_engine())

    class Recording:
        def decide_lookup(
            self, principal: Principal, terminal: Terminal, purpose: Purpose, *, is_lrs: bool
        ) -> Decision:
            asked.append((principal.account_id, is_lrs))
            return inner.decide_lookup(principal, terminal, purpose, is_lrs=is_lrs)

    lrs_id = "0300000000000000000101"
    svc = service(index, decider=Recording(), lrs_checker=lambda ids: {lrs_id} & set(ids))
    ans = svc.lookup("東京都千代田区丸の内一丁目2-3", caller=INDEPENDENT)
    assert ans.candidates
    who = INDEPENDENT.principal.account_id
    assert (who, False) in asked and (who, True) in asked

    class Refusing:
        def decide_lookup(
            self, principal: Principal, terminal: Terminal, purpose: Purpose, *, is_lrs: bool
        ) -> Decision:
            d = inner.decide_lookup(principal, terminal, purpose, is_lrs=is_lrs)
            return Decision(d.request, {f: FieldDecision(False, ()) for f in d.fields})

    with pytest.raises(AccessDenied):
        service(index, decider=Refusing()).lookup(
            "東京都千代田区丸の内一丁目2-3", caller=INDEPENDENT
        )
