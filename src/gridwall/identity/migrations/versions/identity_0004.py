"""identity: a terminal kind for the regulator organisation (``regulator_terminal``), so the
regulator's auditors can sign in to the console's read-only pages from an enrolled terminal.

Before this revision the regulator could own only a disaster terminal, which works only during a
declared disaster.

Revision ID: identity_0004
Revises: identity_0003
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "identity_0004"
down_revision: str | Sequence[str] | None = "identity_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = "kind IN ('nw_terminal', 'retail_terminal', 'disaster_terminal', 'contractor_terminal')"
_NEW = (
    "kind IN ('nw_terminal', 'retail_terminal', 'disaster_terminal', 'contractor_terminal', "
    "'regulator_terminal')"
)


def upgrade() -> None:
    with op.batch_alter_table("idn_terminals") as batch:
        batch.drop_constraint(op.f("ck_idn_terminals_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_idn_terminals_kind"), _NEW)


def downgrade() -> None:
    op.execute("DELETE FROM idn_terminals WHERE kind = 'regulator_terminal'")
    with op.batch_alter_table("idn_terminals") as batch:
        batch.drop_constraint(op.f("ck_idn_terminals_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_idn_terminals_kind"), _OLD)
