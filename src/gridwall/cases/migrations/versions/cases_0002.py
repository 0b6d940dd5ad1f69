"""cases: self-reports (自主申告) and their public notes, append-only (issue 13 item 5).

Revision ID: cases_0002
Revises: cases_0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "cases_0002"
down_revision = "cases_0001"
branch_labels = None
depends_on = None

TABLES = ("selfreports", "selfreport_notes")


def upgrade() -> None:
    op.create_table(
        "selfreports",
        sa.Column("report_id", sa.String(40), primary_key=True),
        # the public half of the receipt code; the secret half is kept only as a hash
        sa.Column("lookup", sa.String(32), nullable=False, unique=True),
        sa.Column("receipt_hash", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        # who reported: shown only in the compliance view decided by Cedar (selfreport.identity)
        sa.Column("reporter_account", sa.String(128), nullable=True),
        sa.Column("reporter_person", sa.String(128), nullable=True),
        sa.Column("reporter_org", sa.String(128), nullable=True),
        sa.Column("contact", sa.String(200), nullable=True),
        sa.Column("subject", sa.String(128), nullable=True),
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("submitted_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "selfreport_notes",
        sa.Column("report_id", sa.String(40), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
    )
    if op.get_bind().dialect.name == "sqlite":
        for table in TABLES:
            for what in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{what.lower()} BEFORE {what} ON {table} BEGIN "
                    f"SELECT RAISE(ABORT, 'self-reports are append-only: {what} on {table} "
                    "is forbidden'); END"
                )
        return
    op.execute(
        "CREATE FUNCTION selfreports_forbid() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'self-reports are append-only: % on % is forbidden', "
        "TG_OP, TG_TABLE_NAME; END $$"
    )
    for table in TABLES:
        for what, each in (("UPDATE", "ROW"), ("DELETE", "ROW"), ("TRUNCATE", "STATEMENT")):
            op.execute(
                f"CREATE TRIGGER {table}_no_{what.lower()} BEFORE {what} ON {table} "
                f"FOR EACH {each} EXECUTE FUNCTION selfreports_forbid()"
            )


def downgrade() -> None:
    raise RuntimeError("self-reports cannot be downgraded: they are append-only records")
