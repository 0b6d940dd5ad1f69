"""Type A: the shared system showed another retailer's non-public data to retail staff."""

from __future__ import annotations

import ibis.expr.types as ir

from gridwall.monitor.rules._base import (
    GRANT_READS,
    GRANT_REF,
    RETAIL_OTHER,
    Rule,
    needs,
    retail_other,
    ungranted,
)


def _flag(e: ir.Table) -> ir.BooleanValue:
    return retail_other(e) & (e.decision == "allow")


RULE = Rule(
    id="A-retail-sees-non-public",
    incident_type="A",
    severity=5,
    description_ja="小売側の利用者に、自社が供給していない供給地点の非公開情報が表示された",
    description_en="A retail-side user was shown non-public data of a supply point "
    "its retailer does not supply",
    rationale="Seed type A: masking done per screen left gaps through which affiliated-retail "
    "staff saw 非公開情報. Any allowed read of a strictly non-public field of a point whose "
    "retailer of record (at that time) is not the principal's retailer is a leak, whatever the "
    "screen or system — unless a grant in force then permits it (an lrs_operations agreement's "
    "team on LRS points in its area, within its fields and purpose; a customer's consent for "
    "the usage).",
    rationale_ja=(
        "事例 A：画面ごとのマスキングに漏れがあり、関係小売の社員が非公開情報を見て"
        "いた。その時点で自社が供給していない供給地点の厳格な非公開項目が許可されて表"
        "示されたら、画面やシステムを問わず漏えいとする（その時点で有効な権限付与、す"
        "なわち LRS 業務協定の範囲内の利用や需要家の同意による使用量は除く）。"
    ),
    flag=_flag,
    confirm=ungranted,
    reads=needs(RETAIL_OTHER, GRANT_READS, "decision"),
    reference=GRANT_REF,
)
