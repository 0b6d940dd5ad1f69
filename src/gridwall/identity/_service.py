"""The identity service: accounts, credentials, terminals, login, sessions, lockout.

Every decision takes ``now`` from the caller (an injectable clock) and is made
from stored facts at that instant. Every login, failure, lockout and logout is
an audit event (``events`` format, system ``gridwall``) written to identity's own
journal in the same transaction as the state change and then handed to the
:class:`~gridwall.interfaces.AuditSink`; an event that cannot be recorded makes
the operation fail (nothing fails open).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pyotp
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from gridwall.errors import UsageError
from gridwall.identity import _keys
from gridwall.identity._models import (
    Account,
    Alert,
    ApiClient,
    AuditRecord,
    Entitlement,
    Person,
)
from gridwall.identity._models import Session as LoginSession
from gridwall.identity._models import Terminal as TerminalRow
from gridwall.identity._passwords import HashParams, PasswordHashing, WeakPassword, check_password
from gridwall.identity._state import (
    account_state,
    assignment_at,
    assignments_of,
    org_kind,
    pick_at,
    pick_latest,
    training_current,
    valid_org,
)
from gridwall.interfaces import AuditSink, AuthenticationError, Principal, Terminal
from gridwall.interfaces.clock import as_utc
from gridwall.interfaces.facts import (
    AccountKind,
    AccountState,
    DeviceFacts,
    DeviceKind,
    DeviceOwner,
    OrgKind,
    PrincipalFacts,
    RetailerKind,
    Role,
)

SESSION_PREFIX = "gws1_"
DeviceKindOrg = {
    "nw_terminal": ("nw",),
    "retail_terminal": ("retail:",),
    "contractor_terminal": ("contractor:",),
}

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


def _never(_now: datetime) -> bool:
    return False


class IdentityService:
    """Identity and terminal operations over one store.

    ``disaster_active(now)`` says whether disaster mode (非常災害) is declared at
    ``now``; disaster terminals work only then. ``retailer_kinds`` maps a
    retailer code to ``affiliated`` / ``independent`` (a mapping or a callable);
    a retail principal whose retailer is unknown is refused.
    """

    def __init__(
        self,
        engine: Engine,
        audit: AuditSink | None = None,
        config: IdentityConfig | None = None,
        *,
        disaster_active: Callable[[datetime], bool] = _never,
        retailer_kinds: RetailerKinds | None = None,
    ) -> None:
        self.engine = engine
        self.audit = audit
        self.config = config or IdentityConfig()
        self.disaster_active = disaster_active
        self.retailer_kinds = retailer_kinds
        self.passwords = PasswordHashing(self.config.hash_params)
        self._relay = threading.Lock()

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def transaction(self) -> Iterator[tuple[Session, list[dict[str, Any]]]]:
        """A unit of work whose audit events commit with it (transactional outbox).

        Events queued during the work are written to the journal (``idn_audit_events``) in
        the same database transaction as the change, so a change never stands without its
        event and an event never exists for a change that did not commit. After the commit
        the journal's undelivered events (this one's, and any an earlier failure left) are
        sent to the audit log in journal order; if the log fails, the error propagates (the
        caller is denied) and the events stay queued for the next delivery. The audit log
        may live in another database, so one transaction cannot span both: this is why."""
        events: list[dict[str, Any]] = []
        with Session(self.engine, expire_on_commit=False) as s:
            yield s, events
            for ev in events:
                s.add(
                    AuditRecord(
                        event_id=ev["event_id"],
                        ts=datetime.fromisoformat(ev["ts"]),
                        action=ev["action"],
                        account_id=ev.get("account_id"),
                        event_json=json.dumps(ev, ensure_ascii=False, sort_keys=True),
                        delivered=False,
                    )
                )
            s.commit()
        if events:
            self.deliver_audit()

    def deliver_audit(self, batch: int = 5000) -> int:
        """Send every journaled, undelivered event to the audit sink, oldest first; returns
        how many were sent. Raises if the sink fails (what was sent stays marked sent).

        Called after every identity change and once when a server starts, so a backlog left
        by an audit-log outage is delivered before anything else is served. Delivery is
        at-least-once: a crash between the log's acknowledgement and the journal's mark
        sends that event again, under the same ``event_id``. On PostgreSQL the pending rows
        are locked (``FOR UPDATE SKIP LOCKED``) so servers sharing a store never send one
        event twice; SQLite is one process, serialised by a lock here."""
        sink = self.audit
        if sink is None:
            return 0
        sent = 0
        with self._relay:
            while True:
                n = self._deliver_batch(sink, batch)
                sent += n
                if n < batch:
                    return sent

    def _deliver_batch(self, sink: AuditSink, batch: int) -> int:
        pg = self.engine.dialect.name == "postgresql"
        with Session(self.engine) as s:
            q = (
                select(AuditRecord.seq, AuditRecord.event_json)
                .where(AuditRecord.delivered.is_(False))
                .order_by(AuditRecord.seq)
                .limit(batch)
            )
            if pg:
                q = q.with_for_update(skip_locked=True)
            rows = s.execute(q).all()
            if not pg:
                # End SQLite's read transaction before the audit log (possibly this very
                # file) takes its write lock.
                s.rollback()
            done: list[int] = []
            try:
                for seq, payload in rows:
                    sink.record(json.loads(payload))
                    done.append(seq)
            finally:
                if done:
                    s.execute(
                        update(AuditRecord).where(AuditRecord.seq.in_(done)).values(delivered=True)
                    )
                    s.commit()
            return len(done)

    def pending_audit(self) -> int:
        """How many journaled events the audit log does not have yet (0 when healthy)."""
        from sqlalchemy import func

        with Session(self.engine) as s:
            n = s.scalar(
                select(func.count())
                .select_from(AuditRecord)
                .where(AuditRecord.delivered.is_(False))
            )
        return int(n or 0)

    @staticmethod
    def event(
        now: datetime,
        action: str,
        *,
        decision: str,
        screen: str,
        reason: str,
        account_id: str | None = None,
        device_id: str | None = None,
        session_id: str | None = None,
        person_id: str | None = None,
        org: str | None = None,
        source_ip: str | None = None,
    ) -> dict[str, Any]:
        """An audit event in the ``events`` format (dataset.md) plus person/org/reason."""
        return {
            "event_id": f"idn-{uuid.uuid4().hex}",
            "ts": as_utc(now).isoformat(),
            "system": "gridwall",
            "account_id": account_id or "",
            "device_id": device_id,
            "source_ip": source_ip,
            "session_id": session_id,
            "action": action,
            "screen": screen,
            "purpose": None,
            "supply_point_ids": [],
            "query": None,
            "fields": [],
            "result_count": None,
            "recipient_org": None,
            "decision": decision,
            "policy_ids": [],
            "person_id": person_id,
            "org": org,
            "reason": reason,
        }

    # ------------------------------------------------------------------ persons & accounts

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

    def verify_operator(
        self, account_id: str, password: str, totp_code: str | None, now: datetime
    ) -> Principal:
        """Authenticate a person at the server's own console (the CLI): password + TOTP of
        an existing account, as at login but without a terminal or a session.

        This is how a command-line second person (``--by``) proves who they are: a name
        typed on the command line proves nothing. Wrong passwords and codes count towards
        the lockout exactly as at login, and every outcome is audited. Raises
        :class:`LoginRefused`: 401 for unknown, locked or wrong credentials (alike), 403 for
        an account that is not active or holds no gridwall role. The returned principal's
        facts (role, training, state) are those a policy decides on.
        """
        now = as_utc(now)
        refusal: LoginRefused | None = None
        principal: Principal | None = None
        with self.transaction() as (s, events):

            def refuse(reason: str, status: int = 401, acct: Account | None = None) -> None:
                nonlocal refusal
                events.append(
                    self.event(
                        now, "login_failed", decision="deny", screen="identity/console",
                        reason=reason, account_id=account_id,
                        person_id=acct.holder_person_id if acct else None,
                        org=acct.org if acct else None,
                    )
                )  # fmt: skip
                refusal = LoginRefused(reason, status)

            acct = s.get(Account, account_id, with_for_update=True)
            if acct is None:
                self.passwords.verify(None, password)  # same cost as a real attempt
                refuse("unknown account")
            elif acct.locked_until is not None and acct.locked_until > now:
                self.passwords.verify(None, password)
                refuse(f"account locked until {acct.locked_until.isoformat()}", 401, acct)
            elif not self.passwords.verify(acct.password_hash, password):
                self._fail(s, events, acct, now, "wrong password (console)", None, None)
                refusal = LoginRefused("wrong password")
            elif not self._check_totp(acct, totp_code, now):
                why = "TOTP not enrolled" if acct.totp_secret is None else "wrong or reused TOTP"
                self._fail(s, events, acct, now, f"{why} (console)", None, None)
                refusal = LoginRefused(why)
            else:
                history = assignments_of(s, acct.holder_person_id)
                verdict = account_state(s, acct, now, history)
                asg = pick_at(history, now)
                org = asg.org if asg else acct.org
                last = pick_latest(history, now)
                role = next((r for r in Role if last is not None and r.value == last.role), None)
                if verdict.state is not AccountState.ACTIVE:
                    refuse(f"account {verdict.state.value}: {verdict.reason}", 403, acct)
                elif role is None:
                    refuse(
                        f"role {last.role if last else None!r} is not a gridwall role", 403, acct
                    )
                else:
                    try:
                        rkind = self._retailer_kind(org)
                    except LoginRefused as e:
                        refuse(e.reason, 403, acct)
                    else:
                        acct.failed_count, acct.lockouts, acct.locked_until = 0, 0, None
                        principal = Principal(
                            account_id=acct.account_id,
                            person_id=acct.holder_person_id,
                            org=org,
                            facts=PrincipalFacts(
                                org_kind=org_kind(org),
                                retailer_kind=rkind,
                                role=role,
                                account_kind=AccountKind.PERSONAL,
                                account_state=verdict.state,
                                training_current=training_current(
                                    s, acct.holder_person_id, now,
                                    self.config.training_validity_days,
                                ),
                            ),
                        )  # fmt: skip
                        events.append(
                            self.event(
                                now, "login", decision="allow", screen="identity/console",
                                reason="password+totp at the server console",
                                account_id=account_id, person_id=acct.holder_person_id,
                                org=org,
                            )
                        )  # fmt: skip
        if refusal is not None:
            raise refusal
        assert principal is not None
        return principal

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

    # ------------------------------------------------------------------ terminals & clients

    def register_terminal(
        self,
        device_id: str,
        owner_org: str,
        kind: str,
        now: datetime,
        location: str | None = None,
        valid_to: datetime | None = None,
    ) -> None:
        if not valid_org(owner_org):
            raise UsageError(f"--org: {owner_org!r} is not a valid organisation")
        if kind not in (k.value for k in DeviceKind):
            raise UsageError(
                f"--kind: {kind!r} is not one of {', '.join(k.value for k in DeviceKind)}"
            )
        prefixes = DeviceKindOrg.get(kind)
        if prefixes and not any(owner_org.startswith(p) for p in prefixes):
            raise UsageError(f"--kind {kind} cannot belong to {owner_org}")
        with self.transaction() as (s, events):
            if s.get(TerminalRow, device_id) is not None:
                raise UsageError(f"terminal {device_id!r} already exists")
            s.add(
                TerminalRow(
                    device_id=device_id,
                    owner_org=owner_org,
                    kind=kind,
                    location=location,
                    valid_from=now,
                    valid_to=valid_to,
                    source="cli",
                )
            )
            events.append(
                self.event(
                    now,
                    "update",
                    decision="allow",
                    screen="identity/terminal",
                    reason=f"terminal registered ({kind}, {owner_org})",
                    device_id=device_id,
                    org=owner_org,
                )
            )

    def enroll_terminal(self, device_id: str, now: datetime) -> str:
        """Create the terminal's key pair; store the public key; return the key file text.

        Re-enrolling replaces the key (the old key stops working at once)."""
        key, pub = _keys.new_key()
        with self.transaction() as (s, events):
            t = s.get(TerminalRow, device_id)
            if t is None:
                raise UsageError(f"unknown terminal {device_id!r}")
            if t.revoked_at is not None:
                raise UsageError(f"terminal {device_id!r} is revoked")
            t.public_key = pub
            t.enrolled_at = now
            events.append(
                self.event(
                    now,
                    "update",
                    decision="allow",
                    screen="identity/terminal",
                    reason="terminal key enrolled",
                    device_id=device_id,
                    org=t.owner_org,
                )
            )
        return _keys.private_key_text(key, device_id, "terminal")

    def revoke_terminal(self, device_id: str, now: datetime) -> None:
        with self.transaction() as (s, events):
            t = s.get(TerminalRow, device_id)
            if t is None:
                raise UsageError(f"unknown terminal {device_id!r}")
            t.revoked_at = now
            for sess in s.scalars(select(LoginSession).where(LoginSession.device_id == device_id)):
                if sess.ended_at is None:
                    sess.ended_at = now
                    sess.end_reason = "terminal revoked"
            events.append(
                self.event(
                    now,
                    "update",
                    decision="deny",
                    screen="identity/terminal",
                    reason="terminal revoked",
                    device_id=device_id,
                    org=t.owner_org,
                )
            )

    def register_api_client(
        self,
        client_id: str,
        org: str,
        role: str,
        now: datetime,
        created_by: str | None = None,
        valid_to: datetime | None = None,
    ) -> str:
        """A retailer system's API client bound to ``retail:<code>``; returns its key file."""
        if not org.startswith("retail:") or not valid_org(org):
            raise UsageError("--org: API clients belong to a retailer (retail:<code>)")
        try:
            Role(role)
        except ValueError:
            raise UsageError(f"--role: unknown role {role!r}") from None
        key, pub = _keys.new_key()
        with self.transaction() as (s, events):
            if s.get(ApiClient, client_id) is not None:
                raise UsageError(f"API client {client_id!r} already exists")
            s.add(
                ApiClient(
                    client_id=client_id,
                    org=org,
                    role=role,
                    public_key=pub,
                    created_at=now,
                    valid_to=valid_to,
                    created_by=created_by,
                )
            )
            events.append(
                self.event(
                    now,
                    "update",
                    decision="allow",
                    screen="identity/api-client",
                    reason=f"API client registered for {org}",
                    account_id=client_id,
                    org=org,
                )
            )
        return _keys.private_key_text(key, client_id, "api_client")

    def _terminal_from(self, s: Session, credential: str, now: datetime) -> TerminalRow:
        claim = _keys.parse_token(_keys.TERMINAL_PREFIX, credential)
        t = s.get(TerminalRow, claim.subject)
        if t is None:
            raise _keys.BadToken(f"unknown terminal {claim.subject!r}")
        if t.public_key is None:
            raise _keys.BadToken(f"terminal {claim.subject!r} has no enrolled key")
        _keys.verify_claim(
            _keys.TERMINAL_PREFIX,
            claim,
            t.public_key,
            now,
            self.config.token_max_age,
            self.config.clock_skew,
        )
        return t

    def terminal_problem(self, t: TerminalRow, now: datetime) -> str | None:
        """Why a terminal cannot be used at ``now`` (None when usable)."""
        if t.revoked_at is not None and t.revoked_at <= now:
            return "terminal revoked"
        if t.valid_from is not None and t.valid_from > now:
            return "terminal not yet valid"
        if t.valid_to is not None and t.valid_to <= now:
            return "terminal validity ended"
        if t.kind == DeviceKind.DISASTER_TERMINAL and not self.disaster_active(now):
            return "disaster terminal outside a declared disaster"
        return None

    # ------------------------------------------------------------------ login

    def _alert(
        self,
        s: Session,
        now: datetime,
        rule: str,
        incident: str,
        severity: int,
        account: Account,
        devices: list[str],
        sessions: list[str],
        summary: str,
    ) -> str:
        alert_id = f"idn-alert-{uuid.uuid4().hex[:16]}"
        s.add(
            Alert(
                alert_id=alert_id,
                ts=now,
                rule=rule,
                incident_type=incident,
                severity=severity,
                account_id=account.account_id,
                person_id=account.holder_person_id,
                org=account.org,
                device_ids=";".join(devices),
                session_ids=";".join(sessions),
                summary=summary,
            )
        )
        return alert_id

    @staticmethod
    def _evidence(s: Session, alert_id: str | None, event: dict[str, Any]) -> None:
        """Link an alert to the audit event that records the refusal it is about."""
        if alert_id is not None and (alert := s.get(Alert, alert_id)) is not None:
            alert.event_ids = ";".join(x for x in (alert.event_ids, event["event_id"]) if x)

    def _live(self, sess: LoginSession, now: datetime) -> str | None:
        """None when the session is live at ``now``, else why not."""
        if sess.ended_at is not None and sess.ended_at <= now:
            return f"session ended ({sess.end_reason})"
        if now < sess.created_at:
            return "session not yet started"
        if now - sess.created_at >= self.config.absolute_timeout:
            return "session reached its absolute timeout"
        if now - sess.last_seen_at >= self.config.idle_timeout:
            return "session idle timeout"
        return None

    def _check_totp(self, acct: Account, code: str | None, now: datetime) -> bool:
        if acct.totp_secret is None:
            return not self.config.require_totp
        if not code:
            return False
        totp = pyotp.TOTP(acct.totp_secret)
        step0 = totp.timecode(now)
        for step in (step0, step0 - 1, step0 + 1):  # ±1 step for clock drift (RFC 6238 §5.2)
            if hmac.compare_digest(totp.generate_otp(step), code.strip()):
                if acct.totp_last_step is not None and step <= acct.totp_last_step:
                    return False  # a code is good once (replay)
                acct.totp_last_step = step
                return True
        return False

    def _fail(
        self,
        s: Session,
        events: list[dict[str, Any]],
        acct: Account,
        now: datetime,
        why: str,
        device_id: str | None,
        source_ip: str | None,
    ) -> None:
        """Count a bad password/TOTP; lock with exponential backoff (1, 2, 4 … min, capped)."""
        acct.failed_count = (acct.failed_count or 0) + 1
        base = dict(
            account_id=acct.account_id,
            device_id=device_id,
            source_ip=source_ip,
            person_id=acct.holder_person_id,
            org=acct.org,
        )
        events.append(
            self.event(
                now, "login_failed", decision="deny", screen="identity/login", reason=why, **base
            )
        )
        if acct.lockouts > 0 or acct.failed_count >= self.config.lockout_threshold:
            lock = min(
                self.config.lockout_base * (2 ** min(acct.lockouts, 30)), self.config.lockout_max
            )
            acct.locked_until = now + lock
            acct.lockouts += 1
            acct.failed_count = 0
            events.append(
                self.event(
                    now,
                    "login_failed",
                    decision="deny",
                    screen="identity/lockout",
                    reason=f"lockout: locked for {int(lock.total_seconds())} s "
                    f"until {acct.locked_until.isoformat()}",
                    **base,
                )
            )

    def login(
        self,
        account_id: str,
        password: str,
        totp_code: str | None,
        terminal_credential: str,
        now: datetime,
        source_ip: str | None = None,
    ) -> LoginResult:
        """Password + TOTP on an enrolled terminal of the holder's own organisation.

        Raises :class:`LoginRefused` (audited) for any failure.
        """
        now = as_utc(now)
        refusal: LoginRefused | None = None
        result: LoginResult | None = None
        with self.transaction() as (s, events):
            refusal, result = self._login(
                s, events, account_id, password, totp_code, terminal_credential, now, source_ip
            )
        if refusal is not None:
            raise refusal
        assert result is not None
        return result

    def _login(
        self,
        s: Session,
        events: list[dict[str, Any]],
        account_id: str,
        password: str,
        totp_code: str | None,
        terminal_credential: str,
        now: datetime,
        source_ip: str | None,
    ) -> tuple[LoginRefused | None, LoginResult | None]:
        def refuse(
            reason: str,
            status: int = 401,
            acct: Account | None = None,
            device_id: str | None = None,
            alert_id: str | None = None,
        ) -> tuple[LoginRefused, None]:
            events.append(
                self.event(
                    now,
                    "login_failed",
                    decision="deny",
                    screen="identity/login",
                    reason=reason,
                    account_id=account_id,
                    device_id=device_id,
                    source_ip=source_ip,
                    person_id=acct.holder_person_id if acct else None,
                    org=acct.org if acct else None,
                )
            )
            self._evidence(s, alert_id, events[-1])
            return LoginRefused(reason, status, alert_id), None

        if s.get_bind().dialect.name == "sqlite":
            # SQLite has no row locks: take the write lock now, so that two logins of one
            # account cannot both miss each other's session (PostgreSQL: FOR UPDATE below)
            s.connection().exec_driver_sql("BEGIN IMMEDIATE")
        try:
            term = self._terminal_from(s, terminal_credential, now)
        except _keys.BadToken as e:
            self.passwords.verify(None, password)  # same cost as a real attempt
            return refuse(f"terminal credential refused: {e}")
        dev = term.device_id
        acct = s.get(Account, account_id, with_for_update=True)  # one login per account at a time
        if acct is None:
            self.passwords.verify(None, password)
            legacy = "legacy shared ID, never usable" if self._is_legacy(s, account_id) else None
            return refuse(legacy or "unknown account", device_id=dev)
        if acct.locked_until is not None and acct.locked_until > now:
            self.passwords.verify(None, password)
            # 401 like a wrong password (same status, same body): a caller who does not
            # know the password learns nothing about the account; the reason is audited
            return refuse(f"account locked until {acct.locked_until.isoformat()}", 401, acct, dev)
        if not self.passwords.verify(acct.password_hash, password):
            self._fail(s, events, acct, now, "wrong password", dev, source_ip)
            return LoginRefused("wrong password"), None
        if not self._check_totp(acct, totp_code, now):
            why = "TOTP not enrolled" if acct.totp_secret is None else "wrong or reused TOTP code"
            self._fail(s, events, acct, now, why, dev, source_ip)
            return LoginRefused(why), None
        verdict = account_state(s, acct, now)
        if verdict.state is not AccountState.ACTIVE:
            return refuse(f"account {verdict.state.value}: {verdict.reason}", 403, acct, dev)
        if (problem := self.terminal_problem(term, now)) is not None:
            return refuse(problem, 403, acct, dev)
        asg = assignment_at(s, acct.holder_person_id, now)
        person_org = asg.org if asg else acct.org
        if term.owner_org != person_org:
            alert_id = self._alert(
                s,
                now,
                "other_org_terminal",
                "C2",
                4,
                acct,
                [dev],
                [],
                f"他組織の端末からのログインを拒否 / login on {term.owner_org}'s terminal {dev} "
                f"by {person_org} account {account_id} refused",
            )
            return refuse(
                f"terminal {dev} belongs to {term.owner_org}, not {person_org} (alert {alert_id})",
                403,
                acct,
                dev,
                alert_id,
            )
        # shared-credential detection (C③): live elsewhere at the same time
        others = [
            x
            for x in s.scalars(
                select(LoginSession).where(
                    LoginSession.account_id == account_id, LoginSession.ended_at.is_(None)
                )
            )
            if self._live(x, now) is None
            and (
                x.device_id != dev
                # the same terminal key used from two network places at once: a copied key
                or (x.source_ip and source_ip and x.source_ip != source_ip)
            )
        ]
        if others:
            alert_id = self._alert(
                s,
                now,
                "shared_credential",
                "C3",
                5,
                acct,
                [dev, *(o.device_id for o in others)],
                [o.session_id for o in others],
                f"同一IDが複数端末・場所で同時使用 / account {account_id} already active on "
                f"{', '.join(o.device_id + '@' + (o.source_ip or '?') for o in others)}; "
                f"login on {dev}@{source_ip or '?'} refused",
            )
            return refuse(
                f"account already active on another terminal or place (alert {alert_id})",
                403,
                acct,
                dev,
                alert_id,
            )
        # success
        if acct.password_hash and self.passwords.needs_rehash(acct.password_hash):
            acct.password_hash = self.passwords.hash(password)
        acct.failed_count = 0
        acct.lockouts = 0
        acct.locked_until = None
        token = SESSION_PREFIX + secrets.token_urlsafe(32)
        sid = "ses-" + secrets.token_hex(12)
        s.add(
            LoginSession(
                session_id=sid,
                token_hash=hash_token(token),
                account_id=account_id,
                device_id=dev,
                source_ip=source_ip,
                created_at=now,
                last_seen_at=now,
            )
        )
        events.append(
            self.event(
                now,
                "login",
                decision="allow",
                screen="identity/login",
                reason="password+totp on own terminal",
                account_id=account_id,
                device_id=dev,
                session_id=sid,
                source_ip=source_ip,
                person_id=acct.holder_person_id,
                org=acct.org,
            )
        )
        return None, LoginResult(
            sid,
            token,
            account_id,
            dev,
            now + self.config.idle_timeout,
            now + self.config.absolute_timeout,
        )

    @staticmethod
    def _is_legacy(s: Session, account_id: str) -> bool:
        from gridwall.identity._models import LegacyAccount

        return s.get(LegacyAccount, account_id) is not None

    def logout(self, token: str, now: datetime, *, terminal_credential: str | None = None) -> str:
        """End the session of ``token``; returns its session id.

        With ``terminal_credential`` (the HTTP route always passes it) the session ends only
        when that credential verifies for the terminal the session was opened on: a stolen
        bearer alone cannot end (or probe) someone's session from elsewhere. A refusal is
        audited and raises :class:`LoginRefused` (401).
        """
        now = as_utc(now)
        refusal: LoginRefused | None = None
        sid = ""
        with self.transaction() as (s, events):
            refusal, sid = self._logout(s, events, token, now, terminal_credential)
        if refusal is not None:
            raise refusal
        return sid

    def _logout(
        self,
        s: Session,
        events: list[dict[str, Any]],
        token: str,
        now: datetime,
        terminal_credential: str | None,
    ) -> tuple[LoginRefused | None, str]:
        dev: str | None = None
        if terminal_credential is not None:
            try:
                dev = self._terminal_from(s, terminal_credential, now).device_id
            except _keys.BadToken as e:
                reason = f"logout refused: terminal credential refused: {e}"
                events.append(self.event(now, "login_failed", decision="deny",
                                         screen="identity/logout", reason=reason))  # fmt: skip
                return LoginRefused(reason), ""
        sess = s.scalars(
            select(LoginSession).where(LoginSession.token_hash == hash_token(token))
        ).first()
        if sess is None:
            events.append(self.event(now, "login_failed", decision="deny", device_id=dev,
                                     screen="identity/logout",
                                     reason="logout refused: unknown session token"))  # fmt: skip
            return LoginRefused("unknown session token"), ""
        acct = s.get(Account, sess.account_id)
        who: dict[str, Any] = dict(
            account_id=sess.account_id,
            session_id=sess.session_id,
            person_id=acct.holder_person_id if acct else None,
            org=acct.org if acct else None,
        )
        if dev is not None and dev != sess.device_id:
            reason = (f"logout refused: session opened on {sess.device_id} presented "
                      f"from {dev}")  # fmt: skip
            events.append(self.event(now, "login_failed", decision="deny", device_id=dev,
                                     screen="identity/logout", reason=reason, **who))  # fmt: skip
            return LoginRefused(reason), ""
        if (why := self._live(sess, now)) is not None:
            # an ended or timed-out session answers like an unknown token (one refusal)
            events.append(self.event(now, "login_failed", decision="deny", device_id=dev,
                                     screen="identity/logout",
                                     reason=f"logout refused: {why}", **who))  # fmt: skip
            return LoginRefused(f"logout refused: {why}"), ""
        sess.ended_at = now
        sess.end_reason = "logout"
        events.append(
            self.event(
                now,
                "logout",
                decision="allow",
                screen="identity/logout",
                reason="logout",
                device_id=sess.device_id,
                **who,
            )
        )
        return None, sess.session_id

    # ------------------------------------------------------------------ request-time authentication

    def _retailer_kind(self, org: str) -> RetailerKind:
        if not org.startswith("retail:"):
            return RetailerKind.NONE
        code = org.split(":", 1)[1]
        rk = self.retailer_kinds
        kind = (rk(code) if callable(rk) else rk.get(code)) if rk is not None else None
        if kind is None:
            raise LoginRefused(f"retailer {code!r} is not registered (kind unknown)", 403)
        return RetailerKind(str(kind))

    def authenticate(
        self, credential: str, terminal_credential: str, now: datetime
    ) -> tuple[Principal, Terminal]:
        """Resolve a session token (or API-client token) and a terminal token at ``now``.

        Raises :class:`LoginRefused` (audited) when either cannot be verified, the
        session has ended or timed out, or a session token is presented from a
        terminal other than its own (raises a C③ alert). When the credentials verify
        but the account is no longer active (transferred, revoked, expired, locked)
        or the terminal belongs to another organisation, the principal is returned
        with those facts so that the policy denies and explains (I5, I6); that
        refusal is audited here too.
        """
        now = as_utc(now)
        refusal: LoginRefused | None = None
        out: tuple[Principal, Terminal] | None = None
        with self.transaction() as (s, events):
            refusal, out = self._authenticate(s, events, credential, terminal_credential, now)
        if refusal is not None:
            raise refusal
        assert out is not None
        return out

    def _authenticate(
        self,
        s: Session,
        events: list[dict[str, Any]],
        credential: str,
        terminal_credential: str,
        now: datetime,
    ) -> tuple[LoginRefused | None, tuple[Principal, Terminal] | None]:
        def refuse(
            reason: str, status: int = 401, alert_id: str | None = None, **kw: Any
        ) -> tuple[LoginRefused, None]:
            events.append(
                self.event(
                    now,
                    "login_failed",
                    decision="deny",
                    screen="identity/authenticate",
                    reason=reason,
                    **kw,
                )
            )
            self._evidence(s, alert_id, events[-1])
            return LoginRefused(reason, status, alert_id), None

        try:
            term = self._terminal_from(s, terminal_credential, now)
        except _keys.BadToken as e:
            return refuse(f"terminal credential refused: {e}")
        dev = term.device_id
        if credential.startswith(_keys.CLIENT_PREFIX + "."):
            return self._authenticate_client(s, events, credential, term, now)
        sess = s.scalars(
            select(LoginSession).where(LoginSession.token_hash == hash_token(credential))
        ).first()
        if sess is None:
            return refuse("unknown session token", device_id=dev)
        acct = s.get(Account, sess.account_id)
        assert acct is not None  # foreign key
        who: dict[str, Any] = dict(
            account_id=acct.account_id,
            device_id=dev,
            session_id=sess.session_id,
            person_id=acct.holder_person_id,
        )
        if sess.device_id != dev:
            alert_id = self._alert(
                s,
                now,
                "shared_credential",
                "C3",
                5,
                acct,
                [sess.device_id, dev],
                [sess.session_id],
                f"セッショントークンを別端末で使用 / session of {acct.account_id} issued on "
                f"{sess.device_id} presented from {dev}",
            )
            return refuse(
                f"session token presented from another terminal (alert {alert_id})",
                403,
                alert_id,
                org=acct.org,
                **who,
            )
        history = assignments_of(s, acct.holder_person_id)
        verdict = account_state(s, acct, now, history)
        asg = pick_at(history, now)
        org = asg.org if asg else acct.org
        if verdict.state is AccountState.ACTIVE and (why := self._live(sess, now)) is not None:
            return refuse(why, org=org, **who)
        last = pick_latest(history, now)
        try:
            role = Role(last.role) if last and last.role else None
        except ValueError:
            role = None
        if role is None:
            return refuse(
                f"role {last.role if last else None!r} is not a gridwall role", 403, org=org, **who
            )
        try:
            rkind = self._retailer_kind(org)
        except LoginRefused as e:
            why = e.reason
            if verdict.state is not AccountState.ACTIVE:
                why = f"account {verdict.state.value}: {verdict.reason}; {why}"
            return refuse(why, 403, org=org, **who)
        facts = PrincipalFacts(
            org_kind=org_kind(org),
            retailer_kind=rkind,
            role=role,
            account_kind=AccountKind.PERSONAL,
            account_state=verdict.state,
            training_current=training_current(
                s, acct.holder_person_id, now, self.config.training_validity_days
            ),
        )
        problem = self.terminal_problem(term, now)
        dfacts = DeviceFacts(
            kind=DeviceKind(term.kind),
            owner=DeviceOwner.SAME_ORG if term.owner_org == org else DeviceOwner.OTHER_ORG,
            valid=problem is None,
        )
        if verdict.state is not AccountState.ACTIVE:
            events.append(
                self.event(
                    now,
                    "login_failed",
                    decision="deny",
                    screen="identity/authenticate",
                    reason=f"account {verdict.state.value}: {verdict.reason}",
                    org=org,
                    **who,
                )
            )
        elif dfacts.owner is DeviceOwner.OTHER_ORG or not dfacts.valid:
            events.append(
                self.event(
                    now,
                    "login_failed",
                    decision="deny",
                    screen="identity/authenticate",
                    reason=problem or f"terminal belongs to {term.owner_org}",
                    org=org,
                    **who,
                )
            )
        elif now - sess.last_seen_at >= self.config.touch_every:
            sess.last_seen_at = now
        principal = Principal(
            account_id=acct.account_id,
            person_id=acct.holder_person_id,
            org=org,
            facts=facts,
            session_id=sess.session_id,
        )
        return None, (principal, Terminal(dev, term.owner_org, dfacts))

    def _authenticate_client(
        self,
        s: Session,
        events: list[dict[str, Any]],
        credential: str,
        term: TerminalRow,
        now: datetime,
    ) -> tuple[LoginRefused | None, tuple[Principal, Terminal] | None]:
        dev = term.device_id

        def refuse(reason: str, status: int = 401, **kw: Any) -> tuple[LoginRefused, None]:
            events.append(
                self.event(
                    now,
                    "login_failed",
                    decision="deny",
                    screen="identity/authenticate",
                    reason=reason,
                    device_id=dev,
                    **kw,
                )
            )
            return LoginRefused(reason, status), None

        try:
            claim = _keys.parse_token(_keys.CLIENT_PREFIX, credential)
            client = s.get(ApiClient, claim.subject)
            if client is None:
                raise _keys.BadToken(f"unknown API client {claim.subject!r}")
            _keys.verify_claim(
                _keys.CLIENT_PREFIX,
                claim,
                client.public_key,
                now,
                self.config.token_max_age,
                self.config.clock_skew,
            )
        except _keys.BadToken as e:
            return refuse(f"API client token refused: {e}")
        if client.revoked_at is not None and client.revoked_at <= now:
            state = AccountState.REVOKED
        elif client.valid_to is not None and client.valid_to <= now:
            state = AccountState.EXPIRED
        else:
            state = AccountState.ACTIVE
        try:
            rkind = self._retailer_kind(client.org)
        except LoginRefused as e:
            return refuse(e.reason, 403, account_id=client.client_id, org=client.org)
        # A retailer system is not a person: it cannot attend training; the retailer's
        # registration of the client attests for it (I10 concerns NW staff only).
        facts = PrincipalFacts(
            OrgKind.RETAIL,
            rkind,
            Role(client.role),
            AccountKind.SERVICE,
            state,
            training_current=True,
        )
        problem = self.terminal_problem(term, now)
        dfacts = DeviceFacts(
            DeviceKind(term.kind),
            DeviceOwner.SAME_ORG if term.owner_org == client.org else DeviceOwner.OTHER_ORG,
            problem is None,
        )
        if state is not AccountState.ACTIVE or dfacts.owner is DeviceOwner.OTHER_ORG or problem:
            events.append(
                self.event(
                    now,
                    "login_failed",
                    decision="deny",
                    screen="identity/authenticate",
                    reason=f"API client {state.value}; terminal "
                    f"{dfacts.owner.value}; {problem or 'terminal valid'}",
                    account_id=client.client_id,
                    device_id=dev,
                    org=client.org,
                )
            )
        principal = Principal(client.client_id, None, client.org, facts, None)
        return None, (principal, Terminal(dev, term.owner_org, dfacts))
