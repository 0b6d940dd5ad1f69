"""Canary requests (gridwall's own self-tests, marked ``"canary": true`` by the server) never
appear in a retailer's statement, and the periodic report's access figures leave them out and
count them in their own, labelled figure (issue 17). Over a log that mixes canary and real
traffic, including a canary 'retailer reading a competitor' that would otherwise be listed."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from gridwall.interfaces.clock import JST
from gridwall.reports import build_statement
from gridwall.reports._figures import build_figures_report
from gridwall.reports._statement import Supply

SECRET = b"operator-secret-for-tests-0123456789"
POINT = "03" + "5" * 20  # supplied by B0001 throughout
DAY = date(2026, 3, 10)


def _event(n: int, account: str, org: str, **extra: Any) -> dict[str, Any]:
    ts = datetime(2026, 3, 10, 12, n, tzinfo=JST).astimezone(UTC)
    return {"event_id": f"gw-{n:04d}", "ts": ts.isoformat(), "system": "gridwall",
            "account_id": account, "person_id": "P-" + account, "org": org,
            "action": "view", "screen": "read_point", "purpose": "customer_service",
            "decision": "allow", "supply_point_ids": [POINT],
            "fields": ["contract_name", "phone"], "policy_ids": ["permit-x"],
            "result_count": 1, **extra}  # fmt: skip


class _View:
    def __init__(self, events: Iterable[dict[str, Any]]) -> None:
        self.raw = [json.dumps({"event": e}, sort_keys=True).encode() for e in events]

    def checkpoint(self) -> tuple[int, bytes, str]:
        return len(self.raw), b"\0" * 32, "note"

    def entries(self, lo: int, hi: int) -> Iterable[tuple[int, bytes]]:
        return [(i, self.raw[i]) for i in range(lo, hi)]

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return []

    def inclusion_proofs(self, indices: Sequence[int], size: int) -> list[list[bytes]]:
        return [[] for _ in indices]

    def multiproof(self, indices: Sequence[int], size: int) -> list[bytes]:
        return []


def _supplies(code: str, first: date, last: date) -> list[Supply]:
    return [Supply(POINT, date(2020, 1, 1), None)] if code == "B0001" else []


LOG = [
    # real: another retailer's agent read B0001's customer (must be listed)
    _event(1, "rival-agent", "retail:B0002"),
    # canary: the canary retailer agent 'reading a competitor', marked by the server
    _event(2, "canary-retail", "retail:Z9901", canary=True),
    # canary: the canary NW operator, 託送 purpose
    _event(3, "canary-nw", "nw", purpose="takuso", canary=True),
    # real: an NW operator (listed under a pseudonym)
    _event(4, "nw-op", "nw", purpose="takuso"),
    # canary: a refusal
    _event(5, "canary-contractor", "contractor:CANARY", decision="deny", fields=[],
           canary=True),
]  # fmt: skip


def test_canary_events_never_appear_in_a_statement() -> None:
    st = build_statement(
        _View(LOG), _supplies, "B0001", DAY, DAY, secret=SECRET,
        generated_at=datetime(2026, 4, 1, tzinfo=UTC),
    )  # fmt: skip
    assert [a["index"] for a in st["accesses"]] == [0, 3]
    assert st["count"] == 2
    text = json.dumps(st, ensure_ascii=False)
    assert "canary" not in text and "Z9901" not in text


def _figure(rep: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return next(f["result"] for f in rep["figures"] if f["name"] == name)


def test_periodic_figures_count_canaries_apart() -> None:
    rep = build_figures_report(_View(LOG), DAY, DAY, generated_at=datetime(2026, 4, 1, tzinfo=UTC))
    # key: [month, org_kind, purpose, decision]
    rows = _figure(rep, "accesses_by_org_kind_purpose_decision_month")
    assert sum(r["value"] for r in rows) == 2, rows
    assert sorted(r["key"][1] for r in rows) == ["nw", "retail"]
    canaries = _figure(rep, "canary_requests_by_decision")
    assert {r["key"][0]: r["value"] for r in canaries} == {"allow": 2, "deny": 1}
    # key: [org_kind, field]: the canary retailer's contract_name read is not counted
    shown = _figure(rep, "non_public_field_groups_shown_by_org_kind")
    assert {tuple(r["key"]): r["value"] for r in shown if r["key"][0] == "retail"} == {
        ("retail", "contract_name"): 1,
        ("retail", "phone"): 1,
    }
