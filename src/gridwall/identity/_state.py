"""Decision-time state: who a person is *now*, and whether an account is usable *now*.

Nothing here is a batch job. Every answer is computed from the stored facts
(assignments with their effective instants, revocation instants, lock expiry,
review deadlines, training dates) and the clock of the request, so a transfer
dated 09:00 takes effect at 09:00:00 exactly, whoever asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from gridwall.identity._models import (
    Account,
    Assignment,
    Entitlement,
    ReviewCampaign,
    ReviewItem,
    Training,
)
from gridwall.interfaces.clock import jst_date
from gridwall.interfaces.facts import AccountState, OrgKind

ORG_PREFIXES = ("retail:", "contractor:")


def valid_org(org: str) -> bool:
    """``nw`` | ``retail:<code>`` | ``contractor:<id>`` | ``regulator``."""
    if org in ("nw", "regulator"):
        return True
    for p in ORG_PREFIXES:
        if org.startswith(p) and len(org) > len(p) and ":" not in org[len(p) :]:
            return True
    return False


def org_kind(org: str) -> OrgKind:
    if org == "nw":
        return OrgKind.NW
    if org == "regulator":
        return OrgKind.REGULATOR
    if org.startswith("retail:"):
        return OrgKind.RETAIL
    if org.startswith("contractor:"):
        return OrgKind.CONTRACTOR
    raise ValueError(f"unknown organisation {org!r}")


def assignment_at(s: Session, person_id: str, now: datetime) -> Assignment | None:
    """The person's HR assignment in force at ``now`` (half-open periods)."""
    return s.scalars(
        select(Assignment)
        .where(
            Assignment.person_id == person_id,
            Assignment.valid_from <= now,
            or_(Assignment.valid_to.is_(None), Assignment.valid_to > now),
        )
        .order_by(Assignment.valid_from.desc())
        .limit(1)
    ).first()


def latest_assignment(s: Session, person_id: str, now: datetime) -> Assignment | None:
    """The assignment in force at ``now`` or else the last one that began before it."""
    return s.scalars(
        select(Assignment)
        .where(Assignment.person_id == person_id, Assignment.valid_from <= now)
        .order_by(Assignment.valid_from.desc())
        .limit(1)
    ).first()


@dataclass(frozen=True)
class StateVerdict:
    state: AccountState
    reason: str


def lapsed_entitlements(s: Session, account_id: str, now: datetime) -> list[Entitlement]:
    """Account/role entitlements that are revoked, or pending in a review past its deadline."""
    q = (
        select(Entitlement, ReviewCampaign.deadline)
        .outerjoin(
            ReviewItem,
            (ReviewItem.entitlement_id == Entitlement.entitlement_id)
            & (ReviewItem.status == "pending"),
        )
        .outerjoin(ReviewCampaign, ReviewCampaign.campaign_id == ReviewItem.campaign_id)
        .where(Entitlement.account_id == account_id, Entitlement.kind.in_(("account", "role")))
    )
    out: dict[int, Entitlement] = {}
    for e, deadline in s.execute(q):
        if (e.revoked_at is not None and e.revoked_at <= now) or (
            deadline is not None and deadline <= now
        ):
            out[e.entitlement_id] = e
    return list(out.values())


def assignments_of(s: Session, person_id: str) -> list[Assignment]:
    """All of a person's assignments, oldest first (a person has a handful)."""
    return list(
        s.scalars(
            select(Assignment)
            .where(Assignment.person_id == person_id)
            .order_by(Assignment.valid_from)
        )
    )


def pick_at(assignments: list[Assignment], now: datetime) -> Assignment | None:
    """The assignment in force at ``now`` from a person's list (half-open periods)."""
    for a in reversed(assignments):
        if a.valid_from <= now and (a.valid_to is None or a.valid_to > now):
            return a
    return None


def pick_latest(assignments: list[Assignment], now: datetime) -> Assignment | None:
    """In force at ``now``, else the last one that began before it."""
    return pick_at(assignments, now) or next(
        (a for a in reversed(assignments) if a.valid_from <= now), None
    )


def account_state(
    s: Session,
    acct: Account,
    now: datetime,
    assignments: list[Assignment] | None = None,
    lapsed: list[Entitlement] | None = None,
) -> StateVerdict:
    """The account's state at ``now`` (I6's meaning of revoked/expired/locked/transferred).

    ``assignments`` may pass the holder's assignments already loaded, and ``lapsed`` the
    account's :func:`lapsed_entitlements` already loaded."""
    if acct.revoked_at is not None and acct.revoked_at <= now:
        if acct.revoke_reason == "transferred":
            return StateVerdict(AccountState.TRANSFERRED, "account revoked: holder transferred")
        return StateVerdict(AccountState.REVOKED, f"account revoked ({acct.revoke_reason})")
    if assignments is None:
        assignments = assignments_of(s, acct.holder_person_id)
    asg = pick_at(assignments, now)
    if asg is None:
        return StateVerdict(AccountState.REVOKED, "holder has no current HR assignment")
    if asg.org != acct.org:
        return StateVerdict(
            AccountState.TRANSFERRED, f"holder now belongs to {asg.org}, account to {acct.org}"
        )
    if acct.created_at is not None and acct.created_at > now:
        return StateVerdict(AccountState.EXPIRED, "account not yet valid")
    if acct.expires_at is not None and acct.expires_at <= now:
        return StateVerdict(AccountState.EXPIRED, "account expired")
    if lapsed is None:
        lapsed = lapsed_entitlements(s, acct.account_id, now)
    if lapsed:
        return StateVerdict(
            AccountState.EXPIRED, f"access not recertified/revoked in review ({lapsed[0].name})"
        )
    if acct.locked_until is not None and acct.locked_until > now:
        return StateVerdict(AccountState.LOCKED, f"locked until {acct.locked_until.isoformat()}")
    return StateVerdict(AccountState.ACTIVE, "active")


def training_current(s: Session, person_id: str, now: datetime, validity_days: int) -> bool:
    """True when the latest compliance-training date is within ``validity_days`` of today (JST)."""
    last: date | None = s.scalars(
        select(Training.completed_on)
        .where(Training.person_id == person_id, Training.completed_on <= jst_date(now))
        .order_by(Training.completed_on.desc())
        .limit(1)
    ).first()
    if last is None:
        return False
    return jst_date(now) < last + timedelta(days=validity_days)


def assigned_orgs(engine: Engine) -> frozenset[str]:
    """Every organisation that has (or had) staff assigned in the HR data."""
    with engine.connect() as conn:
        return frozenset(str(o) for o in conn.scalars(select(Assignment.org).distinct()))


def lapsed_by_account(s: Session, now: datetime) -> dict[str, list[Entitlement]]:
    """:func:`lapsed_entitlements` for every account in one query (the directory's view)."""
    q = (
        select(Entitlement, ReviewCampaign.deadline)
        .outerjoin(
            ReviewItem,
            (ReviewItem.entitlement_id == Entitlement.entitlement_id)
            & (ReviewItem.status == "pending"),
        )
        .outerjoin(ReviewCampaign, ReviewCampaign.campaign_id == ReviewItem.campaign_id)
        .where(Entitlement.kind.in_(("account", "role")))
        .order_by(Entitlement.entitlement_id)
    )
    out: dict[str, dict[int, Entitlement]] = {}
    for e, deadline in s.execute(q):
        if (e.revoked_at is not None and e.revoked_at <= now) or (
            deadline is not None and deadline <= now
        ):
            out.setdefault(e.account_id, {})[e.entitlement_id] = e
    return {k: list(v.values()) for k, v in out.items()}


def assignments_by_person(s: Session) -> dict[str, list[Assignment]]:
    """Every person's assignments, oldest first, in one query."""
    out: dict[str, list[Assignment]] = {}
    for a in s.scalars(select(Assignment).order_by(Assignment.person_id, Assignment.valid_from)):
        out.setdefault(a.person_id, []).append(a)
    return out
