"""Every string of the console is in the Japanese catalogue; JST times; the usage chart."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from hypothesis import given
from hypothesis import strategies as st

from gridwall.app.web import charts, i18n

WEB = Path(i18n.__file__).parent
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def extracted() -> dict[str, list[str]]:
    """Every gettext message of the templates and page modules, with where it is."""
    out: dict[str, list[str]] = {}
    found = extract_from_dir(
        str(WEB),
        [("templates/**.html", "jinja2"), ("**.py", "python")],
        {"templates/**.html": {"extensions": "jinja2.ext.i18n"}},
    )
    for filename, line, message, _comments, _context in found:
        assert isinstance(message, str), (filename, line, message)
        out.setdefault(message, []).append(f"{filename}:{line}")
    return out


def test_every_console_string_has_a_japanese_translation_with_its_placeholders() -> None:
    messages = extracted()
    assert len(messages) > 50  # the extraction sees the templates
    ja = i18n.translations("ja")
    for message, where in messages.items():
        text = ja.gettext(message)
        assert text and text != message, (message, where)
        assert sorted(PLACEHOLDER.findall(text)) == sorted(PLACEHOLDER.findall(message)), where


def test_no_literal_text_outside_gettext_in_templates() -> None:
    """Text between tags must come from the catalogue (a ``{{ _(…) }}``), not be written in."""
    for template in (WEB / "templates").glob("*.html"):
        body = re.sub(
            r"{%.*?%}|{{.*?}}|{#.*?#}", "", template.read_text(encoding="utf-8"), flags=re.S
        )
        body = re.sub(r"<(script|style)[^>]*>.*?</\1>", "", body, flags=re.S)
        for text in re.findall(r">([^<>]+)<", body):
            words = re.sub(r"[\s:/%()|—0-9.-]+", "", text)
            assert not words, (template.name, text)


def test_a_broken_catalogue_is_refused_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    po = tmp_path / "ja" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    po.write_text('msgid "x"\nthis is not a po line\n', encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n.translations.cache_clear()
    try:
        with pytest.raises(i18n.CatalogueError, match=re.escape(str(po))):
            i18n.translations("ja")
    finally:
        monkeypatch.undo()
        i18n.translations.cache_clear()


def test_times_are_shown_in_jst_in_both_languages() -> None:
    t = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)  # 2026-11-25 00:30 JST
    assert i18n.jst(t, "ja") == "2026/11/25 0:30:00 JST"
    assert "Nov 25, 2026" in i18n.jst(t, "en") and i18n.jst(t, "en").endswith("JST")
    assert i18n.jst(t.replace(tzinfo=None), "ja") == i18n.jst(t, "ja")  # naive = UTC
    assert i18n.jst("2026-11-24T15:30:00Z", "ja") == i18n.jst(t, "ja")
    assert i18n.day("2024-04-01", "ja") == "2024年4月1日"
    assert i18n.number(1234567.5, "ja") == "1,234,567.5"
    assert i18n.month("2026-01", "ja") == "2026年1月" and i18n.month("2026-01", "en") == "Jan 2026"
    assert i18n.language("fr") == i18n.language(None) == "ja" and i18n.language("en") == "en"


@given(st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=36))
def test_usage_bars_are_proportional_and_inside_the_plot(kwh: list[int]) -> None:
    chart = charts.usage_chart([{"month": f"2026-{i:02d}", "kwh": v} for i, v in enumerate(kwh)])
    assert [b.kwh for b in chart.bars] == kwh
    top = max(kwh)
    full = chart.baseline - charts.TOP
    for b in chart.bars:
        assert 0 <= b.height <= full + 0.01 and abs(b.y + b.height - chart.baseline) < 0.02
        assert b.x >= charts.LEFT and b.x + b.width <= chart.width
        if top:
            assert abs(b.height - full * b.kwh / top) < 0.02
    xs = [b.x for b in chart.bars]
    assert xs == sorted(xs)
