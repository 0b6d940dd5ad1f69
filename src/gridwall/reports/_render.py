"""The periodic report as a self-contained HTML page and a PDF, with a chart per figure.

Sections follow the improvement-plan headings (業務改善計画の項目). A heading with no figure
source yet says "not yet recorded" (未記録): no number is ever made up. Every chart is drawn
from the figure's ``result`` rows, the same rows the JSON appendix carries, and each SVG bar
carries its key and value (``data-key``, ``data-value``) so a reader can compare them.

Japanese text uses the IPAex Gothic font shipped inside the ``japanize_matplotlib`` package
(never a system font): the HTML embeds a subset of it as a data URL, the PDF embeds it (fpdf2
subsets it). Nothing is fetched.
"""

from __future__ import annotations

import base64
import html
import importlib.util
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gridwall.errors import UsageError

#: (section key used by the figures, Japanese heading, English heading)
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("ID and password management", "ID・パスワード管理", "ID and password management"),
    ("terminal management", "端末管理", "Terminal management"),
    ("personnel transfers", "人事異動への対応", "Personnel transfers"),
    ("disaster-time outsourcing", "非常災害時の業務委託", "Disaster-time outsourcing"),
    ("contractor management", "委託先管理", "Contractor management"),
    ("access-log analysis", "アクセスログの分析", "Access-log analysis"),
    ("internal audit", "内部監査", "Internal audit"),
)

NOT_RECORDED_JA = "未記録 (この項目の数値の記録元はまだありません)"
NOT_RECORDED_EN = "not yet recorded (no source for this heading's figures exists yet)"

_BAR_COLOURS = {"allow": "#3a7d44", "deny": "#b23a48"}


def font_path() -> Path:
    """IPAex Gothic inside the installed ``japanize_matplotlib`` package (not imported)."""
    spec = importlib.util.find_spec("japanize_matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise UsageError("the Japanese font package japanize-matplotlib is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "fonts" / "ipaexg.ttf"
    if not path.is_file():
        raise UsageError(f"the Japanese font {path} is missing")
    return path


def bars(fig: Mapping[str, Any]) -> list[tuple[str, list[Any], int]]:
    """The chart's bars: (label, key, value), one per result row, in the appendix's order."""
    out = []
    for r in fig["result"]:
        key = list(r["key"])
        label = " / ".join("—" if v is None else str(v) for v in key)
        out.append((label, key, int(r["value"])))
    return out


def _colour(key: Sequence[Any]) -> str:
    for v in key:
        if v in _BAR_COLOURS:
            return _BAR_COLOURS[str(v)]
    return "#3b6ea5"


def svg_chart(fig: Mapping[str, Any]) -> str:
    """A horizontal bar chart of the figure as inline SVG (one bar per result row)."""
    e = html.escape
    rows = bars(fig)
    if not rows:
        return f'<p class=none data-figure="{e(fig["name"])}">0 件 (none / なし)</p>'
    top = max(v for _, _, v in rows) or 1
    label_w, bar_w, h = 330, 300, 18
    parts = []
    for i, (label, key, value) in enumerate(rows):
        y = i * h
        w = max(1, round(bar_w * value / top)) if value else 0
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{e(label)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w}" height="{h - 6}" '
            f'fill="{_colour(key)}" data-key="{e(json.dumps(key, ensure_ascii=False))}" '
            f'data-value="{value}"/>'
            f'<text x="{label_w + w + 4}" y="{y + 13}">{value}</text>'
        )
    height = len(rows) * h + 4
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class=chart data-figure="{e(fig["name"])}" '
        f'width="{label_w + bar_w + 80}" height="{height}" font-size="11" '
        f'font-family="gwjp, sans-serif" role="img" aria-label="{e(fig["title_ja"])}">'
        + "".join(parts)
        + "</svg>"
    )


def _font_face(text: str) -> str:
    """@font-face with the subset of IPAex Gothic covering ``text``, as a data URL."""
    from fontTools import subset

    opts = subset.Options()
    opts.flavor = None
    font = subset.load_font(str(font_path()), opts)
    sub = subset.Subsetter(opts)
    sub.populate(text=text)
    sub.subset(font)
    buf = io.BytesIO()
    subset.save_font(font, buf, opts)
    data = base64.b64encode(buf.getvalue()).decode()
    return f"@font-face{{font-family:gwjp;src:url(data:font/ttf;base64,{data}) format('truetype')}}"


def table_html(fig: Mapping[str, Any]) -> str:
    e = html.escape
    dims = list(fig["query"].get("group_by", []))
    measure = str(fig["query"].get("measure", "count"))
    head = "".join(f"<th>{e(d)}</th>" for d in dims) + f"<th>{e(measure)}</th>"
    body = "".join(
        "<tr>"
        + "".join(f"<td>{e('—' if v is None else str(v))}</td>" for v in key)
        + f"<td class=n>{value}</td></tr>"
        for _, key, value in bars(fig)
    )
    return f"<table><tr>{head}</tr>{body or '<tr><td>(none / なし)</td></tr>'}</table>"


def _by_section(rep: Mapping[str, Any]) -> list[tuple[str, str, list[Mapping[str, Any]]]]:
    known = {s for s, _, _ in SECTIONS}
    out = [(ja, en, [f for f in rep["figures"] if f["section"] == s]) for s, ja, en in SECTIONS]
    extra = [f for f in rep["figures"] if f["section"] not in known]
    if extra:
        out.append(("その他", "Other", extra))
    return out


def report_html(rep: Mapping[str, Any]) -> str:
    """The report as one self-contained HTML page: charts (inline SVG), tables, checkpoint."""
    e = html.escape
    parts: list[str] = []
    for ja, en, figs in _by_section(rep):
        parts.append(f"<h2>{e(ja)} — {e(en)}</h2>")
        if not figs:
            parts.append(f"<p class=unrecorded>{e(NOT_RECORDED_JA)} / {e(NOT_RECORDED_EN)}</p>")
        for fig in figs:
            parts.append(
                f'<section class=figure id="{e(fig["name"])}">'
                f"<h3>{e(fig['title_ja'])} — {e(fig['title'])}</h3>"
                f"<p class=q>figure <code>{e(fig['name'])}</code></p>"
                f"{svg_chart(fig)}{table_html(fig)}</section>"
            )
    p = rep["period"]
    body = f"""<h1>情報遮断 定期報告 — Periodic compliance report</h1>
<p>期間 Period: {e(p["from"])} – {e(p["to"])} (JST) ·
監査ログ entries 0 … {rep["tree_size"] - 1}</p>
<p>Every figure is recomputable from an audit-log export with
<code>python -m gridwall.audit.standalone report-check EXPORT REPORT.json PUBLIC_KEY</code>
(the queries are in the JSON appendix, report.json).</p>
{"".join(parts)}
<h2>署名付きチェックポイント — Signed checkpoint</h2>
<pre>{e(rep["checkpoint"])}</pre>"""
    return page_html(f"定期報告 Periodic report {p['from']}–{p['to']}", body)


def page_html(title: str, body: str) -> str:
    """A self-contained report page around ``body``: the styles and the subset of the
    Japanese font covering the page's text (a data URL: nothing is fetched)."""
    e = html.escape
    face = _font_face(html.unescape(body) + title + "0123456789—…/() ")
    return f"""<!doctype html>
<html lang="ja"><head><meta charset="utf-8">
<title>{e(title)}</title>
<style>{face}
body{{font-family:gwjp,sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #999;padding:2px 6px}}td.n{{text-align:right}}pre{{background:#eee}}
svg.chart{{display:block;margin:.5em 0}}p.unrecorded{{color:#666}}
</style></head><body>
{body}
</body></html>
"""


def pdf_document() -> Any:
    """An A4 fpdf2 document with the Japanese font embedded and a first page."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font("gwjp", fname=str(font_path()))
    pdf.set_font("gwjp", size=16)
    pdf.add_page()
    return pdf


def pdf_heading(pdf: Any, text: str, *, size: int = 13) -> None:
    """A heading line (a little space above it)."""
    pdf.ln(3)
    pdf.set_font("gwjp", size=size)
    _para(pdf, size * 0.6, text)


def pdf_paragraph(pdf: Any, text: str, *, size: int = 9) -> None:
    """A paragraph of body text."""
    pdf.set_font("gwjp", size=size)
    _para(pdf, size * 0.55, text)


def report_pdf(rep: Mapping[str, Any]) -> bytes:
    """The report as a PDF (A4): the same sections, a bar chart and the rows per figure, the
    signed checkpoint on the last page. The Japanese font is embedded."""
    pdf = pdf_document()
    p = rep["period"]
    _para(pdf, 9, "情報遮断 定期報告 — Periodic compliance report")
    pdf.set_font("gwjp", size=10)
    _para(
        pdf, 6,
        f"期間 Period: {p['from']} – {p['to']} (JST) · 監査ログ entries 0 … "
        f"{rep['tree_size'] - 1}. Every figure is recomputable with "
        "python -m gridwall.audit.standalone report-check (queries in report.json).",
    )  # fmt: skip
    for ja, en, figs in _by_section(rep):
        pdf.ln(3)
        pdf.set_font("gwjp", size=13)
        _para(pdf, 8, f"{ja} — {en}")
        pdf.set_font("gwjp", size=9)
        if not figs:
            _para(pdf, 5, f"{NOT_RECORDED_JA} / {NOT_RECORDED_EN}")
        for fig in figs:
            pdf_figure(pdf, fig)
    pdf.add_page()
    pdf.set_font("gwjp", size=13)
    _para(pdf, 8, "署名付きチェックポイント — Signed checkpoint")
    pdf.set_font("gwjp", size=8)
    _para(pdf, 4, str(rep["checkpoint"]))
    return bytes(pdf.output())


def _para(pdf: Any, h: float, text: str) -> None:
    """A left-aligned paragraph across the page (justified text would split words)."""
    pdf.multi_cell(pdf.epw, h, text, new_x="LMARGIN", new_y="NEXT", align="L")


def pdf_figure(pdf: Any, fig: Mapping[str, Any]) -> None:
    pdf.set_font("gwjp", size=10)
    _para(pdf, 6, f"{fig['title_ja']} — {fig['title']}  [{fig['name']}]")
    pdf.set_font("gwjp", size=8)
    rows = bars(fig)
    if not rows:
        _para(pdf, 5, "0 件 (none / なし)")
        return
    top = max(v for _, _, v in rows) or 1
    label_w, bar_w, h = 85.0, 80.0, 4.5
    for label, key, value in rows:
        if pdf.will_page_break(h):
            pdf.add_page()
        x, y = pdf.l_margin, pdf.get_y()
        pdf.set_xy(x, y)
        pdf.cell(label_w - 2, h, label[:60], align="R")
        w = bar_w * value / top
        r, g, b = (int(_colour(key)[i : i + 2], 16) for i in (1, 3, 5))
        pdf.set_fill_color(r, g, b)
        if value:
            pdf.rect(x + label_w, y + 0.7, max(w, 0.3), h - 1.4, style="F")
        pdf.set_xy(x + label_w + w + 1.5, y)
        pdf.cell(20, h, str(value))
        pdf.set_xy(x, y + h)
    pdf.ln(2)
