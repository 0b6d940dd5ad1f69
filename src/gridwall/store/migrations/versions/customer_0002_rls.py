"""The second wall (issue 17): row-level security on the customer tables (PostgreSQL only).

Enables and forces row-level security on every customer table, with one ``SELECT`` policy
each that asks ``gridwall_rls_point(supply_point_id)`` (see :mod:`gridwall.store.rls`), and
creates the lookup's narrow views and the match-only holder-name check. The point function
reads the grants tables (consents, agreements, disasters); its body is checked when first
called, not here (no ``depends_on`` on the grants branch: that would take the grants head
out of ``alembic_version``, and every branch is migrated before the store is used).
SQLite: nothing (one wall).

Revision ID: customer_0002
Revises: customer_0001
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from gridwall.store import rls

revision: str = "customer_0002"
down_revision: str | Sequence[str] | None = "customer_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for stmt in rls.install_sql_0003():
        bind.exec_driver_sql(stmt)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for stmt in rls.uninstall_sql():
        bind.exec_driver_sql(stmt)
