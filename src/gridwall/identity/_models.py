"""Identity tables (SQLAlchemy 2 typed models on :class:`gridwall.store.Base`).

All tables carry the prefix ``idn_``. The schema itself enforces the rules that
matter most:

* every row of ``idn_accounts`` has a holder person (NOT NULL + foreign key) and
  ``kind = 'personal'`` (CHECK): a shared or organisational login cannot exist;
  legacy shared IDs live in ``idn_legacy_accounts`` and are never usable;
* API clients belong to a retailer organisation (CHECK ``org LIKE 'retail:%'``);
* a change request can never be approved by its requester (CHECK, 二人承認).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from gridwall.store import Base
from gridwall.store.types import UTCTimestamp

ID = String(128)
ORG = String(128)


class Person(Base):
    """A natural person (従業員・委託先要員など)."""

    __tablename__ = "idn_persons"
    person_id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCTimestamp())


class Assignment(Base):
    """An HR assignment (所属): one organisation for a half-open period [valid_from, valid_to)."""

    __tablename__ = "idn_assignments"
    __table_args__ = (
        UniqueConstraint("person_id", "valid_from", name="person_from"),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="period"),
        Index("ix_idn_assignments_person", "person_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("idn_persons.person_id"))
    org: Mapped[str] = mapped_column(ORG)
    department: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(80))
    valid_from: Mapped[datetime] = mapped_column(UTCTimestamp())
    valid_to: Mapped[datetime | None] = mapped_column(UTCTimestamp())
    source: Mapped[str] = mapped_column(String(200))


class Account(Base):
    """A personal login ID (個人ID). Never shared: the holder is mandatory."""

    __tablename__ = "idn_accounts"
    __table_args__ = (
        CheckConstraint("kind = 'personal'", name="personal_only"),
        Index("ix_idn_accounts_holder", "holder_person_id"),
    )
    account_id: Mapped[str] = mapped_column(ID, primary_key=True)
    system: Mapped[str] = mapped_column(String(64))
    holder_person_id: Mapped[str] = mapped_column(
        ForeignKey("idn_persons.person_id"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(16), default="personal")
    org: Mapped[str] = mapped_column(ORG)
    created_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())
    revoke_reason: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())
    password_hash: Mapped[str | None] = mapped_column(String(256))
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    failed_count: Mapped[int] = mapped_column(Integer, default=0)
    lockouts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCTimestamp())
    source: Mapped[str] = mapped_column(String(200))


class LegacyAccount(Base):
    """A legacy shared/organisational/service ID found in an import: flagged, never usable."""

    __tablename__ = "idn_legacy_accounts"
    __table_args__ = (
        CheckConstraint("kind IN ('shared', 'disaster_support', 'service')", name="kind"),
    )
    account_id: Mapped[str] = mapped_column(ID, primary_key=True)
    system: Mapped[str] = mapped_column(String(64))
    holder_person_id: Mapped[str | None] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(String(32))
    org: Mapped[str] = mapped_column(ORG)
    created_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())
    flag: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(200))


class ApiClient(Base):
    """A retailer system's API client, bound to the retailer organisation (Ed25519 key)."""

    __tablename__ = "idn_api_clients"
    __table_args__ = (CheckConstraint("org LIKE 'retail:%'", name="retail_only"),)
    client_id: Mapped[str] = mapped_column(ID, primary_key=True)
    org: Mapped[str] = mapped_column(ORG)
    role: Mapped[str] = mapped_column(String(80))
    public_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCTimestamp())
    valid_to: Mapped[datetime | None] = mapped_column(UTCTimestamp())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())
    created_by: Mapped[str | None] = mapped_column(ID)


class Terminal(Base):
    """A registered terminal (端末) with its enrolled Ed25519 public key."""

    __tablename__ = "idn_terminals"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('nw_terminal', 'retail_terminal', 'disaster_terminal', "
            "'contractor_terminal', 'regulator_terminal')",
            name="kind",
        ),
    )
    device_id: Mapped[str] = mapped_column(ID, primary_key=True)
    owner_org: Mapped[str] = mapped_column(ORG)
    kind: Mapped[str] = mapped_column(String(32))
    location: Mapped[str | None] = mapped_column(String(200))
    valid_from: Mapped[datetime | None] = mapped_column(UTCTimestamp())
    valid_to: Mapped[datetime | None] = mapped_column(UTCTimestamp())
    public_key: Mapped[str | None] = mapped_column(String(64))
    enrolled_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())
    source: Mapped[str] = mapped_column(String(200))


class Session(Base):
    """A login session, bound to one account and one terminal. Only a hash of the token is kept."""

    __tablename__ = "idn_sessions"
    __table_args__ = (Index("ix_idn_sessions_account", "account_id"),)
    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("idn_accounts.account_id"))
    device_id: Mapped[str] = mapped_column(ForeignKey("idn_terminals.device_id"))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCTimestamp())
    last_seen_at: Mapped[datetime] = mapped_column(UTCTimestamp())
    ended_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())
    end_reason: Mapped[str | None] = mapped_column(String(64))


class Alert(Base):
    """An identity alert (e.g. shared credentials, C③; another org's terminal, C②)."""

    __tablename__ = "idn_alerts"
    alert_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCTimestamp())
    rule: Mapped[str] = mapped_column(String(64))
    incident_type: Mapped[str] = mapped_column(String(16))
    severity: Mapped[int] = mapped_column(Integer)
    account_id: Mapped[str | None] = mapped_column(ID)
    person_id: Mapped[str | None] = mapped_column(ID)
    org: Mapped[str | None] = mapped_column(ORG)
    device_ids: Mapped[str] = mapped_column(Text)
    session_ids: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    #: ``;``-separated ids of the audit events the alert rests on (its evidence)
    event_ids: Mapped[str | None] = mapped_column(Text)


class WatchEntry(Base):
    """Cooling-off watch list (転籍者の監視): people who moved from NW to a retailer."""

    __tablename__ = "idn_watchlist"
    person_id: Mapped[str] = mapped_column(ID, primary_key=True)
    effective_at: Mapped[datetime] = mapped_column(UTCTimestamp(), primary_key=True)
    from_org: Mapped[str] = mapped_column(ORG)
    to_org: Mapped[str] = mapped_column(ORG)
    until: Mapped[datetime] = mapped_column(UTCTimestamp())
    source: Mapped[str] = mapped_column(String(200))


class HrChange(Base):
    """Journal of applied HR changes (人事異動)."""

    __tablename__ = "idn_hr_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(ID)
    change: Mapped[str] = mapped_column(String(16))
    org: Mapped[str | None] = mapped_column(ORG)
    department: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(80))
    effective_at: Mapped[datetime] = mapped_column(UTCTimestamp())
    applied_at: Mapped[datetime] = mapped_column(UTCTimestamp())
    source: Mapped[str] = mapped_column(String(200))


class Entitlement(Base):
    """Something that must be recertified (権限棚卸し): an account's access, a role or a grant."""

    __tablename__ = "idn_entitlements"
    __table_args__ = (
        UniqueConstraint("account_id", "kind", "name", name="account_kind_name"),
        CheckConstraint("kind IN ('account', 'role', 'grant')", name="kind"),
    )
    entitlement_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("idn_accounts.account_id"))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    owner_person_id: Mapped[str | None] = mapped_column(ForeignKey("idn_persons.person_id"))
    created_at: Mapped[datetime] = mapped_column(UTCTimestamp())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())


class ReviewCampaign(Base):
    """An access-review campaign (権限棚卸し) with a deadline."""

    __tablename__ = "idn_review_campaigns"
    campaign_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCTimestamp())
    deadline: Mapped[datetime] = mapped_column(UTCTimestamp())
    started_by: Mapped[str] = mapped_column(ID)
    closed_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())


class ReviewItem(Base):
    """One entitlement to recertify in a campaign: pending, recertified or revoked."""

    __tablename__ = "idn_review_items"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'recertified', 'revoked')", name="status"),
    )
    campaign_id: Mapped[str] = mapped_column(
        ForeignKey("idn_review_campaigns.campaign_id"), primary_key=True
    )
    entitlement_id: Mapped[int] = mapped_column(
        ForeignKey("idn_entitlements.entitlement_id"), primary_key=True
    )
    owner_person_id: Mapped[str | None] = mapped_column(ID)
    status: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[str | None] = mapped_column(ID)
    decided_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())


class Training(Base):
    """A compliance-training attestation (コンプライアンス研修受講)."""

    __tablename__ = "idn_training"
    person_id: Mapped[str] = mapped_column(ForeignKey("idn_persons.person_id"), primary_key=True)
    completed_on: Mapped[date] = mapped_column(Date, primary_key=True)
    attested_by: Mapped[str] = mapped_column(ID)
    recorded_at: Mapped[datetime] = mapped_column(UTCTimestamp())


class Change(Base):
    """A versioned change under two-person control (変更管理・二人承認)."""

    __tablename__ = "idn_changes"
    __table_args__ = (
        CheckConstraint("decided_by IS NULL OR decided_by <> requested_by", name="two_person"),
        CheckConstraint("status IN ('pending', 'applied', 'rejected')", name="status"),
        Index("ix_idn_changes_subject", "subject"),
    )
    change_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(200))
    version: Mapped[int | None] = mapped_column(Integer)
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(ID)
    requested_at: Mapped[datetime] = mapped_column(UTCTimestamp())
    status: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[str | None] = mapped_column(ID)
    decided_at: Mapped[datetime | None] = mapped_column(UTCTimestamp())


class AuditRecord(Base):
    """Identity's own durable journal of the audit events it emitted (JSON), and the outbox
    to the audit log: written in the same transaction as the change it records, ``delivered``
    once the audit log has it (see :meth:`IdentityService.deliver_audit`)."""

    __tablename__ = "idn_audit_events"
    __table_args__ = (Index("ix_idn_audit_events_pending", "delivered", "seq"),)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    ts: Mapped[datetime] = mapped_column(UTCTimestamp())
    action: Mapped[str] = mapped_column(String(32))
    account_id: Mapped[str | None] = mapped_column(ID)
    event_json: Mapped[str] = mapped_column(Text)
    delivered: Mapped[bool] = mapped_column(Boolean, server_default=true(), default=False)
