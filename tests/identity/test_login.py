"""Login, sessions, terminals and the authenticator."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gridwall.identity import IdentityAuthenticator, LoginRefused
from gridwall.interfaces import Authenticator
from gridwall.interfaces.facts import (
    AccountKind,
    AccountState,
    DeviceKind,
    DeviceOwner,
    OrgKind,
    RetailerKind,
    Role,
)

from .conftest import PASSWORD, World


def test_login_and_authenticate_on_both_stores(db_world: World) -> None:
    w = db_world
    token = w.login("nw-op", "t-nw")
    auth: Authenticator = IdentityAuthenticator(w.engine, service=w.svc)
    w.tick(minutes=5)
    principal, terminal = auth.authenticate(token, w.term("t-nw"), w.now)
    assert principal.account_id == "nw-op" and principal.person_id == "p-nw"
    assert principal.org == "nw"
    f = principal.facts
    assert (f.org_kind, f.retailer_kind, f.role) == (
        OrgKind.NW,
        RetailerKind.NONE,
        Role.TAKUSO_OPERATOR,
    )
    assert (f.account_kind, f.account_state) == (AccountKind.PERSONAL, AccountState.ACTIVE)
    assert f.training_current is False  # no attestation yet
    assert terminal.device_id == "t-nw"
    assert (terminal.facts.kind, terminal.facts.owner, terminal.facts.valid) == (
        DeviceKind.NW_TERMINAL,
        DeviceOwner.SAME_ORG,
        True,
    )
    assert [e["action"] for e in w.sink.events] == ["login"]
    ev = w.sink.events[0]
    assert ev["system"] == "gridwall" and ev["account_id"] == "nw-op"
    assert ev["device_id"] == "t-nw" and ev["session_id"] == principal.session_id
    assert ev["decision"] == "allow"


def test_retailer_principal_facts(world: World) -> None:
    token = world.login("ret-op", "t-ret")
    p, t = world.svc.authenticate(token, world.term("t-ret"), world.now)
    assert p.facts.org_kind is OrgKind.RETAIL and p.facts.retailer_kind is RetailerKind.AFFILIATED
    assert p.retailer_code == "A0001" and t.facts.owner is DeviceOwner.SAME_ORG


def test_wrong_password_and_totp_are_refused_and_audited(world: World) -> None:
    w = world
    with pytest.raises(LoginRefused) as e:
        w.login("nw-op", "t-nw", password="wrong password entirely")
    assert e.value.status == 401 and str(e.value) == "authentication refused"
    with pytest.raises(LoginRefused, match="refused"):
        w.svc.login("nw-op", PASSWORD, "000000", w.term("t-nw"), w.now)
    with pytest.raises(LoginRefused):
        w.svc.login("nw-op", PASSWORD, None, w.term("t-nw"), w.now)
    assert [a for a, _ in w.sink.actions()] == ["login_failed"] * 3
    assert w.sink.actions()[0][1] == "wrong password"
    assert "TOTP" in w.sink.actions()[1][1]


def test_totp_code_cannot_be_replayed(world: World) -> None:
    w = world
    code = w.code("nw-op")
    token = w.svc.login("nw-op", PASSWORD, code, w.term("t-nw"), w.now)
    w.svc.logout(token.token, w.now)
    with pytest.raises(LoginRefused):
        w.svc.login("nw-op", PASSWORD, code, w.term("t-nw"), w.now + timedelta(seconds=5))
    assert "reused" in w.sink.actions()[-1][1]


def test_unknown_and_legacy_accounts_refused(world: World) -> None:
    with pytest.raises(LoginRefused):
        world.svc.login("nobody", PASSWORD, "123456", world.term("t-nw"), world.now)
    assert world.sink.events[-1]["reason"] == "unknown account"


def test_lockout_with_exponential_backoff(world: World) -> None:
    w = world
    for _ in range(5):
        with pytest.raises(LoginRefused):
            w.login("nw-op", "t-nw", password="not the password at all")
    lock_events = [e for e in w.sink.events if e["screen"] == "identity/lockout"]
    assert len(lock_events) == 1 and "60 s" in lock_events[0]["reason"]
    # locked: even the right password is refused, and the account state is LOCKED
    with pytest.raises(LoginRefused) as e:
        w.login("nw-op", "t-nw")
    # … answering exactly like a wrong password (issue 11 item 8: no existence oracle)
    assert e.value.status == 401 and "locked" in e.value.reason
    assert str(e.value) == "authentication refused"
    # after the lock, one more failure locks again for twice as long
    w.tick(seconds=61)
    with pytest.raises(LoginRefused):
        w.login("nw-op", "t-nw", password="still not the password")
    lock_events = [e for e in w.sink.events if e["screen"] == "identity/lockout"]
    assert len(lock_events) == 2 and "120 s" in lock_events[1]["reason"]
    w.tick(seconds=119)
    with pytest.raises(LoginRefused):
        w.login("nw-op", "t-nw")
    w.tick(seconds=2)
    w.login("nw-op", "t-nw")  # lock over: success resets the backoff
    assert w.sink.events[-1]["action"] == "login"


def test_lockout_marks_live_sessions_locked(world: World) -> None:
    w = world
    token = w.login("nw-op", "t-nw")
    for _ in range(5):
        with pytest.raises(LoginRefused):
            w.login("nw-op", "t-nw", password="guessing guessing guessing")
    p, _ = w.svc.authenticate(token, w.term("t-nw"), w.now)
    assert p.facts.account_state is AccountState.LOCKED


def test_session_idle_and_absolute_timeouts(world: World) -> None:
    w = world
    token = w.login("nw-op", "t-nw")
    # keep it alive: a request every 10 minutes (< 15 min idle)
    for _ in range(6):
        w.tick(minutes=10)
        w.svc.authenticate(token, w.term("t-nw"), w.now)
    w.tick(minutes=15)
    with pytest.raises(LoginRefused) as e:
        w.svc.authenticate(token, w.term("t-nw"), w.now)
    assert e.value.status == 401 and "idle" in e.value.reason
    assert w.sink.events[-1]["action"] == "login_failed"
    # absolute: active all the time, still ends after 8 h
    w.tick(minutes=1)
    token = w.login("nw-op", "t-nw")
    start = w.now
    while w.now < start + timedelta(hours=8) - timedelta(minutes=10):
        w.tick(minutes=10)
        w.svc.authenticate(token, w.term("t-nw"), w.now)
    w.now = start + timedelta(hours=8)
    with pytest.raises(LoginRefused, match="refused") as e:
        w.svc.authenticate(token, w.term("t-nw"), w.now)
    assert "absolute" in e.value.reason


def test_logout_ends_session(world: World) -> None:
    w = world
    token = w.login("nw-op", "t-nw")
    w.svc.logout(token, w.now)
    with pytest.raises(LoginRefused):
        w.svc.authenticate(token, w.term("t-nw"), w.now)
    assert [a for a, _ in w.sink.actions()] == ["login", "logout", "login_failed"]


def test_other_orgs_terminal_refused_c2(world: World) -> None:
    w = world
    with pytest.raises(LoginRefused) as e:
        w.login("ret-op", "t-nw")  # retail staff on an NW terminal with their own ID
    assert e.value.status == 403 and e.value.alert_id
    assert "belongs to nw" in e.value.reason
    with pytest.raises(LoginRefused):
        w.login("nw-op", "t-ret")
    assert [a for a, _ in w.sink.actions()] == ["login_failed", "login_failed"]


def test_terminal_credential_must_be_signed_and_fresh(world: World) -> None:
    w = world
    with pytest.raises(LoginRefused, match="refused") as e:
        w.svc.login("nw-op", PASSWORD, w.code("nw-op"), "t-nw", w.now)  # a typed string
    assert "terminal credential" in e.value.reason
    stale = w.term("t-nw", at=w.now - timedelta(minutes=10))
    with pytest.raises(LoginRefused) as e:
        w.svc.login("nw-op", PASSWORD, w.code("nw-op"), stale, w.now)
    assert "stale" in e.value.reason
    # a token signed by another terminal's key under this terminal's name
    from gridwall.identity._keys import TERMINAL_PREFIX, load_key_file, sign_token

    _, _, other_key = load_key_file(w.keys["t-nw2"])
    forged = sign_token(TERMINAL_PREFIX, other_key, "t-nw", w.now)
    with pytest.raises(LoginRefused) as e:
        w.svc.login("nw-op", PASSWORD, w.code("nw-op"), forged, w.now)
    assert "signature" in e.value.reason


def test_disaster_terminal_only_in_disaster_mode(world: World) -> None:
    w = world
    with pytest.raises(LoginRefused) as e:
        w.login("ret-op", "t-dis")
    assert "disaster" in e.value.reason
    w.disaster = True
    w.tick(seconds=30)  # the first attempt consumed its TOTP code
    token = w.login("ret-op", "t-dis")
    _, t = w.svc.authenticate(token, w.term("t-dis"), w.now)
    assert t.facts.kind is DeviceKind.DISASTER_TERMINAL and t.facts.valid
    w.disaster = False  # the declaration ends: the terminal is no longer valid
    _, t = w.svc.authenticate(token, w.term("t-dis"), w.now)
    assert not t.facts.valid


def test_shared_credentials_detected_c3(db_world: World) -> None:
    w = db_world
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from gridwall.identity._models import Alert

    token = w.login("nw-op", "t-nw")
    w.tick(minutes=1)
    with pytest.raises(LoginRefused) as e:
        w.login("nw-op", "t-nw2")  # same ID, another terminal, at the same time
    assert e.value.status == 403 and e.value.alert_id
    # a session token carried to another terminal is refused too
    with pytest.raises(LoginRefused) as e2:
        w.svc.authenticate(token, w.term("t-nw2"), w.now)
    with Session(w.engine) as s:
        alerts = list(s.scalars(select(Alert).order_by(Alert.ts)))
    assert {a.alert_id for a in alerts} == {e.value.alert_id, e2.value.alert_id}
    assert all(a.incident_type == "C3" and a.account_id == "nw-op" for a in alerts)
    refusals = {e["event_id"] for e in w.sink.events if e["action"] == "login_failed"}
    assert {a.event_ids for a in alerts} == refusals  # each alert names its evidence
    assert [a for a, _ in w.sink.actions()] == ["login", "login_failed", "login_failed"]
    # after logout the other terminal may log in
    w.svc.logout(token, w.now)
    w.tick(seconds=31)
    w.login("nw-op", "t-nw2")


def test_audit_failure_means_no_session(world: World) -> None:
    w = world
    w.sink.fail = True
    with pytest.raises(OSError):
        w.login("nw-op", "t-nw")
    w.sink.fail = False
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from gridwall.identity._models import Session as LoginSession

    with Session(w.engine) as s:
        assert s.scalar(select(func.count()).select_from(LoginSession)) == 1


def test_api_client_bound_to_retailer(world: World) -> None:
    from gridwall.identity import terminal_token
    from gridwall.identity._keys import load_key_file

    w = world
    key = w.svc.register_api_client("cli-A0001", "retail:A0001", "call_center", w.now)
    kind, cid, _ = load_key_file(key)
    assert (kind, cid) == ("api_client", "cli-A0001")
    p, t = w.svc.authenticate(terminal_token(key, w.now), w.term("t-ret"), w.now)
    assert p.account_id == "cli-A0001" and p.person_id is None and p.org == "retail:A0001"
    assert p.facts.account_kind is AccountKind.SERVICE
    assert p.facts.retailer_kind is RetailerKind.AFFILIATED
    assert t.facts.owner is DeviceOwner.SAME_ORG
    # on an NW terminal: the facts say other_org (the policy denies, I5)
    _, t = w.svc.authenticate(terminal_token(key, w.now), w.term("t-nw"), w.now)
    assert t.facts.owner is DeviceOwner.OTHER_ORG
    assert w.sink.events[-1]["action"] == "login_failed"
    # stale or forged client tokens are refused
    with pytest.raises(LoginRefused):
        w.svc.authenticate(
            terminal_token(key, w.now - timedelta(minutes=6)), w.term("t-ret"), w.now
        )
    other = w.svc.register_api_client("cli-B0002", "retail:B0002", "call_center", w.now)
    _, _, other_key = load_key_file(other)
    from gridwall.identity._keys import CLIENT_PREFIX, sign_token

    forged = sign_token(CLIENT_PREFIX, other_key, "cli-A0001", w.now)
    with pytest.raises(LoginRefused):
        w.svc.authenticate(forged, w.term("t-ret"), w.now)
    from gridwall.errors import UsageError

    with pytest.raises(UsageError):
        w.svc.register_api_client("cli-nw", "nw", "call_center", w.now)


def test_unknown_retailer_is_refused(world: World) -> None:
    w = world
    w.add_user("p-x", "retail:Z9999", "sales", "x-op")
    w.add_terminal("t-x", "retail:Z9999", "retail_terminal")
    token = w.login("x-op", "t-x")
    with pytest.raises(LoginRefused) as e:
        w.svc.authenticate(token, w.term("t-x"), w.now)
    assert e.value.status == 403 and "not registered" in e.value.reason


def test_same_terminal_from_two_places_is_shared_credential(world: World) -> None:
    w = world
    w.svc.login("nw-op", PASSWORD, w.code("nw-op"), w.term("t-nw"), w.now, source_ip="10.0.0.5")
    w.tick(seconds=31)
    with pytest.raises(LoginRefused) as e:
        w.svc.login(
            "nw-op", PASSWORD, w.code("nw-op"), w.term("t-nw"), w.now, source_ip="203.0.113.9"
        )
    assert e.value.alert_id and "place" in e.value.reason
    w.tick(seconds=31)  # the same place again is fine (a second window on one terminal)
    w.svc.login("nw-op", PASSWORD, w.code("nw-op"), w.term("t-nw"), w.now, source_ip="10.0.0.5")


def test_authenticator_wired_to_the_store(world: World) -> None:
    from sqlalchemy import text

    w = world
    with w.engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO retailers (retailer_code, name, kind) VALUES "
                "('A0001', 'Affiliated', 'affiliated')"
            )
        )
    from gridwall.app.wiring import identity_service

    auth = IdentityAuthenticator(w.engine, service=identity_service(w.engine, w.sink))
    auth.service.config = w.svc.config
    token = w.login("ret-op", "t-ret")
    p, _ = auth.authenticate(token, w.term("t-ret"), w.now)
    assert p.facts.retailer_kind is RetailerKind.AFFILIATED
    # no disaster declared in the grants tables: a disaster terminal is not valid
    w.disaster = True
    w.tick(seconds=31)
    w.svc.logout(token, w.now)
    token = w.login("ret-op", "t-dis")
    _, t = auth.authenticate(token, w.term("t-dis"), w.now)
    assert t.facts.kind is DeviceKind.DISASTER_TERMINAL and not t.facts.valid


def test_concurrent_logins_on_two_terminals_never_both_succeed(db_world: World) -> None:
    import threading
    from dataclasses import replace

    from sqlalchemy import update

    from gridwall.identity._models import Account

    w = db_world
    # take TOTP out of the race (its replay check alone would serialise the logins)
    w.svc.config = replace(w.svc.config, require_totp=False)
    with w.engine.begin() as c:
        c.execute(update(Account).where(Account.account_id == "nw-op").values(totp_secret=None))
    code = None
    creds = {d: w.term(d) for d in ("t-nw", "t-nw2")}
    barrier = threading.Barrier(2)
    results: dict[str, object] = {}

    def attempt(device: str) -> None:
        barrier.wait()
        try:
            results[device] = w.svc.login("nw-op", PASSWORD, code, creds[device], w.now)
        except Exception as e:  # refused, or a write conflict: both fail closed
            results[device] = e

    threads = [threading.Thread(target=attempt, args=(d,)) for d in creds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [d for d, r in results.items() if not isinstance(r, Exception)]
    assert len(ok) <= 1, results
