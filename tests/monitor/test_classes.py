"""Worlds built for each class of defect of issue 16 (monitor): grants respected, gridwall's own
event kinds understood, one classification per case, overlapping types told apart.

Each world is the hand-built operator of :mod:`tests.monitor.world` plus the accounts and events
of one class: the legitimate variant must stay silent and every variant just outside the grant
(or with the other type's features) must be alerted with the right type — so a rule that
ignores the grant, or one that waves through everything near it, fails.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from gridwall.dataset import TABLES, CsvTableWriter
from gridwall.errors import InputError
from gridwall.grants._outbox import grant_event
from gridwall.identity._service import IdentityService
from gridwall.interfaces.events import audit_event
from gridwall.monitor._input import CONSENTS
from gridwall.monitor._run import scan

from . import world
from .world import AFF, IND, sp, t

_N = [0]


def _ev(ts: Any, acc: str, action: str = "view", **kw: Any) -> dict[str, Any]:
    _N[0] += 1
    pts = list(kw.get("points", ()))
    return {
        "event_id": f"K{_N[0]:06d}",
        "ts": ts,
        "system": "takuso",
        "account_id": acc,
        "device_id": kw.get("device"),
        "source_ip": None,
        "session_id": None,
        "action": action,
        "screen": kw.get("screen", "customer_detail"),
        "purpose": kw.get("purpose"),
        "supply_point_ids": pts,
        "query": None,
        "fields": list(kw.get("fields", ("contract_name", "address"))) if pts else [],
        "result_count": len(pts) or None,
        "recipient_org": kw.get("recipient"),
        "decision": "allow",
    }


def _person(d: dict[str, Any], pid: str, org: str, role: str, *accounts: str) -> None:
    d["persons"].append(
        {"person_id": pid, "name": pid, "org": org, "role": role, "valid_from": date(2024, 1, 1)}
    )
    for acc in accounts:
        d["accounts"].append(
            {
                "account_id": acc,
                "system": "takuso",
                "holder_person_id": pid,
                "kind": "personal",
                "org": org,
            }
        )


def _write(directory: Path, d: dict[str, Any], extra_events: list[dict[str, Any]]) -> Path:
    directory.mkdir(parents=True)
    for name, rows in d.items():
        if name != "events":
            with CsvTableWriter(directory, TABLES.get(name, CONSENTS)) as w:
                for r in rows:
                    w.write(r)
    world.write_events(directory / "events.csv", d["events"])
    if extra_events:
        (directory / "events").mkdir()
        (directory / "events" / "own.jsonl").write_text(
            "".join(_json(e) + "\n" for e in extra_events), encoding="utf-8"
        )
    return directory


def _json(e: Any) -> str:
    import json

    rec = dict(e.record()) if hasattr(e, "record") else dict(e)
    if not isinstance(rec["ts"], str):
        rec["ts"] = rec["ts"].isoformat()
    return json.dumps(rec, ensure_ascii=False)


def _grants_world() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The LRS team and the contractor's exports back to the operator, in and just outside
    their agreements."""
    d = world.world()
    # sp(40) (港区) is under last-resort supply too: outside the LRS agreement's area
    d["supply_contracts"] = [c for c in d["supply_contracts"] if c["supply_point_id"] != sp(40)]
    d["supply_contracts"].append(
        {
            "supply_point_id": sp(40),
            "retailer_code": world.NW_CODE,
            "start_date": date(2025, 1, 1),
            "kind": "lrs",
        }
    )
    d["agreements"] += [
        {
            "agreement_id": "AG-LRS",
            "counterparty_org": f"retail:{AFF}",
            "purpose": "lrs_operations",
            "fields": ["contract_name", "address", "phone", "lrs"],
            "area": ["東京都/千代田区"],
            "valid_from": date(2026, 1, 1),
            "valid_to": date(2026, 4, 20),
        },
    ]
    lrs = ("lrs_ok", "lrs_not_lrs", "lrs_fields", "lrs_area", "lrs_late", "lrs_no_purpose")
    _person(d, "p_lrs", f"retail:{AFF}", "lrs_operations", *lrs)
    its = ("it_back", "it_back_fields", "it_back_purpose", "it_back_late")
    _person(d, "p_it2", "contractor:IT01", "it_maintenance", *its)
    d["agreements"][1]["valid_to"] = date(2026, 4, 24)  # AG2 (IT01) ends on the 24th
    dev = "t_aff2"
    ok: dict[str, Any] = {
        "device": dev,
        "purpose": "lrs_operations",
        "fields": ("contract_name", "lrs"),
    }
    ev = [
        _ev(t(13, 10), "lrs_ok", points=(sp(9),), **ok),
        _ev(t(13, 11), "lrs_ok", points=(sp(9),), **{**ok, "fields": ("address", "phone")}),
        # not a last-resort-supply point: an independent retailer's customer
        _ev(t(13, 12), "lrs_not_lrs", points=(sp(13),), **ok),
        # beyond the agreement's fields
        _ev(t(13, 13), "lrs_fields", points=(sp(9),), **{**ok, "fields": ("usage", "lrs")}),
        # an LRS point outside the agreement's area
        _ev(t(13, 14), "lrs_area", points=(sp(40),), **ok),
        # after the agreement ended
        _ev(t(22, 10), "lrs_late", points=(sp(9),), **ok),
        # without the purpose the agreement is for
        _ev(t(13, 15), "lrs_no_purpose", points=(sp(9),), **{**ok, "purpose": "sales"}),
    ]
    exp = {
        "device": "t_it",
        "purpose": "system_maintenance",
        "fields": ("equipment", "address"),
        "recipient": "nw",
        "screen": "maintenance_extract",
    }
    pts = (sp(1), sp(2), sp(13))
    ev += [
        _ev(t(14, 17), "it_back", "export", points=pts, **exp),
        _ev(t(14, 17), "it_back_fields", "export", points=pts, **{**exp, "fields": ("usage",)}),
        _ev(t(14, 17), "it_back_purpose", "export", points=pts, **{**exp, "purpose": "sales"}),
        _ev(t(25, 17), "it_back_late", "export", points=pts, **exp),
    ]
    # a customer's consent (sp(14), to the affiliated retailer), revoked on the 12th
    d["consents"] = [
        {
            "token_id": "CT1",
            "supply_point_id": sp(14),
            "retailer_code": AFF,
            "issued_at": t(2, 9),
            "expires_at": t(25, 9),
            "revoked_at": t(12, 9),
        }
    ]
    cons = ("cons_ok", "cons_revoked", "cons_fields", "cons_point", "cons_purpose")
    _person(d, "p_cons", f"retail:{AFF}", "sales", *cons)
    use: dict[str, Any] = {"device": "t_aff", "purpose": "consent_usage", "fields": ("usage",)}
    ev += [
        _ev(t(10, 10), "cons_ok", points=(sp(14),), **use),
        _ev(t(13, 10), "cons_revoked", points=(sp(14),), **use),
        _ev(t(10, 11), "cons_fields", points=(sp(14),), **{**use, "fields": ("usage", "phone")}),
        _ev(t(10, 12), "cons_point", points=(sp(15),), **use),
        _ev(t(10, 13), "cons_purpose", points=(sp(14),), **{**use, "purpose": "sales"}),
    ]
    d["events"] += ev
    return d, []


@pytest.fixture(scope="module")
def grants_alerts(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    d, own = _grants_world()
    path = _write(tmp_path_factory.mktemp("grants") / "ds", d, own)
    return scan(path, say=lambda _m: None).alerts


def _types_of(alerts: list[dict[str, Any]], acc: str) -> set[str]:
    return {a["incident_type"] for a in alerts if a["account_id"] == acc}


def test_lrs_team_inside_its_agreement_is_not_flagged(grants_alerts: list[dict[str, Any]]) -> None:
    assert _types_of(grants_alerts, "lrs_ok") == set()


@pytest.mark.parametrize(
    "acc", ["lrs_not_lrs", "lrs_fields", "lrs_area", "lrs_late", "lrs_no_purpose"]
)
def test_lrs_team_outside_its_agreement_is_flagged(
    grants_alerts: list[dict[str, Any]], acc: str
) -> None:
    assert _types_of(grants_alerts, acc), acc


def test_usage_under_a_consent_in_force_is_not_flagged(
    grants_alerts: list[dict[str, Any]],
) -> None:
    assert _types_of(grants_alerts, "cons_ok") == set()


@pytest.mark.parametrize("acc", ["cons_revoked", "cons_fields", "cons_point", "cons_purpose"])
def test_reads_outside_the_consent_are_flagged(
    grants_alerts: list[dict[str, Any]], acc: str
) -> None:
    assert "A" in _types_of(grants_alerts, acc), acc


def test_export_back_to_the_operator_under_the_agreement_is_not_c1(
    grants_alerts: list[dict[str, Any]],
) -> None:
    assert _types_of(grants_alerts, "it_back") == set()


@pytest.mark.parametrize("acc", ["it_back_fields", "it_back_purpose", "it_back_late"])
def test_export_to_the_operator_outside_the_agreement_is_c1(
    grants_alerts: list[dict[str, Any]], acc: str
) -> None:
    assert _types_of(grants_alerts, acc) == {"C1"}


# ---------------------------------------------------------------------------
# gridwall's own event kinds


def _own_world() -> tuple[dict[str, Any], list[Any]]:
    """Every kind of event gridwall's identity and grants write, by NW staff at work, built
    with gridwall's own builders; plus the misuse variants the same rules must still catch."""
    d = world.world()
    _person(d, "p_nw5", "nw", "takuso_operator", "nw_op5")
    _person(d, "p_nw6", "nw", "takuso_operator", "nw_op6")
    d["devices"] += [
        {"device_id": f"t_nw{i}", "owner_org": "nw", "kind": "nw_terminal"} for i in (5, 6, 7)
    ]
    day = t(26, 9)
    idn = IdentityService.event
    own: list[Any] = []
    # disaster declared, approved and ended by NW staff (grant management, no customer data)
    for k, step in enumerate(("declare", "approve", "activate", "end")):
        own.append(
            grant_event(
                now=day + timedelta(minutes=k),
                actor="nw_op5",
                actor_org="nw",
                screen=f"grants.disaster.{step}",
                purpose="disaster_support",
                decision="allow",
                query="disaster_id=D2",
                device_id="t_nw5",
                extra={"grant_kind": "disaster", "grant_id": "D2"},
            )
        )
    for k, step in enumerate(("register", "revoke")):
        own.append(
            grant_event(
                now=day + timedelta(minutes=10 + k),
                actor="nw_op5",
                actor_org="nw",
                screen=f"grants.agreement.{step}",
                purpose="lrs_operations",
                decision="allow",
                query="agreement_id=AG9",
            )
        )
    own.append(
        grant_event(
            now=day + timedelta(minutes=12),
            actor="nw_op5",
            actor_org="nw",
            screen="grants.consent.issue",
            purpose="consent_usage",
            decision="allow",
            query="consent",
            supply_point_ids=[sp(13)],
            recipient_org=f"retail:{AFF}",
        )
    )
    # identity: steps without an account (HR, a refused unknown ID, a request before sign-in)
    own += [
        idn(day, "update", decision="allow", screen="identity/person", reason="hired"),
        idn(day, "update", decision="allow", screen="identity/hr", reason="transfer"),
        idn(day, "login_failed", decision="deny", screen="identity/login", reason="unknown"),
        idn(day, "login_failed", decision="deny", screen="identity/logout", reason="token"),
        audit_event(
            source="web", ts=day, account_id=None, action="view", screen="GET /", decision="allow"
        ),
    ]
    # a logout, then a login on another terminal a minute later: changing desks
    own += [
        idn(
            day,
            "login",
            decision="allow",
            screen="identity/login",
            reason="ok",
            account_id="nw_op5",
            device_id="t_nw5",
            session_id="s1",
        ),
        idn(
            day + timedelta(minutes=3),
            "logout",
            decision="allow",
            screen="identity/logout",
            reason="logout",
            account_id="nw_op5",
            device_id="t_nw5",
            session_id="s1",
        ),
        idn(
            day + timedelta(minutes=4),
            "login",
            decision="allow",
            screen="identity/login",
            reason="ok",
            account_id="nw_op5",
            device_id="t_nw7",
            session_id="s2",
        ),
    ]
    # ... and the same without the logout: two terminals at once (C3)
    own += [
        idn(
            day,
            "login",
            decision="allow",
            screen="identity/login",
            reason="ok",
            account_id="nw_op6",
            device_id="t_nw6",
            session_id="s3",
        ),
        idn(
            day + timedelta(minutes=4),
            "login",
            decision="allow",
            screen="identity/login",
            reason="ok",
            account_id="nw_op6",
            device_id="t_nw7",
            session_id="s4",
        ),
    ]
    return d, own


@pytest.fixture(scope="module")
def own_alerts(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    d, own = _own_world()
    path = _write(tmp_path_factory.mktemp("own") / "ds", d, own)
    return scan(path, say=lambda _m: None).alerts


def test_gridwall_own_operations_raise_nothing(own_alerts: list[dict[str, Any]]) -> None:
    assert _types_of(own_alerts, "nw_op5") == set()
    assert all(a["account_id"] for a in own_alerts)  # nothing attributed to "no account"


def test_two_terminals_without_logout_is_still_c3(own_alerts: list[dict[str, Any]]) -> None:
    assert _types_of(own_alerts, "nw_op6") == {"C3"}


def test_the_hand_world_is_unchanged_by_own_events(
    own_alerts: list[dict[str, Any]], tmp_path: Path
) -> None:
    base = scan(world.write(tmp_path / "base"), say=lambda _m: None).alerts
    assert [a for a in own_alerts if a["account_id"] != "nw_op6"] == base


@pytest.mark.parametrize(
    "row",
    [
        {"action": "view", "supply_point_ids": [sp(1)], "fields": ["contract_name"]},
        {"action": "login", "device_id": "t_nw1"},
        {"action": "update", "fields": ["usage"]},
    ],
)
def test_data_access_without_an_account_is_rejected(tmp_path: Path, row: dict[str, Any]) -> None:
    d = world.world()
    bad = {**_ev(t(26, 9), "", screen="x"), **row}
    path = _write(tmp_path / "ds", d, [bad])
    with pytest.raises(InputError, match=r"own\.jsonl:1 \[account_id\]") as e:
        scan(path, say=lambda _m: None)
    assert "supply points or fields" in str(e.value)


# ---------------------------------------------------------------------------
# overlapping types told apart


def _overlap_world() -> tuple[dict[str, Any], dict[str, list[str]]]:
    d = world.world()
    _person(d, "p_s2", f"retail:{AFF}", "sales", "r_s2")
    _person(d, "p_s3", f"retail:{AFF}", "call_center", "r_s3")
    _person(d, "p_s4", f"retail:{AFF}", "sales", "r_s4")
    ind = [sp(i) for i in range(22, 29)]  # the independent's customers, untouched elsewhere
    sw = d["switching"]

    def apply(point: str, when: Any) -> None:
        sw.append(
            {
                "application_id": f"X{len(sw)}",
                "supply_point_id": point,
                "kind": "switch",
                "from_retailer": IND,
                "to_retailer": AFF,
                "applied_at": when,
                "effective_date": date(2026, 5, 10),
            }
        )

    dev: dict[str, Any] = {"device": "t_aff", "fields": ("contract_name", "contract")}
    ev = [
        # R4: an inbound applicant checked twice, the application filed the next day
        _ev(t(6, 11), "r_s3", points=(ind[0],), **dev),
        _ev(t(6, 11, 5), "r_s3", points=(ind[0],), **dev),
    ]
    apply(ind[0], t(7, 10))
    # R5: a list of prospects worked through; one applies the very next day
    ev += [_ev(t(3, 13, k), "r_s2", points=(p,), **dev) for k, p in enumerate(ind[1:7])]
    apply(ind[2], t(4, 9))
    # R6 by export: a district's competitors' customers mailed to the retailer itself
    ev.append(
        _ev(
            t(8, 15),
            "r_s4",
            "export",
            points=tuple(sp(i) for i in range(31, 61)),
            device="t_aff",
            fields=("contract_name", "address", "usage"),
            recipient=f"retail:{AFF}",
        )
    )
    # C3: an NW ID on a retail terminal while its holder works at NW (and C2 on the same login)
    ev.append(_ev(t(19, 13), "nw_op4", "login", device="t_aff2", screen="login"))
    ev.append(_ev(t(19, 13, 3), "nw_op4", points=(sp(2),), device="t_aff2", purpose="takuso"))
    d["events"] += ev
    return (
        d,
        {
            "r_s3": [e["event_id"] for e in ev[:2]],
            "r_s2": [ev[2 + 1]["event_id"]],  # the prospect that applied
            "r_s4": [ev[8]["event_id"]],
            "nw_op4": [e["event_id"] for e in ev[9:]],
        },
    )


@pytest.fixture(scope="module")
def overlap(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    d, cases = _overlap_world()
    path = _write(tmp_path_factory.mktemp("overlap") / "ds", d, [])
    return scan(path, say=lambda _m: None).alerts, cases


@pytest.mark.parametrize(
    ("acc", "lead", "related"),
    [
        ("r_s3", "R4", {"A"}),  # few views, application within two days: fact-check
        ("r_s2", "R5", {"A"}),  # a list of prospects, even with a quick application
        ("r_s4", "R6", {"A", "C1"}),  # a bulk export explains its own C1 and A findings
        ("nw_op4", "C3", {"C2"}),  # the NW ID outside NW, not merely a foreign terminal
    ],
)
def test_the_most_specific_type_leads(
    overlap: tuple[list[dict[str, Any]], dict[str, list[str]]],
    acc: str,
    lead: str,
    related: set[str],
) -> None:
    alerts, cases = overlap
    case = set(cases[acc])
    on_case = [a for a in alerts if case & set(a["event_ids"])]
    assert {a["incident_type"] for a in on_case} == {lead}
    assert all(case <= set(a["event_ids"]) for a in on_case)
    assert {r["incident_type"] for a in on_case for r in a["related"]} >= related
