"""What identity operations answer: a login's session, or a refusal whose reason is audited
and whose text is neutral."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from gridwall.interfaces import AuthenticationError

SESSION_PREFIX = "gws1_"


class LoginRefused(AuthenticationError):
    """A refused login or session. ``reason`` is for the audit log and the operator console;
    ``str(e)`` is the neutral message a caller over the network may see."""

    def __init__(self, reason: str, status: int = 401, alert_id: str | None = None) -> None:
        super().__init__("authentication refused" if status == 401 else "access refused", status)
        self.reason = reason
        self.alert_id = alert_id


@dataclass(frozen=True)
class LoginResult:
    session_id: str
    token: str
    account_id: str
    device_id: str
    idle_expires_at: datetime
    absolute_expires_at: datetime


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
