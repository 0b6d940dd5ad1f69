"""grants: disasters, deletion attestations, agreements, consents, exports, keys.

Revision ID: grants_0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "grants_0001"
down_revision = None
branch_labels = ("grants",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "grant_disasters",
        sa.Column("disaster_id", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("area", sa.Text(), nullable=False),
        sa.Column("start_at", sa.DateTime(), nullable=False),
        sa.Column("planned_end_at", sa.DateTime(), nullable=False),
        sa.Column("hard_max_end_at", sa.DateTime(), nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("approved_by", sa.String(128), nullable=True),
        sa.Column("approved_at", sa.DateTime(), nullable=True),
        sa.Column("ended_by", sa.String(128), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_ref", sa.String(300), nullable=True),
        sa.PrimaryKeyConstraint("disaster_id", name="pk_grant_disasters"),
    )
    op.create_table(
        "grant_deletion_attestations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("disaster_id", sa.String(64), nullable=False),
        sa.Column("org", sa.String(128), nullable=False),
        sa.Column("attested_by", sa.String(128), nullable=False),
        sa.Column("attested_at", sa.DateTime(), nullable=False),
        sa.Column("copies", sa.Integer(), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["disaster_id"],
            ["grant_disasters.disaster_id"],
            name="fk_grant_deletion_attestations_disaster_id_grant_disasters",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_grant_deletion_attestations"),
        sa.UniqueConstraint(
            "disaster_id", "org", name="uq_grant_deletion_attestations_disaster_id"
        ),
    )
    op.create_table(
        "grant_agreements",
        sa.Column("agreement_id", sa.String(64), nullable=False),
        sa.Column("counterparty_org", sa.String(128), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("area", sa.Text(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("onward_transfer_forbidden", sa.Boolean(), nullable=False),
        sa.Column("registered_by", sa.String(128), nullable=False),
        sa.Column("registered_at", sa.DateTime(), nullable=False),
        sa.Column("ended_by", sa.String(128), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_ref", sa.String(300), nullable=True),
        sa.PrimaryKeyConstraint("agreement_id", name="pk_grant_agreements"),
    )
    op.create_index(
        "ix_grant_agreements_counterparty_org", "grant_agreements", ["counterparty_org"]
    )
    op.create_table(
        "grant_consents",
        sa.Column("token_id", sa.String(40), nullable=False),
        sa.Column("supply_point_id", sa.String(22), nullable=False),
        sa.Column("retailer_code", sa.String(64), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("validity_days", sa.Integer(), nullable=False),
        sa.Column("scope_months", sa.Integer(), nullable=False),
        sa.Column("issued_by", sa.String(128), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("token_id", name="pk_grant_consents"),
    )
    op.create_index("ix_grant_consents_supply_point_id", "grant_consents", ["supply_point_id"])
    op.create_table(
        "grant_exports",
        sa.Column("export_id", sa.String(64), nullable=False),
        sa.Column("serial", sa.BigInteger(), nullable=False),
        sa.Column("recipient_org", sa.String(128), nullable=False),
        sa.Column("agreement_id", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("canary_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("export_id", name="pk_grant_exports"),
        sa.UniqueConstraint("serial", name="uq_grant_exports_serial"),
    )
    op.create_table(
        "grant_export_canaries",
        sa.Column("supply_point_id", sa.String(22), nullable=False),
        sa.Column("export_id", sa.String(64), nullable=False),
        sa.Column("contract_name", sa.String(100), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.ForeignKeyConstraint(
            ["export_id"],
            ["grant_exports.export_id"],
            name="fk_grant_export_canaries_export_id_grant_exports",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("supply_point_id", name="pk_grant_export_canaries"),
    )
    op.create_table(
        "grant_keys",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_grant_keys"),
    )
    op.create_table(
        "grant_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_grant_state"),
    )
    op.bulk_insert(
        sa.table("grant_state", sa.column("id", sa.Integer), sa.column("version", sa.BigInteger)),
        [{"id": 1, "version": 0}],
    )


def downgrade() -> None:
    for t in (
        "grant_state",
        "grant_keys",
        "grant_export_canaries",
        "grant_exports",
        "grant_consents",
        "grant_agreements",
        "grant_deletion_attestations",
        "grant_disasters",
    ):
        op.drop_table(t)
