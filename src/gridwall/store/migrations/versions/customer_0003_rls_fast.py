"""The second wall, faster (issue 17): a PL/pgSQL point function; NW 託送 reads skip it.

Replaces, in place, what ``customer_0002`` installed: ``gridwall_rls_point`` becomes PL/pgSQL
(one cached plan per branch, only the caller's branch runs) and each customer table's policy
asks ``(SELECT gridwall_rls_all()) OR gridwall_rls_point(supply_point_id)``, where
``gridwall_rls_all`` (NW with a 託送 purpose: every point) is an init plan evaluated once per
statement. Who may see which point is unchanged (``tests/store/test_rls.py``); the cost is in
``bench/gateway/rls.py``. On a new database ``customer_0002`` already installs this version
and this revision re-installs it, which is harmless (every statement is idempotent). Both
install :func:`gridwall.store.rls.install_sql_0003`, frozen; ``customer_0004`` installs the
current wall over it.
Downgrading keeps the current wall: the earlier SQL body allowed exactly the same rows.
SQLite: nothing (one wall).

Revision ID: customer_0003
Revises: customer_0002
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from gridwall.store import rls

revision: str = "customer_0003"
down_revision: str | Sequence[str] | None = "customer_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for stmt in rls.install_sql_0003():
        bind.exec_driver_sql(stmt)


def downgrade() -> None:
    """Nothing to undo: the wall stays as strict (see the module's docstring)."""
