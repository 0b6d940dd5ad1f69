"""HR-driven lifecycle: transfers revoke at the effective instant, bad input applies nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gridwall.errors import InputError, InputErrors, UsageError
from gridwall.identity import (
    LoginRefused,
    apply_hr_changes,
    decide_change,
    read_hr_file,
    request_change,
    watchlist,
)
from gridwall.identity._models import Assignment, HrChange
from gridwall.interfaces.facts import AccountState, DeviceOwner

from .conftest import World


def _hr(tmp_path: Path, body: str, name: str = "hr.csv") -> Path:
    p = tmp_path / name
    p.write_text("person_id,name,org,department,role,effective_at,change\n" + body, "utf-8")
    return p


def _import(w: World, path: Path):  # type: ignore[no-untyped-def]
    return apply_hr_changes(w.svc, read_hr_file(path), path.name, w.now)


def test_transfer_revokes_everything_at_the_effective_instant(
    db_world: World, tmp_path: Path
) -> None:
    w = db_world
    token = w.login("nw-op", "t-nw")
    eff = w.now + timedelta(minutes=10)
    report = _import(w, _hr(tmp_path, f"p-nw,P-Nw,retail:A0001,sales,sales,{eff.isoformat()},\n"))
    assert report.applied == 1 and report.revoked_accounts == ["nw-op"] and not report.warnings
    assert report.watchlisted == ["p-nw"]
    # one second before: everything still works
    w.now = eff - timedelta(seconds=1)
    p, t = w.svc.authenticate(token, w.term("t-nw"), w.now)
    assert p.facts.account_state is AccountState.ACTIVE and t.facts.owner is DeviceOwner.SAME_ORG
    w.sink.events.clear()
    # at the instant: the session, the account and the terminal all fail, each audited
    w.now = eff
    p, t = w.svc.authenticate(token, w.term("t-nw"), w.now)
    assert p.facts.account_state is AccountState.TRANSFERRED
    assert p.org == "retail:A0001" and t.facts.owner is DeviceOwner.OTHER_ORG
    with pytest.raises(LoginRefused) as e:
        w.login("nw-op", "t-nw")
    assert e.value.status == 403 and "transferred" in e.value.reason
    # a new retail account for the same person cannot use the NW terminal (C②)
    w.svc.create_account("p-nw-retail", "p-nw", w.now)
    w.svc.set_password("p-nw-retail", "a brand new passphrase here", w.now)
    w.totp["p-nw-retail"], _ = w.svc.enroll_totp("p-nw-retail", w.now)
    w.sink.events.clear()
    with pytest.raises(LoginRefused) as e:
        w.login("p-nw-retail", "t-nw", password="a brand new passphrase here")
    assert "belongs to nw" in e.value.reason
    w.tick(seconds=31)  # a TOTP code is good once
    w.login("p-nw-retail", "t-ret", password="a brand new passphrase here")  # own terminal: fine
    acts = [(ev["action"], ev["account_id"], ev["decision"]) for ev in w.sink.events]
    assert acts == [("login_failed", "p-nw-retail", "deny"), ("login", "p-nw-retail", "allow")]
    # watch list for the monitor
    rows = watchlist(w.svc, w.now)
    assert [(r["person_id"], r["from_org"], r["to_org"]) for r in rows] == [
        ("p-nw", "nw", "retail:A0001")
    ]
    assert rows[0]["account_ids"] == "nw-op;p-nw-retail"


def test_each_failure_after_transfer_is_audited(world: World, tmp_path: Path) -> None:
    w = world
    token = w.login("nw-op", "t-nw")
    _import(w, _hr(tmp_path, f"p-nw,,retail:A0001,,sales,{w.now.isoformat()},\n"))
    w.sink.events.clear()
    w.tick(seconds=31)
    w.svc.authenticate(token, w.term("t-nw"), w.now)
    with pytest.raises(LoginRefused):
        w.login("nw-op", "t-nw")
    reasons = [(e["action"], e["decision"], e["reason"]) for e in w.sink.events]
    assert len(reasons) == 2
    assert all(a == "login_failed" and d == "deny" and "transferred" in r for a, d, r in reasons)


def test_leave_revokes_and_past_dates_apply_at_once(world: World, tmp_path: Path) -> None:
    w = world
    token = w.login("nw-op", "t-nw")
    past = w.now - timedelta(days=2)
    report = _import(w, _hr(tmp_path, f"p-nw,,,,,{past.date().isoformat()},leave\n"))
    assert report.warnings and "hr.csv:2 [effective_at]" in report.warnings[0]
    p, _ = w.svc.authenticate(token, w.term("t-nw"), w.now)
    assert p.facts.account_state is AccountState.REVOKED
    assert watchlist(w.svc, w.now) == []  # leaving is not a move to a retailer


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ("nobody,,nw,,takuso_operator,2026-05-01,\n", "person_id", "unknown person"),
        ("p-nw,,nowhere,,x,2026-05-01,\n", "org", "must be nw"),
        ("p-nw,,nw,,x,not-a-date,\n", "effective_at", "effective_at"),
        ("p-nw,,nw,,x,2026-05-01T09:00:00,\n", "effective_at", "offset"),
        ("p-nw,,retail:A0001,,x,2026-05-01,\np-nw,,nw,,x,2026-05-01,\n", "effective_at", "overlap"),
        ("p-nw,,nw,,x,2020-01-01,\n", "effective_at", "overlap"),
        ("p-nw,,nw,,x,2026-05-01,retire\n", "change", "change"),
        ("p-new,,nw,,x,2026-05-01,hire\n", "name", "name is required"),
        ("p-nw,Someone,nw,,x,2026-05-01,hire\n", "person_id", "already exists"),
    ],
)
def test_bad_hr_input_names_file_line_field_and_applies_nothing(
    world: World, tmp_path: Path, body: str, field: str, words: str
) -> None:
    w = world
    good = "p-ret,,retail:B0002,,sales,2026-06-01,\n"  # a valid row in the same file
    path = _hr(tmp_path, good + body)
    with Session(w.engine) as s:
        before = s.scalar(select(func.count()).select_from(Assignment))
    with pytest.raises((InputError, InputErrors)) as e:
        _import(w, path)
    err = e.value if isinstance(e.value, InputError) else cast(InputErrors, e.value).errors[0]
    assert err.where is not None and err.where.file == "hr.csv"
    assert err.where.line is not None and err.where.line >= 3
    assert err.where.field == field and words in str(err)
    with Session(w.engine) as s:
        assert s.scalar(select(func.count()).select_from(Assignment)) == before
        assert s.scalar(select(func.count()).select_from(HrChange)) == 0


def test_missing_column_is_reported(tmp_path: Path) -> None:
    p = tmp_path / "hr.csv"
    p.write_text("person_id,org\np1,nw\n", "utf-8")
    with pytest.raises(InputError, match="effective_at") as e:
        read_hr_file(p)
    assert e.value.where is not None and e.value.where.line == 1


def test_hire_then_transfer_back_needs_two_person_reactivation(
    world: World, tmp_path: Path
) -> None:
    w = world
    w.svc.create_person("mgr", "Manager", "nw", "manager", w.now)
    w.svc.create_person("cmp", "Compliance", "nw", "compliance", w.now)
    t1, t2 = w.now + timedelta(hours=1), w.now + timedelta(days=10)
    _import(
        w,
        _hr(
            tmp_path,
            f"p-nw,,retail:A0001,,sales,{t1.isoformat()},\n"
            f"p-nw,,nw,,takuso_operator,{t2.isoformat()},\n"
            f"p-x,New Hire,nw,,call_center,{t1.isoformat()},hire\n",
        ),
    )
    w.now = t2 + timedelta(minutes=1)
    # back at NW, the old account stays revoked until a fresh, two-person approval
    with pytest.raises(LoginRefused, match="refused"):
        w.login("nw-op", "t-nw")
    cid = request_change(w.svc, "account_reactivate", "nw-op", None, "mgr", w.now)
    with pytest.raises(UsageError, match="two-person"):
        decide_change(w.svc, cid, "mgr", w.now, approve=True)
    with pytest.raises(UsageError, match="two-person"):
        decide_change(w.svc, cid, "p-nw", w.now, approve=True)
    view = decide_change(w.svc, cid, "cmp", w.now, approve=True)
    assert view.status == "applied" and view.old_value == "revoked:transferred"
    w.tick(seconds=31)
    w.login("nw-op", "t-nw")
