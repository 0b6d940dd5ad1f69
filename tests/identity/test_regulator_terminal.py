"""The regulator's terminal kind (identity_0004): only the regulator may own one, a regulator
auditor signs in on it outside any disaster, and the migration goes down and up."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, text

from gridwall.errors import UsageError
from gridwall.store import upgrade
from gridwall.store.db import alembic_config

from .conftest import World


def test_only_the_regulator_owns_a_regulator_terminal(db_world: World) -> None:
    for org in ("nw", "retail:A0001"):
        with pytest.raises(UsageError, match="regulator_terminal cannot belong to"):
            db_world.svc.register_terminal("t-x", org, "regulator_terminal", db_world.now)


def test_a_regulator_auditor_signs_in_on_it_without_a_disaster(db_world: World) -> None:
    db_world.add_user("p-reg", "regulator", "auditor", "reg-aud")
    db_world.add_terminal("t-reg", "regulator", "regulator_terminal")
    assert not db_world.disaster
    assert db_world.login("reg-aud", "t-reg")


def test_the_migration_goes_down_and_up(db_world: World) -> None:
    db_world.add_terminal("t-reg", "regulator", "regulator_terminal")
    engine = db_world.engine
    url = engine.url.render_as_string(hide_password=False)
    with engine.begin() as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "identity_0003")
    with engine.connect() as conn:
        kinds = {r[0] for r in conn.execute(text("SELECT kind FROM idn_terminals"))}
    assert "regulator_terminal" not in kinds and "nw_terminal" in kinds
    upgrade(url, engine)
    checks = inspect(engine).get_check_constraints("idn_terminals")
    assert any("regulator_terminal" in (c.get("sqltext") or "") for c in checks), checks
    db_world.add_terminal("t-reg", "regulator", "regulator_terminal")
