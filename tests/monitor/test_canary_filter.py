"""Canary events (marked ``"canary": true`` by the server) never reach the monitor's rules."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from gridwall.monitor import _input


def _event(n: int, **extra: object) -> dict[str, object]:
    return {"event_id": f"e{n}", "ts": "2026-12-07T00:00:00+00:00", "system": "gridwall",
            "account_id": f"a{n}", "action": "view", "screen": "s", "decision": "allow",
            "supply_point_ids": ["0" * 22], "fields": ["contract_name"], **extra}  # fmt: skip


def test_canary_events_are_dropped_on_input(tmp_path: Path) -> None:
    f = tmp_path / "events.jsonl"
    rows = [_event(1), _event(2, canary=True), _event(3, canary=False)]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    con = duckdb.connect()
    ids = {
        r[0]
        for r in con.execute(f"SELECT event_id FROM ({_input.events_sql(con, [f])})").fetchall()
    }
    assert ids == {"e1", "e3"}
