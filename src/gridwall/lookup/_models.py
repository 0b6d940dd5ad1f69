"""The lookup's own tables (Alembic branch ``lookup``): an index, not the customer data.

``lookup_places`` holds one row per distinct 町丁目 the operator serves; ``lookup_points`` one
row per supply point with only what the lookup may return (ID, equipment, address parts).
Names and phone numbers are never copied here. Near misses are found on places by trigram:
SQLite FTS5 (``lookup_places_fts``, tokenizer ``trigram``) or PostgreSQL ``pg_trgm``.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gridwall.store.base import Base


class LookupPlace(Base):
    """A 町丁目 (town + 丁目) in a municipality, as the index knows it."""

    __tablename__ = "lookup_places"
    __table_args__ = (UniqueConstraint("pref", "city", "town", "chome", name="uq_lookup_place"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pref: Mapped[str] = mapped_column(String(8))
    city: Mapped[str] = mapped_column(String(64))  # dictionary form: 三重郡川越町, 京都市中京区
    town: Mapped[str] = mapped_column(String(128))  # base name, without 丁目 and 大字
    chome: Mapped[int] = mapped_column(Integer)  # 0 = none
    known: Mapped[bool] = mapped_column(Boolean)  # in the national dictionary
    key_text: Mapped[str] = mapped_column(String(256))  # folded, for trigram search


class LookupPoint(Base):
    """A supply point: ID, equipment and address parts (never 契約名義 or phone)."""

    __tablename__ = "lookup_points"
    __table_args__ = (
        Index("ix_lookup_points_addr", "place_id", "block", "number"),
        Index("ix_lookup_points_spid", "supply_point_id", unique=True),  # the refresh's key
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    supply_point_id: Mapped[str] = mapped_column(String(22))
    place_id: Mapped[int] = mapped_column(Integer)
    block: Mapped[str] = mapped_column(String(16))  # '' when none
    number: Mapped[str] = mapped_column(String(16))  # '' when none
    rest: Mapped[str] = mapped_column(String(256))  # 枝番, building, room as the operator keeps
    room: Mapped[str] = mapped_column(String(32))
    voltage: Mapped[str] = mapped_column(String(16))
    meter_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))


class LookupMeta(Base):
    """Facts about the index: ``version`` (its layout, see ``INDEX_VERSION``), ``built_at``,
    ``refreshed_at``, ``state`` (a new token on every change), ``points``, ``places``."""

    __tablename__ = "lookup_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))
