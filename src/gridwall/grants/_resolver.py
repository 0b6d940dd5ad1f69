"""The grant resolver on the gateway's hot path: which purpose-bound grants apply *now*.

:class:`StoreGrantResolver` keeps an in-memory snapshot of declarations and
agreements (intervals, not decisions) and evaluates them against the ``now`` of
every request, so an expiry takes effect at its exact instant whatever the
cache holds. The snapshot is reloaded when the store's grant version changes
(every grant change bumps it in the same transaction); the version is checked at
most every ``refresh_seconds`` (monotonic), which bounds how late a *new* grant
or an early end made by another process is seen. Consent tokens are the exception:
their records are read on every use, so a revocation holds for the next request on
every server. Any store error propagates, and the gateway then denies (nothing fails
open).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine, select

from gridwall.grants._agreements import AgreementWindow
from gridwall.grants._areas import Area, norm
from gridwall.grants._consent import ConsentCheck, _record_lookup, check_token
from gridwall.grants._disaster import DisasterWindow
from gridwall.grants._keys import load_key
from gridwall.grants._models import Agreement, ConsentRecord, DisasterDeclaration, GrantState
from gridwall.grants._validate import is_retailer
from gridwall.interfaces import PointContext, Principal, Terminal
from gridwall.interfaces.clock import Clock, as_utc, system_clock
from gridwall.interfaces.facts import (
    Action,
    AgreementState,
    ConsentState,
    DisasterState,
    GrantFacts,
    Purpose,
    Recipient,
)

_VALID = (AgreementState.VALID_IN_SCOPE, AgreementState.VALID_OUT_OF_SCOPE)


@dataclass
class _Snapshot:
    version: int
    disasters: list[DisasterWindow]
    agreements: dict[tuple[str, str], list[AgreementWindow]]
    #: (active from, effective end, area) of approved declarations, precomputed
    windows: list[tuple[datetime, datetime, Area]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.windows = [
            (w.active_from, w.effective_end, w.area)
            for w in self.disasters
            if w.active_from is not None
        ]


class StoreGrantResolver:
    """:class:`gridwall.interfaces.GrantResolver` over the grants tables.

    ``clock`` is the default instant for :meth:`disaster_active`; :meth:`resolve`
    always uses the ``now`` of the request.
    """

    def __init__(
        self,
        engine: Engine,
        clock: Clock = system_clock,
        *,
        refresh_seconds: float = 0.5,
        consent_key: bytes | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.refresh_seconds = refresh_seconds
        self._consent_key = consent_key
        self._lock = threading.Lock()
        self._snap: _Snapshot | None = None
        self._checked_at = float("-inf")

    # -- snapshot --------------------------------------------------------------

    def invalidate(self) -> None:
        """Forget the snapshot: the next call reloads from the store."""
        with self._lock:
            self._snap = None

    def _snapshot(self) -> _Snapshot:
        mono = time.monotonic()
        snap = self._snap
        if snap is not None and mono - self._checked_at < self.refresh_seconds:
            return snap
        with self._lock:
            # Another caller may have refreshed while this one waited for the lock: one
            # version check per interval, not one per waiting caller (each would take a
            # pooled connection while the gateway's callers queue for the same pool).
            snap = self._snap
            if snap is not None and time.monotonic() - self._checked_at < self.refresh_seconds:
                return snap
            with self.engine.connect() as conn:
                version = conn.execute(
                    select(GrantState.__table__.c.version).where(GrantState.__table__.c.id == 1)
                ).scalar()
                if version is None:
                    raise RuntimeError("grants tables are not initialised (run the migrations)")
                if self._snap is None or self._snap.version != version:
                    self._snap = self._load(conn, int(version))
            self._checked_at = mono
            return self._snap

    @staticmethod
    def _load(conn: Connection, version: int) -> _Snapshot:
        dt, at = DisasterDeclaration.__table__, Agreement.__table__
        disasters = [
            DisasterWindow.of(DisasterDeclaration(**dict(r)))
            for r in conn.execute(select(dt)).mappings()
        ]
        disasters = [w for w in disasters if w.approved_at is not None]
        agreements: dict[tuple[str, str], list[AgreementWindow]] = defaultdict(list)
        for r in conn.execute(select(at)).mappings():
            w = AgreementWindow.of(Agreement(**dict(r)))
            # A retailer holds nothing but disaster support, whatever the table says (C①).
            if is_retailer(w.counterparty_org) and w.purpose != Purpose.DISASTER_SUPPORT.value:
                continue
            agreements[(w.counterparty_org, w.purpose)].append(w)
        return _Snapshot(version, disasters, dict(agreements))

    # -- facts -----------------------------------------------------------------

    def disaster_active(self, now: datetime | None = None) -> bool:
        """Is any approved declaration active at ``now``? (Disaster terminals work only then.)"""
        at = as_utc(self.clock() if now is None else now, "now")
        return any(start <= at < end for start, end, _ in self._snapshot().windows)

    def active_disasters(self, now: datetime) -> list[str]:
        at = as_utc(now, "now")
        return [w.disaster_id for w in self._snapshot().disasters if w.active_at(at)]

    def disaster_state(self, point: PointContext | None, now: datetime) -> DisasterState:
        at = as_utc(now, "now")
        active = [area for start, end, area in self._snapshot().windows if start <= at < end]
        if not active:
            return DisasterState.NONE
        if point is not None:
            p, c = norm(point.pref), norm(point.city)
            if any(area.contains_normed(p, c) for area in active):
                return DisasterState.ACTIVE_IN_AREA
        return DisasterState.ACTIVE_OUT_OF_AREA

    def agreement_state(
        self, holder_org: str, purpose: str | None, point: PointContext | None, now: datetime
    ) -> tuple[AgreementState, frozenset[str]]:
        """The state of ``holder_org``'s agreements for ``purpose`` (None: any purpose) at
        ``now`` for ``point`` (no point: in scope only under a whole-service-area agreement)."""
        at = as_utc(now, "now")
        agreements = self._snapshot().agreements
        if purpose is None:
            found = [w for (org, _), ws in agreements.items() if org == holder_org for w in ws]
        else:
            found = agreements.get((holder_org, purpose), [])
        if not found:
            return AgreementState.NONE, frozenset()
        valid = [w for w in found if w.valid_at(at)]
        if not valid:
            return AgreementState.EXPIRED, frozenset()
        if point is None:
            in_scope = [w for w in valid if w.area.whole_service_area]
        else:
            in_scope = [w for w in valid if w.covers(point.pref, point.city)]
        if in_scope:
            return AgreementState.VALID_IN_SCOPE, frozenset().union(*(w.fields for w in in_scope))
        return AgreementState.VALID_OUT_OF_SCOPE, frozenset().union(*(w.fields for w in valid))

    def _consent_key_bytes(self) -> bytes:
        if self._consent_key is None:
            self._consent_key = load_key(self.engine, "consent")
        return self._consent_key

    def consent_check(
        self, token: str, supply_point_id: str, retailer_code: str | None, now: datetime
    ) -> ConsentCheck:
        """The verdict on a consent token (with its scope months, for the usage window)."""
        key = self._consent_key_bytes()

        def lookup(token_id: str) -> ConsentRecord | None:
            # Read on every use, never from the snapshot: a revocation made through any
            # server sharing this store holds for the next request (issue 11 item 5).
            # Consent reads are rare; this is one primary-key read.
            with self.engine.connect() as conn:
                return _record_lookup(conn, token_id)

        return check_token(key, token, supply_point_id, retailer_code, as_utc(now, "now"), lookup)

    def resolve(
        self,
        principal: Principal,
        terminal: Terminal,
        purpose: Purpose,
        action: Action,
        point: PointContext | None,
        now: datetime,
        *,
        consent_token: str | None = None,
        recipient_org: str | None = None,
    ) -> GrantFacts:
        """The grant facts in force at ``now`` (see ``gridwall.interfaces.facts.GrantFacts``).

        Exports are judged on the *recipient's* agreements — for the declared purpose, or
        any of them when the purpose is NW's own 託送 work (``takuso``); everything else on
        the principal's organisation's agreement for the declared purpose. Retailer kind is never
        consulted (equal footing, I7).
        """
        at = as_utc(now, "now")
        disaster = self.disaster_state(point, at)
        recipient = Recipient.NONE
        if action is Action.EXPORT:
            if not recipient_org:
                recipient = Recipient.OTHER
                agreement, fields = AgreementState.NONE, frozenset[str]()
            elif is_retailer(recipient_org):
                recipient = Recipient.RETAILER
                agreement, fields = AgreementState.NONE, frozenset()
            else:
                # NW's own 託送 work may send a contractor what any of its valid agreements
                # covers; any other declared purpose must be the agreement's own.
                wanted = None if purpose is Purpose.TAKUSO else purpose.value
                agreement, fields = self.agreement_state(recipient_org.strip(), wanted, point, at)
                valid = agreement in _VALID
                recipient = Recipient.AGREEMENT_COUNTERPARTY if valid else Recipient.OTHER
        else:
            agreement, fields = self.agreement_state(principal.org, purpose.value, point, at)
        consent = ConsentState.NONE
        if consent_token and point is not None and principal.retailer_code:
            consent = self.consent_check(
                consent_token, point.supply_point_id, principal.retailer_code, at
            ).state
        return GrantFacts(
            disaster=disaster,
            agreement=agreement,
            agreement_fields=fields,
            consent=consent,
            recipient=recipient,
        )
