"""最終保障供給 (last-resort supply) data read outside its purpose."""

from __future__ import annotations

import ibis.expr.types as ir

from gridwall.monitor.rules._base import (
    POINT_AREA_REF,
    READS_POINT,
    WITH_POINT_AREA,
    Reference,
    Rule,
    area_covers,
    needs,
    non_public,
    reads_point,
    refs,
    with_point_area,
    without_keys,
)


def _flag(e: ir.Table) -> ir.BooleanValue:
    lrs_data = ((e.rec_kind == "lrs") & non_public(e)) | e.reads_lrs
    # NW staff at their work: 託送 (incl. managers), LRS operations, or the FIT team on a FIT
    # point that happens to be under LRS (FIT work never needs the lrs details themselves)
    nw_work = (
        (e.p_kind == "nw")
        & e.p_role.isin(["takuso_operator", "call_center", "manager", "fit_team", "lrs_operations"])
        & (
            e.purpose.isnull()
            | e.purpose.isin(["takuso", "lrs_operations"])
            | ((e.purpose == "fit") & ~e.reads_lrs)
        )
    )
    # exports are judged by the C1 rule (recipient and agreement)
    return reads_point(e) & lrs_data & ~nw_work & (e.action != "export")


def _confirm(rows: ir.Table, ref: Reference) -> ir.Table:
    a = ref.agreements
    r = with_point_area(rows, ref)
    # an lrs_operations agreement covers LRS work; another agreement covers its own purpose
    # (e.g. meter reading of an LRS point), but never the ``lrs`` details themselves
    covers = (a.purpose == "lrs_operations") | (
        (a.purpose == r.purpose) & ~r.fields.contains("lrs")
    )
    valid = r.join(
        a, [a.counterparty_org == r.org, a.valid_from <= r.day, r.day < a.valid_until, covers]
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
    "valid lrs_operations agreement within its area (I3); a contractor working on the point "
    "under its own agreement's purpose (e.g. meter reading) is not flagged unless it reads "
    "the lrs details.",
    rationale_ja=(
        "その他の事例：最終保障供給（LRS）のデータが小売から見えていた。LRS 地"
        "点の非公開項目は、業務中の NW 託送担当と、有効な lrs_operati"
        "ons 協定の相手方（その区域・項目・目的の範囲内）にのみ渡る（I3）。"
    ),
    flag=_flag,
    confirm=_confirm,
    reads=needs(
        READS_POINT,
        WITH_POINT_AREA,
        "rec_kind",
        "reads_non_public",
        "reads_lrs",
        "p_kind",
        "p_role",
        "purpose",
        "fields",
        "org",
        "day",
    ),
    reference=refs(
        POINT_AREA_REF,
        agreements=(
            "agreement_id",
            "purpose",
            "counterparty_org",
            "valid_from",
            "valid_until",
            "whole_area",
        ),
        agreement_areas=("agreement_id", "pref", "city"),
    ),
)
