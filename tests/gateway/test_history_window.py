"""I13: a retailer's view of the switching history starts with its own relationship.

Issue 11 item 4: a retailer reading its own customer saw earlier applications naming
other retailers and the previous occupant's move-out. Both the live path (the tiny
operator on SQLite and PostgreSQL) and the entry classification (property) are tested.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from gridwall.gateway import Gateway
from gridwall.gateway._history import (
    NO_RELATIONSHIP,
    entry_era,
    holder_change_in,
    visible_history,
)
from gridwall.interfaces.facts import Era

from . import tiny
from .conftest import World


def _ids(view: dict[str, object]) -> list[str]:
    hist = view["switching_history"]
    assert isinstance(hist, list)
    return [h["application_id"] for h in hist]


def test_new_supplier_does_not_see_the_switch_that_named_the_old_one(
    gw: Gateway, world: World
) -> None:
    ind = gw.authenticate(world.tokens["ind-agent"], world.terminals["T-IND"], "customer_service")
    view = gw.read_point(ind, tiny.P_FORMER)
    # S1 (AFF → IND, applied before IND's supply began) names the previous retailer
    assert _ids(view) == []
    assert tiny.AFF not in repr(view["switching_history"])
    nw = gw.authenticate(world.tokens["nw-op"], world.terminals["T-NW"], "takuso")
    assert _ids(gw.read_point(nw, tiny.P_FORMER)) == ["S1"]  # NW 託送 staff: everything


def test_new_occupants_supplier_does_not_see_the_previous_occupants_move(
    gw: Gateway, world: World
) -> None:
    ind = gw.authenticate(world.tokens["ind-agent"], world.terminals["T-IND"], "customer_service")
    view = gw.read_point(ind, tiny.P_MOVED)
    assert "S2" not in _ids(view)  # the previous occupant's move-out
    assert _ids(view) == []  # the move-in was applied before the holder changed
    nw = gw.authenticate(world.tokens["nw-op"], world.terminals["T-NW"], "takuso")
    assert _ids(gw.read_point(nw, tiny.P_MOVED)) == ["S2", "S3"]


def _entry(applied: date, effective: date | None, kind: str = "switch") -> dict[str, object]:
    return {
        "application_id": f"A{applied.isoformat()}",
        "kind": kind,
        "applied_at": datetime(applied.year, applied.month, applied.day, 3).isoformat() + "Z",
        "effective_date": None if effective is None else effective.isoformat(),
    }


def test_entries_inside_the_relationship_stay_visible() -> None:
    window = date(2025, 5, 1)
    inside = _entry(date(2025, 7, 1), date(2025, 8, 1), "cancel")
    straddling = _entry(date(2025, 4, 20), date(2025, 5, 1))
    assert entry_era(inside, window) is Era.CURRENT
    assert entry_era(straddling, window) is Era.BEFORE_RELATIONSHIP
    assert visible_history([straddling, inside], window, False) == [inside]
    assert visible_history([straddling, inside], window, True) == [straddling, inside]
    assert visible_history([inside], NO_RELATIONSHIP, False) == []
    assert visible_history([straddling], None, False) == [straddling]  # not a retailer


def test_holder_change_counts_a_move_out_from_the_next_day() -> None:
    today = date(2026, 11, 25)
    out = _entry(date(2026, 3, 1), date(2026, 3, 14), "move_out")
    later = _entry(date(2026, 12, 1), date(2026, 12, 20), "move_in")  # not yet effective
    assert holder_change_in([out, later], today) == date(2026, 3, 15)
    assert holder_change_in([_entry(date(2026, 1, 1), None, "switch")], today) is None


_days = st.dates(min_value=date(2015, 1, 1), max_value=date(2030, 12, 31))


@given(
    st.lists(st.tuples(_days, st.one_of(st.none(), st.integers(0, 90))), max_size=12),
    _days,
)
def test_no_visible_entry_is_dated_before_the_window(
    spec: list[tuple[date, int | None]], window: date
) -> None:
    entries = [_entry(a, None if lag is None else a + timedelta(days=lag)) for a, lag in spec]
    for e in visible_history(entries, window, False):
        assert date.fromisoformat(str(e["applied_at"])[:10]) >= window
        if e["effective_date"] is not None:
            assert date.fromisoformat(str(e["effective_date"])) >= window
    # and nothing inside the window is lost
    kept = visible_history(entries, window, False)
    assert len(kept) == sum(entry_era(e, window) is Era.CURRENT for e in entries)
