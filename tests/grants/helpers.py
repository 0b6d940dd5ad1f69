"""Builders shared by grants tests."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gridwall.interfaces import PointContext, Principal, Terminal
from gridwall.interfaces.facts import (
    AccountKind,
    AccountState,
    DeviceFacts,
    DeviceKind,
    DeviceOwner,
    OrgKind,
    PrincipalFacts,
    RetailerKind,
    Role,
)

SAPPORO_KITA = PointContext("0100000000000000000001", "北海道", "札幌市北区", False)
CHIYODA = PointContext("0300000000000000000002", "東京都", "千代田区", False)
MINATO = PointContext("0300000000000000000003", "東京都", "港区", False)
HAKODATE = PointContext("0100000000000000000004", "北海道", "函館市", False)
LRS_POINT = PointContext("0300000000000000000005", "東京都", "千代田区", True)


def retail_agent(code: str, kind: RetailerKind, account: str = "agent") -> Principal:
    facts = PrincipalFacts(
        OrgKind.RETAIL, kind, Role.CALL_CENTER, AccountKind.PERSONAL, AccountState.ACTIVE, True
    )
    return Principal(f"{account}-{code}", f"p-{code}", f"retail:{code}", facts)


def nw_staff(role: Role = Role.TAKUSO_OPERATOR) -> Principal:
    facts = PrincipalFacts(
        OrgKind.NW, RetailerKind.NONE, role, AccountKind.PERSONAL, AccountState.ACTIVE, True
    )
    return Principal("nw-1", "p-nw-1", "nw", facts)


def contractor(cid: str) -> Principal:
    facts = PrincipalFacts(
        OrgKind.CONTRACTOR, RetailerKind.NONE, Role.IT_MAINTENANCE, AccountKind.PERSONAL,
        AccountState.ACTIVE, True,
    )  # fmt: skip
    return Principal(f"c-{cid}", f"p-c-{cid}", f"contractor:{cid}", facts)


def terminal(owner: str, kind: DeviceKind = DeviceKind.DISASTER_TERMINAL) -> Terminal:
    return Terminal(f"dev-{owner}", owner, DeviceFacts(kind, DeviceOwner.SAME_ORG, True))


def register_parties(engine: Engine, retailers: Iterable[str], points: Iterable[str]) -> None:
    """Put retailers and supply points in the gateway's tables (the grant desks composed
    by the app refuse consents and attestations for parties that do not exist)."""
    from gridwall.store.customer import Retailer, SupplyPoint

    with Session(engine) as s:
        for code in retailers:
            s.add(Retailer(retailer_code=code, name=f"小売{code}", kind="independent"))
        for spid in points:
            s.add(
                SupplyPoint(
                    supply_point_id=spid, pref="東京都", city="千代田区", town=None, banchi=None,
                    building=None, room=None, contract_name=None, phone=None, voltage="low",
                    meter_id=None, status="active",
                )
            )  # fmt: skip
        s.commit()
