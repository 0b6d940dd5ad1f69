"""lookup: places, points, meta, and the trigram index (FTS5 or pg_trgm).

Revision ID: lookup_0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "lookup_0001"
down_revision = None
branch_labels = ("lookup",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lookup_places",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pref", sa.String(8), nullable=False),
        sa.Column("city", sa.String(64), nullable=False),
        sa.Column("town", sa.String(128), nullable=False),
        sa.Column("chome", sa.Integer(), nullable=False),
        sa.Column("known", sa.Boolean(), nullable=False),
        sa.Column("key_text", sa.String(256), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lookup_places"),
        sa.UniqueConstraint("pref", "city", "town", "chome", name="uq_lookup_place"),
    )
    op.create_table(
        "lookup_points",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("supply_point_id", sa.String(22), nullable=False),
        sa.Column("place_id", sa.Integer(), nullable=False),
        sa.Column("block", sa.String(16), nullable=False),
        sa.Column("number", sa.String(16), nullable=False),
        sa.Column("rest", sa.String(256), nullable=False),
        sa.Column("room", sa.String(32), nullable=False),
        sa.Column("voltage", sa.String(16), nullable=False),
        sa.Column("meter_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lookup_points"),
    )
    op.create_index("ix_lookup_points_addr", "lookup_points", ["place_id", "block", "number"])
    op.create_table(
        "lookup_meta",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.String(256), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_lookup_meta"),
    )
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE lookup_places_fts USING fts5("
            "key_text, content='lookup_places', content_rowid='id', tokenize='trigram')"
        )
    elif bind.dialect.name == "postgresql":
        # pg_trgm is a trusted extension (PG 13+), but a server may not ship it: then the
        # lookup falls back to a LIKE scan of the place table for near misses instead of
        # failing every capability's migration (see LookupIndex.has_trgm).
        try:
            with bind.begin_nested():
                bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except Exception:
            return
        op.execute(
            "CREATE INDEX ix_lookup_places_trgm ON lookup_places USING gin (key_text gin_trgm_ops)"
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS lookup_places_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_lookup_places_trgm")
    op.drop_table("lookup_meta")
    op.drop_index("ix_lookup_points_addr", table_name="lookup_points")
    op.drop_table("lookup_points")
    op.drop_table("lookup_places")
