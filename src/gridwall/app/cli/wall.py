"""``gridwall store check-wall``: does the second wall (PostgreSQL row-level security) stand?

It connects with ``--db`` as the application role (or checks ``--role`` through any
connection that can read the catalogue) and prints every weakening that
:func:`gridwall.store.rls.check_wall` finds: RLS disabled or not forced on a customer
table, a policy changed or added, the point function replaced, an app role that is a
superuser, can bypass RLS or owns a table. Exit codes: 0 the wall stands, 1 it is weak
(or the store is SQLite, which has no row-level security), 2 bad input, 3 unreachable.
"""

from __future__ import annotations

import typer

from gridwall.errors import CheckFailed

sub = typer.Typer(
    name="store",
    help="Checks on the store itself (the database-side wall).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the ``store`` sub-command group to the ``gridwall`` app."""
    app.add_typer(sub, name="store")


@sub.command("check-wall")
def check_wall(
    db: str = typer.Option(None, "--db", help="Store URL, as the application role."),
    role: str = typer.Option(
        None, "--role", help="The application role to check (default: the --db user)."
    ),
) -> None:
    """Report whether row-level security on the customer tables still holds (exit 1 if weak)."""
    from sqlalchemy.engine import make_url

    from gridwall.app.cli import stores
    from gridwall.store import rls

    url = stores.existing_store(db)
    if make_url(url).get_backend_name() != "postgresql":
        raise CheckFailed(
            f"--db {stores.redact(url)}: SQLite has no row-level security; "
            "the second wall needs PostgreSQL"
        )
    engine = stores.read_only_engine(url)
    try:
        with engine.connect() as conn:
            problems = rls.check_wall(conn, role)
    finally:
        engine.dispose()
    if problems:
        for p in problems:
            print(f"weak: {p}")
        raise CheckFailed(f"the wall is weak: {len(problems)} problem(s)")
    print(
        "the wall stands: row-level security forced on every customer table, "
        "the role cannot bypass it"
    )
