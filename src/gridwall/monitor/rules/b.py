"""Type B: disaster-support access outside a declared disaster's window, area or limits."""

from __future__ import annotations

import ibis.expr.types as ir

from gridwall.monitor.rules._base import (
    DISASTER_FIELDS,
    DISASTER_SUPPORT,
    POINT_AREA_REF,
    READS_POINT,
    STRICT_NON_PUBLIC,
    WITH_POINT_AREA,
    Reference,
    Rule,
    area_covers,
    disaster_support,
    has_any,
    needs,
    reads_point,
    refs,
    with_point_area,
    within,
    without_keys,
)

_BEYOND = tuple(f for f in (*STRICT_NON_PUBLIC, "equipment") if f not in DISASTER_FIELDS)


def _flag(e: ir.Table) -> ir.BooleanValue:
    # customer data read as disaster support, or a disaster-support account signing in; not
    # the grant management around a disaster (NW staff declaring, approving, ending it touch
    # no customer's data)
    return disaster_support(e) & (
        reads_point(e) | ((e.a_kind == "disaster_support") & (e.action == "login"))
    )


def _confirm(rows: ir.Table, ref: Reference) -> ir.Table:
    r = with_point_area(rows, ref)
    d = ref.disaster_areas
    in_window = r.semi_join(
        d,
        [
            within(r.ts_s, d.start_s, d.end_s),
            r.sp_pref.isnull() | area_covers(d.pref, d.city, r.sp_pref, r.sp_city),
        ],
    )
    a = ref.agreements.filter(ref.agreements.purpose == "disaster_support")
    w = in_window
    agreed = w.semi_join(
        a, [a.counterparty_org == w.org, a.valid_from <= w.day, w.day < a.valid_until]
    )
    legit = agreed.filter(
        ((agreed.d_kind == "disaster_terminal") & ~has_any(agreed.fields, _BEYOND))
        | agreed.action.isin(["login", "logout"])
    )
    return without_keys(rows, legit)


RULE = Rule(
    id="B-disaster-access-outside-declaration",
    incident_type="B",
    severity=5,
    description_ja="災害時用の閲覧権限が、宣言された非常災害の期間・地域・範囲の外で使われた",
    description_en="Disaster-support access used outside a declared disaster's window or "
    "area, without an agreement, off a disaster terminal, or beyond the minimal fields",
    rationale="Seed type B: viewing rights given for disaster support were used in normal times. "
    "Legitimate use (I4) needs all of: a declared disaster active at that moment whose area "
    "contains the point, a valid disaster_support agreement of the user's organisation, a "
    "disaster terminal, and only contract_name/address/phone. Anything else is flagged.",
    rationale_ja=(
        "事例 B：災害支援のために与えた閲覧権限が平常時に使われていた。正当な利用（"
        "I4）には、その時点で有効でその地点を含む災害宣言、利用者の組織の有効な d"
        "isaster_support 協定、災害用端末、災害支援目的、災害時項目の"
        "み、のすべてが必要。欠けていれば検知する。"
    ),
    flag=_flag,
    confirm=_confirm,
    reads=needs(
        DISASTER_SUPPORT, READS_POINT, WITH_POINT_AREA, "action", "ts_s", "org", "day", "fields"
    ),
    reference=refs(
        POINT_AREA_REF,
        disaster_areas=("start_s", "end_s", "pref", "city"),
        agreements=("purpose", "counterparty_org", "valid_from", "valid_until"),
    ),
)
