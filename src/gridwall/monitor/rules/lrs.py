"""最終保障供給 (last-resort supply) data read outside its purpose."""

from __future__ import annotations

import ibis.expr.types as ir

from gridwall.monitor.rules._base import (
    Reference,
    Rule,
    area_covers,
    non_public,
    reads_point,
    with_point_area,
    without_keys,
)


def _flag(e: ir.Table) -> ir.BooleanValue:
    lrs_data = ((e.rec_kind == "lrs") & non_public(e)) | e.fields.contains("lrs")
    nw_work = (
        (e.p_kind == "nw")
        & (e.purpose.isnull() | e.purpose.isin(["takuso", "lrs_operations"]))
        & e.p_role.isin(["takuso_operator", "call_center", "lrs_operations"])
    )
    return reads_point(e) & lrs_data & ~nw_work


def _confirm(rows: ir.Table, ref: Reference) -> ir.Table:
    a = ref.agreements.filter(ref.agreements.purpose == "lrs_operations")
    r = with_point_area(rows, ref)
    valid = r.join(
        a, [a.counterparty_org == r.org, a.valid_from <= r.day, r.day < a.valid_until]
    ).select(*r.columns, "agreement_id", "whole_area")
    aa = ref.agreement_areas
    in_scope = (
        valid.filter(valid.whole_area)
        .select(*r.columns)
        .union(
            valid.semi_join(
                aa,
                [
                    aa.agreement_id == valid.agreement_id,
                    area_covers(aa.pref, aa.city, valid.sp_pref, valid.sp_city),
                ],
            ).select(*r.columns)
        )
    )
    return without_keys(rows, in_scope)


RULE = Rule(
    id="LRS-outside-purpose",
    incident_type="LRS",
    severity=4,
    description_ja="最終保障供給の非公開情報が、託送業務・委託契約の範囲外で閲覧された",
    description_en="Last-resort-supply data read outside 託送 work or an lrs_operations agreement",
    rationale="Mission 'other': LRS data was visible to retail. Non-public fields of a point "
    "under last-resort supply go only to NW 託送 staff at work and to the counterparty of a "
    "valid lrs_operations agreement within its area (I3).",
    flag=_flag,
    confirm=_confirm,
)
