"""cases: the self-report channel's intake counter (rate limit per source, issue 13 item 5).

Revision ID: cases_0004
Revises: cases_0003
Create Date: 2026-12-07

One row per attempt: a keyed hash of the source address (never the address), the channel
(``submit`` / ``status``) and the number of the fixed window it fell in (never the exact
time, never the report). Kept in the store so that the limit holds across server workers
and restarts; rows of past windows are pruned as new ones come in (not evidence: the audit
log keeps every attempt).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "cases_0004"
down_revision = "cases_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "selfreport_intake",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("source_key", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
    )
    op.create_index(
        "ix_selfreport_intake_source", "selfreport_intake", ["source_key", "channel", "bucket"]
    )


def downgrade() -> None:
    op.drop_table("selfreport_intake")
