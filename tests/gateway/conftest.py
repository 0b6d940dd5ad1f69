"""Fixtures: the tiny operator loaded into SQLite / PostgreSQL, principals, terminals, a gateway."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from gridwall.app.wiring import load_dataset
from gridwall.gateway import Gateway
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
from support.doubles import MemoryAuditSink, NoGrants, TokenAuthenticator

from . import tiny

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # 12:00 JST


def principal(
    account_id: str,
    org: str,
    role: Role,
    *,
    retailer_kind: RetailerKind = RetailerKind.NONE,
    account_kind: AccountKind = AccountKind.PERSONAL,
    state: AccountState = AccountState.ACTIVE,
    trained: bool = True,
) -> Principal:
    kind = OrgKind(org.split(":", 1)[0])
    facts = PrincipalFacts(kind, retailer_kind, role, account_kind, state, trained)
    return Principal(account_id, f"P-{account_id}", org, facts, session_id=f"s-{account_id}")


@dataclass
class World:
    auth: TokenAuthenticator
    tokens: dict[str, str] = field(default_factory=dict)
    terminals: dict[str, str] = field(default_factory=dict)


def make_world() -> World:
    auth = TokenAuthenticator(secret=b"test-secret")
    w = World(auth)
    for p in (
        principal("nw-op", "nw", Role.TAKUSO_OPERATOR),
        principal("nw-fit", "nw", Role.FIT_TEAM),
        principal("nw-untrained", "nw", Role.TAKUSO_OPERATOR, trained=False),
        principal(
            "aff-agent",
            f"retail:{tiny.AFF}",
            Role.CALL_CENTER,
            retailer_kind=RetailerKind.AFFILIATED,
        ),
        principal(
            "ind-agent",
            f"retail:{tiny.IND}",
            Role.CALL_CENTER,
            retailer_kind=RetailerKind.INDEPENDENT,
        ),
        principal(
            "ind2-agent", f"retail:{tiny.IND2}", Role.SALES, retailer_kind=RetailerKind.INDEPENDENT
        ),
        principal(
            "aff-revoked",
            f"retail:{tiny.AFF}",
            Role.CALL_CENTER,
            retailer_kind=RetailerKind.AFFILIATED,
            state=AccountState.REVOKED,
        ),
        principal("contractor", "contractor:IT1", Role.IT_MAINTENANCE),
        principal("auditor", "regulator", Role.AUDITOR),
    ):
        w.tokens[p.account_id] = auth.register(p)
    for dev, org, kind in (
        ("T-NW", "nw", DeviceKind.NW_TERMINAL),
        ("T-AFF", f"retail:{tiny.AFF}", DeviceKind.RETAIL_TERMINAL),
        ("T-IND", f"retail:{tiny.IND}", DeviceKind.RETAIL_TERMINAL),
        ("T-IND2", f"retail:{tiny.IND2}", DeviceKind.RETAIL_TERMINAL),
        ("T-CON", "contractor:IT1", DeviceKind.CONTRACTOR_TERMINAL),
        ("T-REG", "regulator", DeviceKind.NW_TERMINAL),
        ("T-DIS-AFF", f"retail:{tiny.AFF}", DeviceKind.DISASTER_TERMINAL),
    ):
        w.terminals[dev] = auth.enroll_terminal(dev, org, kind)
    return w


@pytest.fixture
def loaded(db_url: str, tmp_path: Path) -> Iterator[Engine]:
    upgrade(db_url)
    engine = make_engine(db_url)
    load_dataset(tiny.write(tmp_path / "ds"), engine, progress=False)
    yield engine
    engine.dispose()


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture
def audit() -> MemoryAuditSink:
    return MemoryAuditSink()


@pytest.fixture
def gw(loaded: Engine, world: World, audit: MemoryAuditSink) -> Gateway:
    return Gateway(
        loaded,
        default_engine(),
        auth=world.auth,
        grants=NoGrants(),
        audit=audit,
        clock=lambda: NOW,
    )
