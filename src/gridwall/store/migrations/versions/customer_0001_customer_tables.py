"""Customer tables (託送 data): retailers, supply points, contracts, FIT, switching, usage.

Revision ID: customer_0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "customer_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("customer",)
depends_on: str | Sequence[str] | None = None


def _point_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["supply_point_id"],
        ["supply_points.supply_point_id"],
        name=f"fk_{table}_supply_point_id_supply_points",
    )


def upgrade() -> None:
    op.create_table(
        "retailers",
        sa.Column("retailer_code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("retailer_code", name="pk_retailers"),
        sa.CheckConstraint("kind IN ('affiliated', 'independent')", name="ck_retailers_kind"),
    )
    op.create_table(
        "supply_points",
        sa.Column("supply_point_id", sa.String(22), nullable=False),
        sa.Column("pref", sa.String(16), nullable=False),
        sa.Column("city", sa.String(64), nullable=False),
        sa.Column("town", sa.String(128)),
        sa.Column("banchi", sa.String(64)),
        sa.Column("building", sa.String(128)),
        sa.Column("room", sa.String(32)),
        sa.Column("contract_name", sa.String(200)),
        sa.Column("phone", sa.String(32)),
        sa.Column("voltage", sa.String(16), nullable=False),
        sa.Column("meter_id", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("supply_point_id", name="pk_supply_points"),
        sa.CheckConstraint(
            "voltage IN ('low', 'high', 'extra_high')", name="ck_supply_points_voltage"
        ),
        sa.CheckConstraint(
            "status IN ('active', 'vacant', 'closed')", name="ck_supply_points_status"
        ),
    )
    op.create_index("ix_supply_points_address", "supply_points", ["pref", "city", "town", "banchi"])
    op.create_index("ix_supply_points_meter_id", "supply_points", ["meter_id"])
    op.create_table(
        "supply_contracts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("supply_point_id", sa.String(22), nullable=False),
        sa.Column("retailer_code", sa.String(32), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date()),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_supply_contracts"),
        _point_fk("supply_contracts"),
        sa.UniqueConstraint(
            "supply_point_id", "start_date", name="uq_supply_contracts_point_start"
        ),
        sa.CheckConstraint("kind IN ('retail', 'lrs')", name="ck_supply_contracts_kind"),
    )
    op.create_index(
        "ix_supply_contracts_retailer_current",
        "supply_contracts",
        ["retailer_code", "supply_point_id", "start_date", "end_date"],
    )
    op.create_table(
        "fit_contracts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("supply_point_id", sa.String(22), nullable=False),
        sa.Column("generator_name", sa.String(200), nullable=False),
        sa.Column("capacity_kw", sa.Float(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date()),
        sa.PrimaryKeyConstraint("id", name="pk_fit_contracts"),
        _point_fk("fit_contracts"),
        sa.UniqueConstraint("supply_point_id", "start_date", name="uq_fit_contracts_point_start"),
    )
    op.create_table(
        "switching_applications",
        sa.Column("application_id", sa.String(64), nullable=False),
        sa.Column("supply_point_id", sa.String(22), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("from_retailer", sa.String(32)),
        sa.Column("to_retailer", sa.String(32)),
        sa.Column("applied_at", sa.DateTime(), nullable=False),
        sa.Column("effective_date", sa.Date()),
        sa.PrimaryKeyConstraint("application_id", name="pk_switching_applications"),
        _point_fk("switching_applications"),
        sa.CheckConstraint(
            "kind IN ('switch', 'move_in', 'move_out', 'cancel')",
            name="ck_switching_applications_kind",
        ),
    )
    op.create_index(
        "ix_switching_applications_point",
        "switching_applications",
        ["supply_point_id", "effective_date"],
    )
    op.create_table(
        "usage_monthly",
        sa.Column("supply_point_id", sa.String(22), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("kwh", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("supply_point_id", "month", name="pk_usage_monthly"),
        _point_fk("usage_monthly"),
    )


def downgrade() -> None:
    op.drop_table("usage_monthly")
    op.drop_index("ix_switching_applications_point", table_name="switching_applications")
    op.drop_table("switching_applications")
    op.drop_table("fit_contracts")
    op.drop_index("ix_supply_contracts_retailer_current", table_name="supply_contracts")
    op.drop_table("supply_contracts")
    op.drop_index("ix_supply_points_meter_id", table_name="supply_points")
    op.drop_index("ix_supply_points_address", table_name="supply_points")
    op.drop_table("supply_points")
    op.drop_table("retailers")
