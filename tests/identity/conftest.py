"""Fixtures for identity tests: a migrated store, a frozen clock, a recording audit sink."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest
from sqlalchemy import Engine

from gridwall.identity import IdentityConfig, IdentityService
from gridwall.identity._keys import TERMINAL_PREFIX, load_key_file, sign_token
from gridwall.identity._passwords import TEST_PARAMS
from gridwall.store import make_engine, upgrade

T0 = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)  # 09:00 JST
PASSWORD = "correct horse battery staple"
RETAILERS = {"A0001": "affiliated", "B0002": "independent"}


class RecordingSink:
    """An AuditSink that keeps events in memory (and can be told to fail)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.fail = False

    def record(self, event: Mapping[str, Any]) -> None:
        if self.fail:
            raise OSError("audit store unavailable")
        self.events.append(dict(event))

    def actions(self) -> list[tuple[str, str]]:
        return [(e["action"], e["reason"]) for e in self.events]


@dataclass
class World:
    svc: IdentityService
    sink: RecordingSink
    engine: Engine
    now: datetime = T0
    keys: dict[str, str] = field(default_factory=dict)
    totp: dict[str, str] = field(default_factory=dict)
    disaster: bool = False

    def tick(self, **kw: float) -> datetime:
        self.now = self.now + timedelta(**kw)
        return self.now

    def term(self, device_id: str, at: datetime | None = None) -> str:
        _, _, key = load_key_file(self.keys[device_id])
        return sign_token(TERMINAL_PREFIX, key, device_id, at or self.now)

    def code(self, account_id: str, at: datetime | None = None) -> str:
        return pyotp.TOTP(self.totp[account_id]).at(at or self.now)

    def login(self, account_id: str, device_id: str, password: str = PASSWORD) -> str:
        return self.svc.login(
            account_id, password, self.code(account_id), self.term(device_id), self.now
        ).token

    def add_user(self, person_id: str, org: str, role: str, account_id: str) -> None:
        self.svc.create_person(
            person_id,
            person_id.title(),
            org,
            role,
            self.now - timedelta(days=30),
            valid_from=self.now - timedelta(days=30),
        )
        self.svc.create_account(account_id, person_id, self.now - timedelta(days=29))
        self.svc.set_password(account_id, PASSWORD, self.now)
        self.totp[account_id], _ = self.svc.enroll_totp(account_id, self.now)

    def add_terminal(self, device_id: str, org: str, kind: str) -> None:
        self.svc.register_terminal(device_id, org, kind, self.now - timedelta(days=30))
        self.keys[device_id] = self.svc.enroll_terminal(device_id, self.now)


def make_world(url: str, **config: Any) -> World:
    upgrade(url)
    engine = make_engine(url)
    sink = RecordingSink()
    holder: dict[str, World] = {}
    svc = IdentityService(
        engine,
        sink,
        IdentityConfig(hash_params=TEST_PARAMS, **config),
        retailer_kinds=RETAILERS,
        disaster_active=lambda now: holder["w"].disaster,
    )
    w = World(svc, sink, engine)
    holder["w"] = w
    w.add_user("p-nw", "nw", "takuso_operator", "nw-op")
    w.add_user("p-ret", "retail:A0001", "sales", "ret-op")
    w.add_terminal("t-nw", "nw", "nw_terminal")
    w.add_terminal("t-nw2", "nw", "nw_terminal")
    w.add_terminal("t-ret", "retail:A0001", "retail_terminal")
    w.add_terminal("t-dis", "retail:A0001", "disaster_terminal")
    sink.events.clear()
    return w


@pytest.fixture
def world(sqlite_url: str) -> Iterator[World]:
    w = make_world(sqlite_url)
    yield w
    w.engine.dispose()


@pytest.fixture
def db_world(db_url: str) -> Iterator[World]:
    w = make_world(db_url)
    yield w
    w.engine.dispose()
