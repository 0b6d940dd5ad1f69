"""lookup: the point's 小字 (koaza), so a typed 小字 that differs is never a confident answer.

Revision ID: lookup_0003
Revises: lookup_0002
Create Date: 2026-12-07

Rows of an index built before this revision have an empty ``koaza``; such an index records
``INDEX_VERSION`` 2, so it is *stale* and the next ``gridwall load``, ``gridwall lookup`` or
served lookup rebuilds it before anything is searched.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "lookup_0003"
down_revision = "lookup_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "lookup_points",
        sa.Column("koaza", sa.String(64), nullable=False, server_default=""),
    )


def downgrade() -> None:
    with op.batch_alter_table("lookup_points") as batch:
        batch.drop_column("koaza")
