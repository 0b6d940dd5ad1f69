"""Signing in at the server console (``verify_operator``, the CLI's ``--by``): the same
password + TOTP rules as login — failures count towards the lockout, a code is good once,
unknown and locked accounts answer like a wrong password, and every outcome is audited."""

from __future__ import annotations

import pytest

from gridwall.identity import LoginRefused
from gridwall.interfaces.facts import AccountState, OrgKind, Role

from .conftest import PASSWORD, World


def test_console_sign_in_gives_the_principal_policies_decide_on(world: World) -> None:
    p = world.svc.verify_operator("nw-op", PASSWORD, world.code("nw-op"), world.now)
    assert (p.account_id, p.person_id, p.org) == ("nw-op", "p-nw", "nw")
    assert p.facts.org_kind is OrgKind.NW and p.facts.role is Role.TAKUSO_OPERATOR
    assert p.facts.account_state is AccountState.ACTIVE and p.session_id is None
    ok = [e for e in world.sink.events if e["screen"] == "identity/console"]
    assert [e["decision"] for e in ok] == ["allow"]
    # the same code again is a replay
    with pytest.raises(LoginRefused) as e:
        world.svc.verify_operator("nw-op", PASSWORD, world.code("nw-op"), world.now)
    assert e.value.status == 401


def test_console_failures_lock_the_account_like_login_failures(world: World) -> None:
    for _ in range(5):
        world.tick(seconds=31)
        with pytest.raises(LoginRefused) as e:
            world.svc.verify_operator("nw-op", "wrong", world.code("nw-op"), world.now)
        assert e.value.status == 401
    world.tick(seconds=31)
    with pytest.raises(LoginRefused) as locked:
        world.svc.verify_operator("nw-op", PASSWORD, world.code("nw-op"), world.now)
    assert locked.value.status == 401 and "locked" in locked.value.reason
    with pytest.raises(LoginRefused) as unknown:
        world.svc.verify_operator("nobody", PASSWORD, "000000", world.now)
    assert unknown.value.status == 401 and str(unknown.value) == str(locked.value)
    screens = [e["screen"] for e in world.sink.events if e["decision"] == "deny"]
    assert "identity/lockout" in screens and screens.count("identity/console") >= 2
