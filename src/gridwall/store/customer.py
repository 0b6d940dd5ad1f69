"""Customer tables (託送 data): supply points, retailers, contracts, FIT, switching, usage.

Only :mod:`gridwall.gateway` may import this module (an import-linter contract
enforces it); everyone else reaches customer data through the gateway's public
functions, which decide and mask per field group.

Conventions:

* ``supply_point_id`` (供給地点特定番号) is 22 digits, the first two the area code
  ``01``–``10``; the rest is opaque (see :func:`is_valid_supply_point_id`).
* A contract is *current* on day ``d`` when ``start_date <= d`` and
  (``end_date`` is null or ``d < end_date``): ``end_date`` is exclusive, so a
  switch that ends one contract and starts the next on the same effective date
  never has two retailers of record on that day.
* Times (``switching.applied_at``) are stored in UTC.
* ``usage_monthly.month`` is the text ``YYYY-MM`` (sorts and compares as text).
"""

from __future__ import annotations

import re
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from gridwall.store.base import Base

_ID_RE = re.compile(r"^(0[1-9]|10)[0-9]{20}$")

RETAILER_KINDS = ("affiliated", "independent")
VOLTAGES = ("low", "high", "extra_high")
STATUSES = ("active", "vacant", "closed")
CONTRACT_KINDS = ("retail", "lrs")
SWITCHING_KINDS = ("switch", "move_in", "move_out", "cancel")


def is_valid_supply_point_id(value: str) -> bool:
    """True when ``value`` is a 22-digit 供給地点特定番号 with area code 01–10."""
    return len(value) == 22 and _ID_RE.match(value) is not None


def _in(col: str, values: tuple[str, ...]) -> str:
    return f"{col} IN ({', '.join(repr(v) for v in values)})"


class Retailer(Base):
    """小売電気事業者: ``affiliated`` (関係小売) or ``independent`` (新電力)."""

    __tablename__ = "retailers"
    __table_args__ = (CheckConstraint(_in("kind", RETAILER_KINDS), name="kind"),)

    retailer_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))


class SupplyPoint(Base):
    """供給地点: address parts, 契約名義, phone and equipment (voltage + meter)."""

    __tablename__ = "supply_points"
    __table_args__ = (
        CheckConstraint(_in("voltage", VOLTAGES), name="voltage"),
        CheckConstraint(_in("status", STATUSES), name="status"),
        Index("ix_supply_points_address", "pref", "city", "town", "banchi"),
        Index("ix_supply_points_meter_id", "meter_id"),
    )

    supply_point_id: Mapped[str] = mapped_column(String(22), primary_key=True)
    pref: Mapped[str] = mapped_column(String(16))
    city: Mapped[str] = mapped_column(String(64))
    town: Mapped[str | None] = mapped_column(String(128))
    banchi: Mapped[str | None] = mapped_column(String(64))
    building: Mapped[str | None] = mapped_column(String(128))
    room: Mapped[str | None] = mapped_column(String(32))
    contract_name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    voltage: Mapped[str] = mapped_column(String(16))
    meter_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))


class SupplyContract(Base):
    """供給契約 over time: the retailer of record (``retail``) or 最終保障供給 (``lrs``)."""

    __tablename__ = "supply_contracts"
    __table_args__ = (
        CheckConstraint(_in("kind", CONTRACT_KINDS), name="kind"),
        UniqueConstraint("supply_point_id", "start_date", name="uq_supply_contracts_point_start"),
        # "a retailer's current customers", walked in supply point order (keyset pages);
        # start/end dates in the index decide "current" without visiting the table
        Index(
            "ix_supply_contracts_retailer_current",
            "retailer_code",
            "supply_point_id",
            "start_date",
            "end_date",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    supply_point_id: Mapped[str] = mapped_column(
        String(22), ForeignKey("supply_points.supply_point_id")
    )
    retailer_code: Mapped[str] = mapped_column(String(32))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(8))


class FitContract(Base):
    """再エネ特措法 (FIT) specific contract of a supply point."""

    __tablename__ = "fit_contracts"
    __table_args__ = (
        UniqueConstraint("supply_point_id", "start_date", name="uq_fit_contracts_point_start"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    supply_point_id: Mapped[str] = mapped_column(
        String(22), ForeignKey("supply_points.supply_point_id")
    )
    generator_name: Mapped[str] = mapped_column(String(200))
    capacity_kw: Mapped[float] = mapped_column(Float)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)


class SwitchingApplication(Base):
    """A スイッチング支援システム application: switch / move_in / move_out / cancel."""

    __tablename__ = "switching_applications"
    __table_args__ = (
        CheckConstraint(_in("kind", SWITCHING_KINDS), name="kind"),
        Index("ix_switching_applications_point", "supply_point_id", "effective_date"),
    )

    application_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    supply_point_id: Mapped[str] = mapped_column(
        String(22), ForeignKey("supply_points.supply_point_id")
    )
    kind: Mapped[str] = mapped_column(String(16))
    from_retailer: Mapped[str | None] = mapped_column(String(32))
    to_retailer: Mapped[str | None] = mapped_column(String(32))
    applied_at: Mapped[datetime] = mapped_column(DateTime)  # UTC, naive
    effective_date: Mapped[date | None] = mapped_column(Date)


class MonthlyUsage(Base):
    """使用量: monthly kWh of a supply point (``month`` = ``YYYY-MM``)."""

    __tablename__ = "usage_monthly"

    supply_point_id: Mapped[str] = mapped_column(
        String(22), ForeignKey("supply_points.supply_point_id"), primary_key=True
    )
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    kwh: Mapped[float] = mapped_column(Float)


__all__ = [
    "CONTRACT_KINDS",
    "RETAILER_KINDS",
    "STATUSES",
    "SWITCHING_KINDS",
    "VOLTAGES",
    "FitContract",
    "MonthlyUsage",
    "Retailer",
    "SupplyContract",
    "SupplyPoint",
    "SwitchingApplication",
    "is_valid_supply_point_id",
]
