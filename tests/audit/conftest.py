"""Fixtures for the audit tests: a signing key, a populated log, an in-process CLI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import typer

from gridwall.audit import note
from gridwall.errors import GridwallError

CliRun = Callable[..., int]


@pytest.fixture
def signer() -> note.Signer:
    return note.generate_signer("test.example/audit")


@pytest.fixture
def key_file(tmp_path: Path, signer: note.Signer) -> Path:
    p = tmp_path / "audit.key"
    p.write_text(signer.text() + "\n")
    (tmp_path / "audit.key.pub").write_text(signer.verifier.text() + "\n")
    return p


@pytest.fixture
def gw() -> CliRun:
    """Run ``gridwall audit …`` in-process; return the exit code like the real CLI."""
    from gridwall.app.cli.audit import register

    def run(*args: str) -> int:
        app = typer.Typer(pretty_exceptions_enable=False)

        @app.callback()
        def _root() -> None:
            pass

        register(app)
        try:
            app(args=["audit", *args], standalone_mode=False)
        except GridwallError as e:
            print(f"gridwall: error: {e.diagnostics()}")
            return e.exit_code
        except SystemExit as e:
            return int(e.code or 0)
        return 0

    return run
