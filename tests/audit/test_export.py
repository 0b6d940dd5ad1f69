"""Exports verified with only the file and the public key; every tampering is located."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from gridwall.audit import merkle, note, open_log, standalone
from gridwall.audit._tree import boundary_nodes, range_root

N = 200


def _populate(db_url: str, signer: note.Signer) -> str:
    with open_log(db_url) as log:
        log.record_many(
            [{"event_id": f"e{i}", "decision": "deny" if i % 7 else "allow"} for i in range(N)]
        )
        log.checkpoint([signer])
        log.record_many([{"after": i} for i in range(5)])  # beyond the checkpoint
    return db_url


@pytest.fixture
def url(db_url: str, signer: note.Signer) -> str:
    """A populated log on SQLite and on PostgreSQL."""
    return _populate(db_url, signer)


@pytest.fixture
def surl(sqlite_url: str, signer: note.Signer) -> str:
    """A populated log on SQLite (tampering happens in the file, not the store)."""
    return _populate(sqlite_url, signer)


@pytest.mark.parametrize(("lo", "hi"), [(0, N), (10, 150), (64, 128), (199, 200), (5, 5)])
def test_export_round_trip(
    url: str, tmp_path: Path, signer: note.Signer, gw: Callable[..., int], lo: int, hi: int
) -> None:
    out = tmp_path / "ex.jsonl"
    assert gw("export", "--db", url, "--from", str(lo), "--to", str(hi), "--out", str(out)) == 0
    rep = standalone.verify_export(out, [signer.verifier])
    assert rep.ok, rep.problems
    assert (rep.lo, rep.hi, rep.tree_size) == (lo, hi, N)


def test_parquet_export(
    url: str, tmp_path: Path, signer: note.Signer, gw: Callable[..., int]
) -> None:
    out = tmp_path / "ex.parquet"
    assert (
        gw(
            "export",
            "--db",
            url,
            "--from",
            "3",
            "--to",
            "190",
            "--format",
            "parquet",
            "--out",
            str(out),
        )
        == 0
    )
    assert standalone.verify_export(out, [signer.verifier]).ok
    pub = tmp_path / "k.pub"
    pub.write_text(signer.verifier.text())
    assert gw("verify-export", str(out), "--public-key", str(pub)) == 0


def test_export_beyond_checkpoint_is_refused(
    surl: str, tmp_path: Path, gw: Callable[..., int]
) -> None:
    assert (
        gw(
            "export",
            "--db",
            surl,
            "--from",
            "0",
            "--to",
            str(N + 3),
            "--out",
            str(tmp_path / "x.jsonl"),
        )
        == 2
    )


def test_range_root_reproduces_every_range() -> None:
    leaves = [merkle.leaf_hash(b"%d" % i) for i in range(37)]
    for size in (1, 2, 16, 17, 37):
        full = merkle.root(leaves[:size])
        for lo in range(size + 1):
            for hi in range(lo, size + 1):
                given = {}
                for lvl, j in boundary_nodes(lo, hi, size):
                    given[(lvl, j)] = merkle.root(leaves[j << lvl : (j + 1) << lvl])
                assert range_root(size, lo, leaves[lo:hi], given) == full


def _lines(p: Path) -> list[str]:
    return p.read_text().splitlines(keepends=True)


def _edit_entry(lines: list[str], pos: int, f: Callable[[str], str]) -> None:
    obj = json.loads(lines[pos])
    obj["entry"] = f(obj["entry"])
    lines[pos] = json.dumps(obj, ensure_ascii=False) + "\n"


def t_modify(lines: list[str]) -> int:
    _edit_entry(lines, 1 + 20, lambda e: e.replace('"deny"', '"allow"'))
    return 30


def t_delete(lines: list[str]) -> int:
    del lines[1 + 40]
    return 50


def t_insert(lines: list[str]) -> int:
    lines.insert(1 + 33, lines[1 + 33])
    return 44


def t_reorder(lines: list[str]) -> int:
    lines[1 + 5], lines[1 + 6] = lines[1 + 6], lines[1 + 5]
    return 15


def t_reorder_renumbered(lines: list[str]) -> int:
    a, b = json.loads(lines[1 + 5]), json.loads(lines[1 + 6])
    a["entry"], b["entry"] = (
        b["entry"].replace('"seq":16', '"seq":15'),
        a["entry"].replace('"seq":15', '"seq":16'),
    )
    lines[1 + 5], lines[1 + 6] = json.dumps(a) + "\n", json.dumps(b) + "\n"
    return 15


def t_truncate(lines: list[str]) -> int:
    del lines[-3:]
    return 137


def t_extend(lines: list[str]) -> int:
    obj = json.loads(lines[-1])
    obj["index"] += 1
    obj["entry"] = obj["entry"].replace('"seq":139', '"seq":140')
    lines.append(json.dumps(obj) + "\n")
    return 140


def t_modify_with_leaf(lines: list[str]) -> int:
    # change the entry and its exported leaf hash consistently: the root still catches it
    obj = json.loads(lines[1 + 70])
    obj["entry"] = obj["entry"].replace("e80", "e8O")
    obj["leaf_hash"] = base64.b64encode(merkle.leaf_hash(obj["entry"].encode())).decode()
    lines[1 + 70] = json.dumps(obj) + "\n"
    return 10


@pytest.mark.parametrize(
    "tamper",
    [
        t_modify,
        t_delete,
        t_insert,
        t_reorder,
        t_reorder_renumbered,
        t_truncate,
        t_extend,
        t_modify_with_leaf,
    ],
)
def test_tampered_export_names_first_bad_index(
    surl: str,
    tmp_path: Path,
    signer: note.Signer,
    gw: Callable[..., int],
    tamper: Callable[[list[str]], int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "ex.jsonl"
    assert gw("export", "--db", surl, "--from", "10", "--to", "140", "--out", str(out)) == 0
    lines = _lines(out)
    want = tamper(lines)
    out.write_text("".join(lines))
    rep = standalone.verify_export(out, [signer.verifier])
    assert not rep.ok
    assert rep.first_bad == want, rep.problems
    pub = tmp_path / "k.pub"
    pub.write_text(signer.verifier.text())
    capsys.readouterr()
    assert gw("verify-export", str(out), "--public-key", str(pub)) == 1
    assert f"first bad entry index {want}" in capsys.readouterr().out


def test_wrong_key_or_forged_header_fails(
    surl: str, tmp_path: Path, signer: note.Signer, gw: Callable[..., int]
) -> None:
    out = tmp_path / "ex.jsonl"
    assert gw("export", "--db", surl, "--from", "10", "--to", "140", "--out", str(out)) == 0
    other = note.generate_signer("test.example/audit")
    assert not standalone.verify_export(out, [other.verifier]).ok
    lines = _lines(out)
    head = json.loads(lines[0])
    head["header"]["boundary"] = head["header"]["boundary"][:-1]
    (tmp_path / "b.jsonl").write_text(json.dumps(head) + "\n" + "".join(lines[1:]))
    assert not standalone.verify_export(tmp_path / "b.jsonl", [signer.verifier]).ok
    head = json.loads(lines[0])
    head["header"]["tree_size"] = 150
    (tmp_path / "c.jsonl").write_text(json.dumps(head) + "\n" + "".join(lines[1:]))
    assert not standalone.verify_export(tmp_path / "c.jsonl", [signer.verifier]).ok


def test_standalone_module_needs_no_database(
    surl: str, tmp_path: Path, signer: note.Signer, gw: Callable[..., int]
) -> None:
    """Run as ``python -m gridwall.audit.standalone`` with database drivers made unimportable."""
    out = tmp_path / "ex.jsonl"
    assert gw("export", "--db", surl, "--from", "0", "--to", "100", "--out", str(out)) == 0
    pub = tmp_path / "k.pub"
    pub.write_text(signer.verifier.text() + "\n")
    block = tmp_path / "block"
    block.mkdir()
    for mod in ("sqlalchemy", "psycopg", "sqlite3", "alembic", "typer", "pyarrow"):
        (block / f"{mod}.py").write_text(f"raise ImportError('{mod} must not be needed')\n")
    env = {"PYTHONPATH": f"{block}:{Path(standalone.__file__).parents[2]}"}
    r = subprocess.run(
        [sys.executable, "-m", "gridwall.audit.standalone", str(out), "--public-key", str(pub)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert "OK: entries 0..99" in r.stdout
