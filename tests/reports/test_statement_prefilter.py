"""The byte prefilter of a statement (entries that cannot name one of the retailer's
points are not parsed) never drops an entry the full parse would keep: hypothesis over
generated events, encoded exactly as the audit log stores them, including point IDs with
commas, brackets, quotes, backslashes and non-ASCII text, non-string IDs, the key nested
elsewhere and its text inside other values."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridwall.audit._log import canonical_json, entry_bytes
from gridwall.interfaces.clock import JST
from gridwall.reports import _monthly, _statement, build_statement
from gridwall.reports._statement import Supply, named_points

SECRET = b"operator-secret-for-tests-0123456789"
DAY = date(2026, 3, 10)
MINE = ["03" + "5" * 20, "P,1", "P]2", 'P"3', "P\\4", "地点5", "6"]
OTHERS = ["03" + "7" * 20, "P", "1", "2", "[", "]", ",", '"', "", "地点"]
SUPPLIES = [Supply(p, date(2026, 3, 1), date(2026, 3, 20)) for p in MINE]


def _supplies(code: str, first: date, last: date) -> list[Supply]:
    return SUPPLIES if code == "B0001" else []


def _supplied(pid: str, day: date) -> bool:
    return pid in MINE and date(2026, 3, 1) <= day < date(2026, 3, 20)


_pid = st.sampled_from(MINE + OTHERS) | st.text(max_size=6)
_points = st.one_of(
    st.lists(_pid, max_size=4),
    st.lists(st.one_of(_pid, st.integers(0, 9), st.none(), st.lists(_pid, max_size=2)), max_size=3),
    _pid,
    st.none(),
    st.dictionaries(st.sampled_from(["supply_point_ids", "x"]), st.lists(_pid, max_size=2)),
)
_text = st.one_of(
    st.text(max_size=8),
    st.sampled_from(['"supply_point_ids":["6"]', 'supply_point_ids":["6"]', "6", "]"]),
)


@st.composite
def _events(draw: st.DrawFn) -> dict[str, Any]:
    minute = draw(st.integers(0, 59))
    day = draw(st.sampled_from([DAY, date(2026, 3, 25), date(2026, 2, 28)]))
    ts = datetime(day.year, day.month, day.day, 12, minute, tzinfo=JST).astimezone(UTC)
    ev: dict[str, Any] = {
        "ts": ts.isoformat(),
        "org": draw(st.sampled_from(["retail:B0001", "retail:B0002", "nw", "contractor:C1", ""])),
        "action": draw(st.sampled_from(["view", "search", "export", "login", "update"])),
        "screen": draw(st.sampled_from(["read_point", "lookup", "search"])),
        "decision": draw(st.sampled_from(["allow", "deny"])),
        "fields": draw(st.lists(st.sampled_from(["contract_name", "phone", "usage", "x"]))),
        "person_id": draw(st.text(max_size=4)),
        "purpose": draw(st.sampled_from(["takuso", "consent_usage", "x"])),
        "name_verification": draw(st.sampled_from(["checked", "none"])),
        "query": draw(_text),
    }
    if draw(st.booleans()):
        ev["supply_point_ids"] = draw(_points)
    if draw(st.booleans()):
        ev["detail"] = {"supply_point_ids": draw(st.lists(_pid, max_size=2)), "t": draw(_text)}
    if draw(st.integers(0, 9)) == 0:
        ev["canary"] = True
    return ev


def _raw(ev: dict[str, Any], seq: int) -> bytes:
    return entry_bytes(canonical_json(ev), "2026-03-10T03:00:00.000000Z", seq)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ev=_events())
def test_the_prefilter_never_drops_an_entry_the_full_parse_keeps(ev: dict[str, Any]) -> None:
    raw = _raw(ev, 0)
    item = _statement._item(raw, "retail:B0001", DAY, DAY, _supplied, SECRET, "p")
    named = named_points(raw)
    if item is not None:
        assert named is None or not named.isdisjoint(MINE), (raw, named)
        # the monthly file's first pass sets it aside for the retailer too
        assert set(item["supply_point_ids"]) <= set(_monthly._named(raw))
    pids = ev.get("supply_point_ids")
    if named is not None and isinstance(pids, list) and all(isinstance(p, str) for p in pids):
        assert named == frozenset(ev["supply_point_ids"])  # read right, not just "maybe"


def test_plain_entries_are_read_without_parsing() -> None:
    """The prefilter decides the common entries itself (else it would save nothing)."""
    both = frozenset({MINE[0], OTHERS[0]})
    assert named_points(_raw({"supply_point_ids": [MINE[0], OTHERS[0]]}, 1)) == both
    assert named_points(_raw({"action": "login"}, 2)) == frozenset()
    assert named_points(_raw({"supply_point_ids": []}, 3)) == frozenset()
    assert named_points(_raw({"supply_point_ids": ['P"3']}, 4)) is None  # escapes: parse
    assert named_points(_raw({"supply_point_ids": [1]}, 5)) is None


class _View:
    def __init__(self, events: Iterable[dict[str, Any]]) -> None:
        self.raw = [_raw(e, i) for i, e in enumerate(events)]

    def checkpoint(self) -> tuple[int, bytes, str]:
        return len(self.raw), b"\0" * 32, "note"

    def entries(self, lo: int, hi: int) -> Iterable[tuple[int, bytes]]:
        return [(i, self.raw[i]) for i in range(lo, hi)]

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return [bytes([index % 256]) * 32]

    def inclusion_proofs(self, indices: Sequence[int], size: int) -> list[list[bytes]]:
        return [self.inclusion_proof(i, size) for i in indices]

    def multiproof(self, indices: Sequence[int], size: int) -> list[bytes]:
        return []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(_events(), max_size=30))
def test_a_statement_is_the_same_with_and_without_the_prefilter(
    events: list[dict[str, Any]],
) -> None:
    def make() -> dict[str, Any]:
        return build_statement(
            _View(events), _supplies, "B0001", DAY, DAY, secret=SECRET,
            generated_at=datetime(2026, 4, 1, tzinfo=UTC), batch=7,
        )  # fmt: skip

    fast = make()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_statement, "named_points", lambda raw: None)  # every entry parsed
        slow = make()
    assert fast == slow
