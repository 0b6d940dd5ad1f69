"""Wiring for :mod:`gridwall.reports`: the audit log as a :class:`~gridwall.reports.LogView`,
the gateway's supply periods as :data:`~gridwall.reports.SupplyPeriods`, and the operator's
pseudonym secret.

The statement learns which points a retailer supplied only through
:func:`gridwall.gateway.retailer_supply` (the gateway is the only reader of customer
tables), and only that retailer's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from gridwall.errors import UsageError
from gridwall.reports import Supply

#: the file holding the operator's pseudonym secret (NW staff pseudonyms in statements)
SECRET_ENV = "GRIDWALL_PSEUDONYM_KEY"


class AuditLogView:
    """The audit log of one store, read for a report (nothing is written)."""

    def __init__(self, url: str) -> None:
        from gridwall.audit._db import Conn
        from gridwall.audit._log import AuditLog

        self.log = AuditLog(url)
        self._conn = Conn(url)

    def checkpoint(self) -> tuple[int, bytes, str]:
        cp = self.log.latest_checkpoint()
        if cp is None:
            raise UsageError(
                "the audit log has no signed checkpoint yet; run `gridwall audit checkpoint`"
            )
        return cp.size, cp.root, cp.note

    def entries(self, lo: int, hi: int) -> Iterable[tuple[int, bytes]]:
        got = self._conn.entries(lo, hi)
        if len(got) != hi - lo:
            have = {i for i, _ in got}
            miss = next(i for i in range(lo, hi) if i not in have)
            raise UsageError(f"audit entry {miss} is not in the database (archived?)")
        return got

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return self.log.inclusion_proof(index, size)

    def close(self) -> None:
        self._conn.close()
        self.log.close()


def supply_periods(engine: Engine) -> Any:
    """:data:`gridwall.reports.SupplyPeriods` answered by the gateway."""
    from gridwall.gateway import retailer_supply

    def periods(code: str, first: date, last: date) -> list[Supply]:
        return [Supply(p, s, e) for p, s, e in retailer_supply(engine, code, first, last)]

    return periods


def read_secret(path: Path | None) -> bytes:
    """The pseudonym secret: ``path``, else the file named by ``$GRIDWALL_PSEUDONYM_KEY``."""
    if path is None:
        env = os.environ.get(SECRET_ENV)
        if not env:
            raise UsageError(
                f"--pseudonym-key: no secret given (use --pseudonym-key FILE or {SECRET_ENV})"
            )
        path = Path(env)
    try:
        data = path.read_bytes().strip()
    except OSError as e:
        raise UsageError(f"--pseudonym-key {path}: cannot read it ({e.strerror})") from e
    if len(data) < 16:
        raise UsageError(f"--pseudonym-key {path}: the secret must be at least 16 bytes")
    return data
