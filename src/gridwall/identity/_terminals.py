"""Terminals (端末) and API clients: registration, key enrolment, revocation, and whether a
terminal may be used at an instant."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridwall.errors import UsageError
from gridwall.identity import _keys
from gridwall.identity._ledger import IdentityLedger
from gridwall.identity._models import (
    ApiClient,
)
from gridwall.identity._models import Session as LoginSession
from gridwall.identity._models import Terminal as TerminalRow
from gridwall.identity._state import (
    valid_org,
)
from gridwall.interfaces.facts import (
    DeviceKind,
    Role,
)

DeviceKindOrg = {
    "nw_terminal": ("nw",),
    "retail_terminal": ("retail:",),
    "contractor_terminal": ("contractor:",),
    "regulator_terminal": ("regulator",),
}


def new_terminal_row(
    device_id: str,
    owner_org: str,
    kind: str,
    now: datetime,
    location: str | None = None,
    valid_to: datetime | None = None,
    source: str = "cli",
) -> TerminalRow:
    """A terminal record checked for its organisation and kind (no key yet)."""
    if not valid_org(owner_org):
        raise UsageError(f"--org: {owner_org!r} is not a valid organisation")
    if kind not in (k.value for k in DeviceKind):
        raise UsageError(f"--kind: {kind!r} is not one of {', '.join(k.value for k in DeviceKind)}")
    prefixes = DeviceKindOrg.get(kind)
    if prefixes and not any(owner_org.startswith(p) for p in prefixes):
        raise UsageError(f"--kind {kind} cannot belong to {owner_org}")
    return TerminalRow(
        device_id=device_id,
        owner_org=owner_org,
        kind=kind,
        location=location,
        valid_from=now,
        valid_to=valid_to,
        source=source,
    )


class TerminalOperations(IdentityLedger):
    """Terminals and API clients, and the terminal token check every request makes."""

    def register_terminal(
        self,
        device_id: str,
        owner_org: str,
        kind: str,
        now: datetime,
        location: str | None = None,
        valid_to: datetime | None = None,
    ) -> None:
        row = new_terminal_row(device_id, owner_org, kind, now, location, valid_to)
        with self.transaction() as (s, events):
            if s.get(TerminalRow, device_id) is not None:
                raise UsageError(f"terminal {device_id!r} already exists")
            s.add(row)
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
