"""The errors of grant management: a refusal (bad input, named by grant and field) and an
unacknowledged step (its audit event did not reach the audit log)."""

from __future__ import annotations

from gridwall.errors import GridwallError, InputError, Location


class GrantRefused(InputError):
    """A grant operation was refused (bad or conflicting input); nothing was written.

    ``where`` names the grant (e.g. ``disaster D-2026-01``) and the field or
    parameter at fault (e.g. ``area``); the CLI exits 2.
    """

    def __init__(self, message: str, subject: str, field: str | None = None) -> None:
        super().__init__(message, Location(subject, None, field))


class AuditPending(GridwallError):
    """A grant step is not acknowledged: the audit log did not take its event.

    The step's outcome and its event were committed together (a change with its allow
    event, a refusal with its deny event), so nothing is lost: the event waits in grants'
    outbox (``pending`` events in all, when that could be counted) and is delivered, oldest
    first, at the next grant step or when ``gridwall serve`` starts. Until then the caller
    must treat the step as failed (nothing fails open); the CLI exits 1. The audit log's
    own error is ``__cause__``.
    """

    exit_code = 1

    def __init__(self, pending: int | None, cause: BaseException) -> None:
        self.pending = pending
        waiting = "its event waits" if pending is None else f"{pending} event(s) wait"
        super().__init__(
            f"grant step not acknowledged: the audit log did not record its event "
            f"({type(cause).__name__}: {cause}); the step was stored with its event and "
            f"{waiting} in grants' audit outbox, delivered first at the next grant step "
            "or when `gridwall serve` starts"
        )
