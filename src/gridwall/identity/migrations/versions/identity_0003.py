"""identity: the audit journal doubles as an outbox (``delivered``), so a change and its audit
event commit together and the event reaches the audit log even if the log failed at the time.

Rows journaled before this revision had already been sent to the audit log: they start as
delivered.

Revision ID: identity_0003
Revises: identity_0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "identity_0003"
down_revision: str | Sequence[str] | None = "identity_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("idn_audit_events") as batch:
        batch.add_column(
            sa.Column("delivered", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.create_index("ix_idn_audit_events_pending", ["delivered", "seq"])


def downgrade() -> None:
    with op.batch_alter_table("idn_audit_events") as batch:
        batch.drop_index("ix_idn_audit_events_pending")
        batch.drop_column("delivered")
