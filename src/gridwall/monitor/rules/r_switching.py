"""Types ②–⑤: retail lookups of points it does not supply, told apart by their context.

* R2 — the point was the retailer's own customer before (collectability of unpaid bills).
* R3 — a move-in application by the retailer for the point (the previous occupant looked up).
* R4 — a switching application to the retailer, then the point looked up (fact-checking).
* R5 — the point looked up, then a switching application to the retailer (prospecting).
"""

from __future__ import annotations

import ibis.expr.types as ir

from gridwall.monitor.rules._base import (
    DAY_S,
    RETAIL_OTHER,
    Reference,
    Rule,
    needs,
    refs,
    retail_other,
    within,
)

R3_WINDOW_DAYS = 14
R4_WINDOW_DAYS = 14
R5_WINDOW_DAYS = 30


FORMER_READS = needs("supply_point_id", "p_retailer", "day")
FORMER_REF = refs(contracts=("kind", "supply_point_id", "retailer_code", "valid_until"))
SWITCH_READS = needs("supply_point_id", "p_retailer", "ts_s")
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


def applicant_checks(rows: ir.Table, ref: Reference) -> ir.Table:
    s = _switch(rows, ref, "switch")
    return rows.semi_join(
        s,
        [
            s._sp == rows.supply_point_id,
            s._to == rows.p_retailer,
            within(rows.ts_s, s._applied, s._applied + R4_WINDOW_DAYS * DAY_S),
        ],
    )


def prospect_lookups(rows: ir.Table, ref: Reference) -> ir.Table:
    s = _switch(rows, ref, "switch")
    return rows.semi_join(
        s,
        [
            s._sp == rows.supply_point_id,
            s._to == rows.p_retailer,
            (rows.ts_s < s._applied),
            (s._applied <= rows.ts_s + R5_WINDOW_DAYS * DAY_S),
        ],
    )


RULE_R2 = Rule(
    id="R2-former-customer-lookup",
    incident_type="R2",
    severity=3,
    description_ja="自社の元顧客（現在は他社供給）の情報を閲覧した",
    description_en="Looked up a former own customer now supplied by another retailer",
    rationale="Seed case ②: former own customers were looked up to judge whether unpaid bills "
    "were collectable. The point had a retail contract with the principal's retailer that had "
    "ended before the access.",
    flag=retail_other,
    confirm=former_customers,
    reads=needs(RETAIL_OTHER, FORMER_READS),
    reference=FORMER_REF,
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
    flag=retail_other,
    confirm=move_in_lookups,
    reads=needs(RETAIL_OTHER, SWITCH_READS),
    reference=SWITCH_REF,
)
RULE_R4 = Rule(
    id="R4-switch-applicant-fact-check",
    incident_type="R4",
    severity=4,
    description_ja="スイッチング申込者の情報を託送システムで確認した",
    description_en="Fact-checked a switching applicant's details in the wheeling system",
    rationale=f"Seed case ④: switching applicants were checked in the 託送 system instead of the "
    f"equal-footing lookup. A switch application to the principal's retailer for the point, "
    f"then the access within {R4_WINDOW_DAYS} days.",
    flag=retail_other,
    confirm=applicant_checks,
    reads=needs(RETAIL_OTHER, SWITCH_READS),
    reference=SWITCH_REF,
)
RULE_R5 = Rule(
    id="R5-view-then-switch",
    incident_type="R5",
    severity=4,
    description_ja="他社顧客を閲覧した後、その地点が自社へスイッチングした（営業目的の疑い）",
    description_en="Viewed another retailer's customer, then the point switched to the "
    "viewer's retailer (prospecting)",
    rationale=f"Seed case ⑤: outbound sales looked up prospects. The access came first and a "
    f"switch application to the principal's retailer followed within {R5_WINDOW_DAYS} days.",
    flag=retail_other,
    confirm=prospect_lookups,
    reads=needs(RETAIL_OTHER, SWITCH_READS),
    reference=SWITCH_REF,
)
