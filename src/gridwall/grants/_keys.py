"""Secret keys of the grants capability, kept in the store (``grant_keys``).

One 32-byte random key per name (``consent`` for consent-token MACs,
``watermark`` for export marks), created on first use. Whoever can read this
table can mint consent tokens: in production keep it in a KMS/HSM; the table is
the embedded default.
"""

from __future__ import annotations

import secrets

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from gridwall.grants._models import GrantKey
from gridwall.interfaces.clock import system_clock

KEY_NAMES = ("consent", "watermark")


def find_key(engine: Engine, name: str) -> bytes | None:
    """The key called ``name`` if the store has one; never creates it (for readers that
    must not write: no key means nothing was ever signed or marked with it)."""
    if name not in KEY_NAMES:
        raise ValueError(f"unknown key {name!r}")
    t = GrantKey.__table__
    with engine.connect() as conn:
        found = conn.execute(select(t.c.secret).where(t.c.name == name)).scalar()
    return None if found is None else bytes(found)


def load_key(engine: Engine, name: str) -> bytes:
    """The key called ``name``; created (32 random bytes) if the store has none yet."""
    if name not in KEY_NAMES:
        raise ValueError(f"unknown key {name!r}")
    t = GrantKey.__table__
    for _ in range(2):
        with engine.connect() as conn:
            found = conn.execute(select(t.c.secret).where(t.c.name == name)).scalar()
        if found is not None:
            return bytes(found)
        try:
            with engine.begin() as conn:
                conn.execute(
                    insert(GrantKey).values(
                        name=name, secret=secrets.token_bytes(32), created_at=system_clock()
                    )
                )
        except IntegrityError:  # another process created it first: read theirs
            continue
    with engine.connect() as conn:
        found = conn.execute(select(t.c.secret).where(t.c.name == name)).scalar()
    if found is None:
        raise RuntimeError(f"could not create the {name} key")
    return bytes(found)
