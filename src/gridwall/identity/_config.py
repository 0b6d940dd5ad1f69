"""Identity's tunable limits and the retailer registry it is handed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gridwall.identity._passwords import HashParams

RetailerKinds = Mapping[str, str] | Callable[[str], str | None]


@dataclass(frozen=True)
class IdentityConfig:
    """Tunable limits; defaults after NIST SP 800-63B §7.1 / §5.2.2 (moderate assurance)."""

    idle_timeout: timedelta = timedelta(minutes=15)
    absolute_timeout: timedelta = timedelta(hours=8)
    lockout_threshold: int = 5
    lockout_base: timedelta = timedelta(minutes=1)
    lockout_max: timedelta = timedelta(hours=24)
    token_max_age: int = 300  # seconds a terminal / client signature stays fresh
    clock_skew: int = 30
    require_totp: bool = True
    training_validity_days: int = 365
    cooling_off_days: int = 365
    hash_params: HashParams = field(default_factory=HashParams)
    #: how often a session's last-seen time is written (fewer writes on the hot path)
    touch_every: timedelta = timedelta(seconds=30)


def _never(_now: datetime) -> bool:
    return False
