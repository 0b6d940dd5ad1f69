"""Type C①: an export not covered by a registered agreement, or sent to a retailer."""

from __future__ import annotations

import ibis.expr.types as ir

from gridwall.monitor.rules._base import (
    GRANT_READS,
    GRANT_REF,
    Reference,
    Rule,
    by_keys,
    granted,
    needs,
    refs,
    without_keys,
)

#: the network operator itself: data coming back to it has not left it
OPERATOR = "nw"


def _flag(e: ir.Table) -> ir.BooleanValue:
    return (e.action == "export") & (e.decision == "allow")


def _confirm(rows: ir.Table, ref: Reference) -> ir.Table:
    a = ref.agreements
    # candidate agreements: the recipient is the counterparty and it is valid that day
    ra = (
        rows.filter(~rows.recipient_org.startswith("retail:"))
        .join(
            a,
            [
                a.counterparty_org == rows.recipient_org,
                a.valid_from <= rows.day,
                rows.day < a.valid_until,
            ],
        )
        .select("row_key", "agreement_id", "fields")
    )
    # every exported field must be named by the agreement
    exploded = ra.unnest("fields").rename(field="fields")
    af = ref.agreement_fields
    uncovered = exploded.anti_join(
        af, [af.agreement_id == exploded.agreement_id, af.field == exploded.field]
    )
    bad_pairs = uncovered.select("row_key", "agreement_id").distinct()
    good = (
        ra.select("row_key", "agreement_id")
        .distinct()
        .anti_join(bad_pairs, ["row_key", "agreement_id"])
    )
    # an export back to the operator by a contractor working under its agreement (purpose,
    # fields, area, validity: the same grant that let it read the data) is not a leak
    back = granted(rows.filter(rows.recipient_org == OPERATOR), ref)
    return without_keys(without_keys(rows, by_keys(rows, good)), back)


RULE = Rule(
    id="C1-export-outside-agreement",
    incident_type="C1",
    severity=5,
    description_ja="登録された委託契約の範囲外、または小売電気事業者宛てにデータが出力された",
    description_en="Data exported to a recipient without a valid agreement covering every "
    "exported field, or to a retailer",
    rationale="Seed type C①: an IT subsidiary working for both NW and retail mailed NW extracts "
    "to retail every month. An export is legitimate only to the counterparty of an agreement "
    "valid on that day that names every exported field, and never to a retailer (I8). An "
    "export whose recipient is the network operator itself, by the counterparty of an "
    "agreement in force for that purpose, area and fields, returns data to its owner.",
    rationale_ja=(
        "事例 C①：NW と小売の両方を受託する IT 子会社が NW の抽出データ"
        "を毎月小売に送っていた。エクスポートはその日に有効な協定の相手方に、協定が定"
        "める項目だけを送る場合に限り正当で、小売事業者宛ては常に不可（I8）。"
    ),
    flag=_flag,
    confirm=_confirm,
    reads=needs(GRANT_READS, "action", "decision", "recipient_org", "day", "fields"),
    reference=refs(
        GRANT_REF,
        agreements=("agreement_id", "counterparty_org", "valid_from", "valid_until"),
        agreement_fields=("agreement_id", "field"),
    ),
)
