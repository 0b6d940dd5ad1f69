"""Login and logout: password + TOTP on an enrolled terminal of the holder's own
organisation, lockout with backoff, shared-credential detection (C③), other-organisation
terminals (C②); and the same credential check for an operator at the command line."""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime
from typing import Any

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridwall.identity import _keys
from gridwall.identity._accounts import AccountOperations
from gridwall.identity._models import (
    Account,
)
from gridwall.identity._models import Session as LoginSession
from gridwall.identity._models import Terminal as TerminalRow
from gridwall.identity._results import SESSION_PREFIX, LoginRefused, LoginResult, hash_token
from gridwall.identity._state import (
    account_state,
    assignment_at,
    assignments_of,
    org_kind,
    pick_at,
    pick_latest,
    training_current,
)
from gridwall.identity._terminals import TerminalOperations
from gridwall.interfaces import Principal
from gridwall.interfaces.clock import as_utc
from gridwall.interfaces.facts import (
    AccountKind,
    AccountState,
    PrincipalFacts,
    RetailerKind,
    Role,
)


class LoginOperations(TerminalOperations, AccountOperations):
    """Opening and ending sessions, and verifying an operator's credentials."""

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
        conflict = self._placement_conflict(s, acct, term, now, source_ip)
        if conflict is not None:
            reason, alert_id = conflict
            return refuse(reason, 403, acct, dev, alert_id)
        return None, self._open_session(s, events, acct, dev, password, now, source_ip)

    def _placement_conflict(
        self,
        s: Session,
        acct: Account,
        term: TerminalRow,
        now: datetime,
        source_ip: str | None,
    ) -> tuple[str, str] | None:
        """Whether a login with good credentials is in the wrong place: a terminal of another
        organisation (C②) or the account live elsewhere at the same time (C③). Returns the
        audited reason and the alert raised, or None."""
        dev = term.device_id
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
                f"by {person_org} account {acct.account_id} refused",
            )
            return (
                f"terminal {dev} belongs to {term.owner_org}, not {person_org} (alert {alert_id})",
                alert_id,
            )
        # shared-credential detection (C③): live elsewhere at the same time
        others = [
            x
            for x in s.scalars(
                select(LoginSession).where(
                    LoginSession.account_id == acct.account_id, LoginSession.ended_at.is_(None)
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
                f"同一IDが複数端末・場所で同時使用 / account {acct.account_id} already active on "
                f"{', '.join(o.device_id + '@' + (o.source_ip or '?') for o in others)}; "
                f"login on {dev}@{source_ip or '?'} refused",
            )
            return (
                f"account already active on another terminal or place (alert {alert_id})",
                alert_id,
            )
        return None

    def _open_session(
        self,
        s: Session,
        events: list[dict[str, Any]],
        acct: Account,
        dev: str,
        password: str,
        now: datetime,
        source_ip: str | None,
    ) -> LoginResult:
        """Every check passed: reset the failure counters, open the session, audit the login."""
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
                account_id=acct.account_id,
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
                account_id=acct.account_id,
                device_id=dev,
                session_id=sid,
                source_ip=source_ip,
                person_id=acct.holder_person_id,
                org=acct.org,
            )
        )
        return LoginResult(
            sid,
            token,
            acct.account_id,
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

    def _retailer_kind(self, org: str) -> RetailerKind:
        if not org.startswith("retail:"):
            return RetailerKind.NONE
        code = org.split(":", 1)[1]
        rk = self.retailer_kinds
        kind = (rk(code) if callable(rk) else rk.get(code)) if rk is not None else None
        if kind is None:
            raise LoginRefused(f"retailer {code!r} is not registered (kind unknown)", 403)
        return RetailerKind(str(kind))
