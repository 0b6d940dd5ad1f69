"""The periodic report's provable figures (報告書の数値: 監査ログから再計算できる).

Every figure is a declarative query (:mod:`gridwall.figures`) over the audit-log entries
``0 … tree_size-1`` of the signed checkpoint embedded in the report, restricted to the
period by ``ts``. The report's JSON appendix carries each figure's query and answer;
``python -m gridwall.audit.standalone report-check EXPORT REPORT.json KEY`` runs the same
queries over an export and names every figure that differs.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from gridwall import figures
from gridwall.errors import UsageError
from gridwall.interfaces.clock import day_end_jst, day_start_jst, iso
from gridwall.reports._statement import LogView

FORMAT = "gridwall-report/1"

#: real accesses: gridwall's own canary requests (marked ``canary`` by the server) are left
#: out of every access figure and counted in their own, labelled figure
_ACCESS: dict[str, Any] = {"source": ["gw", "lk"], "canary": None}

#: (name, section, English title, Japanese title, query without the period)
PERIODIC_FIGURES: tuple[tuple[str, str, str, str, dict[str, Any]], ...] = (
    (
        "accesses_by_org_kind_purpose_decision_month",
        "access-log analysis",
        "Accesses by organisation kind, purpose and decision, per month",
        "組織種別・目的・判定別アクセス件数 (月別)",
        {"where": _ACCESS, "group_by": ["month", "org_kind", "purpose", "decision"]},
    ),
    (
        "denials_by_org_kind_policy",
        "access-log analysis",
        "Denials by organisation kind and deciding policy",
        "拒否件数 (組織種別・判定ポリシー別)",
        {"where": {**_ACCESS, "decision": "deny"}, "group_by": ["org_kind", "policy_id"]},
    ),
    (
        "non_public_field_groups_shown_by_org_kind",
        "access-log analysis",
        "Field groups shown, by organisation kind",
        "開示された項目 (組織種別別)",
        {"where": {**_ACCESS, "decision": "allow"}, "group_by": ["org_kind", "field"]},
    ),
    (
        "lookups_by_org_kind_decision_name_verification",
        "access-log analysis",
        "Equal-footing lookups by organisation kind, decision and name verification",
        "供給地点照会 (組織種別・判定・名義照合別)",
        {
            "where": {"source": "lk", "canary": None},
            "group_by": ["org_kind", "decision", "name_verification"],
        },
    ),
    (
        "people_accessing_by_org_kind",
        "ID and password management",
        "Distinct people who accessed customer data, by organisation kind",
        "顧客情報にアクセスした人数 (組織種別別)",
        {
            "where": {**_ACCESS, "decision": "allow"},
            "group_by": ["org_kind"],
            "measure": "distinct:person_id",
        },
    ),
    (
        "refused_logins_by_reason",
        "ID and password management",
        "Refused logins by reason",
        "ログイン拒否件数 (理由別)",
        {"where": {"action": "login_failed"}, "group_by": ["reason"]},
    ),
    (
        "disaster_accesses_by_org_decision",
        "disaster-time outsourcing",
        "Accesses under a disaster declaration, by organisation and decision",
        "非常災害時のアクセス (組織・判定別)",
        {"where": {**_ACCESS, "purpose": "disaster_support"}, "group_by": ["org", "decision"]},
    ),
    (
        "contractor_accesses_by_org_purpose_decision",
        "contractor management",
        "Contractor accesses by organisation, purpose and decision",
        "委託先のアクセス (組織・目的・判定別)",
        {
            "where": {**_ACCESS, "org_kind": "contractor"},
            "group_by": ["org", "purpose", "decision"],
        },
    ),
    (
        "export_rows_by_recipient_decision",
        "contractor management",
        "Exported rows by recipient and decision",
        "外部提供した行数 (提供先・判定別)",
        {
            "where": {"action": "export", "canary": None},
            "group_by": ["recipient_org", "decision"],
            "measure": "sum:result_count",
        },
    ),
    (
        "grant_steps_by_kind_decision",
        "internal audit",
        "Grant-management steps by kind and decision",
        "権限管理の操作 (種類・判定別)",
        {"where": {"source": "grants"}, "group_by": ["grant_kind", "decision"]},
    ),
    (
        # voluntary reporting is to be valued, not punished like detection: its own figure,
        # never merged into the monitor's alerts or the cases they open (docs/cases.md)
        "voluntary_selfreports_by_month_kind",
        "internal audit",
        "Self-reports (voluntary, counted apart from detections), by month and kind",
        "自己申告件数 (自主的な申告・検知とは別集計) (月・種類別)",
        {
            "where": {"screen": "selfreport.submit", "decision": "allow", "canary": None},
            "group_by": ["month", "report_kind"],
        },
    ),
    (
        "canary_requests_by_decision",
        "internal audit",
        "gridwall's own canary requests (self-tests, not accesses), by decision",
        "カナリア要求 (自己試験・アクセス件数には含めない) (判定別)",
        {"where": {"canary": "true"}, "group_by": ["decision"]},
    ),
)


def figure_specs(first_day: date, last_day: date) -> list[dict[str, Any]]:
    """The periodic figures with their queries restricted to the period (JST days)."""
    lo, hi = iso(day_start_jst(first_day)), iso(day_end_jst(last_day))
    out = []
    for name, section, en, ja, q in PERIODIC_FIGURES:
        query = json.loads(json.dumps(q))
        query["where"] = {**query.get("where", {}), "ts_from": lo, "ts_to": hi}
        out.append({"name": name, "section": section, "title": en, "title_ja": ja, "query": query})
    return out


def build_figures_report(
    log: LogView, first_day: date, last_day: date, *, generated_at: datetime,
    batch: int = 50_000,
) -> dict[str, Any]:  # fmt: skip
    """The report: every figure computed in one pass over the log up to its latest signed
    checkpoint, with the checkpoint and each figure's query."""
    if last_day < first_day:
        raise UsageError(f"--to {last_day} is before --from {first_day}")
    size, root, note = log.checkpoint()
    specs = figure_specs(first_day, last_day)

    def entries() -> Any:
        for lo in range(0, size, batch):
            for _, raw in log.entries(lo, min(size, lo + batch)):
                yield raw

    results = figures.compute_all(specs, entries())
    return {
        "format": FORMAT,
        "figures_format": figures.FORMAT,
        "period": {"from": first_day.isoformat(), "to": last_day.isoformat(), "zone": "JST"},
        "generated_at": generated_at.isoformat(),
        "entries": {"from": 0, "to": size},
        "tree_size": size,
        "root_hash": base64.b64encode(root).decode(),
        "checkpoint": note,
        "figures": [{**s, "result": results[s["name"]]} for s in specs],
    }


def _table(fig: Mapping[str, Any]) -> str:
    e = html.escape
    dims = list(fig["query"].get("group_by", []))
    measure = str(fig["query"].get("measure", "count"))
    head = "".join(f"<th>{e(d)}</th>" for d in dims) + f"<th>{e(measure)}</th>"
    body = "".join(
        "<tr>"
        + "".join(f"<td>{e('—' if v is None else str(v))}</td>" for v in r["key"])
        + f"<td class=n>{r['value']}</td></tr>"
        for r in fig["result"]
    )
    return f"<table><tr>{head}</tr>{body or '<tr><td>(none / なし)</td></tr>'}</table>"


def figures_html(rep: Mapping[str, Any]) -> str:
    """The report as one HTML page: each section's figures as tables, then the checkpoint."""
    e = html.escape
    parts: list[str] = []
    section = None
    for fig in rep["figures"]:
        if fig["section"] != section:
            section = fig["section"]
            parts.append(f"<h2>{e(str(section))}</h2>")
        parts.append(
            f"<h3>{e(fig['title_ja'])} — {e(fig['title'])}</h3>"
            f"<p class=q>figure <code>{e(fig['name'])}</code></p>{_table(fig)}"
        )
    p = rep["period"]
    return f"""<!doctype html>
<html lang="ja"><head><meta charset="utf-8">
<title>定期報告 Periodic report {e(p["from"])}–{e(p["to"])}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #999;padding:2px 6px}}td.n{{text-align:right}}pre{{background:#eee}}
</style></head><body>
<h1>情報遮断 定期報告 — Periodic compliance report</h1>
<p>期間 Period: {e(p["from"])} – {e(p["to"])} (JST) ·
監査ログ entries 0 … {rep["tree_size"] - 1}</p>
<p>Every figure is recomputable from an audit-log export with
<code>python -m gridwall.audit.standalone report-check EXPORT REPORT.json PUBLIC_KEY</code>
(the queries are in the JSON appendix).</p>
{"".join(parts)}
<h2>Checkpoint (署名付きチェックポイント)</h2>
<pre>{e(rep["checkpoint"])}</pre>
</body></html>
"""
