"""Type ⑥: bulk or analytic access to many points the retailer does not supply."""

from __future__ import annotations

import ibis.expr.types as ir

from gridwall.monitor.rules._base import (
    GRANT_READS,
    GRANT_REF,
    RETAIL_OTHER,
    Reference,
    Rule,
    needs,
    refs,
    retail_other,
    ungranted,
    without_keys,
)
from gridwall.monitor.rules.r_switching import (
    FORMER_READS,
    FORMER_REF,
    SWITCH_READS,
    SWITCH_REF,
    applicant_checks,
    former_customers,
    move_in_lookups,
    prospect_lookups,
)

#: distinct non-supplied points per account and JST day that make access "bulk"
BULK_POINTS_PER_DAY = 25
#: one search or export touching this many non-supplied points is bulk by itself
BULK_POINTS_PER_EVENT = 25


BULK_READS = needs("account_id", "day", "supply_point_id", "n_points")


def bulk_days(rows: ir.Table, ref: Reference) -> ir.Table:
    """The bulk access of bulk days: where one search or export touched
    ``BULK_POINTS_PER_EVENT``+ points, those events (other lookups that day are cases of their
    own); otherwise every lookup of a day with ``BULK_POINTS_PER_DAY``+ distinct points."""
    per_day = rows.group_by(["account_id", "day"]).aggregate(
        _pts=rows.supply_point_id.nunique(), _max=rows.n_points.max()
    )
    bulky = per_day.filter(
        (per_day._pts >= BULK_POINTS_PER_DAY) | (per_day._max >= BULK_POINTS_PER_EVENT)
    ).select(_acc=per_day.account_id, _day=per_day.day, _max=per_day._max)
    j = rows.join(bulky, [rows.account_id == bulky._acc, rows.day == bulky._day])
    keep = (j._max < BULK_POINTS_PER_EVENT) | (j.n_points >= BULK_POINTS_PER_EVENT)
    return j.filter(keep).select(*rows.columns)


def bulk_access(rows: ir.Table, ref: Reference) -> ir.Table:
    """Rows of bulk days (counted over the rows no grant in force permits), less the lookups
    a context of their own explains (a former customer, a move-in, a switching applicant or
    prospect: R2–R5): those are separate cases on the same day, not part of the analysis."""
    u = ungranted(rows, ref)
    out = bulk_days(u, ref)
    for other in (former_customers, move_in_lookups, applicant_checks, prospect_lookups):
        out = without_keys(out, other(u, ref))
    return out


RULE = Rule(
    id="R6-bulk-access",
    incident_type="R6",
    severity=4,
    description_ja="自社が供給していない多数の供給地点へ一括・分析的にアクセスした",
    description_en="Bulk or analytic access to many points the retailer does not supply",
    rationale=f"Seed case ⑥: competitors' customers were analysed to target developers. "
    f"{BULK_POINTS_PER_DAY}+ distinct non-supplied points in one JST day, or one search/export "
    f"returning {BULK_POINTS_PER_EVENT}+ points — then that event is the evidence, the day's "
    "other lookups being cases of their own. Rows a grant in force permits do not count; "
    "lookups a context of their own explains (R2–R5) are their own cases.",
    rationale_ja=(
        "事例⑥：開発業者への営業のため競合の需要家が分析された。1 日（JST）に自"
        "社が供給していない 25 地点以上、または 1 回の検索・エクスポートで 2"
        "5 地点以上を返した場合に検知する。"
    ),
    flag=retail_other,
    confirm=bulk_access,
    reads=needs(RETAIL_OTHER, GRANT_READS, BULK_READS, FORMER_READS, SWITCH_READS),
    reference=refs(GRANT_REF, FORMER_REF, SWITCH_REF),
)
