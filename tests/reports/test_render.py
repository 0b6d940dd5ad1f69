"""The periodic report as HTML and PDF: every chart equals the JSON appendix's figures, the
improvement-plan headings are all there (unrecorded ones say so, with no number), and the
PDF's Japanese text comes back out with poppler's ``pdftotext``; a page is rendered to PNG
with ``pdftoppm`` into ``out/reports/`` for review.

poppler-utils is Debian's package (``./dev test`` installs it when missing and may). Without
it the PDF tests skip with a message, unless ``GRIDWALL_REQUIRE_BROWSER=1`` (CI).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from gridwall.app.reporting import AuditLogView
from gridwall.reports import SECTIONS, build_figures_report, report_html, report_pdf

from .scenario import FIRST, LAST, Scenario

#: where rendered pages go for review (git-ignored)
SHOTS = Path(__file__).resolve().parents[2] / "out" / "reports"


def _require_poppler() -> None:
    if shutil.which("pdftotext") and shutil.which("pdftoppm"):
        return
    why = "pdftotext/pdftoppm are missing (Debian package 'poppler-utils'; ./dev test installs it)"
    if os.environ.get("GRIDWALL_REQUIRE_BROWSER") == "1":
        pytest.fail(f"GRIDWALL_REQUIRE_BROWSER=1 but {why}")
    pytest.skip(why)


@pytest.fixture
def rep(scenario: Scenario) -> dict[str, Any]:
    view = AuditLogView(scenario.url)
    try:
        return build_figures_report(
            view, FIRST, LAST, generated_at=datetime(2026, 4, 5, tzinfo=UTC)
        )
    finally:
        view.close()


class _Charts(HTMLParser):
    """Collects each chart's bars (figure name → [(key, value)]) and the section headings."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: dict[str, list[tuple[list[Any], int]]] = {}
        self.current: str | None = None
        self.h2: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "svg" and a.get("class") == "chart":
            self.current = a["data-figure"] or ""
            self.charts[self.current] = []
        elif tag == "p" and a.get("class") == "none":
            self.charts[a["data-figure"] or ""] = []
        elif tag == "rect" and self.current is not None:
            self.charts[self.current].append(
                (json.loads(a["data-key"] or ""), int(a["data-value"] or ""))
            )
        elif tag == "h2":
            self._in_h2 = True
            self.h2.append("")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self.current = None
        elif tag == "h2":
            self._in_h2 = False

    def handle_data(self, data: str) -> None:
        if self._in_h2:
            self.h2[-1] += data


def test_html_charts_equal_the_appendix(rep: dict[str, Any]) -> None:
    page = report_html(rep)
    p = _Charts()
    p.feed(page)
    want = {f["name"]: [(r["key"], r["value"]) for r in f["result"]] for f in rep["figures"]}
    assert p.charts == want
    assert any(v for v in want.values()), "the scenario must give some figure a row"
    for _, ja, en in SECTIONS:
        assert f"{ja} — {en}" in p.h2
    assert "not yet recorded" in page
    assert rep["checkpoint"].splitlines()[0] in page
    # self-contained: the Japanese font is embedded, nothing is fetched
    assert "url(data:font/ttf;base64," in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page


def test_pdf_japanese_text_and_a_rendered_page(rep: dict[str, Any], tmp_path: Path) -> None:
    _require_poppler()
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(report_pdf(rep))
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(pdf), "-"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    flat = "".join(text.split())
    assert "情報遮断定期報告" in flat
    for _, ja, _en in SECTIONS:
        assert "".join(ja.split()) in flat, ja
    for f in rep["figures"]:
        assert "".join(f["title_ja"].split()) in flat, f["name"]
    assert "未記録" in flat
    assert rep["checkpoint"].splitlines()[0].replace(" ", "") in flat
    SHOTS.mkdir(parents=True, exist_ok=True)
    stem = SHOTS / "periodic"
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(stem)],
        check=True, capture_output=True,
    )  # fmt: skip
    pngs = sorted(SHOTS.glob("periodic*.png"))
    assert pngs and pngs[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pdf_bars_follow_the_figures(rep: dict[str, Any]) -> None:
    """A PDF's drawn bars change when a figure changes (the chart is not decoration)."""
    a = report_pdf(rep)
    edited = json.loads(json.dumps(rep))
    fig = next(f for f in edited["figures"] if f["result"])
    fig["result"][0]["value"] += 7
    assert report_pdf(edited) != a


def test_the_command_writes_json_html_and_pdf(scenario: Scenario, tmp_path: Path) -> None:
    from gridwall.app.cli import main

    out = tmp_path / "r"
    with pytest.raises(SystemExit) as done:
        main(["report", "periodic", "--from", str(FIRST), "--to", str(LAST), "--out", str(out),
              "--db", scenario.url])  # fmt: skip
    assert done.value.code == 0
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.json", "report.pdf"]
    rep = json.loads((out / "report.json").read_text(encoding="utf-8"))
    p = _Charts()
    p.feed((out / "report.html").read_text(encoding="utf-8"))
    assert p.charts == {
        f["name"]: [(r["key"], r["value"]) for r in f["result"]] for f in rep["figures"]
    }
    assert (out / "report.pdf").read_bytes()[:5] == b"%PDF-"
