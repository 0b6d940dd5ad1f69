"""The refusal raised by grant management: bad input, named by grant and field."""

from __future__ import annotations

from gridwall.errors import InputError, Location


class GrantRefused(InputError):
    """A grant operation was refused (bad or conflicting input); nothing was written.

    ``where`` names the grant (e.g. ``disaster D-2026-01``) and the field or
    parameter at fault (e.g. ``area``); the CLI exits 2.
    """

    def __init__(self, message: str, subject: str, field: str | None = None) -> None:
        super().__init__(message, Location(subject, None, field))
