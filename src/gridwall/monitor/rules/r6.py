"""Type ⑥: bulk or analytic access to many points the retailer does not supply."""

from __future__ import annotations

import ibis.expr.types as ir

from gridwall.monitor.rules._base import RETAIL_OTHER, Reference, Rule, needs, retail_other

#: distinct non-supplied points per account and JST day that make access "bulk"
BULK_POINTS_PER_DAY = 25
#: one search or export touching this many non-supplied points is bulk by itself
BULK_POINTS_PER_EVENT = 25


BULK_READS = needs("account_id", "day", "supply_point_id", "n_points")


def bulk_days(rows: ir.Table, ref: Reference) -> ir.Table:
    per_day = rows.group_by(["account_id", "day"]).aggregate(
        _pts=rows.supply_point_id.nunique(), _max=rows.n_points.max()
    )
    bulky = per_day.filter(
        (per_day._pts >= BULK_POINTS_PER_DAY) | (per_day._max >= BULK_POINTS_PER_EVENT)
    ).select(_acc=per_day.account_id, _day=per_day.day)
    return rows.semi_join(bulky, [rows.account_id == bulky._acc, rows.day == bulky._day])


RULE = Rule(
    id="R6-bulk-access",
    incident_type="R6",
    severity=4,
    description_ja="自社が供給していない多数の供給地点へ一括・分析的にアクセスした",
    description_en="Bulk or analytic access to many points the retailer does not supply",
    rationale=f"Seed case ⑥: competitors' customers were analysed to target developers. "
    f"{BULK_POINTS_PER_DAY}+ distinct non-supplied points in one JST day, or one search/export "
    f"returning {BULK_POINTS_PER_EVENT}+ points.",
    flag=retail_other,
    confirm=bulk_days,
    reads=needs(RETAIL_OTHER, BULK_READS),
)
