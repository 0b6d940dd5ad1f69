"""monitor: cursor into the audit log, runs, alerts and their evidence (issue 13).

Revision ID: monitor_0001
Revises:
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "monitor_0001"
down_revision = None
branch_labels = ("monitor",)
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "monitor_cursor",
        sa.Column("source", sa.String(32), primary_key=True),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "monitor_run",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("started_at", sa.String(40), nullable=False),
        sa.Column("finished_at", sa.String(40), nullable=False),
        sa.Column("audit_from", sa.BigInteger(), nullable=False),
        sa.Column("audit_to", sa.BigInteger(), nullable=False),
        sa.Column("legacy_files", sa.Integer(), nullable=False),
        sa.Column("alerts_opened", sa.Integer(), nullable=False),
        sa.Column("alerts_updated", sa.Integer(), nullable=False),
    )
    op.create_table(
        "monitor_alert",
        sa.Column("alert_id", sa.String(40), primary_key=True),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("incident_type", sa.String(16), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("person_id", sa.String(128), nullable=True),
        sa.Column("org", sa.String(128), nullable=True),
        sa.Column("first_ts", sa.String(40), nullable=False),
        sa.Column("last_ts", sa.String(40), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("related", sa.Text(), nullable=False),
        sa.Column("opened_run", sa.BigInteger(), nullable=False),
        sa.Column("updated_run", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "monitor_alert_evidence",
        sa.Column(
            "alert_id", sa.String(40), sa.ForeignKey("monitor_alert.alert_id"), primary_key=True
        ),
        sa.Column("event_id", sa.String(128), primary_key=True),
        sa.Column("audit_idx", sa.BigInteger(), nullable=True),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_monitor_evidence_idx", "monitor_alert_evidence", ["audit_idx"])


def downgrade() -> None:
    op.drop_index("ix_monitor_evidence_idx", table_name="monitor_alert_evidence")
    op.drop_table("monitor_alert_evidence")
    op.drop_table("monitor_alert")
    op.drop_table("monitor_run")
    op.drop_table("monitor_cursor")
