"""Run-time configuration: where the store is.

Every command that touches the store takes ``--db URL`` (an SQLAlchemy URL); the
default comes from ``GRIDWALL_DB`` and otherwise is an SQLite file ``gridwall.db``
in the working folder.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_SQLITE_NAME = "gridwall.db"


def database_url(explicit: str | None = None) -> str:
    """Resolve the store URL: explicit > $GRIDWALL_DB > ./gridwall.db (SQLite)."""
    if explicit:
        return explicit
    env = os.environ.get("GRIDWALL_DB")
    if env:
        return env
    return f"sqlite:///{Path.cwd() / DEFAULT_SQLITE_NAME}"
