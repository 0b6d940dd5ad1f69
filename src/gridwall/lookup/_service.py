"""The lookup as a service: specificity, result cap, rate limit, policy, name check, audit.

One :class:`LookupService` answers every caller — the operator's own CLI (no caller), NW staff
and every retailer — through the same code path. Nothing here reads the caller's retailer kind
(affiliated or independent): limits, latency and answers cannot depend on it (I7, 同等性).

Order of a lookup: policy → rate limit → normalise → minimum specificity (retail / NW callers)
→ search → (optional) name match on the confident top candidate → audit event → answer. A
refused lookup is audited too; if the audit log cannot record, the lookup is refused.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from gridwall.errors import AccessDenied, GridwallError, UsageError
from gridwall.interfaces import AuditSink, LookupDecider, Principal, Terminal
from gridwall.interfaces.events import AuditEvent, audit_event
from gridwall.interfaces.facts import Decision
from gridwall.lookup._index import ACCEPT_SCORE, Candidate, LookupIndex
from gridwall.lookup._normalize import NormalizedAddress

#: at most this many candidates are ever returned (anti-enumeration)
RESULT_CAP = 5
#: token bucket per organisation: a burst of this many lookups …
RATE_BURST = 30
#: … refilled at this many per second (1 800 an hour)
RATE_PER_SECOND = 0.5
#: the audit event fields: what a lookup shows (the typed address is only the search key)
AUDIT_FIELDS = ("address", "equipment")
SCREEN = "lookup"


class SpecificityError(UsageError):
    """The address is too vague to look up (e.g. only 「大阪市」): anti-enumeration."""


class RateLimited(GridwallError):
    """The caller's organisation used up its lookups for now; retry after ``retry_after`` s."""

    exit_code = 1

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(
            f"lookup rate limit reached for your organisation; retry in {retry_after:.0f} s "
            f"(limit: burst {RATE_BURST}, {RATE_PER_SECOND * 3600:.0f} per hour, same for all)"
        )


class IndexUnavailable(GridwallError):
    """The lookup index is missing or stale (or cannot be told): the lookup is refused, never
    answered from it; retry after ``retry_after`` s (it is being built)."""

    exit_code = 3

    def __init__(self, message: str, retry_after: float = 30.0) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class CallerContext(Protocol):
    """What the gateway's authentication yields (``gridwall.gateway.RequestContext``)."""

    @property
    def principal(self) -> Principal: ...
    @property
    def terminal(self) -> Terminal: ...
    @property
    def purpose(self) -> Any: ...
    @property
    def source_ip(self) -> str | None: ...


class TokenBucket:
    """Per-key token buckets, in process (scope: one :class:`LookupService`, i.e. one
    API process; with N worker processes an organisation gets N× the burst — run the API
    with one lookup worker, or front it with a shared limiter). Thread-safe."""

    def __init__(
        self,
        burst: int = RATE_BURST,
        per_second: float = RATE_PER_SECOND,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.per_second = per_second
        self.clock = clock
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        """Take one token or raise :class:`RateLimited`."""
        with self._lock:
            now = self.clock()
            tokens, last = self._state.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.per_second)
            if tokens < 1.0:
                self._state[key] = (tokens, now)
                raise RateLimited((1.0 - tokens) / self.per_second)
            self._state[key] = (tokens - 1.0, now)


@dataclass(frozen=True, slots=True)
class LookupAnswer:
    """What a lookup returns: ranked candidates and, if asked, the name match."""

    candidates: tuple[Candidate, ...]
    name_match: bool | None
    query: NormalizedAddress
    confident: bool

    def to_json(self) -> dict[str, Any]:
        """The contract shape (shared/spec/contracts.md), plus equipment per candidate."""
        return {
            "candidates": [
                {
                    "supply_point_id": c.supply_point_id,
                    "address": c.address,
                    "score": c.score,
                    "equipment": {"voltage": c.voltage, "meter_id": c.meter_id},
                }
                for c in self.candidates
            ],
            "name_match": self.name_match,
        }


def check_specificity(q: NormalizedAddress) -> None:
    """Refuse addresses that would list an area rather than find one point."""
    has_area = q.municipality is not None or bool(q.unmatched)
    has_town = q.town is not None or bool(q.unmatched)
    if not has_area or not has_town or q.block is None:
        missing = [
            name
            for name, ok in (("市区町村", has_area), ("町・大字", has_town), ("番地", q.block))
            if not ok
        ]
        raise SpecificityError(
            "address: too unspecific for a lookup (missing " + "・".join(missing) + "); "
            "give the full address down to the 番地, e.g. 東京都千代田区丸の内一丁目2-3"
        )


def confident(cands: tuple[Candidate, ...] | list[Candidate]) -> bool:
    """The top candidate is above the acceptance threshold and strictly better than the next."""
    if not cands or cands[0].score < ACCEPT_SCORE:
        return False
    return len(cands) == 1 or cands[1].score < cands[0].score


@dataclass
class LookupService:
    """The equal-footing lookup over one index. See the module docstring."""

    index: LookupIndex
    audit: AuditSink
    name_checker: Callable[[str, str], bool] | None = None  # (supply_point_id, name) → bool
    #: IDs among the given ones under last-resort supply (最終保障供給) now; None = unknown,
    #: and then every candidate is decided as an LRS point (fail closed)
    lrs_checker: Callable[[Sequence[str]], set[str]] | None = None
    limiter: TokenBucket = field(default_factory=TokenBucket)
    #: the gateway's lookup decision (:class:`gridwall.interfaces.LookupDecider`); None:
    #: nothing is permitted
    decider: LookupDecider | None = None
    cap: int = RESULT_CAP
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    #: called before every search; raises :class:`IndexUnavailable` while the index is not
    #: current (the served app: it starts building it), so no answer comes from a stale index
    ready: Callable[[], None] | None = None

    def lookup(
        self,
        address: str,
        *,
        name: str | None = None,
        caller: CallerContext | None = None,
        operator_id: str = "operator-cli",
    ) -> LookupAnswer:
        """One lookup. ``caller=None`` is the operator's own lookup (no rate limit)."""
        now = self.clock()
        policy_ids: list[str] = []
        asked = {"name_verification": "requested" if name is not None else None}
        try:
            if caller is not None:
                # policy first: a caller the policy refuses must not drain its
                # organisation's budget (issue 11 item 8); the refusal is still audited
                policy_ids = list(self._authorize(caller, is_lrs=False))
            if self.ready is not None:  # before the limiter: a refusal costs no budget
                self.ready()
            if caller is not None:
                self.limiter.take(caller.principal.org)
            if len(address) > 300:
                raise UsageError("address: longer than 300 characters")
            q = self.index.normalize(address)
            check_specificity(q)
            cands = tuple(self.index.search(q, limit=self.cap))
            if caller is not None:
                cands = self._withhold_lrs_fields(cands, caller)
            sure = confident(cands)
            match: bool | None = None
            if name is not None and sure:
                if self.name_checker is None:
                    raise AccessDenied("name verification is not available: refused")
                match = bool(self.name_checker(cands[0].supply_point_id, name))
        except GridwallError as e:
            refused = self._event(
                address, caller, operator_id, now, decision="deny", policy_ids=policy_ids,
                result_count=0, extra={**asked, "denial": type(e).__name__},
            )  # fmt: skip
            self.audit.record(refused)  # if this raises, the caller gets that error: no answer
            raise
        if name is not None:
            asked["name_verification"] = "checked" if match is not None else "not_confident"
        allowed = self._event(
            address, caller, operator_id, now, decision="allow", policy_ids=policy_ids,
            supply_point_ids=[c.supply_point_id for c in cands], result_count=len(cands),
            extra=asked,
        )  # fmt: skip
        self.audit.record(allowed)
        return LookupAnswer(cands, match, q, sure)

    def _withhold_lrs_fields(
        self, cands: tuple[Candidate, ...], caller: CallerContext
    ) -> tuple[Candidate, ...]:
        """Ask the policy per candidate with the point's real LRS status (I3) and drop the
        equipment where it withholds it. (No candidate carries a stored address to withhold:
        ``address`` is always the caller's own typed key, see :class:`Candidate`.)"""
        if not cands:
            return cands
        ids = [c.supply_point_id for c in cands]
        lrs = set(ids) if self.lrs_checker is None else self.lrs_checker(ids)
        if not lrs:
            return cands
        out = []
        for c in cands:
            if c.supply_point_id in lrs:
                allowed = self._decide_lookup(caller, is_lrs=True).allowed_fields
                if "equipment" not in allowed:
                    c = replace(c, voltage="", meter_id="")
            out.append(c)
        return tuple(out)

    def _authorize(self, caller: CallerContext, *, is_lrs: bool) -> tuple[str, ...]:
        """The same Cedar policy as the gateway decides whether this caller may use the
        lookup at all (account state, terminal, purpose); kind of retailer is never asked."""
        d = self._decide_lookup(caller, is_lrs=is_lrs)
        if not {"address", "equipment"} <= d.allowed_fields:
            raise AccessDenied("the lookup is not permitted for this account, terminal or purpose")
        return tuple(d.policy_ids)

    def _decide_lookup(self, caller: CallerContext, *, is_lrs: bool) -> Decision:
        from gridwall.interfaces.facts import Purpose

        if self.decider is None:  # no decision point wired: nothing is permitted
            raise AccessDenied("the lookup is not permitted: no policy engine is configured")
        purpose = (
            caller.purpose if isinstance(caller.purpose, Purpose) else Purpose(str(caller.purpose))
        )
        return self.decider.decide_lookup(caller.principal, caller.terminal, purpose, is_lrs=is_lrs)

    def _event(
        self,
        address: str,
        caller: CallerContext | None,
        operator_id: str,
        now: datetime,
        *,
        decision: str,
        policy_ids: Sequence[str],
        supply_point_ids: Sequence[str] = (),
        result_count: int | None = None,
        extra: Mapping[str, str | None] | None = None,
    ) -> AuditEvent:
        p = caller.principal if caller else None
        return audit_event(
            source="lk",
            ts=now,
            account_id=p.account_id if p else operator_id,
            device_id=caller.terminal.device_id if caller else None,
            source_ip=caller.source_ip if caller else None,
            session_id=p.session_id if p else None,
            action="search",
            screen=SCREEN,
            purpose=str(getattr(caller.purpose, "value", caller.purpose)) if caller else "takuso",
            supply_point_ids=supply_point_ids,
            query=address,
            fields=AUDIT_FIELDS,
            result_count=result_count,
            decision=decision,
            policy_ids=policy_ids if caller else ["operator-own-lookup"],
            person_id=p.person_id if p else None,
            org=p.org if p else "nw",
            extra=extra,
        )
