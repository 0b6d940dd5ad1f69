"""Persons and accounts: registration, credentials, revocation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridwall.errors import UsageError
from gridwall.identity._ledger import IdentityLedger
from gridwall.identity._models import (
    Account,
    Entitlement,
    Person,
)
from gridwall.identity._models import Session as LoginSession
from gridwall.identity._passwords import WeakPassword, check_password
from gridwall.identity._state import (
    assignment_at,
    valid_org,
)


class AccountOperations(IdentityLedger):
    """Persons (HR holders) and their accounts."""

    def create_person(
        self,
        person_id: str,
        name: str,
        org: str,
        role: str,
        now: datetime,
        department: str | None = None,
        valid_from: datetime | None = None,
    ) -> None:
        """Register a person with a first HR assignment (入社・配属)."""
        from gridwall.identity._models import Assignment

        if not valid_org(org):
            raise UsageError(
                f"--org: {org!r} is not nw | retail:<code> | contractor:<id> | regulator"
            )
        with self.transaction() as (s, events):
            if s.get(Person, person_id) is not None:
                raise UsageError(f"person {person_id!r} already exists")
            s.add(Person(person_id=person_id, name=name, created_at=now))
            s.flush()
            s.add(
                Assignment(
                    person_id=person_id,
                    org=org,
                    department=department,
                    role=role,
                    valid_from=valid_from or now,
                    valid_to=None,
                    source="cli",
                )
            )
            events.append(
                self.event(
                    now,
                    "update",
                    decision="allow",
                    screen="identity/person",
                    reason=f"person created in {org} as {role}",
                    person_id=person_id,
                    org=org,
                )
            )

    def create_account(
        self,
        account_id: str,
        person_id: str,
        now: datetime,
        *,
        system: str = "gridwall",
        manager: str | None = None,
        expires_at: datetime | None = None,
    ) -> str:
        """Issue a personal account to ``person_id`` in their current organisation.

        There is no way to create an account without a holder (個人IDのみ). The
        account's access is an entitlement owned by ``manager`` for access reviews.
        """
        with self.transaction() as (s, events):
            person = s.get(Person, person_id)
            if person is None:
                raise UsageError(f"--person: unknown person {person_id!r}")
            asg = assignment_at(s, person_id, now)
            if asg is None:
                raise UsageError(f"person {person_id!r} has no current HR assignment")
            if s.get(Account, account_id) is not None:
                raise UsageError(f"account {account_id!r} already exists")
            if manager is not None and s.get(Person, manager) is None:
                raise UsageError(f"--manager: unknown person {manager!r}")
            if manager == person_id:
                raise UsageError("--manager: a person cannot own their own access review")
            s.add(
                Account(
                    account_id=account_id,
                    system=system,
                    holder_person_id=person_id,
                    kind="personal",
                    org=asg.org,
                    created_at=now,
                    expires_at=expires_at,
                    failed_count=0,
                    lockouts=0,
                    source="cli",
                )
            )
            s.flush()
            s.add(
                Entitlement(
                    account_id=account_id,
                    kind="account",
                    name=f"{asg.org}/{asg.role or ''}",
                    owner_person_id=manager,
                    created_at=now,
                )
            )
            events.append(
                self.event(
                    now,
                    "update",
                    decision="allow",
                    screen="identity/account",
                    reason="account created",
                    account_id=account_id,
                    person_id=person_id,
                    org=asg.org,
                )
            )
            return asg.org

    def set_password(self, account_id: str, password: str, now: datetime) -> None:
        """Set a password after checking the policy (raises :class:`UsageError` if weak)."""
        with self.transaction() as (s, events):
            acct = self._account(s, account_id)
            person = s.get(Person, acct.holder_person_id)
            context = (account_id, acct.holder_person_id, *(person.name.split() if person else ()))
            try:
                norm = check_password(password, context)
            except WeakPassword as e:
                raise UsageError(f"password refused: {e}") from None
            acct.password_hash = self.passwords.hash(norm)
            acct.password_changed_at = now
            events.append(
                self.event(
                    now,
                    "update",
                    decision="allow",
                    screen="identity/password",
                    reason="password set",
                    account_id=account_id,
                    person_id=acct.holder_person_id,
                    org=acct.org,
                )
            )

    def enroll_totp(self, account_id: str, now: datetime) -> tuple[str, str]:
        """Create a TOTP secret (RFC 6238); returns ``(secret, otpauth URI)``."""
        secret = pyotp.random_base32()
        with self.transaction() as (s, events):
            acct = self._account(s, account_id)
            acct.totp_secret = secret
            acct.totp_last_step = None
            events.append(
                self.event(
                    now,
                    "update",
                    decision="allow",
                    screen="identity/totp",
                    reason="TOTP enrolled",
                    account_id=account_id,
                    person_id=acct.holder_person_id,
                    org=acct.org,
                )
            )
        uri = pyotp.TOTP(secret).provisioning_uri(name=account_id, issuer_name="gridwall")
        return secret, uri

    def person_of(self, account_id: str) -> str | None:
        """The person holding ``account_id`` (None for an unknown account)."""
        with Session(self.engine) as s:
            acct = s.get(Account, account_id)
            return acct.holder_person_id if acct is not None else None

    def revoke_account(self, account_id: str, now: datetime, reason: str = "admin") -> None:
        """Revoke an account and end its sessions at ``now``."""
        with self.transaction() as (s, events):
            acct = self._account(s, account_id)
            self._revoke(s, events, acct, now, reason, screen="identity/revoke")

    def unlock_account(self, account_id: str, now: datetime) -> None:
        with self.transaction() as (s, events):
            acct = self._account(s, account_id)
            acct.locked_until = None
            acct.failed_count = 0
            acct.lockouts = 0
            events.append(
                self.event(
                    now,
                    "update",
                    decision="allow",
                    screen="identity/unlock",
                    reason="lock cleared by administrator",
                    account_id=account_id,
                    person_id=acct.holder_person_id,
                    org=acct.org,
                )
            )

    def _revoke(
        self,
        s: Session,
        events: list[dict[str, Any]],
        acct: Account,
        at: datetime,
        reason: str,
        screen: str,
        now: datetime | None = None,
    ) -> None:
        if acct.revoked_at is None or acct.revoked_at > at:
            acct.revoked_at = at
            acct.revoke_reason = reason
        for sess in s.scalars(
            select(LoginSession).where(LoginSession.account_id == acct.account_id)
        ):
            if sess.ended_at is None or sess.ended_at > at:
                sess.ended_at = at
                sess.end_reason = f"revoked:{reason}"
        events.append(
            self.event(
                now or at,
                "update",
                decision="deny",
                screen=screen,
                reason=f"account and sessions revoked at {at.isoformat()} ({reason})",
                account_id=acct.account_id,
                person_id=acct.holder_person_id,
                org=acct.org,
            )
        )

    @staticmethod
    def _account(s: Session, account_id: str) -> Account:
        acct = s.get(Account, account_id)
        if acct is None:
            raise UsageError(f"unknown account {account_id!r}")
        return acct
