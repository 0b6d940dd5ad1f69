"""Time helpers: every instant is timezone-aware UTC inside grants.

Dates of agreements (``valid_from``/``valid_to``) are calendar days in Japan
(JST, UTC+9): an agreement valid to ``2026-12-31`` stops at
``2027-01-01T00:00+09:00`` — that instant is its expiry, decided at decision time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

JST = timezone(timedelta(hours=9), "JST")

#: An injectable clock: returns the current instant (aware).
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def as_utc(dt: datetime, what: str = "time") -> datetime:
    """Normalise an aware datetime to UTC; naive datetimes are refused (no guessing)."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{what}: needs a UTC offset (RFC 3339), got {dt.isoformat()}")
    return dt.astimezone(UTC)


def day_start_jst(d: date) -> datetime:
    """The instant a JST calendar day starts, in UTC."""
    return datetime.combine(d, time(0, 0), JST).astimezone(UTC)


def day_end_jst(d: date) -> datetime:
    """The first instant *after* an inclusive JST calendar day (exclusive bound)."""
    return day_start_jst(d + timedelta(days=1))


def parse_instant(text: str, what: str) -> datetime:
    """Parse an RFC 3339 time (``Z`` allowed); raises ValueError naming ``what``."""
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{what}: not an RFC 3339 time: {text!r}") from None
    return as_utc(dt, what)


def iso(dt: datetime | None) -> str | None:
    return None if dt is None else as_utc(dt).isoformat().replace("+00:00", "Z")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as naive UTC (portable across SQLite and PostgreSQL),
    returns aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected datetime, got {type(value).__name__}")
        return as_utc(value).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite without type detection
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
