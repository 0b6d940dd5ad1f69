"""Errors a person can act on.

Every error gridwall raises on purpose derives from :class:`GridwallError`. Its
:meth:`~GridwallError.diagnostics` says what went wrong and what to do; the CLI
prints that (never a traceback unless ``--verbose``) and exits with the error's
``exit_code`` (2 for bad usage or bad input, 1 for a failed check).
"""

from __future__ import annotations

from dataclasses import dataclass


class GridwallError(Exception):
    """Base class. ``exit_code`` follows the CLI contract: 2 bad input, 1 failed check."""

    exit_code: int = 2

    def diagnostics(self) -> str:
        return str(self)


@dataclass(frozen=True)
class Location:
    """Where bad input was found: file, 1-based line (header = line 1), column/field."""

    file: str
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        s = self.file
        if self.line is not None:
            s += f":{self.line}"
        if self.field:
            s += f" [{self.field}]"
        return s


class InputError(GridwallError):
    """Bad input: names the file, line and field, and the problem."""

    exit_code = 2

    def __init__(self, message: str, where: Location | None = None) -> None:
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class InputErrors(GridwallError):
    """Several bad rows at once (a loader reports all it found, up to a cap)."""

    exit_code = 2

    def __init__(self, errors: list[InputError], truncated: bool = False) -> None:
        self.errors = errors
        self.truncated = truncated
        super().__init__(self.diagnostics())

    def diagnostics(self) -> str:
        lines = [f"{len(self.errors)} bad input row(s); nothing was written:"]
        lines += [f"  {e}" for e in self.errors]
        if self.truncated:
            lines.append("  … (more errors not shown)")
        return "\n".join(lines)


class UsageError(GridwallError):
    """A bad parameter or option; names it."""

    exit_code = 2


class CheckFailed(GridwallError):
    """A verification or proof failed (exit 1)."""

    exit_code = 1


class AccessDenied(GridwallError):
    """The request is refused. Never carries any non-public value."""

    exit_code = 1
