"""The retailer transparency statement holds exactly the outside accesses to the retailer's
customers (as supplied at the time of each access), nothing about other retailers'
customers, NW staff under a per-period pseudonym, and proofs that check against the signed
checkpoint with only the public key."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from gridwall.app.reporting import AuditLogView, supply_periods
from gridwall.audit import merkle, note
from gridwall.interfaces.clock import JST
from gridwall.interfaces.facts import NON_PUBLIC
from gridwall.reports import build_statement, statement_html

from .scenario import FIRST, LAST, Scenario, supplier, tiny

SECRET = b"operator-secret-for-tests-0123456789"
GENERATED = datetime(2026, 4, 5, tzinfo=UTC)


def _statement(sc: Scenario, retailer: str, first: Any = FIRST, last: Any = LAST) -> Any:
    view = AuditLogView(sc.url)
    try:
        return build_statement(
            view, supply_periods(sc.engine), retailer, first, last,
            secret=SECRET, generated_at=GENERATED,
        )  # fmt: skip
    finally:
        view.close()


def _expected(sc: Scenario, retailer: str) -> list[tuple[str, str, tuple[str, ...], str]]:
    """The oracle: the test's own record of what it did, filtered by the dataset's
    contracts (not by the code under test)."""
    out = []
    for a in sc.accesses:
        day = a.when.astimezone(JST).date()
        if not FIRST <= day <= LAST or a.org == f"retail:{retailer}":
            continue
        mine = tuple(sorted(p for p in a.points if supplier(p, day) == retailer))
        if mine:
            out.append((a.when.isoformat(), a.org, mine, a.decision))
    return out


@pytest.mark.parametrize("retailer", [tiny.AFF, tiny.IND, tiny.IND2])
def test_statement_is_exactly_the_outside_accesses_to_its_customers(
    scenario: Scenario, retailer: str
) -> None:
    st = _statement(scenario, retailer)
    got = [
        (
            datetime.fromisoformat(a["ts"]).isoformat(),
            a["org"],
            tuple(a["supply_point_ids"]),
            a["decision"],
        )
        for a in st["accesses"]
    ]
    assert got == _expected(scenario, retailer)
    assert st["count"] == len(got) > 0
    # never another retailer's customer: every point named was this retailer's that day
    for a in st["accesses"]:
        day = datetime.fromisoformat(a["ts"]).astimezone(JST).date()
        assert all(supplier(p, day) == retailer for p in a["supply_point_ids"])
        assert a["org"] != f"retail:{retailer}"
    text = json.dumps(st, ensure_ascii=False) + statement_html(st)
    for c in tiny.CONTRACTS:  # points the retailer never supplied in March are never named
        pid = c["supply_point_id"]
        if not any(supplier(pid, FIRST.replace(day=d)) == retailer for d in range(1, 32)):
            assert pid not in text
    for secret_value in ("一番町", "青木", "022-"):  # no addresses, names, phones, queries
        assert secret_value not in text


def test_a_point_that_changed_retailer_goes_to_the_retailer_of_the_day(
    scenario: Scenario,
) -> None:
    aff = _statement(scenario, tiny.AFF)
    ind = _statement(scenario, tiny.IND)

    def moved(st: Any) -> list[str]:
        return [a["ts"][:10] for a in st["accesses"] if tiny.P_MOVED in a["supply_point_ids"]]

    assert all(d < "2026-03-15" for d in moved(aff)) and moved(aff)
    assert all(d >= "2026-03-15" for d in moved(ind)) and moved(ind)
    # IND's refused attempt on AFF's customer (10 March) is in AFF's statement as a denial
    ind_tries = [a for a in aff["accesses"] if a["org"] == f"retail:{tiny.IND}"]
    assert [(a["decision"], a["legal_basis"], a["fields"]) for a in ind_tries] == [
        ("deny", "none", [])
    ]


def test_legal_basis_fields_and_pseudonyms(scenario: Scenario) -> None:
    st = _statement(scenario, tiny.AFF)
    nw = [a for a in st["accesses"] if a["org_kind"] == "nw"]
    assert nw and all(a["legal_basis"] == "takuso" and a["decision"] == "allow" for a in nw)
    assert all(set(a["fields"]) <= NON_PUBLIC and a["fields"] for a in nw)
    # one stable pseudonym for the same NW person within the period; no real identity
    assert len({a["actor"] for a in nw}) == 1
    actor = nw[0]["actor"]
    assert actor.startswith("NW-") and "nw-op" not in json.dumps(st)
    # another period: another pseudonym for the same person
    april = _statement(scenario, tiny.AFF, FIRST.replace(month=4), LAST.replace(month=4, day=30))
    assert [a["actor"] for a in april["accesses"]] != [] and april["accesses"][0]["actor"] != actor


def test_each_access_is_proven_in_the_signed_log(scenario: Scenario) -> None:
    st = _statement(scenario, tiny.IND)
    cp = note.open_checkpoint(st["checkpoint"], [scenario.signer.verifier])
    assert cp.size == st["tree_size"]
    for a in st["accesses"]:
        leaf = base64.b64decode(a["leaf_hash"])
        proof = [base64.b64decode(h) for h in a["inclusion_proof"]]
        assert merkle.verify_inclusion(leaf, a["index"], cp.size, proof, cp.root)
        assert leaf == merkle.leaf_hash(scenario.log.entry(a["index"]))
        # a proof moved to another index does not verify
        assert not merkle.verify_inclusion(leaf, a["index"] + 1, cp.size, proof, cp.root)
