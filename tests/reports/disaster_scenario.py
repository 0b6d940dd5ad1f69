"""A seeded disaster: typhoon TY over 千代田区 and 札幌市, a concurrent earthquake EQ over
新宿区, two retailers' agents on disaster terminals reading points inside TY's area, outside
it (港区, an ID that does not exist) and inside EQ's, TY ended early, one access after the
end, one deletion attestation of two owed. The real gateway, grants resolver and desks write
to the real audit log in the same store; the test keeps its own record of every access."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from gridwall.app.wiring import load_dataset
from gridwall.audit import AuditLog, note, open_log
from gridwall.gateway import Gateway, NotVisible
from gridwall.grants import AgreementRegistry, DisasterDesk, StoreGrantResolver
from gridwall.interfaces import Principal
from gridwall.interfaces.facts import (
    AccountKind,
    AccountState,
    DeviceKind,
    OrgKind,
    PrincipalFacts,
    RetailerKind,
    Role,
)
from gridwall.policy import default_engine
from gridwall.store import make_engine, upgrade
from support.doubles import TokenAuthenticator

T0 = datetime(2026, 9, 1, 0, 0, tzinfo=UTC)  # 09:00 JST
H = timedelta(hours=1)
CHIYODA = "0300000000000000000001"
MINATO = "0300000000000000000002"
SAPPORO = "0100000000000000000003"
SHINJUKU = "0300000000000000000004"
NOWHERE = "0300000000000000000099"  # no such point
AFF, IND = "retail:A0001", "retail:B0002"


@dataclass
class Access:
    when: datetime
    org: str
    person: str
    device: str
    point: str
    purpose: str
    decision: str


@dataclass
class DisasterScenario:
    url: str
    engine: Engine
    log: AuditLog
    signer: note.Signer
    end: datetime = T0
    accesses: list[Access] = field(default_factory=list)


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


def _agent(org: str, person: str) -> Principal:
    kind = RetailerKind.AFFILIATED if org == AFF else RetailerKind.INDEPENDENT
    facts = PrincipalFacts(
        OrgKind.RETAIL, kind, Role.CALL_CENTER, AccountKind.PERSONAL, AccountState.ACTIVE, True
    )
    return Principal(f"acct-{person}", person, org, facts)


def build(url: str, tmp_path: Path) -> DisasterScenario:
    upgrade(url)
    engine = make_engine(url)
    load_dataset(_dataset(tmp_path / "op"), engine, progress=False)
    log = open_log(url, migrate=False)
    clock = [T0]

    def now() -> datetime:
        return clock[0]

    sc = DisasterScenario(url, engine, log, note.generate_signer("test.example/audit"))
    reg = AgreementRegistry(engine, log, now)
    for aid, org in (("DS-A", AFF), ("DS-B", IND)):
        reg.register(aid, org, "disaster_support", [], "", date(2026, 4, 1), None, "nw-carol")
    desk = DisasterDesk(engine, log, now)
    desk.declare("TY", "東京都/千代田区;北海道/札幌市", T0 + 48 * H, 72 * H, "nw-alice")
    desk.approve("TY", "nw-bob")
    desk.declare("EQ", "東京都/新宿区", T0 + 96 * H, 120 * H, "nw-alice")
    desk.approve("EQ", "nw-bob")
    auth = TokenAuthenticator()
    gw = Gateway(
        engine, default_engine(), auth=auth,
        grants=StoreGrantResolver(engine, now, refresh_seconds=0), audit=log, clock=now,
    )  # fmt: skip
    people = {
        "aff-1": (AFF, "dt-aff-1"),
        "aff-2": (AFF, "dt-aff-2"),
        "ind-1": (IND, "dt-ind-1"),
    }
    creds = {}
    for person, (org, device) in people.items():
        token = auth.register(_agent(org, person))
        creds[person] = (token, auth.enroll_terminal(device, org, DeviceKind.DISASTER_TERMINAL))

    def read(at: datetime, person: str, point: str, purpose: str = "disaster_support") -> None:
        clock[0] = at
        ctx = gw.authenticate(creds[person][0], creds[person][1], purpose)
        try:
            gw.read_point(ctx, point)
            decision = "allow"
        except NotVisible:
            decision = "deny"
        org, device = people[person]
        sc.accesses.append(Access(at, org, person, device, point, purpose, decision))

    # before the approval took effect nothing counts: TY is active from T0
    read(T0 + 1 * H, "aff-1", CHIYODA)  # inside
    read(T0 + 2 * H, "aff-1", SAPPORO)  # inside (札幌市 covers 札幌市北区)
    read(T0 + 3 * H, "aff-1", MINATO)  # outside: refused
    read(T0 + 4 * H, "aff-2", CHIYODA)  # inside, a second person of AFF
    read(T0 + 4 * H, "ind-1", CHIYODA)  # inside
    read(T0 + 5 * H, "ind-1", MINATO)  # outside: refused
    read(T0 + 5 * H, "ind-1", NOWHERE)  # no such point: outside, refused
    read(T0 + 6 * H, "ind-1", SHINJUKU)  # EQ's area: allowed under EQ
    read(T0 + 7 * H, "aff-1", CHIYODA, "customer_service")  # not a disaster access
    clock[0] = T0 + 10 * H
    desk.end("TY", "nw-alice")
    sc.end = T0 + 10 * H
    read(T0 + 11 * H, "aff-1", CHIYODA)  # after the end: refused
    read(T0 + 11 * H, "ind-1", SHINJUKU)  # EQ still active: not TY's business
    clock[0] = T0 + 12 * H
    desk.attest_deletion("TY", AFF, "acct-aff-1", copies=2, statement="消去済み")
    clock[0] = T0 + 13 * H
    # a last entry after the end, so the checkpoint reaches past it
    read(T0 + 13 * H, "aff-2", SHINJUKU, "customer_service")
    log.checkpoint([sc.signer])
    return sc


def expected(sc: DisasterScenario, **where: Any) -> list[Access]:
    """The test's own record, filtered (the oracle the report is compared with)."""
    return [a for a in sc.accesses if all(getattr(a, k) == v for k, v in where.items())]
