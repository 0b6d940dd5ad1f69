"""Case entries on SQLite and PostgreSQL: appended once, refused when they do not fit,
never updated or deleted (the database's own triggers)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from gridwall.cases import (
    AlertRef,
    CaseError,
    Entry,
    ack,
    append_entries,
    load_cases,
    load_entries,
    notifications,
    notify,
    route_alerts,
)
from gridwall.store.db import make_engine, upgrade

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def _engine(url: str) -> sa.Engine:
    upgrade(url)
    return make_engine(url)


def test_entries_round_trip_and_dedup(db_url: str) -> None:
    eng = _engine(db_url)
    alerts = [AlertRef("a1", "E001", "after_hours", "critical", T0)]
    with eng.begin() as c:
        append_entries(c, route_alerts(alerts, load_cases(c), "monitor", T0))
    with eng.begin() as c:
        assert route_alerts(alerts, load_cases(c), "monitor", T0) == []
        [case] = load_cases(c)
        assert (case.subject, case.critical, case.alerts) == ("E001", True, ["a1"])
        [entries] = load_entries(c).values()
        assert entries[0].at == T0 and entries[0].data["severity"] == "critical"
    eng.dispose()


def test_a_refused_entry_writes_nothing(db_url: str) -> None:
    eng = _engine(db_url)
    [opened] = route_alerts([AlertRef("a1", "E001", "x", "high", T0)], [], "monitor", T0)
    bad = Entry(opened.case_id, 2, "decided", "c1", T0, {"decision": "no_issue"})
    with pytest.raises(CaseError, match="field 'reason' is required"), eng.begin() as c:
        append_entries(c, [opened, bad])
    with eng.begin() as c:
        assert load_entries(c) == {}
    eng.dispose()


@pytest.mark.parametrize(
    "stmt", ["UPDATE case_entries SET actor = 'someone else'", "DELETE FROM case_entries"]
)
def test_entries_are_append_only(db_url: str, stmt: str) -> None:
    eng = _engine(db_url)
    with eng.begin() as c:
        append_entries(c, route_alerts([AlertRef("a1", "E1", "x", "high", T0)], [], "m", T0))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), eng.begin() as c:
        c.execute(sa.text(stmt))
    with eng.begin() as c:
        [[e]] = load_entries(c).values()
        assert e.actor == "m"
    eng.dispose()


def test_notifications_outbox_lists_and_acks(db_url: str) -> None:
    eng = _engine(db_url)
    later = datetime(2026, 4, 2, tzinfo=UTC)
    with eng.begin() as c:
        notify(c, "M001", "first_line_due", "case-1", T0)
        notify(c, "C001", "escalated", "case-1", T0)
        with pytest.raises(CaseError, match="needs a recipient"):
            notify(c, " ", "escalated", "case-1", T0)
    with eng.begin() as c:
        first, second = notifications(c)
        assert (first.recipient, first.kind, first.case_id) == ("M001", "first_line_due", "case-1")
        ack(c, [first.id], later)
    with eng.begin() as c:
        assert [n.id for n in notifications(c)] == [second.id]
        with pytest.raises(CaseError, match="already delivered; none marked"):
            ack(c, [first.id, second.id], later)
    with eng.begin() as c:
        assert [n.id for n in notifications(c)] == [second.id]
        [done] = [n for n in notifications(c, pending_only=False) if n.id == first.id]
        assert done.delivered_at == later
    eng.dispose()
