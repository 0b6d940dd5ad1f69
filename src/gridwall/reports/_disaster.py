"""The disaster after-action report (非常災害 事後報告): one declaration, after its end.

Who accessed what under the declaration (person, organisation, terminal, how many supply
points, which field groups), inside and outside the declared area, accesses after the end,
and the deletion attestations (削除証明). Like the periodic report it is computed from the
audit log up to a signed checkpoint, which it embeds, and every number is a figure of
:mod:`gridwall.figures` (query and answer in the JSON appendix), so ``report-check``
recomputes them from an export.

*Under the declaration* is the grants desk's own rule: a gateway or lookup event with the
purpose ``disaster_support`` whose time is in the active window ``[active_from,
effective_end)``. Whether a point lies inside the area is not in the log (it is the point's
address, a customer fact): the app layer classifies each point the log names (through the
gateway) and the figures' queries carry the resulting lists of point IDs
(``where.supply_point``), so the counts are recomputable from the export and the lists are
the operator's stated classification, checkable against its supply-point register.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from gridwall import figures
from gridwall.errors import UsageError
from gridwall.interfaces.clock import iso, parse_instant
from gridwall.reports._render import (
    page_html,
    pdf_document,
    pdf_figure,
    pdf_heading,
    pdf_paragraph,
    svg_chart,
    table_html,
)
from gridwall.reports._statement import LogView

#: the same JSON format as the periodic report, so ``report-check`` recomputes it
FORMAT = "gridwall-report/1"
KIND = "disaster-after-action"

#: a point's place relative to the declaration
INSIDE, OTHER, OUTSIDE = "inside", "other", "outside"

#: ``(point IDs) -> {point: INSIDE | OTHER | OUTSIDE}``: INSIDE the declared area, inside
#: the area of an OTHER declaration active after this one started, else OUTSIDE (an ID the
#: store does not hold is OUTSIDE too)
Classify = Callable[[Sequence[str]], Mapping[str, str]]

_ACCESS_SOURCES = ["gw", "lk"]
_ATTEST_SCREEN = "grants.disaster.attest-deletion"

#: (name, section, English title, Japanese title)
_TITLES: dict[str, tuple[str, str, str]] = {
    "accesses_by_org_decision": (
        "accesses", "Accesses under the declaration, by organisation and decision",
        "宣言下のアクセス (組織・判定別)",
    ),
    "accesses_by_person": (
        "who", "Accesses by person", "担当者別アクセス (組織・担当者・判定別)",
    ),
    "points_by_person": (
        "who", "Supply points shown, by person (distinct)", "担当者別の閲覧地点数",
    ),
    "fields_by_org": (
        "who", "Field groups shown, by organisation", "開示された項目 (組織別)",
    ),
    "accesses_by_terminal": (
        "terminals", "Accesses by terminal", "端末別アクセス (組織・端末・判定別)",
    ),
    "inside_area_by_org_decision": (
        "area", "Accesses to points inside the declared area", "宣言区域内の地点へのアクセス",
    ),
    "outside_area_by_org_decision": (
        "area", "Accesses to points OUTSIDE the declared area (flagged)",
        "宣言区域外の地点へのアクセス (要確認)",
    ),
    "outside_area_points_by_decision": (
        "area", "Points outside the area that were asked for (distinct)",
        "区域外で照会された地点数",
    ),
    "other_declaration_by_org_decision": (
        "area", "Accesses to points of another declaration's area",
        "他の宣言の区域内の地点へのアクセス",
    ),
    "after_end_by_org_decision": (
        "after", "Disaster-purpose accesses after the end (must be none or refused)",
        "終了後の非常災害目的のアクセス (拒否のみであること)",
    ),
    "attestation_steps_by_decision": (
        "deletion", "Deletion-attestation steps in the log", "削除証明の操作 (判定別)",
    ),
}  # fmt: skip

#: section key → (Japanese heading, English heading)
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("accesses", "宣言下のアクセス", "Accesses under the declaration"),
    ("who", "誰が何を見たか", "Who accessed what"),
    ("terminals", "端末", "Terminals"),
    ("area", "宣言区域の内と外", "Inside and outside the declared area"),
    ("after", "終了後のアクセス", "Accesses after the end"),
    ("deletion", "削除証明", "Deletion attestations"),
)


def _event(raw: bytes) -> Mapping[str, Any] | None:
    try:
        ev = json.loads(raw).get("event")
    except (ValueError, AttributeError):
        return None
    return ev if isinstance(ev, dict) else None


def _when(ev: Mapping[str, Any]) -> datetime | None:
    try:
        return parse_instant(str(ev.get("ts")), "ts")
    except ValueError:
        return None


def figure_specs(
    declaration: Mapping[str, Any],
    places: Mapping[str, str],
    next_start: datetime | None,
) -> list[dict[str, Any]]:
    """The report's figures, their queries bound to the declaration's window and to the
    classified point lists."""
    did = str(declaration["disaster_id"])
    lo, hi = str(declaration["active_from"]), str(declaration["effective_end"])
    base: dict[str, Any] = {
        "source": _ACCESS_SOURCES, "purpose": "disaster_support", "ts_from": lo, "ts_to": hi,
    }  # fmt: skip
    allow = {**base, "decision": "allow"}

    def pts(kind: str) -> list[str]:
        return sorted(p for p, k in places.items() if k == kind)

    after: dict[str, Any] = {
        "source": _ACCESS_SOURCES, "purpose": "disaster_support", "ts_from": hi,
        "supply_point": pts(INSIDE) + pts(OUTSIDE),
    }  # fmt: skip
    if next_start is not None:
        after["ts_to"] = iso(next_start)
    queries: dict[str, dict[str, Any]] = {
        "accesses_by_org_decision": {"where": base, "group_by": ["org_kind", "org", "decision"]},
        "accesses_by_person": {"where": base, "group_by": ["org", "person_id", "decision"]},
        "points_by_person": {
            "where": allow, "group_by": ["org", "person_id"], "measure": "distinct:supply_point",
        },
        "fields_by_org": {"where": allow, "group_by": ["org", "field"]},
        "accesses_by_terminal": {"where": base, "group_by": ["org", "device_id", "decision"]},
        "inside_area_by_org_decision": {
            "where": {**base, "supply_point": pts(INSIDE)}, "group_by": ["org", "decision"],
        },
        "outside_area_by_org_decision": {
            "where": {**base, "supply_point": pts(OUTSIDE)}, "group_by": ["org", "decision"],
        },
        "outside_area_points_by_decision": {
            "where": {**base, "supply_point": pts(OUTSIDE)}, "group_by": ["decision"],
            "measure": "distinct:supply_point",
        },
        "other_declaration_by_org_decision": {
            "where": {**base, "supply_point": pts(OTHER)}, "group_by": ["org", "decision"],
        },
        "after_end_by_org_decision": {"where": after, "group_by": ["org", "decision"]},
        "attestation_steps_by_decision": {
            "where": {"source": "grants", "grant_id": did, "screen": _ATTEST_SCREEN},
            "group_by": ["decision"],
        },
    }  # fmt: skip
    out = []
    for name, (section, en, ja) in _TITLES.items():
        out.append(
            {"name": name, "section": section, "title": en, "title_ja": ja, "query": queries[name]}
        )
    return out


def build_disaster_report(
    log: LogView,
    declaration: Mapping[str, Any],
    attestations: Sequence[Mapping[str, Any]],
    classify: Classify,
    *,
    next_start: datetime | None,
    generated_at: datetime,
    batch: int = 50_000,
) -> dict[str, Any]:
    """The after-action report of ``declaration`` (the grants desk's declaration record)
    over the log up to its latest signed checkpoint.

    Refused (:class:`UsageError`) when the declaration was never active, has not ended at
    ``generated_at``, or the checkpoint does not reach past its end (no entry at or after
    the end is signed yet: accesses made just before the end might be missing)."""
    did = str(declaration["disaster_id"])
    if not declaration.get("active_from"):
        raise UsageError(
            f"--declaration {did}: it was never active (status {declaration['status']})"
        )
    start = parse_instant(str(declaration["active_from"]), "active_from")
    end = parse_instant(str(declaration["effective_end"]), "effective_end")
    if generated_at < end:
        raise UsageError(
            f"--declaration {did}: it has not ended yet (ends {iso(end)}); "
            "the after-action report is made after the end"
        )
    size, root, note = log.checkpoint()
    # one pass: keep what any figure can match (disaster-purpose accesses from the start,
    # this declaration's grant steps), the points they name, and the last signed entry's time
    did_key = f'"grant_id":"{did}"'.encode()
    kept: list[tuple[int, bytes]] = []
    points: set[str] = set()
    last_ts: datetime | None = None
    for lo in range(0, size, batch):
        got = list(log.entries(lo, min(size, lo + batch)))
        if got and got[-1][0] == size - 1:
            ev = _event(got[-1][1])
            last_ts = None if ev is None else _when(ev)
        for idx, raw in got:
            if b"disaster_support" not in raw and did_key not in raw:
                continue
            ev = _event(raw)
            if ev is None:
                continue
            if ev.get("purpose") == "disaster_support":
                t = _when(ev)
                if t is None or t < start:
                    continue
                points.update(str(p) for p in ev.get("supply_point_ids") or [])
            kept.append((idx, raw))
    if last_ts is None or last_ts < end:
        raise UsageError(
            f"--declaration {did}: the latest signed checkpoint (size {size}) does not reach "
            f"past the end {iso(end)}; sign one (`gridwall audit checkpoint`) and run again"
        )
    places = dict(classify(sorted(points)))
    for p in points:  # a point the classifier did not answer for is not in the area
        places.setdefault(p, OUTSIDE)
    specs = figure_specs(declaration, places, next_start)
    results = figures.compute_all(specs, (raw for _, raw in kept))
    figs = [{**s, "result": results[s["name"]]} for s in specs]
    atts = _attestations(log, kept, did, attestations, size)
    rep = {
        "format": FORMAT,
        "kind": KIND,
        "figures_format": figures.FORMAT,
        "declaration": dict(declaration),
        "generated_at": generated_at.isoformat(),
        "entries": {"from": 0, "to": size},
        "tree_size": size,
        "root_hash": base64.b64encode(root).decode(),
        "checkpoint": note,
        "next_declaration_start": iso(next_start) if next_start else None,
        "figures": figs,
        "attestations": atts,
    }
    rep["attestations_outstanding"] = outstanding(rep)
    rep["findings"] = findings(rep)
    return rep


def _attestations(
    log: LogView,
    kept: Iterable[tuple[int, bytes]],
    did: str,
    attestations: Sequence[Mapping[str, Any]],
    size: int,
) -> list[dict[str, Any]]:
    """The store's attestations, each tied to its allowed audit event (index, leaf hash,
    inclusion proof) or marked ``in_log: false``."""
    steps: list[tuple[int, bytes, Mapping[str, Any]]] = []
    for idx, raw in kept:
        ev = _event(raw)
        if (
            ev is not None
            and ev.get("grant_id") == did
            and ev.get("screen") == _ATTEST_SCREEN
            and ev.get("decision") == "allow"
        ):
            steps.append((idx, raw, ev))
    out = []
    for a in sorted(attestations, key=lambda a: str(a["org"])):
        row: dict[str, Any] = {k: a[k] for k in ("org", "attested_by", "attested_at", "copies")}
        row["statement"] = a.get("statement", "")
        tag = f"org={a['org']} copies={a['copies']} "
        hit = next(
            ((i, r) for i, r, ev in steps
             if ev.get("account_id") == a["attested_by"] and tag in str(ev.get("query"))),
            None,
        )  # fmt: skip
        row["in_log"] = hit is not None
        if hit is not None:
            i, r = hit
            row["index"] = i
            row["leaf_hash"] = base64.b64encode(hashlib.sha256(b"\x00" + r).digest()).decode()
            row["inclusion_proof"] = [
                base64.b64encode(h).decode() for h in log.inclusion_proof(i, size)
            ]
        out.append(row)
    return out


def _figure(rep: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    for f in rep["figures"]:
        if f["name"] == name:
            return list(f["result"])
    raise KeyError(name)


def outstanding(rep: Mapping[str, Any]) -> list[str]:
    """Organisations outside the NW that were shown data under the declaration and have not
    attested deletion (from the figures, so it follows from the log)."""
    shown = {
        str(r["key"][1])
        for r in _figure(rep, "accesses_by_org_decision")
        if r["key"][2] == "allow" and r["key"][0] != "nw" and r["key"][1]
    }
    attested = {str(a["org"]) for a in rep["attestations"]}
    return sorted(shown - attested)


def findings(rep: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What needs a look (要確認): allowed accesses outside the area or after the end,
    outstanding attestations, attestations whose step is not in the log."""
    out: list[dict[str, Any]] = []
    for name, what_ja, what in (
        ("outside_area_by_org_decision", "区域外の地点への許可されたアクセス",
         "allowed access to a point outside the area"),
        ("after_end_by_org_decision", "終了後の許可されたアクセス", "allowed access after the end"),
    ):  # fmt: skip
        for r in _figure(rep, name):
            if r["key"][-1] == "allow":
                out.append({"figure": name, "org": r["key"][0], "count": r["value"],
                            "ja": what_ja, "en": what})  # fmt: skip
    for org in rep["attestations_outstanding"]:
        out.append(
            {"figure": "attestations", "org": org, "count": 1, "ja": "削除証明が未提出",
             "en": "deletion attestation outstanding"}
        )  # fmt: skip
    for a in rep["attestations"]:
        if not a["in_log"]:
            out.append({"figure": "attestations", "org": a["org"], "count": 1,
                        "ja": "削除証明の操作が監査ログにない",
                        "en": "attestation step not in the signed log"})  # fmt: skip
    return out


def _header_lines(rep: Mapping[str, Any]) -> list[tuple[str, str]]:
    d = rep["declaration"]
    return [
        ("宣言 Declaration", f"{d['disaster_id']} {d.get('title') or ''}".strip()),
        ("区域 Area", " ; ".join(d["area"])),
        ("有効期間 Active", f"{d['active_from']} – {d['effective_end']}"),
        ("状態 Status", str(d["status"])),
        ("宣言者 Requested by", f"{d['requested_by']} ({d['requested_at']})"),
        ("承認者 Approved by", f"{d['approved_by']} ({d['approved_at']})"),
        ("終了 Ended by", f"{d['ended_by'] or '— (planned end / hard maximum)'}"),
        ("監査ログ Audit log", f"entries 0 … {rep['tree_size'] - 1}"),
    ]


def _attestation_lines(rep: Mapping[str, Any]) -> list[str]:
    lines = []
    for a in rep["attestations"]:
        where = f"log index {a['index']}" if a["in_log"] else "NOT IN THE LOG / 監査ログになし"
        lines.append(
            f"{a['org']}: {a['attested_by']} at {a['attested_at']}, copies {a['copies']} ({where})"
        )
    owing = rep["attestations_outstanding"]
    lines.append("未提出 Outstanding: " + (", ".join(owing) if owing else "なし none"))
    return lines


def _finding_lines(rep: Mapping[str, Any]) -> list[str]:
    if not rep["findings"]:
        return ["要確認事項なし — nothing to look into"]
    return [f"{f['ja']} / {f['en']}: {f['org']} ({f['count']})" for f in rep["findings"]]


def _by_section(rep: Mapping[str, Any]) -> list[tuple[str, str, str, list[Mapping[str, Any]]]]:
    return [
        (key, ja, en, [f for f in rep["figures"] if f["section"] == key])
        for key, ja, en in SECTIONS
    ]


TITLE = "非常災害 事後報告 — Disaster after-action report"


def disaster_html(rep: Mapping[str, Any]) -> str:
    """The report as one self-contained HTML page (charts, tables, checkpoint)."""
    e = html.escape
    head = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in _header_lines(rep))
    parts = [
        f"<h1>{e(TITLE)}</h1><table class=decl>{head}</table>",
        "<p>Every figure is recomputable from an audit-log export with "
        "<code>python -m gridwall.audit.standalone report-check EXPORT REPORT.json "
        "PUBLIC_KEY</code> (queries in the JSON appendix). The point lists in the area "
        "figures' queries are the operator's classification of each point by its address.</p>",
        "<h2>要確認事項 — Findings</h2><ul class=findings>"
        + "".join(f"<li>{e(x)}</li>" for x in _finding_lines(rep))
        + "</ul>",
    ]
    for key, ja, en, figs in _by_section(rep):
        parts.append(f"<h2>{e(ja)} — {e(en)}</h2>")
        for fig in figs:
            parts.append(
                f'<section class=figure id="{e(fig["name"])}">'
                f"<h3>{e(fig['title_ja'])} — {e(fig['title'])}</h3>"
                f"<p class=q>figure <code>{e(fig['name'])}</code></p>"
                f"{svg_chart(fig)}{table_html(fig)}</section>"
            )
        if key == "deletion":
            parts.append(
                "<ul class=attestations>"
                + "".join(f"<li>{e(x)}</li>" for x in _attestation_lines(rep))
                + "</ul>"
            )
    parts.append(
        f"<h2>署名付きチェックポイント — Signed checkpoint</h2><pre>{e(rep['checkpoint'])}</pre>"
    )
    d = rep["declaration"]
    return page_html(f"非常災害 事後報告 {d['disaster_id']}", "\n".join(parts))


def disaster_pdf(rep: Mapping[str, Any]) -> bytes:
    """The report as a PDF (A4), the same sections; the Japanese font is embedded."""
    pdf = pdf_document()
    pdf_heading(pdf, TITLE, size=16)
    for k, v in _header_lines(rep):
        pdf_paragraph(pdf, f"{k}: {v}", size=10)
    pdf_heading(pdf, "要確認事項 — Findings")
    for line in _finding_lines(rep):
        pdf_paragraph(pdf, line, size=9)
    for key, ja, en, figs in _by_section(rep):
        pdf_heading(pdf, f"{ja} — {en}")
        for fig in figs:
            pdf_figure(pdf, fig)
        if key == "deletion":
            for line in _attestation_lines(rep):
                pdf_paragraph(pdf, line, size=9)
    pdf.add_page()
    pdf_heading(pdf, "署名付きチェックポイント — Signed checkpoint")
    pdf_paragraph(pdf, str(rep["checkpoint"]), size=8)
    return bytes(pdf.output())
