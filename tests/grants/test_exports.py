"""Contractor exports (業務委託, C①): only under a valid agreement, to its counterparty,
watermarked so that a leaked file — even a few of its rows — traces back to its recipient."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from gridwall.grants import (
    AgreementRegistry,
    ExportDesk,
    GrantRefused,
    trace_leak,
    watermark_export,
)
from gridwall.grants._models import ExportRecord
from gridwall.grants._watermark import read_mark, trace_text
from support.doubles import MemoryAuditSink

from .conftest import T0, FrozenClock

KEY = b"w" * 32


def _rows(n: int) -> list[dict[str, str]]:
    return [
        {
            "supply_point_id": f"03{i:020d}",
            "contract_name": f"需要家 {i}",
            "pref": "東京都",
            "city": "港区",
            "voltage": "low",
        }
        for i in range(n)
    ]


@pytest.fixture
def desk(engine: Engine, sink: MemoryAuditSink, clock: FrozenClock) -> ExportDesk:
    reg = AgreementRegistry(engine, sink, clock)
    start = date(2026, 4, 1)
    reg.register(
        "MT-1", "contractor:itco", "system_maintenance", ["contract_name", "address", "equipment"],
        "", start, date(2027, 3, 31), "nw-carol",
    )  # fmt: skip
    reg.register(
        "MT-2", "contractor:other", "system_maintenance", ["contract_name", "address", "equipment"],
        "", start, date(2027, 3, 31), "nw-carol",
    )  # fmt: skip
    reg.register(
        "MR-1", "contractor:meterco", "meter_reading", ["address", "equipment"], "東京都/千代田区",
        start, None, "nw-carol",
    )  # fmt: skip
    sink.events.clear()
    return ExportDesk(engine, sink, clock, key=KEY)


def _exports(engine: Engine) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(ExportRecord)).scalar_one())


def test_export_goes_to_counterparty_and_traces_back(
    desk: ExportDesk, engine: Engine, sink: MemoryAuditSink, tmp_path: Path
) -> None:
    a = desk.export(
        _rows(40), recipient_org="contractor:itco", agreement_id="MT-1",
        purpose="system_maintenance", actor="nw-dave", export_id="EXP-A",
    )  # fmt: skip
    b = desk.export(
        _rows(40), recipient_org="contractor:other", agreement_id="MT-2",
        purpose="system_maintenance", actor="nw-dave", export_id="EXP-B",
    )  # fmt: skip
    assert [e["decision"] for e in sink.events] == ["allow", "allow"]
    assert sink.events[0]["action"] == "export"
    assert sink.events[0]["recipient_org"] == "contractor:itco"
    assert a.real_rows == 40 and len(a.canaries) == 2 and len(a.rows) == 42
    # the same rows for two recipients get different marks
    assert {r["watermark"] for r in a.rows}.isdisjoint({r["watermark"] for r in b.rows})

    whole = tmp_path / "leak.csv"
    whole.write_text(a.to_csv(), encoding="utf-8")
    t = trace_leak(whole, engine, KEY)
    assert t is not None and t.export_id == "EXP-A" and t.recipient_org == "contractor:itco"
    assert t.header_verified and t.marks == 42 and len(t.canaries) == 2

    # three rows, no header line, columns reordered, as TSV
    text = a.to_csv().splitlines()
    rows = list(csv.DictReader(io.StringIO("\n".join(text[2:]))))
    real = [r for r in rows if r["supply_point_id"] not in {c.supply_point_id for c in a.canaries}]
    some = "\n".join("\t".join([r["watermark"], r["contract_name"]]) for r in real[5:8])
    t = trace_text(some, engine, KEY)
    assert t is not None and t.recipient_org == "contractor:itco" and t.marks == 3
    assert not t.header_verified

    # the watermark column stripped, but a canary row kept
    can = a.canaries[0]
    stripped = f"{can.supply_point_id},{can.contract_name},東京都,港区,low\n"
    t = trace_text(stripped, engine, KEY)
    assert t is not None and t.export_id == "EXP-A" and t.canaries == [can.supply_point_id]

    # these rows carry no phone, so neither does the canary (its registry entry holds only
    # what the file shows); a name alone is no evidence (test_canaries: name and phone)
    assert can.phone == "" and trace_text(f"{can.contract_name}\n", engine, KEY) is None

    # nothing of ours: no trace; a forged header (wrong fingerprint) is not evidence
    assert trace_text("supply_point_id,contract_name\n0300,x\n", engine, KEY) is None
    forged = "# gridwall export export_id=EXP-A recipient=contractor:x agreement=MT-1 " + (
        "fingerprint=" + "0" * 32
    )
    assert trace_text(forged, engine, KEY) is None


@pytest.mark.parametrize(
    ("to", "agreement", "purpose", "rows", "field", "match"),
    [
        ("retail:A0001", "MT-1", "system_maintenance", None, "recipient", "retailer"),
        ("contractor:other", "MT-1", "system_maintenance", None, "recipient", "counterparty"),
        ("contractor:itco", "MT-9", "system_maintenance", None, "agreement", "no such"),
        ("contractor:itco", "MT-1", "meter_reading", None, "purpose", "is for"),
        ("contractor:itco", "MT-1", "system_maintenance", [{"phone": "x"}], "rows", "phone"),
        ("contractor:itco", "MT-1", "system_maintenance", [{"secret": "x"}], "rows", "unknown"),
        ("contractor:meterco", "MR-1", "meter_reading", [{"pref": "東京都", "city": "港区"}],
         "rows", "outside"),
    ],
)  # fmt: skip
def test_export_refusals_audited_nothing_registered(
    desk: ExportDesk,
    engine: Engine,
    sink: MemoryAuditSink,
    to: str,
    agreement: str,
    purpose: str,
    rows: list[dict[str, str]] | None,
    field: str,
    match: str,
) -> None:
    with pytest.raises(GrantRefused, match=match) as e:
        desk.export(
            rows if rows is not None else _rows(3), recipient_org=to, agreement_id=agreement,
            purpose=purpose, actor="nw-dave",
        )  # fmt: skip
    assert e.value.where is not None and e.value.where.field == field
    assert [ev["decision"] for ev in sink.events] == ["deny"]
    assert sink.events[0]["recipient_org"] == to
    assert _exports(engine) == 0


def test_export_under_expired_or_ended_agreement_refused(
    desk: ExportDesk, engine: Engine, sink: MemoryAuditSink, clock: FrozenClock
) -> None:
    clock.set(T0.replace(year=2027, month=4, day=1))
    with pytest.raises(GrantRefused, match="not valid now"):
        desk.export(
            _rows(2), recipient_org="contractor:itco", agreement_id="MT-1",
            purpose="system_maintenance", actor="nw-dave",
        )  # fmt: skip
    clock.set(T0)
    AgreementRegistry(engine, sink, clock).end("MT-2", "nw-carol")
    with pytest.raises(GrantRefused, match="not valid now"):
        desk.export(
            _rows(2), recipient_org="contractor:other", agreement_id="MT-2",
            purpose="system_maintenance", actor="nw-dave",
        )  # fmt: skip
    # within its area the meter-reading export goes
    ok = desk.export(
        [{"supply_point_id": "0300000000000000000001", "pref": "東京都", "city": "千代田区"}],
        recipient_org="contractor:meterco", agreement_id="MR-1", purpose="meter_reading",
        actor="nw-dave",
    )  # fmt: skip
    assert ok.real_rows == 1 and _exports(engine) == 1


def test_watermark_refuses_retailer_directly() -> None:
    with pytest.raises(GrantRefused, match="retailer"):
        watermark_export(_rows(1), "retail:A0001", "MT-1", "EXP-1", KEY)


def test_marks_are_keyed_and_bound_to_the_export() -> None:
    wm = watermark_export(_rows(5), "contractor:itco", "MT-1", "EXP-1", KEY, created_at=T0)
    serials = {read_mark(KEY, r["watermark"])[0] for r in wm.rows}  # type: ignore[index]
    assert serials == {wm.serial}
    other = read_mark(b"x" * 32, wm.rows[0]["watermark"])
    assert other is None or other[0] != wm.serial
    again = watermark_export(_rows(5), "contractor:itco", "MT-1", "EXP-1", KEY, created_at=T0)
    assert again.rows == wm.rows  # deterministic per export id


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(n=st.integers(min_value=1, max_value=120), data=st.data())
def test_property_any_single_row_traces_to_its_recipient(
    desk: ExportDesk, engine: Engine, n: int, data: st.DataObject
) -> None:
    recipients = [("contractor:itco", "MT-1"), ("contractor:other", "MT-2")]
    made = []
    for to, agr in recipients:
        made.append(
            desk.export(
                _rows(n),
                recipient_org=to,
                agreement_id=agr,
                purpose="system_maintenance",
                actor="nw-dave",
            )
        )
    which = data.draw(st.integers(min_value=0, max_value=1))
    wm = made[which]
    i = data.draw(st.integers(min_value=0, max_value=len(wm.rows) - 1))
    row = wm.rows[i]
    leaked = ",".join(row[c] for c in wm.columns)
    t = trace_text(leaked, engine, KEY)
    assert t is not None and t.export_id == wm.export_id
    assert t.recipient_org == recipients[which][0]


def test_seal_export_for_the_gateway(desk: ExportDesk, engine: Engine) -> None:
    from gridwall.grants import seal_export, valid_agreement_for

    assert valid_agreement_for(engine, "contractor:itco", "system_maintenance", T0) == "MT-1"
    assert valid_agreement_for(engine, "contractor:itco", "meter_reading", T0) is None
    assert valid_agreement_for(engine, "retail:A0001", "disaster_support", T0) is None
    wm = seal_export(
        engine, _rows(3), recipient_org="contractor:itco", purpose="system_maintenance",
        export_id="exp-gw-1", now=T0, created_by="nw-dave",
    )  # fmt: skip
    assert wm.agreement_id == "MT-1" and _exports(engine) == 1
    from gridwall.grants import load_key

    t = trace_text(wm.rows[0]["watermark"], engine, load_key(engine, "watermark"))
    assert trace_text(wm.rows[0]["watermark"], engine, KEY) is None  # another key: noise
    assert t is not None and t.export_id == "exp-gw-1"
    for to in ("retail:A0001", "contractor:nobody"):
        with pytest.raises(GrantRefused, match="no valid"):
            seal_export(
                engine, _rows(1), recipient_org=to, purpose="system_maintenance",
                export_id=f"exp-{to}", now=T0,
            )  # fmt: skip
    assert _exports(engine) == 1


class _Points:
    """Parties whose store holds the first ``n`` supply point IDs it is asked about."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.asked: list[str] = []

    def point_exists(self, supply_point_id: str) -> bool:
        self.asked.append(supply_point_id)
        return len(self.asked) <= self.n

    def org_exists(self, org: str) -> bool:
        return True


def test_desk_and_seal_draw_canary_ids_the_store_does_not_hold(
    desk: ExportDesk, engine: Engine, sink: MemoryAuditSink, clock: FrozenClock
) -> None:
    from gridwall.grants import seal_export

    taken = _Points(2)
    with_parties = ExportDesk(engine, sink, clock, key=KEY, parties=taken)
    wm = with_parties.export(
        _rows(10), recipient_org="contractor:itco", agreement_id="MT-1",
        purpose="system_maintenance", actor="nw-dave", export_id="EXP-P",
    )  # fmt: skip
    ids = {c.supply_point_id for c in wm.canaries}
    assert len(taken.asked) >= 4 and not ids & set(taken.asked[:2])
    # a store that holds every ID drawn: no canary can be made, so no file and no registry
    sink.events.clear()
    with pytest.raises(GrantRefused, match="canary"):
        ExportDesk(engine, sink, clock, key=KEY, parties=_Points(10**9)).export(
            _rows(3), recipient_org="contractor:itco", agreement_id="MT-1",
            purpose="system_maintenance", actor="nw-dave", export_id="EXP-Q",
        )  # fmt: skip
    assert _exports(engine) == 1
    sealed = _Points(1)
    wm = seal_export(
        engine, _rows(3), recipient_org="contractor:itco", purpose="system_maintenance",
        export_id="exp-gw-p", now=T0, point_exists=sealed.point_exists,
    )  # fmt: skip
    assert sealed.asked[0] not in {c.supply_point_id for c in wm.canaries}
    assert _exports(engine) == 2
