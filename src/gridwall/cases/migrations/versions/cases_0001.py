"""cases: the append-only case entries and the notifications outbox (issue 13).

Revision ID: cases_0001
Revises:
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "cases_0001"
down_revision = None
branch_labels = ("cases",)
depends_on = None

TABLE = "case_entries"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("case_id", sa.String(40), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
    )
    op.create_table(
        "case_notifications",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("recipient", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("created", sa.String(40), nullable=False),
        sa.Column("delivered_at", sa.String(40), nullable=True),
    )
    op.create_index("ix_case_notifications_pending", "case_notifications", ["delivered_at"])
    if op.get_bind().dialect.name == "sqlite":
        for what in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {TABLE}_no_{what.lower()} BEFORE {what} ON {TABLE} BEGIN "
                f"SELECT RAISE(ABORT, 'case entries are append-only: {what} on {TABLE} "
                "is forbidden'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION case_entries_forbid() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'case entries are append-only: % on % is forbidden', "
        "TG_OP, TG_TABLE_NAME; END $$"
    )
    for what, each in (("UPDATE", "ROW"), ("DELETE", "ROW"), ("TRUNCATE", "STATEMENT")):
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_{what.lower()} BEFORE {what} ON {TABLE} "
            f"FOR EACH {each} EXECUTE FUNCTION case_entries_forbid()"
        )


def downgrade() -> None:
    raise RuntimeError("case entries cannot be downgraded: they are append-only evidence")
