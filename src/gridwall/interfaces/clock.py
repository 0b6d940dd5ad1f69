"""Time, as every capability sees it: aware UTC instants, and the operator's calendar (JST).

The operator works in Japan Standard Time: dataset dates (``valid_from`` / ``valid_to``,
contract starts, disaster windows given as days) are JST calendar days, and "today" for a
decision is the JST day of the request's instant. Inside gridwall every instant is a
timezone-aware ``datetime`` in UTC; naive datetimes are refused rather than guessed.
A :data:`Clock` is injected everywhere a decision depends on "now", so tests can freeze it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone

#: Japan Standard Time (UTC+9, no daylight saving).
JST = timezone(timedelta(hours=9), "JST")

#: An injectable clock: returns the current instant (aware).
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The current instant, aware, in UTC."""
    return datetime.now(UTC)


def as_utc(dt: datetime, what: str = "time") -> datetime:
    """Normalise an aware datetime to UTC; a naive one raises ``ValueError`` naming ``what``."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{what}: needs a UTC offset (RFC 3339), got {dt.isoformat()}")
    return dt.astimezone(UTC)


def jst_date(t: datetime) -> date:
    """The operator's calendar day (JST) of an instant."""
    return t.astimezone(JST).date()


def day_start_jst(d: date) -> datetime:
    """00:00 JST of ``d``, as an aware UTC instant."""
    return datetime.combine(d, time(0, 0), JST).astimezone(UTC)


def day_end_jst(d: date) -> datetime:
    """The first instant *after* the inclusive JST day ``d`` (an exclusive bound)."""
    return day_start_jst(d + timedelta(days=1))


def parse_instant(text: str, what: str = "time") -> datetime:
    """An RFC 3339 time (``Z`` or an offset), or a bare ``YYYY-MM-DD`` (00:00 JST that day),
    as aware UTC; ``ValueError`` naming ``what`` otherwise."""
    s = text.strip()
    try:
        if len(s) == 10:
            return day_start_jst(date.fromisoformat(s))
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{what}: not an RFC 3339 time: {text!r}") from None
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(
            f"{what}: {text!r} needs an offset (RFC 3339), e.g. 2026-04-01T09:00:00+09:00"
        )
    return dt.astimezone(UTC)


def iso(dt: datetime | None) -> str | None:
    """RFC 3339 in UTC with ``Z`` (``None`` stays ``None``)."""
    return None if dt is None else as_utc(dt).isoformat().replace("+00:00", "Z")
