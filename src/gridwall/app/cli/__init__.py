"""The ``gridwall`` command.

Each capability package contributes its own commands from ``gridwall.<pkg>.cli``
through a ``register(app)`` function, so the packages stay independent. Those
modules must keep heavy imports (ibis, pyspark, fastapi …) inside the command
functions so that ``gridwall --help`` stays fast.

Errors derived from :class:`gridwall.errors.GridwallError`, and any database error
(SQLAlchemy, sqlite3, psycopg, Alembic) that escapes a command, are printed as one-line
diagnostics ``gridwall: error: …`` (no traceback unless ``--verbose``; passwords in URLs
never shown) with the contract's exit codes:

* 0 success;
* 1 a check failed (verification, proof, refusal);
* 2 bad usage or bad input, or an unusable store: missing, not migrated, wrong schema,
  not a database, bad ``--db`` URL;
* 3 the store cannot be reached: connection refused, timeout or authentication failure on
  PostgreSQL, an SQLite file that cannot be opened or read (I/O, permissions, locked);
* 130 aborted (Ctrl-C).

Read-only commands open the store through :func:`gridwall.app.cli.stores.existing_store`
(never create, never migrate); writing commands through
:func:`gridwall.app.cli.stores.writable_store`.
"""

from __future__ import annotations

import importlib
import sys

import typer

from gridwall.errors import GridwallError

app = typer.Typer(
    name="gridwall",
    help="gridwall: the information firewall for 託送 customer data.",
    epilog="Exit codes: 0 done, 1 a check failed, 2 bad input or an unusable store (missing, "
    "not migrated, bad --db), 3 the store cannot be reached, 130 aborted.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Order matters only for --help listing.
_PLUGINS = (
    "gridwall.app.cli.synth",
    "gridwall.app.cli.load",
    "gridwall.app.cli.policy",
    "gridwall.app.cli.audit",
    "gridwall.app.cli.witness",
    "gridwall.app.cli.identity",
    "gridwall.app.cli.grants",
    "gridwall.app.cli.cases",
    "gridwall.app.cli.selfreport",
    "gridwall.app.cli.monitor",
    "gridwall.app.cli.lookup",
    "gridwall.app.cli.legacy",
    "gridwall.app.cli.canary",
    "gridwall.app.cli.report",
    "gridwall.app.cli.wall",
    "gridwall.app.cli.serve",
)

_VERBOSE = False

# Typer vendors its own click; its usage errors share this base class (found through a public
# exception type rather than a private module path).
_CLICK_ERROR: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show tracebacks on errors."),
) -> None:
    global _VERBOSE
    _VERBOSE = verbose


_LOADED: list[str] = []


def _load_plugins() -> None:
    if _LOADED:  # once per process (main() may be called again, e.g. by tests)
        return
    for name in _PLUGINS:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # the package has no CLI (yet): nothing to register
                continue
            raise
        mod.register(app)
        _LOADED.append(name)


def main(argv: list[str] | None = None) -> None:
    """Entry point for the console script."""
    from gridwall.app.cli import stores

    _load_plugins()
    stores.forget()
    try:
        app(args=argv, standalone_mode=False)
    except GridwallError as e:
        if _VERBOSE:
            raise
        print(f"gridwall: error: {stores.redact(e.diagnostics())}", file=sys.stderr)
        sys.exit(e.exit_code)
    except SystemExit:
        raise
    except (typer.Abort, KeyboardInterrupt):
        print("gridwall: aborted", file=sys.stderr)
        sys.exit(130)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except _CLICK_ERROR as e:  # usage errors: missing option, unknown command, bad value
        e.show()  # type: ignore[attr-defined]
        sys.exit(2)
    except Exception as e:  # a database error escaping a command: one line, exit 2 or 3
        err = stores.store_error(e)
        if err is None or _VERBOSE:
            raise
        print(f"gridwall: error: {stores.redact(err.diagnostics())}", file=sys.stderr)
        sys.exit(err.exit_code)
    sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()
