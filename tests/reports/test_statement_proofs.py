"""A statement's proofs computed in one pass over the tiles give the same file, byte for
byte, as one proof read per row (the way statements were made before)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from gridwall.app.reporting import AuditLogView, dump_json, supply_periods
from gridwall.reports import build_statement, statement_html

from .scenario import FIRST, LAST, Scenario, tiny

SECRET = b"operator-secret-for-tests-0123456789"
GENERATED = datetime(2026, 4, 5, tzinfo=UTC)


class OneByOne(AuditLogView):
    """The audit log view answering each row's proof with its own store read."""

    def inclusion_proofs(self, indices: Sequence[int], size: int) -> list[list[bytes]]:
        return [self.log.inclusion_proof(i, size) for i in indices]


@pytest.mark.parametrize("retailer", [tiny.AFF, tiny.IND, tiny.IND2])
def test_one_pass_proofs_give_the_same_statement_bytes(scenario: Scenario, retailer: str) -> None:
    files = []
    for cls in (AuditLogView, OneByOne):
        view = cls(scenario.url)
        try:
            st = build_statement(
                view, supply_periods(scenario.engine), retailer, FIRST, LAST,
                secret=SECRET, generated_at=GENERATED,
            )  # fmt: skip
        finally:
            view.close()
        assert st["count"] > 0
        files.append((dump_json(st), statement_html(st)))
    assert files[0] == files[1]
