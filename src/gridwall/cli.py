"""The ``gridwall`` command.

Each capability package contributes its own commands from ``gridwall.<pkg>.cli``
through a ``register(app)`` function, so the packages stay independent. Those
modules must keep heavy imports (ibis, pyspark, fastapi …) inside the command
functions so that ``gridwall --help`` stays fast.

Errors derived from :class:`gridwall.errors.GridwallError` are printed as
diagnostics (no traceback unless ``--verbose``) with the contract's exit codes:
0 success, 1 a check failed, 2 bad usage or bad input.
"""

from __future__ import annotations

import importlib
import sys

import typer

from gridwall.errors import GridwallError

app = typer.Typer(
    name="gridwall",
    help="gridwall: the information firewall for 託送 customer data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Order matters only for --help listing.
_PLUGINS = (
    "gridwall.synth.cli",
    "gridwall.gateway.cli",
    "gridwall.policy.cli",
    "gridwall.audit.cli",
    "gridwall.identity.cli",
    "gridwall.grants.cli",
    "gridwall.monitor.cli",
    "gridwall.lookup.cli",
    "gridwall.web.cli",
)

_VERBOSE = False


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show tracebacks on errors."),
) -> None:
    global _VERBOSE
    _VERBOSE = verbose


def _load_plugins() -> None:
    for name in _PLUGINS:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # the package has no CLI (yet): nothing to register
                continue
            raise
        mod.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point for the console script."""
    _load_plugins()
    try:
        app(args=argv, standalone_mode=False)
    except GridwallError as e:
        if _VERBOSE:
            raise
        print(f"gridwall: error: {e.diagnostics()}", file=sys.stderr)
        sys.exit(e.exit_code)
    except SystemExit:
        raise
    except (typer.Abort, KeyboardInterrupt):
        print("gridwall: aborted", file=sys.stderr)
        sys.exit(130)
    except Exception as e:  # click usage errors
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            sys.exit(2)
        if isinstance(e, click.exceptions.Exit):
            sys.exit(e.exit_code)
        raise
    sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()
