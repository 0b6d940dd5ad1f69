"""Run-time configuration: where the store is.

Every command that touches the store takes ``--db URL`` (an SQLAlchemy URL); the
default comes from ``GRIDWALL_DB`` and otherwise is an SQLite file ``gridwall.db``
in the working folder.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from gridwall.errors import UsageError

DEFAULT_SQLITE_NAME = "gridwall.db"


def database_url(explicit: str | None = None) -> str:
    """Resolve the store URL: explicit > $GRIDWALL_DB > ./gridwall.db (SQLite)."""
    if explicit:
        return explicit
    env = os.environ.get("GRIDWALL_DB")
    if env:
        return env
    return f"sqlite:///{Path.cwd() / DEFAULT_SQLITE_NAME}"


#: environment variable: the owner role's URL, for migrations (PostgreSQL with the second wall)
OWNER_DB_ENV = "GRIDWALL_OWNER_DB"


def owner_database_url(explicit: str | None = None, app_url: str | None = None) -> str:
    """The URL migrations run with: explicit > $GRIDWALL_OWNER_DB > the application's URL.

    On PostgreSQL with the second wall (docs/operations.md) the application connects as a
    role that may only read the customer tables; the schema (tables, row-level security
    policies) belongs to a separate owner role, whose URL this is."""
    if explicit:
        return explicit
    env = os.environ.get(OWNER_DB_ENV)
    if env:
        return env
    return app_url if app_url is not None else database_url()


#: environment variable: reverse proxies whose ``X-Forwarded-For`` the server believes
TRUSTED_PROXIES_ENV = "GRIDWALL_TRUSTED_PROXIES"


def trusted_proxies(explicit: str | None = None) -> list[str]:
    """The reverse proxies (IP addresses or CIDR networks, comma-separated) whose
    ``X-Forwarded-For`` names the client: explicit > $GRIDWALL_TRUSTED_PROXIES > none.

    With none, the client address is always the socket's peer and a forwarded header is
    ignored (a caller cannot choose the address its events carry)."""
    text = explicit if explicit is not None else os.environ.get(TRUSTED_PROXIES_ENV, "")
    where = "--trusted-proxies" if explicit is not None else TRUSTED_PROXIES_ENV
    out = []
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise UsageError(f"{where}: {item!r} is not an IP address or network") from None
        out.append(item)
    return out
