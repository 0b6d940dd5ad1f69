"""The gateway's authenticator (:class:`gridwall.interfaces.Authenticator`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from gridwall.identity._service import IdentityConfig, IdentityService, RetailerKinds
from gridwall.interfaces import AuditSink, Principal, Terminal


class IdentityAuthenticator:
    """Resolves ``(session token | API-client token, terminal token)`` at request time.

    The bearer credential is the session token printed by ``gridwall identity
    login`` (or returned by ``POST /identity/login``), or a retailer system's
    signed ``gwc1.`` client token. The terminal credential is a fresh ``gwt1.``
    token signed with the terminal's enrolled key. Failures raise
    :class:`~gridwall.identity.LoginRefused` (an ``AuthenticationError``) and are
    audited; account and terminal facts are decided at ``now``.
    """

    def __init__(
        self,
        engine: Engine,
        audit: AuditSink | None = None,
        *,
        retailer_kinds: RetailerKinds | None = None,
        disaster_active: Callable[[datetime], bool] | None = None,
        config: IdentityConfig | None = None,
        service: IdentityService | None = None,
    ) -> None:
        if service is None:
            kw = {"disaster_active": disaster_active} if disaster_active else {}
            service = IdentityService(engine, audit, config, retailer_kinds=retailer_kinds, **kw)
        self.service = service

    def authenticate(
        self, credential: str, terminal_credential: str, now: datetime
    ) -> tuple[Principal, Terminal]:
        return self.service.authenticate(credential, terminal_credential, now)
