"""Types ②–⑤: retail lookups of points it does not supply, told apart by their context.

* R2 — the point was the retailer's own customer before (collectability of unpaid bills).
* R3 — a move-in application by the retailer for the point (the previous occupant looked up).
* R4 — an inbound applicant fact-checked: one or a few lookups of the point within about two
  days of a switching application to the retailer (either order: the customer called, was
  checked and applied, or applied and was checked), the desk not working through a list.
* R5 — outbound sales: the point looked up, a switching application to the retailer
  following days or weeks later, or looked up as one of a list of prospects that day.

Every rule here first drops the rows a grant in force permits (:func:`_base.granted`).
"""

from __future__ import annotations

from collections.abc import Callable

import ibis.expr.types as ir

from gridwall.monitor.rules._base import (
    DAY_S,
    GRANT_READS,
    GRANT_REF,
    RETAIL_OTHER,
    Reference,
    Rule,
    needs,
    refs,
    retail_other,
    ungranted,
    within,
    without_keys,
)

R3_WINDOW_DAYS = 14
R4_WINDOW_DAYS = 14
#: a fact-check happens around the application: at most this long before it
R4_BEFORE_S = 2 * DAY_S
R5_WINDOW_DAYS = 30
#: this many distinct non-supplied points looked up by one account on one JST day is a list
#: being worked through (prospecting), not a caller being checked
PROSPECT_LIST_POINTS = 5


FORMER_READS = needs("supply_point_id", "p_retailer", "day")
FORMER_REF = refs(contracts=("kind", "supply_point_id", "retailer_code", "valid_until"))
SWITCH_READS = needs("supply_point_id", "p_retailer", "ts_s", "account_id", "day", "action")
SWITCH_REF = refs(switching=("kind", "supply_point_id", "to_retailer", "applied_s"))


def _switch(rows: ir.Table, ref: Reference, kind: str) -> ir.Table:
    s = ref.switching.filter(ref.switching.kind == kind)
    return s.select(_sp=s.supply_point_id, _to=s.to_retailer, _applied=s.applied_s)


def former_customers(rows: ir.Table, ref: Reference) -> ir.Table:
    c = ref.contracts.filter(ref.contracts.kind == "retail")
    return rows.semi_join(
        c,
        [
            c.supply_point_id == rows.supply_point_id,
            c.retailer_code == rows.p_retailer,
            c.valid_until <= rows.day,
        ],
    )


def move_in_lookups(rows: ir.Table, ref: Reference) -> ir.Table:
    s = _switch(rows, ref, "move_in")
    w = R3_WINDOW_DAYS * DAY_S
    return rows.semi_join(
        s,
        [
            s._sp == rows.supply_point_id,
            s._to == rows.p_retailer,
            within(rows.ts_s, s._applied - w, s._applied + w),
        ],
    )


def _listed(rows: ir.Table) -> ir.Table:
    """Rows of account-days that looked up a list of non-supplied points (prospecting)."""
    per_day = rows.group_by(["account_id", "day"]).aggregate(_pts=rows.supply_point_id.nunique())
    lists = per_day.filter(per_day._pts >= PROSPECT_LIST_POINTS).select(
        _acc=per_day.account_id, _day=per_day.day
    )
    return rows.semi_join(lists, [rows.account_id == lists._acc, rows.day == lists._day])


def _searched(rows: ir.Table) -> ir.Table:
    """Rows of points the account searched for that day: someone asked about the point
    (an inbound caller or a third party's inquiry), not a prospect picked from a list."""
    s = rows.filter(rows.action == "search")
    keys = s.select(_acc=s.account_id, _day=s.day, _sp=s.supply_point_id).distinct()
    return rows.semi_join(
        keys,
        [rows.account_id == keys._acc, rows.day == keys._day, rows.supply_point_id == keys._sp],
    )


def _around_application(rows: ir.Table, ref: Reference) -> ir.Table:
    s = _switch(rows, ref, "switch")
    return rows.semi_join(
        s,
        [
            s._sp == rows.supply_point_id,
            s._to == rows.p_retailer,
            within(rows.ts_s, s._applied - R4_BEFORE_S, s._applied + R4_WINDOW_DAYS * DAY_S),
        ],
    )


def applicant_checks(rows: ir.Table, ref: Reference) -> ir.Table:
    """R4: lookups around a switching application to the retailer, not from a list."""
    return without_keys(_around_application(rows, ref), _listed(rows))


def prospect_lookups(rows: ir.Table, ref: Reference) -> ir.Table:
    """R5: lookups followed by a switching application to the retailer, not R4's."""
    s = _switch(rows, ref, "switch")
    before = rows.semi_join(
        s,
        [
            s._sp == rows.supply_point_id,
            s._to == rows.p_retailer,
            (rows.ts_s < s._applied),
            (s._applied <= rows.ts_s + R5_WINDOW_DAYS * DAY_S),
        ],
    )
    return without_keys(without_keys(before, applicant_checks(rows, ref)), _searched(rows))


def _respecting_grants(
    find: Callable[[ir.Table, Reference], ir.Table],
) -> Callable[[ir.Table, Reference], ir.Table]:
    def confirm(rows: ir.Table, ref: Reference) -> ir.Table:
        return find(ungranted(rows, ref), ref)

    confirm.__name__ = f"{find.__name__}_ungranted"
    return confirm


RULE_R2 = Rule(
    id="R2-former-customer-lookup",
    incident_type="R2",
    severity=3,
    description_ja="自社の元顧客（現在は他社供給）の情報を閲覧した",
    description_en="Looked up a former own customer now supplied by another retailer",
    rationale="Seed case ②: former own customers were looked up to judge whether unpaid bills "
    "were collectable. The point had a retail contract with the principal's retailer that had "
    "ended before the access.",
    rationale_ja=(
        "事例②：未収金の回収可能性を判断するため、元の自社需要家が照会された。アクセ"
        "スより前に終了した自社の小売契約がその地点にあった場合に検知する。"
    ),
    flag=retail_other,
    confirm=_respecting_grants(former_customers),
    reads=needs(RETAIL_OTHER, GRANT_READS, FORMER_READS),
    reference=refs(GRANT_REF, FORMER_REF),
)
RULE_R3 = Rule(
    id="R3-move-in-previous-occupant",
    incident_type="R3",
    severity=3,
    description_ja="入居（移転）申込みに際し、前入居者の契約情報を閲覧した",
    description_en="Looked up the previous occupant's contract around a move-in application",
    rationale=f"Seed case ③: at a move-in the previous occupant's contract was looked up. The "
    f"principal's retailer filed a move_in application for the point within "
    f"{R3_WINDOW_DAYS} days of the access.",
    rationale_ja=(
        "事例③：転入時に前の居住者の契約が照会された。アクセスから 14 日以内に自"
        "社がその地点の転入申込みを出した場合に検知する。"
    ),
    flag=retail_other,
    confirm=_respecting_grants(move_in_lookups),
    reads=needs(RETAIL_OTHER, GRANT_READS, SWITCH_READS),
    reference=refs(GRANT_REF, SWITCH_REF),
)
RULE_R4 = Rule(
    id="R4-switch-applicant-fact-check",
    incident_type="R4",
    severity=4,
    description_ja="スイッチング申込者の情報を託送システムで確認した",
    description_en="Fact-checked a switching applicant's details in the wheeling system",
    rationale=f"Seed case ④: switching applicants were checked in the 託送 system instead of the "
    f"equal-footing lookup. One or a few lookups of the point from "
    f"{R4_BEFORE_S // 3600} h before a switch application to the principal's retailer to "
    f"{R4_WINDOW_DAYS} days after it, by an account not working through a list that day "
    f"({PROSPECT_LIST_POINTS}+ non-supplied points: R5).",
    rationale_ja=(
        "事例④：スイッチング申込者の確認が、公平な照会ではなく託送システムで行われた"
        "。自社へのスイッチング申込みの 48 時間前から 14 日後までの、照会経路"
        "を通らない少数の閲覧を検知する。"
    ),
    flag=retail_other,
    confirm=_respecting_grants(applicant_checks),
    reads=needs(RETAIL_OTHER, GRANT_READS, SWITCH_READS),
    reference=refs(GRANT_REF, SWITCH_REF),
)
RULE_R5 = Rule(
    id="R5-view-then-switch",
    incident_type="R5",
    severity=4,
    description_ja="他社顧客を閲覧した後、その地点が自社へスイッチングした（営業目的の疑い）",
    description_en="Viewed another retailer's customer, then the point switched to the "
    "viewer's retailer (prospecting)",
    rationale=f"Seed case ⑤: outbound sales looked up prospects. The access came first and a "
    f"switch application to the principal's retailer followed within {R5_WINDOW_DAYS} days, "
    f"later than a fact-check would (R4), or the point was one of a list of prospects; a "
    f"point the account searched for was asked about (R1, R4), not prospected.",
    rationale_ja=(
        "事例⑤：営業が見込み客を照会した。アクセスが先にあり、事実確認（R4）より遅"
        "れて 30 日以内に自社へのスイッチング申込みが続いた場合、または見込み客リ"
        "ストの一件だった場合に検知する。"
    ),
    flag=retail_other,
    confirm=_respecting_grants(prospect_lookups),
    reads=needs(RETAIL_OTHER, GRANT_READS, SWITCH_READS),
    reference=refs(GRANT_REF, SWITCH_REF),
)
