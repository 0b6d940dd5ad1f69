"""使用量照会の需要家同意: customer-consent tokens for usage inquiries.

A retailer that does not supply a point may read its usage (使用量) only with a
token the customer consented to: signed (HMAC-SHA256 with the store's
``consent`` key), naming the supply point, the retailer, the issue instant, a
validity of exactly 1, 7 or 31 days and a scope of at most 13 months of history.
Tokens are registered (so they can be revoked) and checked at decision time.

Token text: ``gwc1.<base64url(JSON payload)>.<base64url(HMAC)>``; payload keys
``jti`` (token id), ``sp`` (supply point), ``rt`` (retailer code), ``iat``/``exp``
(Unix seconds), ``d`` (validity days), ``m`` (scope months).
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from gridwall.grants._errors import GrantRefused
from gridwall.grants._keys import load_key
from gridwall.grants._models import ConsentRecord
from gridwall.grants._outbox import AuditedDesk, T, audited_change, grant_event
from gridwall.interfaces import AuditSink, Parties
from gridwall.interfaces.clock import JST, Clock, as_utc, iso, system_clock
from gridwall.interfaces.events import AuditEvent
from gridwall.interfaces.facts import ConsentState

VALIDITY_DAYS: tuple[int, ...] = (1, 7, 31)
MAX_SCOPE_MONTHS = 13
PREFIX = "gwc1"
_SP_RE = re.compile(r"^(0[1-9]|10)\d{20}$")
_RT_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _mac(key: bytes, signed: str) -> bytes:
    return hmac.new(key, signed.encode("ascii"), hashlib.sha256).digest()


@dataclass(frozen=True)
class ConsentClaims:
    token_id: str
    supply_point_id: str
    retailer_code: str
    issued_at: datetime
    expires_at: datetime
    validity_days: int
    scope_months: int


@dataclass(frozen=True)
class ConsentCheck:
    """The verdict on a presented token for one point and retailer at one instant."""

    state: ConsentState
    reason: str
    claims: ConsentClaims | None = None

    @property
    def scope_months(self) -> int:
        return self.claims.scope_months if self.claims and self.state is ConsentState.VALID else 0


def sign_token(key: bytes, claims: ConsentClaims) -> str:
    payload = {
        "jti": claims.token_id,
        "sp": claims.supply_point_id,
        "rt": claims.retailer_code,
        "iat": int(claims.issued_at.timestamp()),
        "exp": int(claims.expires_at.timestamp()),
        "d": claims.validity_days,
        "m": claims.scope_months,
    }
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    signed = f"{PREFIX}.{body}"
    return f"{signed}.{_b64(_mac(key, signed))}"


def parse_token(key: bytes, token: str) -> ConsentClaims | None:
    """The claims of an authentic token, or None (malformed, wrong key, tampered)."""
    try:
        prefix, body, sig = token.strip().split(".")
        if prefix != PREFIX:
            return None
        if not hmac.compare_digest(_unb64(sig), _mac(key, f"{prefix}.{body}")):
            return None
        p = json.loads(_unb64(body))
        claims = ConsentClaims(
            token_id=str(p["jti"]),
            supply_point_id=str(p["sp"]),
            retailer_code=str(p["rt"]),
            issued_at=datetime.fromtimestamp(int(p["iat"]), UTC),
            expires_at=datetime.fromtimestamp(int(p["exp"]), UTC),
            validity_days=int(p["d"]),
            scope_months=int(p["m"]),
        )
    except (ValueError, KeyError, TypeError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return claims


def check_token(
    key: bytes,
    token: str,
    supply_point_id: str,
    retailer_code: str | None,
    now: datetime,
    lookup: Callable[[str], ConsentRecord | None],
) -> ConsentCheck:
    """Decide a presented token at ``now`` (decision-time expiry).

    NONE: not authentic, for another point or retailer, not registered, not yet
    valid, or outside the 1/7/31-day and 13-month rules. EXPIRED: past its
    expiry or revoked. VALID otherwise.
    """
    c = parse_token(key, token)
    if c is None:
        return ConsentCheck(ConsentState.NONE, "not an authentic consent token (tampered?)")
    if c.supply_point_id != supply_point_id:
        return ConsentCheck(ConsentState.NONE, "token is for another supply point")
    if retailer_code is None or c.retailer_code != retailer_code:
        return ConsentCheck(ConsentState.NONE, "token is for another retailer")
    if c.validity_days not in VALIDITY_DAYS or not 1 <= c.scope_months <= MAX_SCOPE_MONTHS:
        return ConsentCheck(ConsentState.NONE, "token outside the 1/7/31-day or 13-month rule")
    if c.expires_at - c.issued_at != timedelta(days=c.validity_days):
        return ConsentCheck(ConsentState.NONE, "token validity does not match its days")
    rec = lookup(c.token_id)
    if rec is None or (rec.supply_point_id, rec.retailer_code, rec.scope_months) != (
        c.supply_point_id,
        c.retailer_code,
        c.scope_months,
    ):
        return ConsentCheck(ConsentState.NONE, "token is not registered")
    if now < c.issued_at:
        return ConsentCheck(ConsentState.NONE, "token not yet valid", c)
    if rec.revoked_at is not None and rec.revoked_at <= now:
        return ConsentCheck(ConsentState.EXPIRED, f"revoked at {iso(rec.revoked_at)}", c)
    if now >= min(c.expires_at, rec.expires_at):
        return ConsentCheck(ConsentState.EXPIRED, f"expired at {iso(c.expires_at)}", c)
    return ConsentCheck(ConsentState.VALID, f"valid until {iso(c.expires_at)}", c)


def usage_from(now: datetime, scope_months: int, last_holder_change: date | None) -> date:
    """The earliest day whose usage a consent lets a retailer read (I9).

    ``scope_months`` (≤ 13) calendar months back from today (JST, day clamped to
    the month's length), and never before the last change of contract holder
    (契約名義の変更). The gateway returns only usage rows on or after this day.
    """
    if not 1 <= scope_months <= MAX_SCOPE_MONTHS:
        raise ValueError(f"scope_months must be 1..{MAX_SCOPE_MONTHS}")
    today = as_utc(now).astimezone(JST).date()
    y, m = divmod(today.year * 12 + (today.month - 1) - scope_months, 12)
    m += 1
    start = date(y, m, min(today.day, calendar.monthrange(y, m)[1]))
    if last_holder_change is not None and last_holder_change > start:
        return last_holder_change
    return start


def _record_lookup(conn: Connection, token_id: str) -> ConsentRecord | None:
    t = ConsentRecord.__table__
    r = conn.execute(select(t).where(t.c.token_id == token_id)).mappings().first()
    return None if r is None else ConsentRecord(**dict(r))


class ConsentDesk(AuditedDesk):
    """Issue, revoke and verify customer-consent tokens; issue and revoke are audited."""

    def __init__(
        self, engine: Engine, audit: AuditSink, clock: Clock = system_clock,
        key: bytes | None = None, *, actor_org: str = "nw", parties: Parties | None = None,
    ) -> None:  # fmt: skip
        super().__init__(engine, audit, clock, actor_org=actor_org, parties=parties)
        self._key = key

    @property
    def key(self) -> bytes:
        if self._key is None:
            self._key = load_key(self.engine, "consent")
        return self._key

    def _run(
        self,
        now: datetime,
        actor: str,
        step: str,
        sp: str,
        retailer: str | None,
        plan: Callable[[Connection], tuple[str, Callable[[Connection], T]]],
    ) -> T:
        def event(decision: str, detail: str) -> AuditEvent:
            return grant_event(
                now=now, actor=actor, actor_org=self.actor_org, screen=f"grants.consent.{step}",
                purpose="consent_usage", decision=decision, query=detail,
                supply_point_ids=[sp] if sp else [],
                recipient_org=f"retail:{retailer}" if retailer else None,
                extra={"grant_kind": "consent"},
            )  # fmt: skip

        return audited_change(self.engine, self.audit, event, plan)

    def issue(
        self, supply_point_id: str, retailer_code: str, days: int, months: int, issued_by: str
    ) -> tuple[str, dict[str, Any]]:
        """Register a customer's consent and return its signed token."""
        now = self._now()
        actor = issued_by.strip()
        sp, rt = supply_point_id.strip(), retailer_code.strip().removeprefix("retail:")
        no = partial(GrantRefused, subject=f"consent for {sp or '?'}")
        key = self.key  # before any transaction: the first use creates it
        issued = now.replace(microsecond=0)
        claims = ConsentClaims(
            token_id=secrets.token_hex(16), supply_point_id=sp, retailer_code=rt,
            issued_at=issued, validity_days=days,
            expires_at=issued + timedelta(days=days if days in VALIDITY_DAYS else 0),
            scope_months=months,
        )  # fmt: skip

        def plan(conn: Connection) -> tuple[str, Callable[[Connection], str]]:
            if not _SP_RE.match(sp):
                raise no("supply point ID must be 22 digits, area 01-10 first", field="point")
            if not _RT_RE.match(rt):
                raise no(f"retailer code {rt!r} is not valid", field="retailer")
            if self.parties is not None:
                if not self.parties.point_exists(sp):
                    raise no(f"no supply point {sp}", field="point")
                if not self.parties.org_exists(f"retail:{rt}"):
                    raise no(f"no registered retailer {rt!r}", field="retailer")
            if days not in VALIDITY_DAYS:
                raise no(f"validity must be 1, 7 or 31 days, not {days}", field="days")
            if not 1 <= months <= MAX_SCOPE_MONTHS:
                msg = f"scope must be 1..{MAX_SCOPE_MONTHS} months, not {months}"
                raise no(msg, field="months")
            if not actor:
                raise no("issuer is required", field="by")

            def apply(c: Connection) -> str:
                c.execute(
                    insert(ConsentRecord).values(
                        token_id=claims.token_id, supply_point_id=sp, retailer_code=rt,
                        issued_at=claims.issued_at, expires_at=claims.expires_at,
                        validity_days=days, scope_months=months, issued_by=actor,
                    )
                )  # fmt: skip
                return sign_token(key, claims)

            return f"issued token_id={claims.token_id} days={days} months={months}", apply

        token = self._run(now, actor, "issue", sp, rt, plan)
        return token, _claims_dict(claims)

    def revoke(self, token_or_id: str, revoked_by: str) -> dict[str, Any]:
        """Revoke a token (by its text or its token id) from now on."""
        now = self._now()
        actor = revoked_by.strip()
        claims = parse_token(self.key, token_or_id) if "." in token_or_id else None
        token_id = claims.token_id if claims else token_or_id.strip()
        no = partial(GrantRefused, subject=f"consent token {token_id}")
        with self.engine.connect() as conn:
            found = _record_lookup(conn, token_id)
        sp = found.supply_point_id if found else ""
        rt = found.retailer_code if found else None

        def plan(conn: Connection) -> tuple[str, Callable[[Connection], dict[str, Any]]]:
            rec = _record_lookup(conn, token_id)
            if rec is None:
                raise no("no such token", field="token")
            if not actor:
                raise no("who revokes it is required", field="by")
            if rec.revoked_at is not None:
                raise no("already revoked", field="token")

            def apply(c: Connection) -> dict[str, Any]:
                stmt = update(ConsentRecord).where(ConsentRecord.token_id == token_id)
                c.execute(stmt.values(revoked_at=now, revoked_by=actor))
                return {"token_id": token_id, "revoked_at": iso(now), "revoked_by": actor}

            return f"revoked token_id={token_id}", apply

        return self._run(now, actor, "revoke", sp, rt, plan)

    def verify(
        self, token: str, supply_point_id: str, retailer_code: str, now: datetime | None = None
    ) -> ConsentCheck:
        at = self._now() if now is None else as_utc(now)
        with self.engine.connect() as conn:
            return check_token(
                self.key, token, supply_point_id.strip(),
                retailer_code.strip().removeprefix("retail:"), at,
                partial(_record_lookup, conn),
            )  # fmt: skip


def _claims_dict(c: ConsentClaims) -> dict[str, Any]:
    return {
        "token_id": c.token_id,
        "supply_point_id": c.supply_point_id,
        "retailer_code": c.retailer_code,
        "issued_at": iso(c.issued_at),
        "expires_at": iso(c.expires_at),
        "validity_days": c.validity_days,
        "scope_months": c.scope_months,
    }
