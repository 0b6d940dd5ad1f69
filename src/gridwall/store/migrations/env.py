"""Alembic environment: runs on a connection handed in by gridwall.store.upgrade or on the URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from gridwall.store.base import Base
from gridwall.store.db import make_engine

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


conn = config.attributes.get("connection")
if conn is not None:
    _run(conn)
else:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as c:
        _run(c)
    engine.dispose()
