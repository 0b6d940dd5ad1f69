"""Reading legacy matrices: every bad field is named with its file and line; the CLI.

The bad-input cases each break one field of the shipped type A example in place, so
the expected line is where the broken text sits.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import cast

import pytest
import yaml

from gridwall.app.cli import main
from gridwall.errors import InputError, InputErrors
from gridwall.policy.legacy_matrix import load_matrix, parse_matrix

from .test_legacy_audit import COMPLIANT, TYPE_A

TEXT = TYPE_A.read_text(encoding="utf-8")

# (text to replace, replacement, the field the error must name, words in the message)
CASES = [
    ("kind: nw", "kind: nww", "organisations[0].kind", "unknown value 'nww'"),
    ("name: 送配電NW 託送部", "name: ''", "organisations[0].name", "non-empty"),
    (
        "retailer_kind: affiliated",
        "retailer_kind: affilated",
        "organisations[1].retailer_kind",
        "unknown value",
    ),
    (
        "retailer_kind: affiliated",
        "retailer_kind: none",
        "organisations[1].retailer_kind",
        "affiliated or independent",
    ),
    (
        "kind: contractor",
        "kind: contractor\n    retailer_kind: affiliated",
        "organisations[3].retailer_kind",
        "only retailers",
    ),
    (
        "agreement: [equipment]",
        "agreement: [equipmnt]",
        "organisations[3].agreement[0]",
        "unknown field group",
    ),
    (
        "agreement: [equipment]",
        "agreement: [equipment]\n    terminal: desk",
        "organisations[3].terminal",
        "unknown value 'desk'",
    ),
    ("role: takuso_operator", "role: takuso_op", "roles[0].role", "unknown value"),
    ("purpose: sales", "purpose: selling", "roles[1].purpose", "unknown value"),
    ("purpose: takuso", "purpose: takuso\n    trained: often", "roles[0].trained", "true or false"),
    (
        "held_by: [group_retail]",
        "held_by: [grp]",
        "roles[1].held_by[0]",
        "unknown organisation 'grp'",
    ),
    (
        "held_by: [group_retail, indep_retail]",
        "held_by: [group_retail, group_retail]",
        "roles[2].held_by[1]",
        "listed twice",
    ),
    ("held_by: [nw]", "held_by: nw", "roles[0].held_by", "expected a list"),
    ("held_by: [nw]", "held_by: []", "roles[0].held_by", "at least one organisation"),
    ("role: takuso_operator", "role: [takuso_operator]", "roles[0].role", "non-empty text"),
    ("id: 保守\n", "id: 小売窓口\n", "roles[3].id", "duplicate id"),
    (
        "計器番号: equipment",
        "計器番号: equipmnt",
        "screens[3].columns.計器番号",
        "unknown field group",
    ),
    ("masked: [電話番号]", "masked: [電話]", "screens[1].masked[0]", "not a column"),
    ("includes_lrs: false", "includes_lrs: maybe", "screens[1].includes_lrs", "true or false"),
    ("operations: [view]}", "operations: [veiw]}", "grants[1].operations[0]", "unknown value"),
    (
        "operations: [view]}",
        "operations: [read_audit]}",
        "grants[1].operations[0]",
        "reads no supply point",
    ),
    ("operations: [view]}", "operations: []}", "grants[1].operations", "at least one"),
    (
        "operations: [view]}",
        "operations: [view, view]}",
        "grants[1].operations[1]",
        "duplicate operation",
    ),
    ("{role: 保守,", "{role: 保守2,", "grants[5].role", "unknown role '保守2'"),
    (
        "screen: 設備台帳, operations: [view, search]",
        "screen: 設備, operations: [view]",
        "grants[5].screen",
        "unknown screen",
    ),
    ("scope: all}", "scope: some}", "grants[2].scope", "unknown value 'some'"),
    ("scope: own}", "scope: own, recipient: none}", "grants[3].recipient", "goes to someone"),
    ("scope: own}", "scope: own, recipient: friends}", "grants[3].recipient", "unknown value"),
    ("scope: all}", "scope: all, recipient: other}", "grants[2].recipient", "only an export"),
    (
        "operations: [view, search]}",
        "operations: [view, search], scop: all}",
        "grants[5].scop",
        "unknown key 'scop'",
    ),
]


def _errors(text: str, name: str = "m.yaml") -> list[InputError]:
    with pytest.raises((InputError, InputErrors)) as e:
        parse_matrix(text, name)
    if isinstance(e.value, InputErrors):
        return list(e.value.errors)
    return [cast(InputError, e.value)]


@pytest.mark.parametrize(("old", "new", "field", "words"), CASES, ids=[c[2] for c in CASES])
def test_bad_field_is_named_with_file_and_line(old: str, new: str, field: str, words: str) -> None:
    assert old in TEXT, old
    line = TEXT[: TEXT.index(old)].count("\n") + 1
    errors = _errors(TEXT.replace(old, new, 1))
    hits = [e for e in errors if e.where is not None and e.where.field == field]
    assert hits, [str(e) for e in errors]
    assert hits[0].where is not None and hits[0].where.file == "m.yaml"
    # a new key added on a following line is reported on that line
    assert hits[0].where.line in (line, line + new.count("\n")), str(hits[0])
    assert words in hits[0].message
    assert str(hits[0]).startswith(f"m.yaml:{hits[0].where.line} [{field}]")


def test_missing_required_keys_are_named() -> None:
    for old, field in (
        ("    retailer_kind: independent\n", "organisations[2].retailer_kind"),
        ("    purpose: takuso\n", "roles[0].purpose"),
        ("system: 託送・営業共用 顧客情報システム (type A)\n", "system"),
    ):
        errors = _errors(TEXT.replace(old, "", 1))
        assert any(
            e.where is not None and e.where.field == field and "missing" in e.message
            for e in errors
        ), (field, [str(e) for e in errors])


def test_duplicate_cell_names_the_first_row() -> None:
    first = "  - {role: 保守, screen: 設備台帳, operations: [view, search]}"
    text = TEXT + "  - {role: 保守, screen: 設備台帳, operations: [search]}\n"
    errors = _errors(text)
    assert len(errors) == 1
    first_line = TEXT[: TEXT.index(first)].count("\n") + 1
    where = errors[0].where
    assert where is not None and where.field == "grants[6].operations"
    assert where.line == text.count("\n")
    assert f"first on line {first_line}" in errors[0].message


def test_every_error_is_reported_at_once() -> None:
    text = TEXT.replace("kind: nw", "kind: x", 1).replace("purpose: sales", "purpose: y", 1)
    assert len(_errors(text)) == 2


def test_not_yaml_names_the_line() -> None:
    errors = _errors("system: s\norganisations: [\n", "bad.yaml")
    assert errors[0].where is not None and errors[0].where.file == "bad.yaml"
    assert errors[0].where.line is not None


def test_json_matrix_reads_like_yaml(tmp_path: Path) -> None:
    p = tmp_path / "m.json"
    p.write_text(json.dumps(yaml.safe_load(TEXT), ensure_ascii=False, indent=2))

    def rows(path: Path) -> list[tuple[object, ...]]:
        m = load_matrix(path)
        return [(g.role, g.screen, g.operations, g.scope, g.recipient) for g in m.grants]

    assert rows(p) == rows(TYPE_A)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(argv)
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


def test_cli_exit_codes_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["legacy", "audit", str(TYPE_A), "--json"], capsys)
    doc = json.loads(out)
    assert code == 1 and doc["ok"] is False and len(doc["findings"]) == 40
    first = doc["findings"][0]
    assert first["organisation"]["retailer_kind"] == "affiliated"
    assert first["equal_footing"] == "affiliated only" and first["invariants"]
    assert "40 cell(s)" in err

    code, out, _ = run(["legacy", "audit", str(COMPLIANT)], capsys)
    assert code == 0 and "0 finding(s)" in out

    bad = tmp_path / "bad.yaml"
    bad.write_text(TEXT.replace("purpose: sales", "purpose: selling", 1), encoding="utf-8")
    code, out, err = run(["legacy", "audit", str(bad)], capsys)
    assert code == 2 and out == "" and f"{bad}:" in err and "[roles[1].purpose]" in err

    code, _, err = run(["legacy", "audit", str(tmp_path / "none.yaml")], capsys)
    assert code == 2 and "no such file" in err


def test_cli_csv_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_csv = tmp_path / "findings.csv"
    code, _, _ = run(["legacy", "audit", str(TYPE_A), "--csv", str(out_csv)], capsys)
    with out_csv.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert code == 1 and len(rows) == 40
    assert {r["invariants"] for r in rows} == {"I1", "I1 I9", "", "I8"}
    assert {r["equal_footing"] for r in rows} == {"affiliated only"}
    # a bad matrix writes no report at all
    bad = tmp_path / "bad.yaml"
    bad.write_text(TEXT.replace("kind: nw", "kind: x", 1), encoding="utf-8")
    other = tmp_path / "other.csv"
    code, _, _ = run(["legacy", "audit", str(bad), "--csv", str(other)], capsys)
    assert code == 2 and not other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml", "findings.csv"]


def test_cli_table_and_example(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["legacy", "audit", str(TYPE_A)], capsys)
    assert code == 1 and "40 finding(s)" in out and "affiliated" in out and "I8" in out
    code, out, _ = run(["legacy", "example", "type_a"], capsys)
    assert code == 0 and out == TEXT
    code, _, err = run(["legacy", "example", "nope"], capsys)
    assert code == 2 and "expected one of" in err


def test_positions_survive_an_earlier_bad_row() -> None:
    """A row that fails to parse does not shift the index named for later rows."""
    text = TEXT.replace("role: takuso_operator", "role: x", 1).replace(
        "held_by: [group_retail]", "held_by: [grp]", 1
    )
    fields = {e.where.field for e in _errors(text) if e.where is not None}
    assert fields == {"roles[0].role", "roles[1].held_by[0]"}


# ---- grants as a CSV sheet (the matrix grid exported from a spreadsheet) ----

_DOC = yaml.safe_load(TEXT)


def csv_matrix(tmp_path: Path, grants: list[dict[str, object]] | None = None) -> Path:
    """type_a.yaml with its grants moved to grants.csv (operations joined by ';')."""
    doc = {k: v for k, v in _DOC.items() if k != "grants"}
    doc["grants_csv"] = "grants.csv"
    with (tmp_path / "grants.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["role", "screen", "operations", "scope", "recipient"])
        for g in _DOC["grants"] if grants is None else grants:
            ops = g["operations"]
            assert isinstance(ops, list)
            w.writerow([g["role"], g["screen"], ";".join(ops), g.get("scope", ""), ""])
    p = tmp_path / "matrix.yaml"
    p.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return p


def test_csv_grants_audit_like_yaml(tmp_path: Path) -> None:
    from gridwall.policy.legacy_audit import audit

    from .test_legacy_audit import _normal

    assert _normal(audit(load_matrix(csv_matrix(tmp_path)))) == _normal(audit(load_matrix(TYPE_A)))


def _csv_errors(tmp_path: Path, edit: str, new: str) -> list[InputError]:
    p = csv_matrix(tmp_path)
    sheet = tmp_path / "grants.csv"
    text = sheet.read_text(encoding="utf-8")
    assert edit in text, edit
    sheet.write_text(text.replace(edit, new, 1), encoding="utf-8")
    with pytest.raises(InputErrors) as e:
        load_matrix(p)
    for err in e.value.errors:
        assert err.where is not None and err.where.file == str(sheet)
    return e.value.errors


@pytest.mark.parametrize(
    ("edit", "new", "line", "field", "words"),
    [
        ("recipient", "recipent", 1, "recipent", "unknown column"),
        ("role,screen,operations", "role,screen,ops", 1, "operations", "missing required column"),
        ("view;search;list", "view;serch;list", 2, "operations[1]", "unknown value 'serch'"),
        ("保守,設備台帳", "保守2,設備台帳", 7, "role", "unknown role"),
        ("保守,設備台帳", "保守,設備", 7, "screen", "unknown screen"),
        ("契約一覧帳票,export,own", "契約一覧帳票,export,mine", 5, "scope", "unknown value"),
        ("契約一覧帳票,export,own,", "契約一覧帳票,export,own,none", 5, "recipient", "someone"),
        (
            "小売窓口,需要家照会(小売用),view,own,",
            "小売窓口,需要家照会(小売用),view,own",
            6,
            None,
            "cells",
        ),
        (
            "保守,設備台帳,view;search,,",
            "保守,設備台帳,view;search,,\n保守,設備台帳,view,,",
            8,
            "operations",
            "first on line 7",
        ),
    ],
)
def test_bad_csv_cell_is_named_with_line_and_column(
    tmp_path: Path, edit: str, new: str, line: int, field: str | None, words: str
) -> None:
    errors = _csv_errors(tmp_path, edit, new)
    assert any(
        e.where is not None
        and e.where.line == line
        and e.where.field == field
        and words in e.message
        for e in errors
    ), [str(e) for e in errors]


def test_grants_and_grants_csv_exclude_each_other(tmp_path: Path) -> None:
    both = TEXT.replace("grants:\n", "grants_csv: g.csv\ngrants:\n", 1)
    neither = TEXT[: TEXT.index("grants:\n")]
    for text in (both, neither):
        errors = _errors(text)
        assert any(e.where is not None and e.where.field == "grants" for e in errors)
    p = csv_matrix(tmp_path)
    (tmp_path / "grants.csv").unlink()
    with pytest.raises(InputErrors) as e:
        load_matrix(p)
    assert "no such file" in str(e.value)


def test_cli_html_heat_map(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "report.html"
    code, _, _ = run(["legacy", "audit", str(TYPE_A), "--html", str(page)], capsys)
    html = page.read_text(encoding="utf-8")
    assert code == 1
    assert 'title="32 of 48 cells denied; held by group_retail">32/48' in html
    assert ">8/8<br><small>I8</small>" in html and ">0/60<" in html
    assert html.count("<tr><td>") == 40  # one findings row per cell
    # names from the matrix are escaped, never markup
    evil = tmp_path / "evil.yaml"
    evil.write_text(TEXT.replace("営業担当", "<b>営業</b>"), encoding="utf-8")
    page2 = tmp_path / "evil.html"
    run(["legacy", "audit", str(evil), "--html", str(page2)], capsys)
    text = page2.read_text(encoding="utf-8")
    assert "<b>" not in text and "&lt;b&gt;営業&lt;/b&gt;" in text
    # a bad matrix writes no page
    bad = tmp_path / "bad.yaml"
    bad.write_text(TEXT.replace("kind: nw", "kind: x", 1), encoding="utf-8")
    code, _, _ = run(["legacy", "audit", str(bad), "--html", str(tmp_path / "b.html")], capsys)
    assert code == 2 and not (tmp_path / "b.html").exists()
