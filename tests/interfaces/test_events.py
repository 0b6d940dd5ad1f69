"""The one audit-event builder: the record it makes is the events layout, and nothing else."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridwall.dataset import EVENTS
from gridwall.interfaces.events import (
    ACTIONS,
    ATTRIBUTION,
    DECISIONS,
    EVENT_COLUMNS,
    EXTRA_KEYS,
    AuditEvent,
    audit_event,
)

T = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


def _ev(**kw: Any) -> AuditEvent:
    base: dict[str, Any] = dict(
        source="gw", ts=T, account_id="u1", action="view", screen="s", decision="allow"
    )
    base.update(kw)
    return audit_event(**base)


def test_columns_are_the_dataset_layout() -> None:
    assert tuple(c.name for c in EVENTS.columns) == EVENT_COLUMNS
    action = next(c for c in EVENTS.columns if c.name == "action")
    decision = next(c for c in EVENTS.columns if c.name == "decision")
    assert set(action.choices or ()) == ACTIONS
    assert set(decision.choices or ()) == DECISIONS


def test_record_is_layout_then_attribution_then_extras() -> None:
    e = _ev(extra={"reason": "locked", "identity_event_ids": ["idn-1"]})
    assert list(e.record()) == [*EVENT_COLUMNS, *ATTRIBUTION, "reason", "identity_event_ids"]
    assert dict(e) == e.record() and len(e) == len(e.record())
    assert e["identity_event_ids"] == ["idn-1"]


def test_ids_are_unique_and_prefixed() -> None:
    ids = {_ev(source="lk").event_id for _ in range(200)}
    assert len(ids) == 200 and all(i.startswith("lk-") for i in ids)


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"action": "read"}, "action"),
        ({"decision": "maybe"}, "decision"),
        ({"ts": datetime(2026, 12, 6)}, "ts"),
        ({"screen": ""}, "screen"),
        ({"source": ""}, "source"),
        ({"source": "g w"}, "source"),
        ({"result_count": -1}, "result_count"),
        ({"extra": {"contract_name": "x"}}, "extra"),
        ({"extra": {"reason": 1.5}}, "extra reason"),
        ({"extra": {"reason": True}}, "extra reason"),
        ({"extra": {"identity_event_ids": [1]}}, "extra identity_event_ids"),
    ],
)
def test_malformed_events_are_refused_naming_the_field(kw: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        _ev(**kw)


def test_event_is_immutable() -> None:
    e = _ev()
    with pytest.raises(AttributeError):
        e.decision = "deny"  # type: ignore[misc]


@given(
    action=st.sampled_from(sorted(ACTIONS)),
    decision=st.sampled_from(sorted(DECISIONS)),
    offset=st.integers(-12, 14),
    points=st.lists(st.text(max_size=22), max_size=5),
    fields=st.lists(st.sampled_from(["address", "phone", "usage", "contract"]), max_size=6),
    query=st.one_of(st.none(), st.text(max_size=40)),
    extra=st.dictionaries(st.sampled_from(sorted(EXTRA_KEYS)), st.one_of(st.none(), st.text())),
)
def test_any_valid_event_is_json_and_utc(
    action: str,
    decision: str,
    offset: int,
    points: list[str],
    fields: list[str],
    query: str | None,
    extra: dict[str, Any],
) -> None:
    ts = T.astimezone(timezone(timedelta(hours=offset)))
    e = _ev(action=action, decision=decision, ts=ts, supply_point_ids=points, fields=fields,
            query=query, extra=extra)  # fmt: skip
    rec = json.loads(json.dumps(e.record(), ensure_ascii=False))
    assert datetime.fromisoformat(rec["ts"]) == T and rec["ts"].endswith("+00:00")
    assert rec["supply_point_ids"] == points
    assert rec["fields"] == sorted(set(fields))
    assert rec["action"] == action and rec["decision"] == decision
    assert {k: rec[k] for k in extra} == extra
