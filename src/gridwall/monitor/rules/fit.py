"""再エネ特措法 (FIT) data read outside the FIT team's work."""

from __future__ import annotations

import ibis.expr.types as ir

from gridwall.monitor.rules._base import Rule, needs, non_public


def _flag(e: ir.Table) -> ir.BooleanValue:
    fit_data = e.reads_fit | ((e.system == "fit_mgmt") & non_public(e))
    fit_work = (
        (e.p_kind == "nw") & (e.p_role == "fit_team") & (e.purpose.isnull() | (e.purpose == "fit"))
    )
    return fit_data & (e.decision == "allow") & ~fit_work


RULE = Rule(
    id="FIT-outside-fit-team",
    incident_type="FIT",
    severity=4,
    description_ja="FIT（再エネ特措法）の情報が、FIT担当者の業務以外で閲覧された",
    description_en="FIT (renewable feed-in tariff) data read by anyone but NW FIT staff at work",
    rationale="Mission 'other': FIT data was visible to retail. FIT fields go only to NW staff "
    "with the FIT role and the FIT purpose (I2).",
    rationale_ja=(
        "その他の事例：FIT のデータが小売から見えていた。FIT の項目は FIT"
        " の役割と FIT 目的を持つ NW 職員にのみ渡る（I2）。"
    ),
    flag=_flag,
    reads=needs(
        "reads_fit", "system", "reads_non_public", "decision", "p_kind", "p_role", "purpose"
    ),
)
