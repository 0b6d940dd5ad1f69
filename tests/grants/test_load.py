"""load_reference: the dataset's disasters and agreements (all or nothing, idempotent)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from gridwall import dataset
from gridwall.errors import InputErrors
from gridwall.grants import DisasterDesk, StoreGrantResolver, load_reference
from gridwall.grants._models import Agreement, DisasterDeclaration, GrantState
from gridwall.interfaces.facts import AgreementState, DisasterState
from support.doubles import MemoryAuditSink

from .conftest import T0, FrozenClock
from .helpers import CHIYODA, MINATO

DISASTERS = """disaster_id,area,start_at,end_at
D1,東京都/千代田区;北海道,2026-08-01T09:00:00+09:00,2026-08-03T09:00:00+09:00
D2,沖縄県,2026-07-01T00:00:00+09:00,2026-07-02T00:00:00+09:00
"""
AGREEMENTS = """agreement_id,counterparty_org,purpose,fields,area,valid_from,valid_to
A1,retail:A0001,disaster_support,contract_name;address;phone,,2026-01-01,
A2,contractor:lrsco,lrs_operations,contract_name;address;lrs,東京都,2026-01-01,2026-12-31
"""


def _rows(tmp: Path, name: str, text: str) -> list[tuple[int, dict[str, object]]]:
    p = tmp / f"{name}.csv"
    p.write_text(text, encoding="utf-8")
    return list(dataset.iter_rows(p, dataset.TABLES[name]))


def _version(engine: Engine) -> int:
    with engine.connect() as c:
        return int(c.execute(select(GrantState.version)).scalar_one())


def test_load_is_idempotent_and_feeds_the_resolver(
    engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    d, a = _rows(tmp_path, "disasters", DISASTERS), _rows(tmp_path, "agreements", AGREEMENTS)
    with engine.begin() as c:
        assert load_reference(c, "disasters", "disasters.csv", d) == 2
        assert load_reference(c, "agreements", "agreements.csv", a) == 2
    v = _version(engine)
    with engine.begin() as c:
        assert load_reference(c, "disasters", "disasters.csv", d) == 0
        assert load_reference(c, "agreements", "agreements.csv", a) == 0
    assert _version(engine) == v  # nothing changed
    res = StoreGrantResolver(engine, clock, refresh_seconds=0)
    during = datetime(2026, 8, 2, tzinfo=UTC)
    assert res.disaster_state(CHIYODA, during) is DisasterState.ACTIVE_IN_AREA
    assert res.disaster_state(MINATO, during) is DisasterState.ACTIVE_OUT_OF_AREA
    assert res.disaster_state(CHIYODA, datetime(2026, 8, 3, 0, tzinfo=UTC)) is DisasterState.NONE
    st, fields = res.agreement_state("contractor:lrsco", "lrs_operations", CHIYODA, T0)
    assert st is AgreementState.VALID_IN_SCOPE and "lrs" in fields
    # a changed row is updated, once
    d2 = _rows(tmp_path, "disasters", DISASTERS.replace("2026-08-03T09", "2026-08-04T09"))
    with engine.begin() as c:
        assert load_reference(c, "disasters", "disasters.csv", d2) == 1
    assert res.disaster_state(CHIYODA, datetime(2026, 8, 3, 0, tzinfo=UTC)) is (
        DisasterState.ACTIVE_IN_AREA
    )


@pytest.mark.parametrize(
    ("table", "text", "line", "field"),
    [
        ("disasters", "disaster_id,area,start_at,end_at\nX,東京県,2026-08-01T00:00:00+09:00,"
         "2026-08-02T00:00:00+09:00\n", 2, "area"),
        ("disasters", "disaster_id,area,start_at,end_at\nX,東京都,2026-08-02T00:00:00+09:00,"
         "2026-08-01T00:00:00+09:00\n", 2, "end_at"),
        ("agreements", AGREEMENTS + "A3,retail:B0002,system_maintenance,contract_name,,"
         "2026-01-01,\n", 4, "counterparty_org"),
        ("agreements", AGREEMENTS + "A3,contractor:x,meter_reading,bogus,,2026-01-01,\n", 4,
         "fields"),
        ("agreements", AGREEMENTS + "A1,contractor:x,meter_reading,address,,2026-01-01,\n", 4,
         "agreement_id"),
        ("agreements", AGREEMENTS + "A3,contractor:x,meter_reading,address,,2026-02-01,"
         "2026-01-01\n", 4, "valid_to"),
    ],
)  # fmt: skip
def test_bad_rows_name_file_line_field_and_write_nothing(
    engine: Engine, tmp_path: Path, table: str, text: str, line: int, field: str
) -> None:
    rows = _rows(tmp_path, table, text)
    with pytest.raises(InputErrors) as e, engine.begin() as c:
        load_reference(c, table, f"{table}.csv", rows)
    err = e.value.errors[0]
    assert err.where is not None
    assert (err.where.file, err.where.line, err.where.field) == (f"{table}.csv", line, field)
    with engine.connect() as c:
        assert c.execute(select(Agreement.agreement_id)).first() is None
        assert c.execute(select(DisasterDeclaration.disaster_id)).first() is None


def test_dataset_cannot_replace_a_declaration(
    engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    DisasterDesk(engine, MemoryAuditSink(), clock).declare(
        "D1", "東京都", T0 + timedelta(hours=5), timedelta(hours=9), "nw-a"
    )
    rows = _rows(tmp_path, "disasters", DISASTERS)
    with pytest.raises(InputErrors, match="through gridwall"), engine.begin() as c:
        load_reference(c, "disasters", "disasters.csv", rows)
