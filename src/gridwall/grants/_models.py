"""Tables of purpose-bound grants (SQLAlchemy 2 typed models on ``gridwall.store.Base``).

Every instant is stored as naive UTC through :class:`UTCDateTime`. Nothing here
expires by itself: validity is an interval that the resolver compares with the
clock of each request (decision-time expiry); no clean-up job is needed.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.expression import false

from gridwall.store.base import Base
from gridwall.store.types import UTCDateTime


class DisasterDeclaration(Base):
    """非常災害の宣言: a time-boxed, area-bounded disaster declaration.

    Active from ``max(start_at, approved_at)`` until ``effective_end`` (the
    earliest of ``ended_at``, ``planned_end_at`` and ``hard_max_end_at``), and
    only once approved by a second person.
    """

    __tablename__ = "grant_disasters"

    disaster_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    #: canonical ``;``-separated ``pref`` / ``pref/city`` entries
    area: Mapped[str] = mapped_column(Text)
    start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    planned_end_at: Mapped[datetime] = mapped_column(UTCDateTime())
    hard_max_end_at: Mapped[datetime] = mapped_column(UTCDateTime())
    requested_by: Mapped[str] = mapped_column(String(128))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    approved_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: ``declared`` (through gridwall) or ``dataset`` (loaded from disasters.csv)
    source: Mapped[str] = mapped_column(String(16), default="declared")
    source_ref: Mapped[str | None] = mapped_column(String(300), nullable=True)


class DeletionAttestation(Base):
    """削除証明: an organisation attests that its copies made under a disaster are deleted."""

    __tablename__ = "grant_deletion_attestations"
    __table_args__ = (UniqueConstraint("disaster_id", "org"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    disaster_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("grant_disasters.disaster_id", ondelete="RESTRICT")
    )
    org: Mapped[str] = mapped_column(String(128))
    attested_by: Mapped[str] = mapped_column(String(128))
    attested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    copies: Mapped[int] = mapped_column(Integer, default=0)
    statement: Mapped[str] = mapped_column(Text, default="")


class Agreement(Base):
    """業務委託契約など: an agreement that grants purpose-bound access to its counterparty."""

    __tablename__ = "grant_agreements"

    agreement_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    counterparty_org: Mapped[str] = mapped_column(String(128), index=True)
    purpose: Mapped[str] = mapped_column(String(64))
    #: ``;``-separated field groups
    fields: Mapped[str] = mapped_column(Text, default="")
    #: ``;``-separated area entries; empty = the whole service area
    area: Mapped[str] = mapped_column(Text, default="")
    valid_from: Mapped[date] = mapped_column(Date)
    #: inclusive last JST day; None = open-ended
    valid_to: Mapped[date | None] = mapped_column(Date, nullable=True)
    onward_transfer_forbidden: Mapped[bool] = mapped_column(Boolean, default=True)
    registered_by: Mapped[str] = mapped_column(String(128))
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    source: Mapped[str] = mapped_column(String(16), default="registered")
    source_ref: Mapped[str | None] = mapped_column(String(300), nullable=True)


class ConsentRecord(Base):
    """使用量照会の需要家同意: the registry entry behind a signed consent token."""

    __tablename__ = "grant_consents"

    token_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    supply_point_id: Mapped[str] = mapped_column(String(22), index=True)
    retailer_code: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    validity_days: Mapped[int] = mapped_column(Integer)
    scope_months: Mapped[int] = mapped_column(Integer)
    issued_by: Mapped[str] = mapped_column(String(128))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(128), nullable=True)


class ExportRecord(Base):
    """A watermarked export file: who received it under which agreement."""

    __tablename__ = "grant_exports"

    export_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: 63-bit number carried (encrypted) in every row mark
    serial: Mapped[int] = mapped_column(BigInteger, unique=True)
    recipient_org: Mapped[str] = mapped_column(String(128))
    agreement_id: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(64))
    row_count: Mapped[int] = mapped_column(Integer)
    canary_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(String(128), nullable=True)


class ExportCanary(Base):
    """A canary (trap) row planted in one export; its ID identifies the export."""

    __tablename__ = "grant_export_canaries"

    supply_point_id: Mapped[str] = mapped_column(String(22), primary_key=True)
    export_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("grant_exports.export_id", ondelete="CASCADE")
    )
    contract_name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(20))


class GrantKey(Base):
    """Secret keys of the grants capability (consent-token MAC, watermark)."""

    __tablename__ = "grant_keys"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class GrantState(Base):
    """One row: a version number bumped by every grant change (resolver cache key)."""

    __tablename__ = "grant_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class GrantAuditEvent(Base):
    """Grants' transactional outbox to the audit log, kept as its journal: every audit event
    of a grant step, written in the same transaction as the change it records (a refusal in
    its own), ``delivered`` once the audit log has it (see
    :func:`gridwall.grants._outbox.deliver_audit`). ``seq`` is the delivery order."""

    __tablename__ = "grant_audit_outbox"
    __table_args__ = (Index("ix_grant_audit_outbox_pending", "delivered", "seq"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime())
    event_json: Mapped[str] = mapped_column(Text)
    delivered: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
