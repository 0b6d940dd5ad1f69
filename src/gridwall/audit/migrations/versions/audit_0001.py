"""audit: append-only log tables, Merkle tiles, checkpoints, keys, retention, archives.

Revision ID: audit_0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "audit_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("audit",)
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
#: Mean Gregorian year in seconds; retention is measured from ``recorded_at``.
YEAR_S = 31556952
OTHER_TABLES = ("audit_tile", "audit_checkpoint", "audit_key", "audit_setting", "audit_archive")
ENTRY_KEEP = (
    "NOT EXISTS (SELECT 1 FROM audit_archive a WHERE {old}.idx >= a.start_idx "
    "AND {old}.idx < a.end_idx) OR {old}.recorded_at > {now} - {years} * " + str(YEAR_S)
)
YEARS = "COALESCE((SELECT max(retention_years) FROM audit_setting), 5)"


def upgrade() -> None:
    op.create_table(
        "audit_entry",
        sa.Column("idx", BigId, primary_key=True, autoincrement=False),
        sa.Column("recorded_at", sa.BigInteger, nullable=False),
        sa.Column("entry", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "audit_tile",
        sa.Column("level", sa.SmallInteger, primary_key=True),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hashes", sa.LargeBinary, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "audit_checkpoint",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("root", sa.LargeBinary, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "audit_key",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("vkey", sa.Text, nullable=False, unique=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "audit_setting",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("retention_years", sa.Integer, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.CheckConstraint("retention_years >= 5", name="retention_min"),
    )
    op.create_table(
        "audit_archive",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("start_idx", sa.BigInteger, nullable=False),
        sa.Column("end_idx", sa.BigInteger, nullable=False),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_triggers()
    else:
        _postgres_triggers()


def _sqlite_triggers() -> None:
    for t in ("audit_entry", *OTHER_TABLES):
        op.execute(
            f"CREATE TRIGGER {t}_no_update BEFORE UPDATE ON {t} BEGIN "
            f"SELECT RAISE(ABORT, 'audit log is append-only: UPDATE on {t} is forbidden'); END"
        )
    for t in OTHER_TABLES:
        op.execute(
            f"CREATE TRIGGER {t}_no_delete BEFORE DELETE ON {t} BEGIN "
            f"SELECT RAISE(ABORT, 'audit log is append-only: DELETE on {t} is forbidden'); END"
        )
    keep = ENTRY_KEEP.format(old="OLD", now="CAST(strftime('%s','now') AS INTEGER)", years=YEARS)
    op.execute(
        "CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_entry "
        f"WHEN {keep} BEGIN SELECT RAISE(ABORT, 'audit log: an entry inside retention "
        "or not archived cannot be deleted'); END"
    )


def _postgres_triggers() -> None:
    op.execute(
        "CREATE FUNCTION audit_forbid() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'audit log is append-only: % on % is forbidden', TG_OP, TG_TABLE_NAME; "
        "END $$"
    )
    keep = ENTRY_KEEP.format(old="OLD", now="extract(epoch from now())::bigint", years=YEARS)
    op.execute(
        "CREATE FUNCTION audit_entry_guard() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF {keep} THEN RAISE EXCEPTION 'audit log: entry % is inside retention or not "
        "archived and cannot be deleted', OLD.idx; END IF; RETURN OLD; END $$"
    )
    for t in ("audit_entry", *OTHER_TABLES):
        op.execute(
            f"CREATE TRIGGER {t}_no_update BEFORE UPDATE ON {t} "
            "FOR EACH ROW EXECUTE FUNCTION audit_forbid()"
        )
        op.execute(
            f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_forbid()"
        )
    for t in OTHER_TABLES:
        op.execute(
            f"CREATE TRIGGER {t}_no_delete BEFORE DELETE ON {t} "
            "FOR EACH ROW EXECUTE FUNCTION audit_forbid()"
        )
    op.execute(
        "CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_entry "
        "FOR EACH ROW EXECUTE FUNCTION audit_entry_guard()"
    )


def downgrade() -> None:
    raise RuntimeError("the audit log cannot be downgraded: it is append-only evidence")
