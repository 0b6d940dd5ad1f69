"""identity: persons, assignments, personal accounts, terminals, sessions, alerts,
watch list, HR journal, access reviews, training, change control, audit journal.

Revision ID: identity_0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "identity_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("identity",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idn_alerts",
        sa.Column("alert_id", sa.String(length=64), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("incident_type", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=True),
        sa.Column("person_id", sa.String(length=128), nullable=True),
        sa.Column("org", sa.String(length=128), nullable=True),
        sa.Column("device_ids", sa.Text(), nullable=False),
        sa.Column("session_ids", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_idn_alerts")),
    )
    op.create_table(
        "idn_api_clients",
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("org", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=80), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=True),
        sa.CheckConstraint("org LIKE 'retail:%'", name=op.f("ck_idn_api_clients_retail_only")),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_idn_api_clients")),
    )
    op.create_table(
        "idn_audit_events",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=True),
        sa.Column("event_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_idn_audit_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_idn_audit_events_event_id")),
    )
    op.create_table(
        "idn_changes",
        sa.Column("change_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'applied', 'rejected')", name=op.f("ck_idn_changes_status")
        ),
        sa.CheckConstraint(
            "decided_by IS NULL OR decided_by <> requested_by",
            name=op.f("ck_idn_changes_two_person"),
        ),
        sa.PrimaryKeyConstraint("change_id", name=op.f("pk_idn_changes")),
    )
    op.create_index("ix_idn_changes_subject", "idn_changes", ["subject"], unique=False)
    op.create_table(
        "idn_hr_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.String(length=128), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("org", sa.String(length=128), nullable=True),
        sa.Column("department", sa.String(length=200), nullable=True),
        sa.Column("role", sa.String(length=80), nullable=True),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idn_hr_changes")),
    )
    op.create_table(
        "idn_legacy_accounts",
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("holder_person_id", sa.String(length=128), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("org", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("flag", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.CheckConstraint(
            "kind IN ('shared', 'disaster_support', 'service')",
            name=op.f("ck_idn_legacy_accounts_kind"),
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_idn_legacy_accounts")),
    )
    op.create_table(
        "idn_persons",
        sa.Column("person_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_idn_persons")),
    )
    op.create_table(
        "idn_review_campaigns",
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_by", sa.String(length=128), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("campaign_id", name=op.f("pk_idn_review_campaigns")),
    )
    op.create_table(
        "idn_terminals",
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("owner_org", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("public_key", sa.String(length=64), nullable=True),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.CheckConstraint(
            "kind IN ('nw_terminal', 'retail_terminal', 'disaster_terminal', "
            "'contractor_terminal')",
            name=op.f("ck_idn_terminals_kind"),
        ),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_idn_terminals")),
    )
    op.create_table(
        "idn_watchlist",
        sa.Column("person_id", sa.String(length=128), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_org", sa.String(length=128), nullable=False),
        sa.Column("to_org", sa.String(length=128), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("person_id", "effective_at", name=op.f("pk_idn_watchlist")),
    )
    op.create_table(
        "idn_accounts",
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("holder_person_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("org", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoke_reason", sa.String(length=64), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("password_hash", sa.String(length=256), nullable=True),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("totp_secret", sa.String(length=64), nullable=True),
        sa.Column("totp_last_step", sa.Integer(), nullable=True),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column("lockouts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.CheckConstraint("kind = 'personal'", name=op.f("ck_idn_accounts_personal_only")),
        sa.ForeignKeyConstraint(
            ["holder_person_id"],
            ["idn_persons.person_id"],
            name=op.f("fk_idn_accounts_holder_person_id_idn_persons"),
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_idn_accounts")),
    )
    op.create_index("ix_idn_accounts_holder", "idn_accounts", ["holder_person_id"], unique=False)
    op.create_table(
        "idn_assignments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.String(length=128), nullable=False),
        sa.Column("org", sa.String(length=128), nullable=False),
        sa.Column("department", sa.String(length=200), nullable=True),
        sa.Column("role", sa.String(length=80), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from", name=op.f("ck_idn_assignments_period")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["idn_persons.person_id"],
            name=op.f("fk_idn_assignments_person_id_idn_persons"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idn_assignments")),
        sa.UniqueConstraint("person_id", "valid_from", name="person_from"),
    )
    op.create_index("ix_idn_assignments_person", "idn_assignments", ["person_id"], unique=False)
    op.create_table(
        "idn_training",
        sa.Column("person_id", sa.String(length=128), nullable=False),
        sa.Column("completed_on", sa.Date(), nullable=False),
        sa.Column("attested_by", sa.String(length=128), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["idn_persons.person_id"],
            name=op.f("fk_idn_training_person_id_idn_persons"),
        ),
        sa.PrimaryKeyConstraint("person_id", "completed_on", name=op.f("pk_idn_training")),
    )
    op.create_table(
        "idn_entitlements",
        sa.Column("entitlement_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner_person_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('account', 'role', 'grant')", name=op.f("ck_idn_entitlements_kind")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["idn_accounts.account_id"],
            name=op.f("fk_idn_entitlements_account_id_idn_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_person_id"],
            ["idn_persons.person_id"],
            name=op.f("fk_idn_entitlements_owner_person_id_idn_persons"),
        ),
        sa.PrimaryKeyConstraint("entitlement_id", name=op.f("pk_idn_entitlements")),
        sa.UniqueConstraint("account_id", "kind", "name", name="account_kind_name"),
    )
    op.create_table(
        "idn_sessions",
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("source_ip", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["idn_accounts.account_id"],
            name=op.f("fk_idn_sessions_account_id_idn_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["idn_terminals.device_id"],
            name=op.f("fk_idn_sessions_device_id_idn_terminals"),
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_idn_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_idn_sessions_token_hash")),
    )
    op.create_index("ix_idn_sessions_account", "idn_sessions", ["account_id"], unique=False)
    op.create_table(
        "idn_review_items",
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("entitlement_id", sa.Integer(), nullable=False),
        sa.Column("owner_person_id", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'recertified', 'revoked')",
            name=op.f("ck_idn_review_items_status"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["idn_review_campaigns.campaign_id"],
            name=op.f("fk_idn_review_items_campaign_id_idn_review_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["entitlement_id"],
            ["idn_entitlements.entitlement_id"],
            name=op.f("fk_idn_review_items_entitlement_id_idn_entitlements"),
        ),
        sa.PrimaryKeyConstraint("campaign_id", "entitlement_id", name=op.f("pk_idn_review_items")),
    )


def downgrade() -> None:
    op.drop_table("idn_review_items")
    op.drop_table("idn_sessions")
    op.drop_table("idn_entitlements")
    op.drop_table("idn_training")
    op.drop_table("idn_assignments")
    op.drop_table("idn_accounts")
    op.drop_table("idn_watchlist")
    op.drop_table("idn_terminals")
    op.drop_table("idn_review_campaigns")
    op.drop_table("idn_persons")
    op.drop_table("idn_legacy_accounts")
    op.drop_table("idn_hr_changes")
    op.drop_table("idn_changes")
    op.drop_table("idn_audit_events")
    op.drop_table("idn_api_clients")
    op.drop_table("idn_alerts")
