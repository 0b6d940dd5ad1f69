"""The store: SQLAlchemy engine, declarative base and Alembic migrations.

Public surface: :func:`make_engine`, :func:`upgrade`, :class:`Base`.

Each capability package keeps its own tables (``gridwall.<pkg>`` models on
:class:`Base`) and its own Alembic branch in ``gridwall/<pkg>/migrations/``
(initial revision with ``branch_labels=("<pkg>",)``, ``down_revision=None``);
:func:`upgrade` applies every branch (``alembic upgrade heads``).

Customer tables (託送 data) are in :mod:`gridwall.store.customer`; only the
gateway may import that module (an import-linter contract enforces it).
"""

from gridwall.store.base import Base
from gridwall.store.db import make_engine, upgrade

__all__ = ["Base", "make_engine", "upgrade"]
