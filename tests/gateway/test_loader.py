"""gridwall load: all or nothing, every bad row named, idempotent reload (SQLite + PostgreSQL)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from gridwall.app.cli import main
from gridwall.app.wiring import load_dataset
from gridwall.errors import InputErrors
from gridwall.store import make_engine, upgrade

from . import tiny

TABLES = (
    "retailers",
    "supply_points",
    "supply_contracts",
    "fit_contracts",
    "switching_applications",
    "usage_monthly",
)
ORDER = {
    "retailers": "retailer_code",
    "supply_points": "supply_point_id",
    "supply_contracts": "supply_point_id, start_date",
    "fit_contracts": "supply_point_id, start_date",
    "switching_applications": "application_id",
    "usage_monthly": "supply_point_id, month",
}


def snapshot(engine: Engine) -> dict[str, tuple[int, str]]:
    """Row count and a checksum of every customer table (ids included)."""
    out = {}
    with engine.connect() as c:
        for t in TABLES:
            rows = c.execute(text(f"SELECT * FROM {t} ORDER BY {ORDER[t]}")).all()
            h = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
            out[t] = (len(rows), h)
    return out


@pytest.fixture
def engine(db_url: str) -> Engine:
    upgrade(db_url)
    return make_engine(db_url)


def test_load_twice_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    d = tiny.write(tmp_path / "ds")
    r1 = load_dataset(d, engine, progress=False)
    first = snapshot(engine)
    assert first["supply_points"][0] == len(tiny.POINTS)
    assert first["usage_monthly"][0] == len(tiny.usage_rows())
    if engine.dialect.name == "sqlite":
        assert r1.changed["supply_points"] == len(tiny.POINTS)
    r2 = load_dataset(d, engine, progress=False)
    assert snapshot(engine) == first
    assert all(n == 0 for n in r2.changed.values()), r2.changed


def test_changed_row_is_updated(engine: Engine, tmp_path: Path) -> None:
    d = tiny.write(tmp_path / "ds")
    load_dataset(d, engine, progress=False)
    p = d / "supply_points.csv"
    p.write_text(p.read_text(encoding="utf-8").replace("青木 一郎", "青木 一子"), encoding="utf-8")
    r = load_dataset(d, engine, progress=False)
    assert r.changed.get("supply_points", 1) == 1
    with engine.connect() as c:
        name = c.execute(
            text("SELECT contract_name FROM supply_points WHERE supply_point_id = :p"),
            {"p": tiny.P_AFF},
        ).scalar_one()
    assert name == "青木 一子"


def _append(path: Path, *lines: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")


def test_bad_rows_all_reported_nothing_written(engine: Engine, tmp_path: Path) -> None:
    d = tiny.write(tmp_path / "ds")
    # supply_points.csv: header + 8 rows -> new rows at lines 10, 11, 12, 13
    _append(
        d / "supply_points.csv",
        "0300000000000000000123,宮城県,仙台市,,,,,,,low,,active",  # 22 digits ok
        "1100000000000000000001,宮城県,仙台市,,,,,,,low,,active",  # area 11
        "03000000000000000001,宮城県,仙台市,,,,,,,low,,active",  # 20 digits
        "0300000000000000000124,宮城県,仙台市,,,,,,,medium,,active",  # bad voltage
    )
    _append(
        d / "supply_contracts.csv",
        # line 12: unknown point; line 13: unknown retailer; line 14: end before start
        f"{tiny.pid(555)},{tiny.AFF},2024-01-01,,retail",
        f"{tiny.P_VACANT},Z9999,2026-01-01,,retail",
        f"{tiny.P_VACANT},{tiny.AFF},2026-02-01,2026-01-01,retail",
    )
    _append(d / "usage.csv", f"{tiny.P_AFF},2026-13,5.0", f"{tiny.P_AFF},2026-11,abc")
    with pytest.raises(InputErrors) as ei:
        load_dataset(d, engine, progress=False)
    msgs = [str(e) for e in ei.value.errors]
    text_all = "\n".join(msgs)
    assert "supply_points.csv:11 [supply_point_id]" in text_all
    assert "supply_points.csv:12 [supply_point_id]" in text_all
    assert "supply_points.csv:13 [voltage]" in text_all
    assert "supply_contracts.csv:12 [supply_point_id]" in text_all
    assert "supply_contracts.csv:13 [retailer_code]" in text_all
    assert "supply_contracts.csv:14 [end_date]" in text_all
    usage_lines = 1 + len(tiny.usage_rows())
    assert f"usage.csv:{usage_lines + 1} [month]" in text_all
    assert f"usage.csv:{usage_lines + 2} [kwh]" in text_all
    assert not any("supply_points.csv:10" in m for m in msgs)
    # nothing written, not even the good rows
    for _t, (n, _h) in snapshot(engine).items():
        assert n == 0


def test_bad_reload_keeps_previous_data(engine: Engine, tmp_path: Path) -> None:
    d = tiny.write(tmp_path / "ds")
    load_dataset(d, engine, progress=False)
    before = snapshot(engine)
    p = d / "supply_points.csv"
    p.write_text(p.read_text(encoding="utf-8").replace("青木 一郎", "青木 一子"), encoding="utf-8")
    _append(d / "fit_contracts.csv", f"{tiny.P_AFF},x,-1,2024-01-01,")
    with pytest.raises(InputErrors) as ei:
        load_dataset(d, engine, progress=False)
    assert "fit_contracts.csv:3 [capacity_kw]" in str(ei.value)
    assert snapshot(engine) == before


def test_error_cap(engine: Engine, tmp_path: Path) -> None:
    d = tiny.write(tmp_path / "ds")
    _append(d / "usage.csv", *[f"{tiny.P_AFF},bad-{i},1" for i in range(80)])
    with pytest.raises(InputErrors) as ei:
        load_dataset(d, engine, progress=False, max_errors=50)
    assert len(ei.value.errors) == 50
    assert ei.value.truncated


def test_missing_column_names_file(engine: Engine, tmp_path: Path) -> None:
    d = tiny.write(tmp_path / "ds")
    (d / "retailers.csv").write_text("retailer_code,name\nA0001,x\n", encoding="utf-8")
    with pytest.raises(InputErrors) as ei:
        load_dataset(d, engine, progress=False)
    assert "retailers.csv:1: missing column(s) kind" in str(ei.value)


def test_parquet_input(engine: Engine, tmp_path: Path) -> None:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    d = tiny.write(tmp_path / "ds")
    t = pacsv.read_csv(
        d / "supply_points.csv",
        convert_options=pacsv.ConvertOptions(
            column_types={"supply_point_id": "string", "room": "string"}
        ),
    )
    pq.write_table(t, d / "supply_points.parquet")
    (d / "supply_points.csv").unlink()
    load_dataset(d, engine, progress=False)
    assert snapshot(engine)["supply_points"][0] == len(tiny.POINTS)


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tiny.write(tmp_path / "ds")
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    with pytest.raises(SystemExit) as ok:
        main(["load", str(d), "--db", url, "-q"])
    assert ok.value.code == 0
    _append(d / "retailers.csv", "A0001,dup,affiliated")
    with pytest.raises(SystemExit) as bad:
        main(["load", str(d), "--db", url, "-q"])
    assert bad.value.code == 2
    assert "retailers.csv:5 [retailer_code]" in capsys.readouterr().err


def test_loader_stores_values_as_sqlalchemy_does(engine: Engine, tmp_path: Path) -> None:
    """Rows written through SQLAlchemy's own types compare equal to the loader's (SQLite's
    fast path writes dates and times itself): re-loading them changes nothing."""
    from datetime import date, datetime

    from sqlalchemy import insert

    from gridwall.store.customer import SupplyContract, SwitchingApplication

    d = tiny.write(tmp_path / "ds")
    load_dataset(d, engine, progress=False)
    with engine.begin() as c:
        c.execute(text("DELETE FROM switching_applications"))
        c.execute(text("DELETE FROM supply_contracts"))
        c.execute(insert(SwitchingApplication), [{
            "application_id": "S1", "supply_point_id": tiny.P_FORMER, "kind": "switch",
            "from_retailer": tiny.AFF, "to_retailer": tiny.IND,
            "applied_at": datetime(2025, 4, 10, 1, 0), "effective_date": date(2025, 5, 1),
        }])  # fmt: skip
        c.execute(insert(SupplyContract), [{
            "supply_point_id": r["supply_point_id"], "retailer_code": r["retailer_code"],
            "start_date": date.fromisoformat(r["start_date"]),
            "end_date": date.fromisoformat(r["end_date"]) if r.get("end_date") else None,
            "kind": r["kind"],
        } for r in tiny.CONTRACTS])  # fmt: skip
    before = snapshot(engine)
    (d / "switching.csv").write_text(
        (d / "switching.csv").read_text(encoding="utf-8").splitlines()[0]
        + "\n"
        + "S1,"
        + tiny.P_FORMER
        + f",switch,{tiny.AFF},{tiny.IND},2025-04-10T10:00:00+09:00,"
        "2025-05-01\n",
        encoding="utf-8",
    )
    r = load_dataset(d, engine, progress=False)
    assert snapshot(engine) == before
    if engine.dialect.name == "sqlite":
        assert r.changed["switching"] == 0 and r.changed["supply_contracts"] == 0
