"""``gridwall lookup`` end to end: synth → load (builds the index) → lookup / batch / --name."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def gw(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gridwall", *args],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An index over the fixture records (no customer rows: every name check is False)."""
    from .conftest import _build

    d = tmp_path_factory.mktemp("lookup_cli_small")
    url = f"sqlite:///{d / 'gridwall.db'}"
    _build(url)
    return {**os.environ, "GRIDWALL_DB": url}


def run_inproc(
    capsys: pytest.CaptureFixture[str], url: str, address: str | None = None, **kw: object
) -> tuple[int, str, str]:
    """The command function itself, in this process (the dictionary is already loaded)."""
    from gridwall.app.cli.lookup import lookup
    from gridwall.errors import GridwallError

    args: dict[str, object] = dict(
        name=None, batch=None, as_json=True, explain=False, db=url, quiet=True
    )
    args.update(kw)
    try:
        lookup(address, **args)  # type: ignore[arg-type]
        code = 0
    except GridwallError as e:
        print(e.diagnostics(), file=sys.stderr)
        code = e.exit_code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_contract_shape_and_batch(
    small: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = small["GRIDWALL_DB"]
    code, out, err = run_inproc(capsys, url, "東京都千代田区霞ヶ関2-1-1", name="誰か")
    assert code == 0, err
    assert json.loads(out) == {
        "candidates": [
            {"supply_point_id": "0300000000000000000103",
             "address": "東京都千代田区霞が関二丁目1-1",
             "score": 1.0, "equipment": {"voltage": "high", "meter_id": "M000103"}}
        ],
        "name_match": False,
    }  # fmt: skip
    f = tmp_path / "b.txt"
    f.write_text("千代田区丸ノ内1-2-3 第2〇〇ビル 301号室\n大阪市\n大阪市梅田3-1-3\n", "utf-8")
    code, out, err = run_inproc(capsys, url, None, batch=f)
    assert code == 0, err
    outs = [json.loads(x) for x in out.splitlines()]
    assert [o["candidates"][0]["supply_point_id"][-3:] if o["candidates"] else None
            for o in outs] == ["101", None, "106"]  # fmt: skip
    assert all(o["name_match"] is None for o in outs)
    assert "番地" in outs[1]["error"] and f"{f}:2 [address]" in err
    assert run_inproc(capsys, url, "大阪市")[0] == 2
    assert run_inproc(capsys, url, None)[0] == 2
    code, _, err = run_inproc(capsys, url, None, batch=Path("/nonexistent/file.txt"))
    assert code == 2 and "/nonexistent/file.txt" in err


def test_entry_point_exit_codes(small: dict[str, str]) -> None:
    r = gw("lookup", "--json", env=small)  # neither ADDRESS nor --batch
    assert r.returncode == 2 and "ADDRESS" in r.stderr
    r = gw("lookup", "東京都千代田区霞ヶ関2-1-1", "--json", env=small)
    assert r.returncode == 0 and json.loads(r.stdout)["candidates"], r.stderr


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], list[dict[str, str]]]:
    d = tmp_path_factory.mktemp("lookup_cli")
    env = {**os.environ, "GRIDWALL_DB": f"sqlite:///{d / 'gridwall.db'}"}
    r = gw("synth", str(d / "ds"), "--supply-points", "300", "--days", "1", "--seed", "7", env=env)
    assert r.returncode == 0, r.stderr
    r = gw("load", str(d / "ds"), "-q", env=env)  # no separate index step (issue 16)
    assert r.returncode == 0, r.stderr
    assert "lookup index built (there was none)" in r.stderr
    with open(d / "ds" / "supply_points.csv", encoding="utf-8") as f:
        rows = [row for row in csv.DictReader(f) if row["status"] != "closed"]
    return env, rows


def _address(row: dict[str, str]) -> str:
    s = row["pref"] + row["city"] + row["town"] + row["banchi"]
    return (
        s
        + (" " + row["building"] if row["building"] else "")
        + (" " + row["room"] + "号室" if row["room"] else "")
    )


@pytest.mark.slow
def test_synth_load_index_lookup(
    store: tuple[dict[str, str], list[dict[str, str]]], tmp_path: Path
) -> None:
    env, rows = store
    rows = [r for r in rows if r["banchi"]][:6]
    target = next(r for r in rows if r["status"] == "active" and r["contract_name"])
    r = gw("lookup", _address(target), "--name", target["contract_name"], "--json", env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"candidates", "name_match"}
    assert out["candidates"][0]["supply_point_id"] == target["supply_point_id"]
    assert out["name_match"] is True
    assert target["contract_name"] not in r.stdout and target["phone"] not in r.stdout
    # batch: one JSON object per line, in order, null name_match; a vague line is an error line
    lines = [_address(x) for x in rows] + ["大阪市"]
    f = tmp_path / "batch.txt"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = gw("lookup", "--batch", str(f), "--json", env=env)
    assert r.returncode == 0, r.stderr
    outs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(outs) == len(lines)
    for row, o in zip(rows, outs, strict=False):
        assert o["name_match"] is None
        assert o["candidates"][0]["supply_point_id"] == row["supply_point_id"]
    assert outs[-1]["candidates"] == [] and "番地" in outs[-1]["error"]
    assert f"{f}:{len(lines)} [address]" in r.stderr


def test_lookup_index_rebuilds_on_demand(
    store: tuple[dict[str, str], list[dict[str, str]]], capsys: pytest.CaptureFixture[str]
) -> None:
    """``gridwall lookup index`` still rebuilds the whole index (new state token, same rows)."""
    from sqlalchemy import text

    from gridwall.store import make_engine

    env, rows = store
    url = env["GRIDWALL_DB"]
    engine = make_engine(url)
    q = "SELECT supply_point_id, place_id, block, number, rest FROM lookup_points ORDER BY 1"
    try:
        with engine.connect() as c:
            state = c.execute(text("SELECT value FROM lookup_meta WHERE key = 'state'")).scalar()
            before = c.execute(text(q)).all()
        code, _, err = run_inproc(capsys, url, "index", quiet=False)
        assert code == 0 and f"{len(rows):,} points" in err, err
        with engine.connect() as c:
            after = c.execute(text("SELECT value FROM lookup_meta WHERE key = 'state'")).scalar()
            assert c.execute(text(q)).all() == before
    finally:
        engine.dispose()
    assert after != state and len(before) == len(rows)


def test_operator_lookups_land_in_the_audit_log(
    small: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI's own lookups are audit events in the tamper-evident log (one per lookup)."""
    from gridwall.audit import open_log

    url = small["GRIDWALL_DB"]
    log = open_log(url, migrate=False)
    before = log.size()
    log.close()
    run_inproc(capsys, url, "東京都千代田区霞ヶ関2-1-1")
    run_inproc(capsys, url, "大阪市")  # refused: audited too
    log = open_log(url, migrate=False)
    try:
        assert log.size() == before + 2
        events = [json.loads(log.entry(i))["event"] for i in range(before, before + 2)]
    finally:
        log.close()
    assert [e["decision"] for e in events] == ["allow", "deny"]
    assert events[0]["screen"] == "lookup" and events[0]["org"] == "nw"
    assert events[0]["supply_point_ids"] == ["0300000000000000000103"]
