"""lookup: a unique index on the supply point ID (the key of the incremental refresh).

Revision ID: lookup_0002
Revises: lookup_0001
Create Date: 2026-12-06

An index built before this revision records no ``version`` in ``lookup_meta``: it is *stale*
and the next ``gridwall load`` or ``gridwall lookup`` rebuilds it (a rebuild also recreates
this index). Until then it still answers: its rows have the same layout, one per point (the
gateway's feed is keyed by the ID), so the unique index can be created over them.
"""

from __future__ import annotations

from alembic import op

revision = "lookup_0002"
down_revision = "lookup_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_lookup_points_spid", "lookup_points", ["supply_point_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_lookup_points_spid", table_name="lookup_points")
