"""Type ①: inquiry-driven lookups of points the desk does not supply."""

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
from gridwall.monitor.rules.r6 import BULK_READS, bulk_days
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


def unexplained_lookups(rows: ir.Table, ref: Reference) -> ir.Table:
    out = ungranted(rows, ref)
    base = out
    for other in (former_customers, move_in_lookups, applicant_checks, prospect_lookups, bulk_days):
        out = without_keys(out, other(base, ref))
    # an inquiry is *looked up*: the account searched for the point that day (the typed
    # key of a caller's address or name). A point merely shown on a screen is type A's.
    s = out.filter(out.action == "search")
    searched = s.select(_acc=s.account_id, _day=s.day, _sp=s.supply_point_id).distinct()
    return out.semi_join(
        searched,
        [
            out.account_id == searched._acc,
            out.day == searched._day,
            out.supply_point_id == searched._sp,
        ],
    )


RULE = Rule(
    id="R1-inquiry-lookup",
    incident_type="R1",
    severity=3,
    description_ja="自社が供給していない供給地点を、問合せ対応などで個別に照会した",
    description_en="Looked up a point the desk does not supply (e.g. for a third party's inquiry)",
    rationale="Seed case ①: a retail desk looked up an independent retailer's customer for a "
    "construction company's inquiry. Retail access to non-public data of a non-supplied point "
    "that no other context explains (no former contract, no move-in or switching application "
    "of the retailer, not bulk, no grant in force) and that the account searched for that day "
    "is an inquiry-driven lookup; the inquiry belongs to NW. Shown without a search, it is A.",
    rationale_ja=(
        "事例①：小売の窓口が建設会社の問い合わせのため新電力の需要家を照会した。自社"
        "が供給していない地点の非公開情報への小売のアクセスで、ほかの文脈（以前の契約"
        "、自社による転入・スイッチング申込み）で説明できないものを検知する。"
    ),
    flag=retail_other,
    confirm=unexplained_lookups,
    reads=needs(RETAIL_OTHER, GRANT_READS, FORMER_READS, SWITCH_READS, BULK_READS),
    reference=refs(GRANT_REF, FORMER_REF, SWITCH_REF),
)
