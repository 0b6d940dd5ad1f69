"""Legacy logs through a mapping file: mapped rows, rejects, and errors that name the place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gridwall.errors import InputError
from gridwall.monitor._mapping import import_log, load_mapping
from gridwall.monitor._run import scan

from . import world

MAPPING = """\
# 旧託送システムのアクセスログ
source: {format: csv, delimiter: ",", header: true}
system: takuso_legacy
columns:
  event_id:   {from: LOG_NO, prefix: "legacy-"}
  ts:         {from: [ACCESS_DATE, ACCESS_TIME], join: " ", format: "%Y/%m/%d %H:%M:%S",
               tz: "+09:00"}
  account_id: {from: USER_ID}
  device_id:  {from: TERMINAL}
  action:     {from: OPERATION, map: {照会: view, 検索: search, 出力: export, ログイン: login}}
  screen:     {from: SCREEN_ID}
  supply_point_ids: {from: SPID, split: "|"}
  fields:     {from: SCREEN_ID, map: {KY010: "contract_name;address;phone", KY000: ""},
               split: ";"}
  decision:   {value: allow}
"""

LOG = """\
LOG_NO,ACCESS_DATE,ACCESS_TIME,USER_ID,TERMINAL,OPERATION,SCREEN_ID,SPID
1,2026/04/03,16:00:00,r_desk,t_aff2,照会,KY010,{sp1}
2,2026/04/03,16:05:00,r_desk,t_aff2,削除,KY010,{sp1}
3,2026/04/31,16:06:00,r_desk,t_aff2,照会,KY010,{sp1}
4,2026/04/04,10:00:00,,t_nw3,ログイン,KY000,
5,2026/04/04,10:00:00,r_desk,t_nw3,ログイン,KY000,
"""


def _files(tmp_path: Path, mapping: str = MAPPING) -> tuple[Path, Path]:
    m = tmp_path / "legacy.yaml"
    m.write_text(mapping, encoding="utf-8")
    log = tmp_path / "legacy.csv"
    log.write_text(LOG.format(sp1=world.sp(1)), encoding="utf-8")
    return m, log


def test_rows_mapped_and_rejects_reported(tmp_path: Path) -> None:
    m, log = _files(tmp_path)
    out, rej = tmp_path / "ev.parquet", tmp_path / "rejects.jsonl"
    res = import_log(log, load_mapping(m), out, rej)
    assert (res.accepted, res.rejected) == (2, 3)
    bad = [json.loads(x) for x in rej.read_text(encoding="utf-8").splitlines()]
    assert [(b["line"], b["reason"].split(":")[0]) for b in bad] == [
        (3, "action"),
        (4, "ts"),
        (5, "account_id"),
    ]
    assert bad[0]["row"]["OPERATION"] == "削除"
    import duckdb

    rows = (
        duckdb.connect()
        .execute(
            f"SELECT event_id, CAST(ts AS VARCHAR), fields, supply_point_ids FROM '{out}' "
            "ORDER BY event_id"
        )
        .fetchall()
    )
    assert rows[0][0] == "legacy-1" and rows[0][2] == ["contract_name", "address", "phone"]
    assert rows[0][3] == [world.sp(1)] and rows[1][2] == []


def test_mapped_legacy_log_is_scanned(tmp_path: Path) -> None:
    m, log = _files(tmp_path)
    d = world.write(tmp_path / "ds", events=[])
    (d / "events.csv").unlink()
    (d / "events").mkdir()
    import_log(log, load_mapping(m), d / "events" / "legacy.parquet", tmp_path / "rej.jsonl")
    alerts = scan(d, say=lambda _m: None).alerts
    got = {(a["incident_type"], a["account_id"]) for a in alerts}
    assert ("A", "r_desk") in got and ("C2", "r_desk") in got


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        (MAPPING.replace("account_id: ", "acount_id: "), 8, "columns.acount_id"),
        (MAPPING.replace("prefix:", "prefx:"), 5, "columns.event_id.prefx"),
        (MAPPING.replace('tz: "+09:00"', 'tz: "JST"'), 7, "columns.ts.tz"),
        (MAPPING.replace("  decision:   {value: allow}\n", ""), None, "columns"),
        (MAPPING.replace("format: csv", "format: xml"), 2, "source.format"),
    ],
)
def test_mapping_errors_name_file_line_field(
    tmp_path: Path, text: str, line: int | None, field: str
) -> None:
    m, _log = _files(tmp_path, text)
    with pytest.raises(InputError) as e:
        load_mapping(m)
    w = e.value.where
    assert w is not None and w.file.endswith("legacy.yaml")
    assert (w.line, w.field) == (line, field)


def test_unknown_source_column_names_mapping_line(tmp_path: Path) -> None:
    m, log = _files(tmp_path, MAPPING.replace("from: TERMINAL", "from: TERMINAL_ID"))
    with pytest.raises(InputError) as e:
        import_log(log, load_mapping(m), tmp_path / "o.parquet", tmp_path / "r.jsonl")
    assert e.value.where is not None
    assert (e.value.where.line, e.value.where.field) == (9, "columns.device_id.from")
    assert not (tmp_path / "o.parquet").exists()


def test_cli_import_log(tmp_path: Path) -> None:
    from gridwall.app.cli import main

    m, log = _files(tmp_path)
    out = tmp_path / "ev.csv"
    with pytest.raises(SystemExit) as e:
        main(["monitor", "import-log", str(log), "--mapping", str(m), "--out", str(out)])
    assert e.value.code == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3
    assert (tmp_path / "ev.csv.rejects.jsonl").exists()
