"""The second wall, cheaper per statement (issue 17): the NW check is written into the policies.

``customer_0003``'s policies asked ``(SELECT gridwall_rls_all())`` on every table reference of
every read: a SQL function with a pinned ``search_path``, which PostgreSQL cannot inline, so
each reference paid a function call (≈ 11 µs, six per probe) even when the answer was "no".
This revision writes the same check, ``org_kind = 'nw'`` with a 託送 purpose, into each
policy's ``USING`` (still an init plan, ``(SELECT ...)``, once per table reference) and drops
the function. A policy is stored parsed — its functions and operators are bound when it is
created, by the owner running this migration — so no caller setting can change what it
means. Who may see which point is unchanged (``tests/store/test_rls.py``; the upgrade from
``customer_0003`` is ``test_the_upgrade_from_0003_keeps_the_wall``). Downgrading re-installs
``customer_0003``'s wall (:func:`gridwall.store.rls.install_sql_0003`), which allows exactly
the same rows. SQLite: nothing (one wall).

Revision ID: customer_0004
Revises: customer_0003
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from gridwall.store import rls

revision: str = "customer_0004"
down_revision: str | Sequence[str] | None = "customer_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for stmt in rls.install_sql_0004():
        bind.exec_driver_sql(stmt)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for stmt in rls.install_sql_0003():
        bind.exec_driver_sql(stmt)
