"""The documented walk-through (docs/grants.md), through the real gateway and Cedar policy:
a typhoon over two cities; an affiliated and an independent agent on disaster terminals see
the same three fields inside the area, nothing outside it, nothing after the end; a
contractor export goes only to its named counterparty and the file traces back."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from gridwall.app.wiring import load_dataset
from gridwall.gateway import Gateway, NotVisible
from gridwall.grants import (
    AgreementRegistry,
    DisasterDesk,
    StoreGrantResolver,
    seal_export,
    trace_leak,
)
from gridwall.interfaces import Principal
from gridwall.interfaces.facts import DeviceKind, RetailerKind, Role
from gridwall.policy import default_engine
from support.doubles import MemoryAuditSink, TokenAuthenticator

from .conftest import T0, FrozenClock
from .helpers import nw_staff, retail_agent

H = timedelta(hours=1)
CHIYODA = "0300000000000000000001"
MINATO = "0300000000000000000002"
SAPPORO = "0100000000000000000003"
SHINJUKU = "0300000000000000000004"


def _dataset(d: Path) -> Path:
    d.mkdir()
    (d / "retailers.csv").write_text(
        "retailer_code,name,kind\nA0001,東電エナジー,affiliated\nB0002,みらい電力,independent\n"
        "C0003,さくら新電力,independent\n",
        encoding="utf-8",
    )
    (d / "supply_points.csv").write_text(
        "supply_point_id,pref,city,town,banchi,building,room,contract_name,phone,voltage,"
        "meter_id,status\n"
        f"{CHIYODA},東京都,千代田区,丸の内一丁目,1-1,,,山田 太郎,03-1111-1111,low,M1,active\n"
        f"{MINATO},東京都,港区,芝公園四丁目,2-8,,,佐藤 花子,03-2222-2222,low,M2,active\n"
        f"{SAPPORO},北海道,札幌市北区,北七条西五丁目,7,,,鈴木 一郎,011-333-3333,low,M3,active\n"
        f"{SHINJUKU},東京都,新宿区,西新宿二丁目,8-1,,,高橋 次郎,03-4444-4444,low,M4,active\n",
        encoding="utf-8",
    )
    (d / "supply_contracts.csv").write_text(
        "supply_point_id,retailer_code,start_date,end_date,kind\n"
        + "".join(f"{p},C0003,2024-04-01,,retail\n" for p in (CHIYODA, MINATO, SAPPORO, SHINJUKU)),
        encoding="utf-8",
    )
    return d


@pytest.fixture
def setup(engine: Engine, tmp_path: Path, clock: FrozenClock):  # type: ignore[no-untyped-def]
    load_dataset(_dataset(tmp_path / "op"), engine, progress=False)
    sink = MemoryAuditSink()
    reg = AgreementRegistry(engine, sink, clock)
    for aid, org in (("DS-A", "retail:A0001"), ("DS-B", "retail:B0002")):
        reg.register(aid, org, "disaster_support", [], "", date(2026, 4, 1), None, "nw-carol")
    reg.register(
        "MT-1", "contractor:itco", "system_maintenance", ["contract_name", "equipment"], "",
        date(2026, 4, 1), date(2027, 3, 31), "nw-carol",
    )  # fmt: skip
    auth = TokenAuthenticator()
    gw = Gateway(
        engine, default_engine(), auth=auth,
        grants=StoreGrantResolver(engine, clock, refresh_seconds=0),
        audit=MemoryAuditSink(), clock=clock,
    )  # fmt: skip
    return gw, auth, DisasterDesk(engine, sink, clock)


def _agent(auth: TokenAuthenticator, p: Principal) -> tuple[str, str]:
    return auth.register(p), auth.enroll_terminal(
        f"dt-{p.org}", p.org, DeviceKind.DISASTER_TERMINAL
    )


def _seen(gw: Gateway, cred: tuple[str, str], pid: str) -> set[str] | None:
    ctx = gw.authenticate(cred[0], cred[1], "disaster_support")
    try:
        return set(gw.read_point(ctx, pid)) - {"supply_point_id"}
    except NotVisible:
        return None


def test_typhoon_equal_footing_inside_area_only_until_the_end(setup, clock: FrozenClock) -> None:  # type: ignore[no-untyped-def]
    gw, auth, desk = setup
    aff = _agent(auth, retail_agent("A0001", RetailerKind.AFFILIATED))
    ind = _agent(auth, retail_agent("B0002", RetailerKind.INDEPENDENT))
    none = _agent(auth, retail_agent("C0003", RetailerKind.INDEPENDENT, account="x"))
    # before any declaration: nothing for the agents (the point belongs to C0003)
    assert _seen(gw, aff, CHIYODA) is None and _seen(gw, ind, CHIYODA) is None

    desk.declare("TY-2026-14", "東京都/千代田区;北海道/札幌市", T0 + 48 * H, 72 * H, "nw-alice")
    assert _seen(gw, aff, CHIYODA) is None  # pending approval: nothing yet
    desk.approve("TY-2026-14", "nw-bob")
    clock.advance(hours=1)
    three = {"contract_name", "address", "phone"}
    for pid in (CHIYODA, SAPPORO):
        assert _seen(gw, aff, pid) == three
        assert _seen(gw, ind, pid) == three
    for pid in (MINATO, SHINJUKU):  # outside the area
        assert _seen(gw, aff, pid) is None and _seen(gw, ind, pid) is None
    # a retailer without a disaster_support agreement: only its own customers, as always
    assert _seen(gw, none, CHIYODA) != three

    # the same agent on an ordinary retail terminal gets nothing under disaster purpose
    p = retail_agent("A0001", RetailerKind.AFFILIATED, account="desk")
    plain = (auth.register(p), auth.enroll_terminal("rt-A", p.org, DeviceKind.RETAIL_TERMINAL))
    assert _seen(gw, plain, CHIYODA) is None

    clock.advance(hours=47)  # exactly the planned end
    assert _seen(gw, aff, CHIYODA) is None and _seen(gw, ind, CHIYODA) is None


def test_contractor_export_only_to_counterparty_and_traceable(
    setup: Any,
    engine: Engine,
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    gw, auth, _ = setup
    staff = nw_staff(Role.TAKUSO_OPERATOR)
    cred = auth.register(staff), auth.enroll_terminal("nt-1", "nw", DeviceKind.NW_TERMINAL)
    ctx = gw.authenticate(cred[0], cred[1], "takuso")
    out = gw.export(ctx, "contractor:itco", [CHIYODA, MINATO], ["contract_name", "equipment"])
    assert out["count"] == 2
    refused = gw.export(ctx, "retail:A0001", [CHIYODA], ["contract_name"])
    assert refused["count"] == 0
    wm = seal_export(
        engine, out["rows"], recipient_org="contractor:itco", purpose="takuso",
        export_id=out["export_id"], now=clock(), created_by=staff.account_id,
    )  # fmt: skip
    leak = tmp_path / "leak.csv"
    leak.write_text("\n".join(wm.to_csv().splitlines()[3:5]), encoding="utf-8")  # two rows
    t = trace_leak(leak, engine)
    assert t is not None and t.recipient_org == "contractor:itco"
    assert t.export_id == out["export_id"]
