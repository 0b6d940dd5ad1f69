"""A small operator served by the COMPOSED application (gridwall.app.create_server_app).

Real store (SQLite file or PostgreSQL), real audit log, real identity (passwords, TOTP,
Ed25519 terminal keys, sessions), real grants, the shipped Cedar policy, the lookup index.
People log in over HTTP (``POST /v1/identity/login``) like any client would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
from fastapi.testclient import TestClient

from gridwall import dataset
from gridwall.identity import IdentityConfig, attest_training
from gridwall.identity._keys import TERMINAL_PREFIX, load_key_file, sign_token
from gridwall.identity._passwords import TEST_PARAMS

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # 12:00 JST
PASSWORD = "correct horse battery staple"

AFF = "A0001"  # affiliated retailer (関係小売)
IND = "B0001"  # independent retailer (新電力)
IND2 = "B0002"
NW_CODE = "T0000"


def pid(n: int, area: str = "03") -> str:
    return f"{area}{n:020d}"


CHIYODA = pid(1)  # 千代田区, supplied by IND2 — inside the typhoon area
KASUMI = pid(2)  # 千代田区, AFF's customer — inside
MINATO = pid(3)  # 港区, IND's customer — inside
SHINJUKU = pid(4)  # 新宿区, IND2 — outside
SAPPORO = pid(5, "01")  # 札幌市北区, IND2 — outside
LRS = pid(6)  # 千代田区, last-resort supply
FIT = pid(7)  # 港区, IND2 + FIT contract
MISSING = pid(99)

#: every point's non-public values (a response must never contain one it may not)
POINTS: list[dict[str, Any]] = [
    dict(supply_point_id=CHIYODA, pref="東京都", city="千代田区", town="丸の内一丁目",
         banchi="2-3", contract_name="山田 太郎", phone="03-1111-1111", meter_id="M1"),
    dict(supply_point_id=KASUMI, pref="東京都", city="千代田区", town="霞が関",
         banchi="2-1-1", contract_name="霞 花子", phone="03-2222-2222", meter_id="M2"),
    dict(supply_point_id=MINATO, pref="東京都", city="港区", town="芝公園四丁目",
         banchi="2-8", contract_name="佐藤 次郎", phone="03-3333-3333", meter_id="M3"),
    dict(supply_point_id=SHINJUKU, pref="東京都", city="新宿区", town="西新宿二丁目",
         banchi="8-1", contract_name="高橋 三郎", phone="03-4444-4444", meter_id="M4"),
    dict(supply_point_id=SAPPORO, pref="北海道", city="札幌市北区", town="北七条西五丁目",
         banchi="7", contract_name="鈴木 四郎", phone="011-555-5555", meter_id="M5"),
    dict(supply_point_id=LRS, pref="東京都", city="千代田区", town="丸の内一丁目",
         banchi="2-4", contract_name="上田 五郎", phone="03-6666-6666", meter_id="M6"),
    dict(supply_point_id=FIT, pref="東京都", city="港区", town="芝公園四丁目",
         banchi="3-1", contract_name="江藤 六郎", phone="03-7777-7777", meter_id="M7"),
]  # fmt: skip
NAMES = [p["contract_name"] for p in POINTS]
PHONES = [p["phone"] for p in POINTS]
SECRETS = NAMES + PHONES + ["江藤ソーラー"]

CONTRACTS = [
    (CHIYODA, IND2, "retail"),
    (KASUMI, AFF, "retail"),
    (MINATO, IND, "retail"),
    (SHINJUKU, IND2, "retail"),
    (SAPPORO, IND2, "retail"),
    (LRS, NW_CODE, "lrs"),
    (FIT, IND2, "retail"),
]


def write_dataset(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    with dataset.CsvTableWriter(d, dataset.RETAILERS) as w:
        w.write({"retailer_code": AFF, "name": "グリッド電力販売", "kind": "affiliated"})
        w.write({"retailer_code": IND, "name": "みらい新電力", "kind": "independent"})
        w.write({"retailer_code": IND2, "name": "さくら新電力", "kind": "independent"})
    with dataset.CsvTableWriter(d, dataset.SUPPLY_POINTS) as w:
        for p in POINTS:
            w.write({"building": None, "room": None, "voltage": "low", "status": "active", **p})
    with dataset.CsvTableWriter(d, dataset.SUPPLY_CONTRACTS) as w:
        for sp, code, kind in CONTRACTS:
            w.write({"supply_point_id": sp, "retailer_code": code, "start_date": "2024-04-01",
                     "end_date": None, "kind": kind})  # fmt: skip
    with dataset.CsvTableWriter(d, dataset.FIT_CONTRACTS) as w:
        w.write({"supply_point_id": FIT, "generator_name": "江藤ソーラー", "capacity_kw": 9.9,
                 "start_date": "2024-05-01", "end_date": None})  # fmt: skip
    with (d / "usage.csv").open("w", encoding="utf-8") as f:
        f.write("supply_point_id,month,kwh\n")
        for sp in (CHIYODA, MINATO):
            for m in range(1, 11):
                f.write(f"{sp},2026-{m:02d},{100 + m}\n")
    return d


class FrozenClock:
    """Every request's instant; moves only when told to."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        self.now = self.now + timedelta(**kw)
        return self.now


#: (account, person, org, role)
PEOPLE = [
    ("nw-op", "P-NW-OP", "nw", "takuso_operator"),
    ("nw-mgr", "P-NW-MGR", "nw", "manager"),
    ("nw-fit", "P-NW-FIT", "nw", "fit_team"),
    ("nw-comp", "P-NW-COMP", "nw", "compliance"),
    ("aff-agent", "P-AFF", f"retail:{AFF}", "call_center"),
    ("ind-agent", "P-IND", f"retail:{IND}", "call_center"),
    ("ind2-agent", "P-IND2", f"retail:{IND2}", "call_center"),
    ("con-eng", "P-CON", "contractor:itco", "it_maintenance"),
]
#: (device, org, kind)
TERMINALS = [
    ("T-NW", "nw", "nw_terminal"),
    ("T-AFF", f"retail:{AFF}", "retail_terminal"),
    ("T-AFF-DIS", f"retail:{AFF}", "disaster_terminal"),
    ("T-IND", f"retail:{IND}", "retail_terminal"),
    ("T-IND-DIS", f"retail:{IND}", "disaster_terminal"),
    ("T-IND2", f"retail:{IND2}", "retail_terminal"),
    ("T-CON", "contractor:itco", "contractor_terminal"),
]


@dataclass
class Site:
    app: Any
    client: TestClient
    clock: FrozenClock
    db_url: str
    keys: dict[str, str] = field(default_factory=dict)
    totp: dict[str, str] = field(default_factory=dict)
    sessions: dict[tuple[str, str], str] = field(default_factory=dict)
    _steps: dict[str, int] = field(default_factory=dict)

    @property
    def server(self) -> Any:
        return self.app.state.server

    @property
    def log(self) -> Any:
        return self.server.audit_log

    def terminal(self, device: str) -> str:
        _, _, key = load_key_file(self.keys[device])
        return sign_token(TERMINAL_PREFIX, key, device, self.clock())

    def login(self, account: str, device: str) -> str:
        """Log in over HTTP (password + TOTP + terminal token); returns the session token."""
        step = int(self.clock().timestamp()) // 30
        if self._steps.get(account) == step:  # each TOTP code is accepted once
            self.clock.advance(seconds=30)
            step += 1
        self._steps[account] = step
        r = self.client.post(
            "/v1/identity/login",
            json={"account_id": account, "password": PASSWORD,
                  "totp": pyotp.TOTP(self.totp[account]).at(self.clock())},
            headers={"X-Gridwall-Terminal": self.terminal(device)},
        )  # fmt: skip
        assert r.status_code == 200, (account, device, r.status_code, r.text)
        token = str(r.json()["token"])
        self.sessions[(account, device)] = token
        return token

    def headers(self, account: str, device: str, purpose: str) -> dict[str, str]:
        """A live session of ``account`` on ``device`` (logged in on first use)."""
        token = self.sessions.get((account, device)) or self.login(account, device)
        return {
            "Authorization": f"Bearer {token}",
            "X-Gridwall-Terminal": self.terminal(device),
            "X-Gridwall-Purpose": purpose,
        }

    def logout(self, account: str, device: str) -> None:
        token = self.sessions.pop((account, device))
        r = self.client.post(
            "/v1/identity/logout",
            headers={
                "Authorization": f"Bearer {token}",
                "X-Gridwall-Terminal": self.terminal(device),
            },
        )
        assert r.status_code == 204, r.text

    def forget_sessions(self) -> None:
        self.sessions.clear()

    def event(self, index: int) -> dict[str, Any]:
        return dict(json.loads(self.log.entry(index))["event"])

    def events_since(self, size: int) -> list[dict[str, Any]]:
        return [self.event(i) for i in range(size, self.log.size())]


def build_site(db_url: str, tmp: Path, *, audit_url: str | None = None, **options: Any) -> Site:
    from gridwall.app import create_server_app
    from gridwall.app.wiring import load_dataset
    from gridwall.gateway import lookup_feed
    from gridwall.lookup import build_index
    from gridwall.store import make_engine, upgrade

    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        load_dataset(write_dataset(tmp / "dataset"), engine, progress=False)
        build_index(engine, lookup_feed(engine))
    finally:
        engine.dispose()
    clock = FrozenClock()
    app = create_server_app(
        db_url,
        clock=clock,
        audit_url=audit_url,
        identity_config=IdentityConfig(hash_params=TEST_PARAMS),
        audit_durability="os",
        migrate=False,
        **options,
    )
    site = Site(app, TestClient(app), clock, db_url)
    svc = site.server.identity
    before = clock() - timedelta(days=30)
    for account, person, org, role in PEOPLE:
        svc.create_person(person, account, org, role, before, valid_from=before)
        svc.create_account(account, person, before)
        svc.set_password(account, PASSWORD, before)
        site.totp[account], _ = svc.enroll_totp(account, before)
    for _, person, _, _ in PEOPLE:  # compliance training (研修) of the year, for everyone
        by = "P-NW-MGR" if person == "P-NW-COMP" else "P-NW-COMP"
        attest_training(svc, person, date(2026, 10, 1), by, clock())
    for device, org, kind in TERMINALS:
        svc.register_terminal(device, org, kind, before)
        site.keys[device] = svc.enroll_terminal(device, before)
    return site
