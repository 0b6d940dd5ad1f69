"""grants: an audit outbox (``grant_audit_outbox``), so that a grant change and its audit
event commit in one transaction and the event reaches the audit log even if the log failed
at the time (issue 10 item 4).

Revision ID: grants_0002
Revises: grants_0001
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "grants_0002"
down_revision: str | Sequence[str] | None = "grants_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "grant_audit_outbox",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("event_json", sa.Text(), nullable=False),
        sa.Column("delivered", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("seq", name="pk_grant_audit_outbox"),
        sa.UniqueConstraint("event_id", name="uq_grant_audit_outbox_event_id"),
    )
    op.create_index("ix_grant_audit_outbox_pending", "grant_audit_outbox", ["delivered", "seq"])


def downgrade() -> None:
    op.drop_index("ix_grant_audit_outbox_pending", table_name="grant_audit_outbox")
    op.drop_table("grant_audit_outbox")
