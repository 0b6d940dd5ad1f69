"""The second wall: own contract rows test themselves (one function call a probe); canaries fenced.

``customer_0004``'s policy called the PL/pgSQL point function on every protected row. A
retailer's read of its own customer touches five of them in the probe alone — the point's
``supply_points`` row and its current ``supply_contracts`` row once in each of the four
current-contract subqueries — and every call ran the function's ``EXISTS`` over
``supply_contracts`` again: the current contract was read five times per probe
(``EXPLAIN (ANALYZE, BUFFERS)``, ``docs/benchmarks.md``). This revision gives
``supply_contracts`` a policy that first asks whether the row itself is the caller's current
retail contract for a retailer's own-customer purpose (:data:`gridwall.store.rls.OWN_ROW`, a
row-local expression, no read, no call); only when it is not does the point function run.
The test implies the function's answer (its ``_OWN`` branch would find this very row), so
who may see which point is unchanged (``tests/store/test_rls.py``), and the probe calls the
function once (counted in ``test_a_probe_calls_the_point_function_once``). The other tables'
policies and the function itself are as ``customer_0004`` left them; the policy is stored
parsed (bound by the owner running this migration), so no caller setting changes its meaning.
It also fences the canary rows in SQL (issue 17: canaries are "never able to touch real
data"): every policy first asks :data:`gridwall.store.rls.FENCE`, the new setting
``gridwall.canary`` (``yes`` for gridwall's canary principals, ``no`` for everyone else, set
by the gateway from the caller's account) against the row's ID in the reserved canary range,
so a canary caller reads canary rows only and no other caller reads one; a transaction that
does not say reads nothing (``test_the_canary_fence_holds_in_sql``).
Downgrading re-installs ``customer_0004``'s wall (:func:`gridwall.store.rls.install_sql_0004`),
which allows exactly the same rows. SQLite: nothing (one wall).

Revision ID: customer_0005
Revises: customer_0004
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from gridwall.store import rls

revision: str = "customer_0005"
down_revision: str | Sequence[str] | None = "customer_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for stmt in rls.install_sql():
        bind.exec_driver_sql(stmt)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for stmt in rls.install_sql_0004():
        bind.exec_driver_sql(stmt)
