"""identity: alerts carry the ids of the audit events they rest on (evidence).

Revision ID: identity_0002
Revises: identity_0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "identity_0002"
down_revision: str | Sequence[str] | None = "identity_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("idn_alerts") as batch:
        batch.add_column(sa.Column("event_ids", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idn_alerts") as batch:
        batch.drop_column("event_ids")
