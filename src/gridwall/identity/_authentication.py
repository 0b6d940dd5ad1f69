"""Request-time authentication: a session or API-client token and a terminal token resolve
to the principal and terminal facts the policy decides on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridwall.identity import _keys
from gridwall.identity._login import LoginOperations
from gridwall.identity._models import (
    Account,
    ApiClient,
)
from gridwall.identity._models import Session as LoginSession
from gridwall.identity._models import Terminal as TerminalRow
from gridwall.identity._results import LoginRefused, hash_token
from gridwall.identity._state import (
    account_state,
    assignments_of,
    org_kind,
    pick_at,
    pick_latest,
    training_current,
)
from gridwall.interfaces import Principal, Terminal
from gridwall.interfaces.clock import as_utc
from gridwall.interfaces.facts import (
    AccountKind,
    AccountState,
    DeviceFacts,
    DeviceKind,
    DeviceOwner,
    OrgKind,
    PrincipalFacts,
    Role,
)


class AuthenticationOperations(LoginOperations):
    """Every request's authentication."""

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
