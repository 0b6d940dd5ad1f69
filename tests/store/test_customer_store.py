"""Customer tables: migration on SQLite and PostgreSQL, constraints, ID validation."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import insert, inspect
from sqlalchemy.exc import IntegrityError

from gridwall.store import make_engine, upgrade
from gridwall.store.customer import (
    Retailer,
    SupplyContract,
    SupplyPoint,
    is_valid_supply_point_id,
)


def test_migration_creates_tables_and_indexes(db_url: str) -> None:
    upgrade(db_url)
    eng = make_engine(db_url)
    insp = inspect(eng)
    names = set(insp.get_table_names())
    assert {
        "retailers",
        "supply_points",
        "supply_contracts",
        "fit_contracts",
        "switching_applications",
        "usage_monthly",
    } <= names
    idx = {i["name"] for i in insp.get_indexes("supply_contracts")}
    assert "ix_supply_contracts_retailer_current" in idx
    upgrade(db_url)  # idempotent
    eng.dispose()


def test_constraints_refuse_bad_values(db_url: str) -> None:
    upgrade(db_url)
    eng = make_engine(db_url)
    with pytest.raises(IntegrityError), eng.begin() as c:
        c.execute(insert(Retailer), [{"retailer_code": "X", "name": "x", "kind": "group"}])
    with eng.begin() as c:
        c.execute(insert(Retailer), [{"retailer_code": "A1", "name": "a", "kind": "affiliated"}])
        c.execute(
            insert(SupplyPoint),
            [
                {
                    "supply_point_id": "03" + "0" * 20,
                    "pref": "宮城県",
                    "city": "仙台市",
                    "voltage": "low",
                    "status": "active",
                }
            ],
        )
    with pytest.raises(IntegrityError), eng.begin() as c:  # FK to supply_points
        c.execute(
            insert(SupplyContract),
            [
                {
                    "supply_point_id": "04" + "0" * 20,
                    "retailer_code": "A1",
                    "start_date": date(2026, 1, 1),
                    "kind": "retail",
                }
            ],
        )
    eng.dispose()


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("01" + "0" * 20, True),
        ("10" + "9" * 20, True),
        ("00" + "0" * 20, False),
        ("11" + "0" * 20, False),
        ("01" + "0" * 19, False),
        ("01" + "0" * 21, False),
        ("01" + "0" * 19 + "a", False),
        ("０１" + "0" * 20, False),  # full-width digits are not digits here
    ],
)
def test_supply_point_id_validation(value: str, ok: bool) -> None:
    assert is_valid_supply_point_id(value) is ok
