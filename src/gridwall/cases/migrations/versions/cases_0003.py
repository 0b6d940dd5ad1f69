"""cases: the audit outbox of case actions and the pseudonym key (issue 13).

Revision ID: cases_0003
Revises: cases_0001
Create Date: 2026-12-07

(cases_0002 is the self-report channel's; when both are merged this revision follows it.)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "cases_0003"
down_revision = "cases_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_audit_outbox",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("ts", sa.String(40), nullable=False),
        sa.Column("event_json", sa.Text(), nullable=False),
        sa.Column("delivered", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_case_audit_outbox_pending", "case_audit_outbox", ["delivered", "seq"])
    op.create_table(
        "case_secret",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(128), nullable=False),
    )


def downgrade() -> None:
    raise RuntimeError("the case audit outbox cannot be downgraded: it is evidence")
