"""A tiny hand-made operator dataset with every resource relation the policy cares about."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gridwall import dataset

NW_CODE = "T0000"  # the NW operator's own code (last-resort supply)
AFF = "A0001"  # affiliated retailer (関係小売)
IND = "B0001"  # independent retailer (新電力)
IND2 = "B0002"


def pid(n: int, area: str = "03") -> str:
    return f"{area}{n:020d}"


P_AFF = pid(1)  # supplied by AFF
P_IND = pid(2)  # supplied by IND
P_VACANT = pid(3)  # vacant, contract ended
P_LRS = pid(4)  # last-resort supply
P_FIT = pid(5)  # IND2 + FIT contract
P_FORMER = pid(6)  # was AFF's, switched to IND in 2025
P_MOVED = pid(7)  # IND; new holder moved in 2026-03-15
P_OTHER_AREA = pid(8, "04")  # AFF, another prefecture
MISSING = pid(99)  # valid ID, not in the store

POINTS: list[dict[str, Any]] = [
    {
        "supply_point_id": P_AFF,
        "town": "一番町",
        "banchi": "1-1",
        "contract_name": "青木 一郎",
        "phone": "022-111-1111",
        "meter_id": "M001",
    },
    {
        "supply_point_id": P_IND,
        "town": "一番町",
        "banchi": "1-2",
        "contract_name": "井上 二郎",
        "phone": "022-222-2222",
        "meter_id": "M002",
    },
    {
        "supply_point_id": P_VACANT,
        "town": "二日町",
        "banchi": "3-3",
        "contract_name": None,
        "phone": None,
        "meter_id": "M003",
        "status": "vacant",
    },
    {
        "supply_point_id": P_LRS,
        "town": "二日町",
        "banchi": "4-4",
        "contract_name": "上田 四郎",
        "phone": "022-444-4444",
        "meter_id": "M004",
        "voltage": "high",
    },
    {
        "supply_point_id": P_FIT,
        "town": "三条町",
        "banchi": "5-5",
        "contract_name": "江藤 五郎",
        "phone": "022-555-5555",
        "meter_id": "M005",
    },
    {
        "supply_point_id": P_FORMER,
        "town": "一番町",
        "banchi": "6-6",
        "contract_name": "小野 六郎",
        "phone": "022-666-6666",
        "meter_id": "M006",
    },
    {
        "supply_point_id": P_MOVED,
        "town": "一番町",
        "banchi": "7-7",
        "building": "ハイツ七",
        "room": "101",
        "contract_name": "加藤 七子",
        "phone": "022-777-7777",
        "meter_id": "M007",
    },
    {
        "supply_point_id": P_OTHER_AREA,
        "pref": "福島県",
        "city": "福島市",
        "town": "八島町",
        "banchi": "8-8",
        "contract_name": "木村 八郎",
        "phone": "024-888-8888",
        "meter_id": "M008",
    },
]

CONTRACTS: list[dict[str, Any]] = [
    {"supply_point_id": P_AFF, "retailer_code": AFF, "start_date": "2020-04-01", "kind": "retail"},
    {"supply_point_id": P_IND, "retailer_code": IND, "start_date": "2021-04-01", "kind": "retail"},
    {
        "supply_point_id": P_VACANT,
        "retailer_code": AFF,
        "start_date": "2019-04-01",
        "end_date": "2025-01-01",
        "kind": "retail",
    },
    {"supply_point_id": P_LRS, "retailer_code": NW_CODE, "start_date": "2025-06-01", "kind": "lrs"},
    {"supply_point_id": P_FIT, "retailer_code": IND2, "start_date": "2022-04-01", "kind": "retail"},
    {
        "supply_point_id": P_FORMER,
        "retailer_code": AFF,
        "start_date": "2018-04-01",
        "end_date": "2025-05-01",
        "kind": "retail",
    },
    {
        "supply_point_id": P_FORMER,
        "retailer_code": IND,
        "start_date": "2025-05-01",
        "kind": "retail",
    },
    {
        "supply_point_id": P_MOVED,
        "retailer_code": IND,
        "start_date": "2026-03-15",
        "kind": "retail",
    },
    {
        "supply_point_id": P_MOVED,
        "retailer_code": AFF,
        "start_date": "2019-04-01",
        "end_date": "2026-03-15",
        "kind": "retail",
    },
    {
        "supply_point_id": P_OTHER_AREA,
        "retailer_code": AFF,
        "start_date": "2020-04-01",
        "kind": "retail",
    },
]

SWITCHING: list[dict[str, Any]] = [
    {
        "application_id": "S1",
        "supply_point_id": P_FORMER,
        "kind": "switch",
        "from_retailer": AFF,
        "to_retailer": IND,
        "applied_at": "2025-04-10T10:00:00+09:00",
        "effective_date": "2025-05-01",
    },
    {
        "application_id": "S2",
        "supply_point_id": P_MOVED,
        "kind": "move_out",
        "from_retailer": AFF,
        "applied_at": "2026-03-01T10:00:00+09:00",
        "effective_date": "2026-03-14",
    },
    {
        "application_id": "S3",
        "supply_point_id": P_MOVED,
        "kind": "move_in",
        "to_retailer": IND,
        "applied_at": "2026-03-02T10:00:00+09:00",
        "effective_date": "2026-03-15",
    },
]

FIT: list[dict[str, Any]] = [
    {
        "supply_point_id": P_FIT,
        "generator_name": "江藤ソーラー",
        "capacity_kw": 9.9,
        "start_date": "2022-05-01",
    },
]


def usage_rows() -> list[dict[str, Any]]:
    rows = []
    for p in (P_AFF, P_IND, P_MOVED, P_FIT):
        for y in (2024, 2025, 2026):
            for m in range(1, 13):
                if (y, m) > (2026, 10):
                    continue
                rows.append(
                    {
                        "supply_point_id": p,
                        "month": f"{y}-{m:02d}",
                        "kwh": float(100 + m + (y - 2024) * 12),
                    }
                )
    return rows


def write(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    with dataset.CsvTableWriter(directory, dataset.RETAILERS) as w:
        w.write({"retailer_code": AFF, "name": "みちのく電力販売", "kind": "affiliated"})
        w.write({"retailer_code": IND, "name": "あおば新電力", "kind": "independent"})
        w.write({"retailer_code": IND2, "name": "ひかりでんき", "kind": "independent"})
    with dataset.CsvTableWriter(directory, dataset.SUPPLY_POINTS) as w:
        for p in POINTS:
            row = {"pref": "宮城県", "city": "仙台市青葉区", "voltage": "low", "status": "active"}
            row.update(p)
            w.write(row)
    for table, rows in (
        (dataset.SUPPLY_CONTRACTS, CONTRACTS),
        (dataset.SWITCHING, SWITCHING),
        (dataset.FIT_CONTRACTS, FIT),
    ):
        with dataset.CsvTableWriter(directory, table) as w:
            for r in rows:
                w.write(r)
    with (directory / "usage.csv").open("w", encoding="utf-8") as f:
        f.write("supply_point_id,month,kwh\n")
        for r in usage_rows():
            f.write(f"{r['supply_point_id']},{r['month']},{r['kwh']}\n")
    return directory
