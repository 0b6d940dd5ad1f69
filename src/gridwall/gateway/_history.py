"""Time windows on what a caller may see: switching history before the caller's
relationship with the point (I13) and the usage months a consent reaches (I9).

Pure functions of the point's dates and the clock; the gateway applies them after the
policy decided which eras and groups are allowed.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from gridwall.gateway import _store
from gridwall.gateway._store import PointRow
from gridwall.interfaces import Principal
from gridwall.interfaces.clock import JST
from gridwall.interfaces.facts import Era, OrgKind, Relation

#: at most this many months of usage for a consent read (I9)
CONSENT_MONTHS = 13


def first_month_from(day: date) -> str:
    """The first month whose every day is on or after ``day`` (YYYY-MM)."""
    if day.day != 1:
        y, m = divmod(day.year * 12 + day.month, 12)  # next month
        return f"{y:04d}-{m + 1:02d}"
    return f"{day.year:04d}-{day.month:02d}"


def _entry_days(entry: Mapping[str, Any]) -> list[date]:
    """Every JST day a history entry is dated by (applied, effective)."""
    days: list[date] = []
    applied = entry.get("applied_at")
    if applied:
        days.append(_store.jst_day(datetime.fromisoformat(str(applied).replace("Z", "+00:00"))))
    eff = entry.get("effective_date")
    if eff:
        days.append(eff if isinstance(eff, date) else date.fromisoformat(str(eff)[:10]))
    return days


def holder_change_in(entries: Sequence[Mapping[str, Any]], today: date) -> date | None:
    """:func:`_store.holder_change_day` over the entries of a switching history."""
    pairs: list[tuple[str, date]] = []
    for e in entries:
        days = _entry_days(e)
        if days:
            # the effective day when known (the last date of an entry), else the day applied
            pairs.append((str(e.get("kind")), days[-1]))
    return _store.holder_change_day(pairs, today)


#: ``history_window`` for a caller with no relationship: every entry is before it
NO_RELATIONSHIP = date.max


def history_window(
    principal: Principal, relation: Relation, row: PointRow, today: date,
    entries: Sequence[Mapping[str, Any]] | None = None,
) -> date | None:  # fmt: skip
    """Where the caller's relationship with the point begins (I13): None for callers who
    are not retailers (no window); for a retailer supplying the point, the later of its
    current contract's start and the last change of contract holder; for any other
    retailer, :data:`NO_RELATIONSHIP`."""
    if principal.facts.org_kind is not OrgKind.RETAIL:
        return None
    if relation is not Relation.OWN_CUSTOMER:
        return NO_RELATIONSHIP
    if row.contract_start is None:
        return NO_RELATIONSHIP  # a relationship whose start is unknown is not provable
    change = holder_change_in(entries or [], today)
    return row.contract_start if change is None else max(row.contract_start, change)


def entry_era(entry: Mapping[str, Any], window: date | None) -> Era:
    """An entry is inside the caller's relationship only if every date it carries is on
    or after the window's start (an application made before the supply began, even the
    caller's own, names the previous retailer: before)."""
    if window is None:
        return Era.CURRENT
    days = _entry_days(entry)
    if not days or window is NO_RELATIONSHIP or min(days) < window:
        return Era.BEFORE_RELATIONSHIP
    return Era.CURRENT


def visible_history(
    entries: Sequence[Mapping[str, Any]], window: date | None, before_allowed: bool
) -> list[dict[str, Any]]:
    """The entries the caller may see: those of the current era, and the earlier ones
    only when the policy allowed the before-relationship era too."""
    return [dict(e) for e in entries if before_allowed or entry_era(e, window) is Era.CURRENT]


def consent_from(now: datetime, scope_months: int, last_change: date | None) -> date:
    """Earliest usable day of a consent read: ``scope_months`` (≤ 13) back from today
    (JST), never before the last change of contract holder (I9)."""
    months = max(1, min(scope_months, CONSENT_MONTHS))
    today = now.astimezone(JST).date()
    y, m = divmod(today.year * 12 + (today.month - 1) - months, 12)
    start = date(y, m + 1, min(today.day, calendar.monthrange(y, m + 1)[1]))
    if last_change is not None and last_change > start:
        return last_change
    return start
