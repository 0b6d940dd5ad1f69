"""The gateway with the real identity authenticator: a transferred operator's session stops
reading customer data at the effective instant, and every denial is audited."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from gridwall.app.wiring import load_dataset
from gridwall.gateway import Gateway
from gridwall.identity import IdentityAuthenticator, apply_hr_changes, attest_training
from gridwall.identity._hr import HrRow
from gridwall.interfaces.clock import jst_date
from gridwall.policy import default_engine
from support.doubles import MemoryAuditSink, NoGrants

from .conftest import World

POINT = "0612345678901234567890"


def _dataset(d: Path) -> None:
    (d / "retailers.csv").write_text(
        "retailer_code,name,kind\nA0001,グリッド電力販売,affiliated\n"
        "B0002,みらい新電力,independent\n",
        "utf-8",
    )
    (d / "supply_points.csv").write_text(
        "supply_point_id,pref,city,town,banchi,building,room,contract_name,phone,voltage,"
        f"meter_id,status\n{POINT},大阪府,大阪市北区,梅田,1-2-3,,,山田 花子,06-1234-5678,low,"
        "M1,active\n",
        "utf-8",
    )
    (d / "supply_contracts.csv").write_text(
        "supply_point_id,retailer_code,start_date,end_date,kind\n"
        f"{POINT},B0002,2024-01-01,,retail\n",
        "utf-8",
    )


def test_transferred_operator_reads_nothing_from_the_instant(world: World, tmp_path: Path) -> None:
    w = world
    _dataset(tmp_path)
    load_dataset(tmp_path, w.engine, progress=False)
    w.svc.create_person("trainer", "Trainer", "nw", "compliance", w.now)
    attest_training(w.svc, "p-nw", jst_date(w.now), "trainer", w.now)
    audit = MemoryAuditSink()
    gw = Gateway(
        w.engine,
        default_engine(),
        auth=IdentityAuthenticator(w.engine, service=w.svc),
        grants=NoGrants(),
        audit=audit,
        clock=lambda: w.now,
    )
    token = w.login("nw-op", "t-nw")
    ctx = gw.authenticate(token, w.term("t-nw"), "takuso")
    assert gw.read_point(ctx, POINT)["contract_name"] == "山田 花子"

    eff = w.now + timedelta(minutes=5)
    apply_hr_changes(
        w.svc,
        [HrRow(2, "p-nw", None, "retail:A0001", None, "sales", eff, "transfer")],
        "hr.csv",
        w.now,
    )
    w.now = eff - timedelta(seconds=1)
    ctx = gw.authenticate(token, w.term("t-nw"), "takuso")
    assert "contract_name" in gw.read_point(ctx, POINT)
    w.now = eff
    n_before = len(audit.events)
    ctx = gw.authenticate(token, w.term("t-nw"), "takuso")
    assert ctx.principal.facts.account_state.value == "transferred"
    with pytest.raises(Exception) as e:  # invisible ≡ nonexistent: nothing at all
        gw.read_point(ctx, POINT)
    assert "山田" not in str(e.value)
    denials = [ev for ev in audit.events[n_before:] if ev["decision"] == "deny"]
    assert denials and all(ev["account_id"] == "nw-op" for ev in denials)
    assert "forbid-inactive-account" in {p for ev in denials for p in ev["policy_ids"]}
    # and identity audited the refused session itself
    assert w.sink.events[-1]["action"] == "login_failed"
    assert "transferred" in w.sink.events[-1]["reason"]
