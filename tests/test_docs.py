"""The docs point at real things: every test a doc names as the one that covers a control
exists, so a renamed or deleted test cannot leave docs/security.md claiming coverage it lost."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md"))
# `tests/x/test_y.py` or `tests/x/test_y.py::test_name` (a trailing * is a prefix), and
# `::test_name` right after such a reference (same file)
REF = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+\*?))?`((?:,\s*`::\w+\*?`)*)")
MORE = re.compile(r"`::(\w+\*?)`")


def _defined(path: Path, name: str) -> bool:
    src = path.read_text(encoding="utf-8")
    pat = re.escape(name[:-1]) + r"\w*" if name.endswith("*") else re.escape(name) + r"\b"
    return re.search(r"^\s*(?:async\s+)?def " + pat, src, re.MULTILINE) is not None


def _references(doc: Path) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for m in REF.finditer(doc.read_text(encoding="utf-8")):
        out.append((m.group(1), m.group(2)))
        out.extend((m.group(1), extra) for extra in MORE.findall(m.group(3)))
    return out


def test_security_doc_names_tests() -> None:
    assert len(_references(ROOT / "docs" / "security.md")) >= 30


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_named_test_exists(doc: Path) -> None:
    missing = []
    for file, name in _references(doc):
        path = ROOT / file
        if not path.is_file():
            missing.append(file)
        elif name is not None and not _defined(path, name):
            missing.append(f"{file}::{name}")
    assert not missing, f"{doc.name} names tests that do not exist: {missing}"
