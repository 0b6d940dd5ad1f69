"""A small hand-built operator: ordinary work, hard negatives, and one case of each type.

``EXPECTED`` maps each incident type to the accounts whose alert of that type must lead; every
other (type, account) pair must stay silent or appear only as ``related`` of a more specific
alert (``RELATED``). The hard negatives: NW staff at work, retailers on their own customers, a
disaster agent inside the declared window and area, a contractor export under its agreement,
the FIT team on FIT data.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from gridwall.dataset import TABLES, CsvTableWriter

JST = timezone(timedelta(hours=9))
AFF, IND, NW_CODE = "A0001", "B0002", "N0000"


def sp(i: int) -> str:
    return f"13{i:020d}"


def t(day: int, hour: int = 10, minute: int = 0, month: int = 4) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=JST)


EXPECTED: dict[str, set[str]] = {
    "A": {"r_desk"},
    "B": {"dis01"},
    "C1": {"c_it"},
    "C2": {"r_desk"},
    "C3": {"nw_trans", "nw_op2"},
    "R1": {"r_desk"},
    "R2": {"r_sales"},
    "R3": {"r_desk"},
    "R4": {"r_sales"},
    "R5": {"r_sales"},
    "R6": {"r_sales"},
    "LRS": {"r_desk"},
    "FIT": {"r_sales"},
    "ANOMALY": {"nw_op1", "nw_op3"},
}
#: (leading type, account) → types its alert must list as related (found on the same events)
RELATED: dict[tuple[str, str], set[str]] = {
    ("C3", "nw_trans"): {"A"},  # the old NW ID after the transfer showed another's customer
    ("R2", "r_sales"): {"A"},
    ("R6", "r_sales"): {"A", "ANOMALY"},
    ("LRS", "r_desk"): {"A"},
    ("FIT", "r_sales"): {"ANOMALY"},
}


def world() -> dict[str, list[dict[str, Any]]]:
    d: dict[str, list[dict[str, Any]]] = {k: [] for k in TABLES}
    d["retailers"] = [
        {"retailer_code": AFF, "name": "グループ電力", "kind": "affiliated"},
        {"retailer_code": IND, "name": "新電力B", "kind": "independent"},
    ]
    for i in range(1, 61):
        d["supply_points"].append(
            {
                "supply_point_id": sp(i),
                "pref": "東京都",
                "city": "千代田区" if i <= 30 else "港区",
                "town": "丸の内",
                "banchi": f"1-{i}",
                "contract_name": f"顧客{i}",
                "phone": "03-0000-0000",
                "voltage": "low",
                "meter_id": f"M{i}",
                "status": "active",
            }
        )
        if i == 9:
            d["supply_contracts"].append(
                {
                    "supply_point_id": sp(i),
                    "retailer_code": NW_CODE,
                    "start_date": date(2025, 1, 1),
                    "kind": "lrs",
                }
            )
        elif i == 10:  # former own customer of AFF
            d["supply_contracts"] += [
                {
                    "supply_point_id": sp(i),
                    "retailer_code": AFF,
                    "start_date": date(2024, 1, 1),
                    "end_date": date(2026, 3, 1),
                    "kind": "retail",
                },
                {
                    "supply_point_id": sp(i),
                    "retailer_code": IND,
                    "start_date": date(2026, 3, 1),
                    "kind": "retail",
                },
            ]
        else:
            own = AFF if 6 <= i <= 8 else IND
            d["supply_contracts"].append(
                {
                    "supply_point_id": sp(i),
                    "retailer_code": own,
                    "start_date": date(2025, 1, 1),
                    "kind": "retail",
                }
            )
    d["fit_contracts"] = [
        {
            "supply_point_id": sp(7),
            "generator_name": "太陽光7",
            "capacity_kw": 4.5,
            "start_date": date(2020, 1, 1),
        }
    ]
    d["switching"] = [
        {
            "application_id": "S1",
            "supply_point_id": sp(11),
            "kind": "switch",
            "from_retailer": IND,
            "to_retailer": AFF,
            "applied_at": t(20),
            "effective_date": date(2026, 5, 1),
        },
        {
            "application_id": "S2",
            "supply_point_id": sp(12),
            "kind": "switch",
            "from_retailer": IND,
            "to_retailer": AFF,
            "applied_at": t(5),
            "effective_date": date(2026, 5, 1),
        },
        {
            "application_id": "S3",
            "supply_point_id": sp(5),
            "kind": "move_in",
            "from_retailer": IND,
            "to_retailer": AFF,
            "applied_at": t(15),
            "effective_date": date(2026, 4, 20),
        },
        # a legitimate switch to the independent retailer, with its own lookups (hard negative)
        {
            "application_id": "S4",
            "supply_point_id": sp(6),
            "kind": "switch",
            "from_retailer": AFF,
            "to_retailer": IND,
            "applied_at": t(3),
            "effective_date": date(2026, 5, 1),
        },
    ]
    P = [
        ("p_nw1", "nw", "託送", "takuso_operator"),
        ("p_nw2", "nw", "託送", "takuso_operator"),
        ("p_nw3", "nw", "託送", "takuso_operator"),
        ("p_nw4", "nw", "託送", "takuso_operator"),
        ("p_fit", "nw", "FIT", "fit_team"),
        ("p_sales", f"retail:{AFF}", "営業", "sales"),
        ("p_desk", f"retail:{AFF}", "窓口", "call_center"),
        ("p_ind", f"retail:{IND}", "営業", "sales"),
        ("p_it", "contractor:IT01", "保守", "it_maintenance"),
        ("p_agent", f"retail:{AFF}", "災害", "call_center"),
    ]
    for pid, org, dep, role in P:
        d["persons"].append(
            {
                "person_id": pid,
                "name": pid,
                "org": org,
                "department": dep,
                "role": role,
                "valid_from": date(2024, 1, 1),
            }
        )
    d["persons"] += [  # a transfer: NW until 2026-03-31, affiliated retail from 2026-04-01
        {
            "person_id": "p_trans",
            "name": "異動者",
            "org": "nw",
            "department": "託送",
            "role": "takuso_operator",
            "valid_from": date(2024, 1, 1),
            "valid_to": date(2026, 3, 31),
        },
        {
            "person_id": "p_trans",
            "name": "異動者",
            "org": f"retail:{AFF}",
            "department": "営業",
            "role": "sales",
            "valid_from": date(2026, 4, 1),
        },
    ]
    A = [
        ("nw_op1", "p_nw1", "nw"),
        ("nw_op2", "p_nw2", "nw"),
        ("nw_op3", "p_nw3", "nw"),
        ("nw_op4", "p_nw4", "nw"),
        ("nw_fit", "p_fit", "nw"),
        ("r_sales", "p_sales", f"retail:{AFF}"),
        ("r_desk", "p_desk", f"retail:{AFF}"),
        ("r_ind", "p_ind", f"retail:{IND}"),
        ("c_it", "p_it", "contractor:IT01"),
        ("nw_trans", "p_trans", "nw"),
        ("r_trans", "p_trans", f"retail:{AFF}"),
    ]
    for acc, holder, org in A:
        d["accounts"].append(
            {
                "account_id": acc,
                "system": "takuso",
                "holder_person_id": holder,
                "kind": "personal",
                "org": org,
                "created_at": t(1, month=1),
            }
        )
    d["accounts"].append(
        {
            "account_id": "dis01",
            "system": "takuso",
            "kind": "disaster_support",
            "org": f"retail:{AFF}",
            "created_at": t(1, month=1),
        }
    )
    D = [
        ("t_nw1", "nw", "nw_terminal"),
        ("t_nw2", "nw", "nw_terminal"),
        ("t_nw3", "nw", "nw_terminal"),
        ("t_nw4", "nw", "nw_terminal"),
        ("t_aff", f"retail:{AFF}", "retail_terminal"),
        ("t_aff2", f"retail:{AFF}", "retail_terminal"),
        ("t_ind", f"retail:{IND}", "retail_terminal"),
        ("t_it", "contractor:IT01", "contractor_terminal"),
        ("t_dis", f"retail:{AFF}", "disaster_terminal"),
    ]
    for dev, org, kind in D:
        d["devices"].append(
            {
                "device_id": dev,
                "owner_org": org,
                "kind": kind,
                "location": "本社",
                "valid_from": date(2024, 1, 1),
            }
        )
    d["disasters"] = [
        {"disaster_id": "D1", "area": ["東京都/千代田区"], "start_at": t(10, 0), "end_at": t(12, 0)}
    ]
    d["agreements"] = [
        {
            "agreement_id": "AG1",
            "counterparty_org": f"retail:{AFF}",
            "purpose": "disaster_support",
            "fields": ["contract_name", "address", "phone"],
            "area": [],
            "valid_from": date(2026, 1, 1),
        },
        {
            "agreement_id": "AG2",
            "counterparty_org": "contractor:IT01",
            "purpose": "system_maintenance",
            "fields": ["equipment", "address"],
            "area": [],
            "valid_from": date(2026, 1, 1),
        },
    ]
    d["events"] = list(_events())
    return d


def _events() -> Any:
    n = 0

    def ev(
        ts: datetime,
        acc: str,
        action: str = "view",
        points: tuple[str, ...] = (),
        fields: tuple[str, ...] = ("contract_name", "address"),
        device: str | None = None,
        purpose: str | None = None,
        screen: str = "customer_detail",
        **kw: Any,
    ) -> dict[str, Any]:
        nonlocal n
        n += 1
        return {
            "event_id": f"E{n:06d}",
            "ts": ts,
            "system": "takuso",
            "account_id": acc,
            "device_id": device,
            "source_ip": "10.0.0.1",
            "session_id": f"S-{acc}-{ts:%m%d}",
            "action": action,
            "screen": screen,
            "purpose": purpose,
            "supply_point_ids": list(points),
            "query": kw.get("query"),
            "fields": list(fields) if points else [],
            "result_count": len(points) or None,
            "recipient_org": kw.get("recipient"),
            "decision": kw.get("decision", "allow"),
        }

    ops = {"nw_op1": "t_nw1", "nw_op2": "t_nw2", "nw_op3": "t_nw3", "nw_op4": "t_nw4"}
    for day in range(1, 26):
        for acc, dev in ops.items():
            yield ev(t(day, 9), acc, "login", device=dev, screen="login")
            k = 12 if acc != "nw_op1" or day != 22 else 400  # nw_op1: volume spike on the 22nd
            for j in range(k):
                yield ev(
                    t(day, 9, 5) + timedelta(seconds=60 * j),
                    acc,
                    points=(sp(1 + (j + day) % 60),),
                    device=dev,
                    purpose="takuso",
                    fields=("contract_name", "address", "phone", "usage", "retailer"),
                )
        # retail on its own customers, every day (hard negative)
        yield ev(
            t(day, 11),
            "r_sales",
            points=(sp(6 + day % 3),),
            device="t_aff",
            purpose="customer_service",
            fields=("contract_name", "usage"),
        )
        yield ev(
            t(day, 11, 30),
            "r_desk",
            points=(sp(7),),
            device="t_aff2",
            purpose="customer_service",
            fields=("contract_name", "phone"),
        )
        yield ev(
            t(day, 12),
            "r_ind",
            points=(sp(1 + day % 5),),
            device="t_ind",
            purpose="customer_service",
            fields=("contract_name", "usage"),
        )
        # FIT team at work (hard negative)
        yield ev(
            t(day, 14),
            "nw_fit",
            points=(sp(7),),
            device="t_nw4",
            purpose="fit",
            fields=("fit", "equipment"),
            screen="fit_detail",
        )
        # the equal-footing lookup: address key + equipment only (hard negative)
        yield ev(
            t(day, 15),
            "r_sales",
            "search",
            points=(sp(20), sp(21)),
            device="t_aff",
            purpose="switching",
            fields=("address", "equipment"),
            screen="lookup",
            query="千代田区丸の内1-20",
        )
    # NW on a last-resort-supply point, at work (hard negative)
    yield ev(
        t(3, 13),
        "nw_op2",
        points=(sp(9),),
        device="t_nw2",
        purpose="takuso",
        fields=("contract_name", "lrs"),
    )
    # --- incidents --------------------------------------------------------------------------
    yield ev(
        t(3, 16),
        "r_desk",
        points=(sp(1),),
        device="t_aff2",
        fields=("contract_name", "phone"),
        screen="contract_list",
    )  # A: another retailer's customer shown (no search: not an inquiry)
    yield ev(
        t(18, 15),
        "r_desk",
        "search",
        points=(sp(13),),
        device="t_aff2",
        fields=("contract_name", "address"),
        screen="customer_search",
        query="工事の問い合わせ",
    )  # R1: a third party's inquiry looked up ...
    yield ev(
        t(18, 15, 2), "r_desk", points=(sp(13),), device="t_aff2", fields=("contract_name", "phone")
    )  # ... and opened
    yield ev(t(2, 16), "r_sales", points=(sp(11),), device="t_aff")  # R5 (switch on the 20th)
    yield ev(t(6, 16), "r_sales", points=(sp(12),), device="t_aff")  # R4 (applied on the 5th)
    yield ev(
        t(8, 16), "r_sales", points=(sp(10),), device="t_aff", fields=("contract_name", "usage")
    )  # R2 (former own customer)
    yield ev(t(14, 16), "r_desk", points=(sp(5),), device="t_aff2")  # R3 (move-in on the 15th)
    yield ev(
        t(9, 16),
        "r_sales",
        "search",
        points=tuple(sp(i) for i in range(31, 61)),
        device="t_aff",
        query="港区",
        screen="area_search",
    )  # R6 bulk
    yield ev(t(4, 10), "r_desk", "login", device="t_nw3", screen="login")  # C2 NW terminal
    yield ev(t(5, 10), "nw_trans", "login", device="t_aff", screen="login")  # C3 after transfer
    yield ev(t(5, 10, 5), "nw_trans", points=(sp(2),), device="t_aff", purpose="takuso")
    yield ev(
        t(15, 9, 3), "nw_op2", "login", device="t_nw1", screen="login"
    )  # C3 shared (+09:00 t_nw2)
    yield ev(
        t(7, 17),
        "c_it",
        "export",
        points=(sp(1), sp(2), sp(3)),
        device="t_it",
        fields=("contract_name", "address"),
        recipient=f"retail:{AFF}",
        screen="monthly_extract",
    )  # C1
    yield ev(
        t(8, 17),
        "c_it",
        "export",
        points=(sp(1), sp(2)),
        device="t_it",
        fields=("equipment", "address"),
        recipient="contractor:IT01",
        screen="maintenance_extract",
    )  # under AG2: hard negative
    yield ev(
        t(16, 16), "r_desk", points=(sp(9),), device="t_aff2", fields=("contract_name", "lrs")
    )  # LRS (A related)
    yield ev(
        t(17, 16), "r_sales", points=(sp(7),), device="t_aff", fields=("fit",), screen="fit_detail"
    )  # FIT (own customer, but FIT data)
    # disaster agent inside the declared window and area (hard negative) ...
    yield ev(t(11, 9), "dis01", "login", device="t_dis", screen="login", purpose="disaster_support")
    yield ev(
        t(11, 9, 5),
        "dis01",
        points=(sp(3),),
        device="t_dis",
        purpose="disaster_support",
        fields=("contract_name", "address", "phone"),
        screen="disaster_view",
    )
    # ... and the same ID in normal times (B)
    yield ev(
        t(20, 9, 5),
        "dis01",
        points=(sp(4),),
        device="t_dis",
        purpose="disaster_support",
        fields=("contract_name", "address", "phone"),
        screen="disaster_view",
    )
    # off-hours work by someone who never works then (ANOMALY)
    for j in range(6):
        yield ev(
            t(23, 2, 10 * j),
            "nw_op3",
            points=(sp(40 + j),),
            device="t_nw3",
            purpose="takuso",
            fields=("contract_name",),
        )


def write(directory: Path, fmt: str = "csv", events: list[dict[str, Any]] | None = None) -> Path:
    """Write the world (or its reference tables and ``events``) as a dataset folder."""
    directory.mkdir(parents=True, exist_ok=True)
    d = world()
    if events is not None:
        d["events"] = events
    for name, rows in d.items():
        if name == "events":
            continue
        with CsvTableWriter(directory, TABLES[name]) as w:
            for r in rows:
                w.write(r)
    write_events(directory / f"events.{fmt}", d["events"])
    return directory


def write_events(path: Path, rows: list[dict[str, Any]]) -> None:
    import json

    if path.suffix == ".csv":
        with CsvTableWriter(path.parent, TABLES["events"]) as w:
            for r in rows:
                w.write(r)
        if path.name != "events.csv":
            (path.parent / "events.csv").rename(path)
        return
    if path.suffix == ".jsonl":
        with path.open("w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps({**r, "ts": r["ts"].isoformat()}, ensure_ascii=False) + "\n")
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)
