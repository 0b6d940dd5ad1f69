"""Access reviews (権限棚卸し), training attestation and change control (二人承認).

Access reviews: every entitlement (an account's access, a role, a grant) has an
owning manager. A campaign snapshots the live entitlements; each owner
recertifies or revokes theirs. Whatever is still pending when the deadline
passes has lapsed — decided at request time by comparing the deadline with the
request's clock (``_state.lapsed_entitlements``), so no job has to run; closing
the campaign only writes the outcome down.

Change control: role, permission and policy changes (and reactivations of
revoked accounts) are requests with old value, new value and requester; they
take effect only when a *different* person approves (a CHECK constraint in the
store backs the rule). Every step is an audit event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gridwall.errors import UsageError
from gridwall.identity._models import (
    Account,
    Change,
    Entitlement,
    Person,
    ReviewCampaign,
    ReviewItem,
    Training,
)
from gridwall.identity._models import Terminal as TerminalRow
from gridwall.identity._service import IdentityService
from gridwall.identity._state import account_state, assignment_at
from gridwall.interfaces.clock import as_utc, jst_date
from gridwall.interfaces.facts import AccountState

CHANGE_KINDS = ("role", "permission", "policy", "account_reactivate")
#: a terminal key generated in a browser, awaiting a second person (not filed by hand)
TERMINAL_ENROL = "terminal_enrol"
#: what the browser signs with its new key to prove it holds it (with device ID and key)
ENROL_CONTEXT = b"gridwall-enrol/v1"


def _person(s: Session, person_id: str, what: str) -> Person:
    p = s.get(Person, person_id)
    if p is None:
        raise UsageError(f"{what}: unknown person {person_id!r}")
    return p


# ---------------------------------------------------------------------------- entitlements


def add_entitlement(
    svc: IdentityService, account_id: str, kind: str, name: str, owner: str, now: datetime
) -> int:
    """Register a role or grant held by an account, owned by manager ``owner``."""
    if kind not in ("account", "role", "grant"):
        raise UsageError("--kind: account | role | grant")
    with svc.transaction() as (s, events):
        acct = s.get(Account, account_id)
        if acct is None:
            raise UsageError(f"--account: unknown account {account_id!r}")
        _person(s, owner, "--owner")
        if owner == acct.holder_person_id:
            raise UsageError("--owner: a person cannot own the review of their own access")
        e = Entitlement(
            account_id=account_id, kind=kind, name=name, owner_person_id=owner, created_at=now
        )
        s.add(e)
        s.flush()
        events.append(
            svc.event(
                now,
                "update",
                decision="allow",
                screen="identity/entitlement",
                reason=f"{kind} {name!r} granted, owner {owner}",
                account_id=account_id,
                person_id=acct.holder_person_id,
                org=acct.org,
            )
        )
        return e.entitlement_id


def set_owner(svc: IdentityService, account_id: str, owner: str, now: datetime) -> int:
    """Give every unowned entitlement of an account an owning manager; returns how many."""
    with svc.transaction() as (s, events):
        acct = s.get(Account, account_id)
        if acct is None:
            raise UsageError(f"--account: unknown account {account_id!r}")
        _person(s, owner, "--owner")
        if owner == acct.holder_person_id:
            raise UsageError("--owner: a person cannot own the review of their own access")
        n = 0
        for e in s.scalars(
            select(Entitlement).where(
                Entitlement.account_id == account_id, Entitlement.owner_person_id.is_(None)
            )
        ):
            e.owner_person_id = owner
            n += 1
        events.append(
            svc.event(
                now,
                "update",
                decision="allow",
                screen="identity/entitlement",
                reason=f"owner of {n} entitlement(s) set to {owner}",
                account_id=account_id,
                org=acct.org,
            )
        )
        return n


# ---------------------------------------------------------------------------- reviews


def start_review(
    svc: IdentityService, campaign_id: str, deadline: datetime, started_by: str, now: datetime
) -> int:
    """Open a campaign over every live entitlement; returns the number of items."""
    deadline = as_utc(deadline)
    if deadline <= now:
        raise UsageError("--deadline must be in the future")
    with svc.transaction() as (s, events):
        _person(s, started_by, "--by")
        if s.get(ReviewCampaign, campaign_id) is not None:
            raise UsageError(f"campaign {campaign_id!r} already exists")
        s.add(
            ReviewCampaign(
                campaign_id=campaign_id, started_at=now, deadline=deadline, started_by=started_by
            )
        )
        s.flush()
        n = 0
        for e, acct in s.execute(
            select(Entitlement, Account).join(Account, Account.account_id == Entitlement.account_id)
        ):
            if e.revoked_at is not None and e.revoked_at <= now:
                continue
            if account_state(s, acct, now).state in (
                AccountState.REVOKED,
                AccountState.TRANSFERRED,
            ):
                continue
            s.add(
                ReviewItem(
                    campaign_id=campaign_id,
                    entitlement_id=e.entitlement_id,
                    owner_person_id=e.owner_person_id,
                    status="pending",
                )
            )
            n += 1
        events.append(
            svc.event(
                now,
                "update",
                decision="allow",
                screen="identity/review",
                reason=f"review {campaign_id} started: {n} items, deadline {deadline.isoformat()}",
                person_id=started_by,
            )
        )
        return n


def decide_review(
    svc: IdentityService,
    campaign_id: str,
    account_id: str,
    by: str,
    now: datetime,
    *,
    keep: bool,
    kind: str | None = None,
    name: str | None = None,
) -> int:
    """The owner recertifies (``keep``) or revokes an account's items; returns how many.

    Only the owning manager may decide (for an unowned item: a ``manager`` of the
    account's organisation), never the holder; after the deadline it is too late.
    """
    with svc.transaction() as (s, events):
        camp = s.get(ReviewCampaign, campaign_id)
        if camp is None:
            raise UsageError(f"unknown campaign {campaign_id!r}")
        if now >= camp.deadline:
            raise UsageError(
                f"campaign {campaign_id} passed its deadline "
                f"{camp.deadline.isoformat()}: pending items have lapsed"
            )
        acct = s.get(Account, account_id)
        if acct is None:
            raise UsageError(f"unknown account {account_id!r}")
        _person(s, by, "--by")
        if by == acct.holder_person_id:
            raise UsageError("a person cannot recertify their own access")
        q = (
            select(ReviewItem, Entitlement)
            .join(Entitlement, Entitlement.entitlement_id == ReviewItem.entitlement_id)
            .where(
                ReviewItem.campaign_id == campaign_id,
                Entitlement.account_id == account_id,
                ReviewItem.status == "pending",
            )
        )
        if kind:
            q = q.where(Entitlement.kind == kind)
        if name:
            q = q.where(Entitlement.name == name)
        n = 0
        for item, ent in s.execute(q):
            if item.owner_person_id is None:
                asg = assignment_at(s, by, now)
                if asg is None or asg.role != "manager" or asg.org != acct.org:
                    raise UsageError(
                        f"{ent.kind} {ent.name!r} has no owner: only a manager of "
                        f"{acct.org} may decide it"
                    )
            elif item.owner_person_id != by:
                raise UsageError(
                    f"{ent.kind} {ent.name!r} is owned by {item.owner_person_id}, not {by}"
                )
            item.status = "recertified" if keep else "revoked"
            item.decided_by, item.decided_at = by, now
            if not keep:
                ent.revoked_at = now
            n += 1
        if n == 0:
            raise UsageError(f"no pending items of {account_id} in {campaign_id}")
        events.append(
            svc.event(
                now,
                "update",
                decision="allow" if keep else "deny",
                screen="identity/review",
                reason=f"review {campaign_id}: {n} item(s) "
                f"{'recertified' if keep else 'revoked'} by {by}",
                account_id=account_id,
                person_id=acct.holder_person_id,
                org=acct.org,
            )
        )
        return n


def close_review(svc: IdentityService, campaign_id: str, by: str, now: datetime) -> dict[str, int]:
    """Record the outcome after the deadline: pending items are revoked as lapsed."""
    with svc.transaction() as (s, events):
        camp = s.get(ReviewCampaign, campaign_id)
        if camp is None:
            raise UsageError(f"unknown campaign {campaign_id!r}")
        if now < camp.deadline:
            raise UsageError(f"campaign {campaign_id} runs until {camp.deadline.isoformat()}")
        _person(s, by, "--by")
        lapsed = 0
        for item, ent in s.execute(
            select(ReviewItem, Entitlement)
            .join(Entitlement, Entitlement.entitlement_id == ReviewItem.entitlement_id)
            .where(ReviewItem.campaign_id == campaign_id, ReviewItem.status == "pending")
        ):
            if ent.revoked_at is None or ent.revoked_at > camp.deadline:
                ent.revoked_at = camp.deadline
            item.status, item.decided_by, item.decided_at = "revoked", "lapsed", camp.deadline
            lapsed += 1
        camp.closed_at = now
        events.append(
            svc.event(
                now,
                "update",
                decision="allow",
                screen="identity/review",
                reason=f"review {campaign_id} closed by {by}: {lapsed} lapsed",
                person_id=by,
            )
        )
    totals: dict[str, int] = review_report(svc, campaign_id, now)["totals"]
    return totals


def review_report(svc: IdentityService, campaign_id: str, now: datetime) -> dict[str, Any]:
    """Per-item outcome and totals; pending items past the deadline count as lapsed."""
    with Session(svc.engine) as s:
        camp = s.get(ReviewCampaign, campaign_id)
        if camp is None:
            raise UsageError(f"unknown campaign {campaign_id!r}")
        items = []
        totals = {"recertified": 0, "revoked": 0, "lapsed": 0, "pending": 0}
        for item, ent in s.execute(
            select(ReviewItem, Entitlement)
            .join(Entitlement, Entitlement.entitlement_id == ReviewItem.entitlement_id)
            .where(ReviewItem.campaign_id == campaign_id)
            .order_by(Entitlement.account_id, Entitlement.kind, Entitlement.name)
        ):
            if item.status == "pending":
                outcome = "lapsed" if now >= camp.deadline else "pending"
            elif item.decided_by == "lapsed":
                outcome = "lapsed"
            else:
                outcome = item.status
            totals[outcome] += 1
            items.append(
                {
                    "account_id": ent.account_id,
                    "kind": ent.kind,
                    "name": ent.name,
                    "owner": item.owner_person_id,
                    "outcome": outcome,
                    "decided_by": None if item.decided_by == "lapsed" else item.decided_by,
                    "decided_at": item.decided_at.isoformat() if item.decided_at else None,
                }
            )
        return {
            "campaign_id": campaign_id,
            "started_at": camp.started_at.isoformat(),
            "deadline": camp.deadline.isoformat(),
            "closed_at": camp.closed_at.isoformat() if camp.closed_at else None,
            "totals": totals,
            "items": items,
        }


# ---------------------------------------------------------------------------- training


def attest_training(
    svc: IdentityService, person_id: str, completed_on: date, attested_by: str, now: datetime
) -> None:
    """Record a compliance-training completion (attested by someone other than the trainee)."""
    if completed_on > jst_date(now):
        raise UsageError("--date: a training completion cannot be in the future")
    if attested_by == person_id:
        raise UsageError("--by: a person cannot attest their own training")
    with svc.transaction() as (s, events):
        _person(s, person_id, "--person")
        _person(s, attested_by, "--by")
        if s.get(Training, (person_id, completed_on)) is None:
            s.add(
                Training(
                    person_id=person_id,
                    completed_on=completed_on,
                    attested_by=attested_by,
                    recorded_at=now,
                )
            )
        events.append(
            svc.event(
                now,
                "update",
                decision="allow",
                screen="identity/training",
                reason=f"compliance training completed {completed_on} (attested by {attested_by})",
                person_id=person_id,
            )
        )


# ---------------------------------------------------------------------------- change control


@dataclass(frozen=True)
class ChangeView:
    change_id: int
    kind: str
    subject: str
    version: int | None
    old_value: str | None
    new_value: str | None
    requested_by: str
    requested_at: str
    status: str
    decided_by: str | None
    decided_at: str | None
    reason: str | None


def _view(c: Change) -> ChangeView:
    return ChangeView(
        c.change_id,
        c.kind,
        c.subject,
        c.version,
        c.old_value,
        c.new_value,
        c.requested_by,
        c.requested_at.isoformat(),
        c.status,
        c.decided_by,
        c.decided_at.isoformat() if c.decided_at else None,
        c.reason,
    )


def _current(s: Session, subject: str) -> tuple[str | None, int]:
    c = s.scalars(
        select(Change)
        .where(Change.subject == subject, Change.status == "applied")
        .order_by(Change.version.desc())
        .limit(1)
    ).first()
    return (c.new_value, c.version or 0) if c else (None, 0)


def current_value(svc: IdentityService, subject: str) -> tuple[str | None, int]:
    """The approved value of ``subject`` and its version (``(None, 0)`` if never changed)."""
    with Session(svc.engine) as s:
        return _current(s, subject)


def _file_change(
    svc: IdentityService,
    s: Session,
    events: list[dict[str, Any]],
    c: Change,
    *,
    screen: str,
    what: str,
    **event_fields: str,
) -> int:
    """Store the pending change ``c`` and queue its "requested" audit event (``what``
    describes it after "change #N requested: "); return its number."""
    s.add(c)
    s.flush()
    events.append(
        svc.event(
            c.requested_at,
            "update",
            decision="allow",
            screen=screen,
            reason=f"change #{c.change_id} requested: {what}",
            person_id=c.requested_by,
            **event_fields,
        )
    )
    return c.change_id


def request_change(
    svc: IdentityService,
    kind: str,
    subject: str,
    new_value: str | None,
    requested_by: str,
    now: datetime,
    reason: str | None = None,
) -> int:
    """File a change request; nothing changes until another person approves it."""
    if kind not in CHANGE_KINDS:
        raise UsageError(f"--kind: one of {', '.join(CHANGE_KINDS)}")
    with svc.transaction() as (s, events):
        _person(s, requested_by, "--by")
        if kind == "account_reactivate":
            acct = s.get(Account, subject)
            if acct is None:
                raise UsageError(f"--subject: unknown account {subject!r}")
            if acct.revoked_at is None:
                raise UsageError(f"account {subject!r} is not revoked")
            old: str | None = f"revoked:{acct.revoke_reason}"
            new_value = "active"
        else:
            old, _ = _current(s, subject)
        return _file_change(
            svc,
            s,
            events,
            Change(
                kind=kind,
                subject=subject,
                old_value=old,
                new_value=new_value,
                reason=reason,
                requested_by=requested_by,
                requested_at=now,
                status="pending",
            ),
            screen="identity/change",
            what=f"{kind} {subject}: {old!r} -> {new_value!r}",
        )


def enrolment_statement(device_id: str, public_key: str) -> bytes:
    """The statement a browser signs with the key it enrols (proof of possession)."""
    return ENROL_CONTEXT + b"|" + device_id.encode("utf-8") + b"|" + public_key.encode("ascii")


def _check_public_key(device_id: str, public_key: str, proof: str) -> None:
    import base64
    import binascii

    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if len(public_key) != 64 or any(c not in "0123456789abcdef" for c in public_key):
        raise UsageError("public_key: an Ed25519 public key (64 lower-case hex digits)")
    try:
        sig = base64.urlsafe_b64decode(proof + "=" * (-len(proof) % 4))
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key)).verify(
            sig, enrolment_statement(device_id, public_key)
        )
    except (ValueError, binascii.Error, InvalidSignature):
        raise UsageError(
            "proof: not a signature of the enrolment statement by this public key"
        ) from None


def request_terminal_enrolment(
    svc: IdentityService,
    device_id: str,
    public_key: str,
    proof: str,
    requested_by: str,
    now: datetime,
    *,
    register: tuple[str, str, str | None] | None = None,
) -> int:
    """File the enrolment of a key generated in a browser for ``device_id`` (a change under
    two-person control): nothing changes until another person approves it with
    :func:`decide_change`; then the key becomes the terminal's, bound to its organisation.

    ``public_key`` is the raw Ed25519 public key (hex); ``proof`` the base64url signature
    of :func:`enrolment_statement` by its private key (the browser holds it). ``register``
    ``(owner_org, kind, location)`` registers a new terminal record (no key) in the same
    transaction; otherwise the terminal must exist and not be retired. One pending
    enrolment per terminal."""
    from gridwall.identity._terminals import new_terminal_row

    if not device_id or len(device_id) > 128 or not device_id.isprintable() or " " in device_id:
        raise UsageError(f"device_id: {device_id!r} is not a terminal ID (no spaces, ≤ 128)")
    _check_public_key(device_id, public_key, proof)
    with svc.transaction() as (s, events):
        _person(s, requested_by, "--by")
        t = s.get(TerminalRow, device_id)
        if register is not None:
            if t is not None:
                raise UsageError(f"device_id: terminal {device_id!r} already exists")
            org, kind, location = register
            t = new_terminal_row(device_id, org, kind, now, location, source="console")
            s.add(t)
        elif t is None:
            raise UsageError(f"device_id: unknown terminal {device_id!r}")
        if t.revoked_at is not None:
            raise UsageError(f"device_id: terminal {device_id!r} is retired")
        pending = s.scalars(
            select(Change.change_id).where(
                Change.kind == TERMINAL_ENROL,
                Change.subject == device_id,
                Change.status == "pending",
            )
        ).first()
        if pending is not None:
            raise UsageError(
                f"device_id: terminal {device_id!r} already has an enrolment awaiting "
                f"approval (change #{pending})"
            )
        return _file_change(
            svc,
            s,
            events,
            Change(
                kind=TERMINAL_ENROL,
                subject=device_id,
                old_value=t.public_key,
                new_value=public_key,
                reason=f"browser-generated key for {t.owner_org}'s {t.kind}",
                requested_by=requested_by,
                requested_at=now,
                status="pending",
            ),
            screen="identity/terminal",
            what=f"terminal enrolment {device_id} ({t.owner_org}, {t.kind}"
            + (", newly registered" if register is not None else "")
            + f"), key {public_key[:16]}…",
            device_id=device_id,
            org=t.owner_org,
        )


def decide_change(
    svc: IdentityService, change_id: int, by: str, now: datetime, *, approve: bool
) -> ChangeView:
    """Approve (apply) or reject a pending change; the requester can never approve it."""
    with svc.transaction() as (s, events):
        c = s.get(Change, change_id)
        if c is None:
            raise UsageError(f"unknown change #{change_id}")
        if c.status != "pending":
            raise UsageError(f"change #{change_id} is already {c.status}")
        approver = _person(s, by, "--by")
        if by == c.requested_by:
            raise UsageError("two-person rule: the requester cannot approve their own change")
        if approve and c.kind == "account_reactivate":
            acct = s.get(Account, c.subject)
            assert acct is not None
            if by == acct.holder_person_id:
                raise UsageError("two-person rule: the holder cannot approve their own account")
            asg = assignment_at(s, acct.holder_person_id, now)
            if asg is None or asg.org != acct.org:
                raise UsageError(
                    f"account {acct.account_id} belongs to {acct.org}; its holder is "
                    f"now in {asg.org if asg else 'no organisation'}"
                )
            acct.revoked_at, acct.revoke_reason = None, None
            acct.failed_count, acct.lockouts, acct.locked_until = 0, 0, None
        elif approve and c.kind == TERMINAL_ENROL:
            t = s.get(TerminalRow, c.subject)
            if t is None or t.revoked_at is not None:
                raise UsageError(f"change #{change_id}: terminal {c.subject!r} is gone or retired")
            if t.public_key != c.old_value:
                raise UsageError(
                    f"change #{change_id} is stale: terminal {c.subject}'s key changed since "
                    "the request, enrol again"
                )
            t.public_key, t.enrolled_at = c.new_value, now
            _, version = _current(s, c.subject)
            c.version = version + 1
        elif approve:
            cur, version = _current(s, c.subject)
            if cur != c.old_value:
                raise UsageError(
                    f"change #{change_id} is stale: {c.subject} is now {cur!r}, re-request it"
                )
            c.version = version + 1
        if approve and c.kind == "account_reactivate":
            _, version = _current(s, c.subject)
            c.version = version + 1
        c.status = "applied" if approve else "rejected"
        c.decided_by, c.decided_at = approver.person_id, now
        events.append(
            svc.event(
                now,
                "update",
                decision="allow" if approve else "deny",
                screen="identity/change",
                reason=f"change #{change_id} {c.status} by {by}: {c.kind} "
                f"{c.subject}: {c.old_value!r} -> {c.new_value!r}",
                person_id=by,
            )
        )
        return _view(c)


def list_changes(svc: IdentityService, subject: str | None = None) -> list[ChangeView]:
    with Session(svc.engine) as s:
        q = select(Change).order_by(Change.change_id)
        if subject:
            q = q.where(Change.subject == subject)
        return [_view(c) for c in s.scalars(q)]


def count_pending_changes(svc: IdentityService) -> int:
    with Session(svc.engine) as s:
        return int(
            s.scalar(select(func.count()).select_from(Change).where(Change.status == "pending"))
            or 0
        )
