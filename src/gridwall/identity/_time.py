"""Time handling for identity: every instant is timezone-aware and stored as UTC.

Dataset dates (``valid_from``/``valid_to``) are calendar days of the operator, in
Japan Standard Time; ``valid_to`` is the last day (inclusive), cut at 00:00 of that
day when the next assignment starts on it (see ``_reference``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

JST = timezone(timedelta(hours=9), "JST")


def day_start(d: date) -> datetime:
    """00:00 JST of ``d`` as an aware UTC instant."""
    return datetime(d.year, d.month, d.day, tzinfo=JST).astimezone(UTC)


def local_date(t: datetime) -> date:
    """The JST calendar day of an instant."""
    return t.astimezone(JST).date()


def require_aware(t: datetime, what: str = "time") -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware: {t!r}")
    return t.astimezone(UTC)


def parse_instant(text: str) -> datetime:
    """RFC 3339 time (``Z`` or offset) or a bare date (00:00 JST)."""
    s = text.strip()
    if len(s) == 10:
        return day_start(date.fromisoformat(s))
    t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError(
            f"{text!r}: time needs an offset (RFC 3339), e.g. 2026-04-01T09:00:00+09:00"
        )
    return t.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC (naive UTC on SQLite, timestamptz on PostgreSQL)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        v = require_aware(value)
        return v.replace(tzinfo=None) if dialect.name == "sqlite" else v

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]
