"""Canary requests (issue 17 item 2): through the composed, served HTTP path, with the shipped
policy every canary passes; with a deliberately broken (permit-all) policy the next run fails,
raises a critical alert and turns ``GET /health`` red; canary events are marked server-side,
never reach the monitor, and canary principals reach canary points only."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gridwall import dataset
from gridwall.app import canary
from gridwall.identity import IdentityConfig
from gridwall.identity._passwords import TEST_PARAMS

REAL_POINT = "03" + "1" * 20  # a real (non-canary) point, a canary retailer nowhere near it
REAL_NAME = "本物 太郎"


def _real_dataset(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with dataset.CsvTableWriter(folder, dataset.RETAILERS) as w:
        w.write({"retailer_code": "B0001", "name": "新電力", "kind": "independent"})
    with dataset.CsvTableWriter(folder, dataset.SUPPLY_POINTS) as w:
        w.write({"supply_point_id": REAL_POINT, "pref": "東京都", "city": "千代田区",
                 "town": "丸の内一丁目", "banchi": "1-1", "building": None, "room": None,
                 "contract_name": REAL_NAME, "phone": "03-1234-5678", "voltage": "low",
                 "meter_id": "REAL-M1", "status": "active"})  # fmt: skip
    with dataset.CsvTableWriter(folder, dataset.SUPPLY_CONTRACTS) as w:
        w.write({"supply_point_id": REAL_POINT, "retailer_code": "B0001",
                 "start_date": datetime(2020, 1, 1).date(), "end_date": None,
                 "kind": "retail"})  # fmt: skip


def _serve(url: str, tmp: Path, policy_dir: Path | None = None) -> Any:
    from gridwall.app import create_server_app

    return create_server_app(
        url, identity_config=IdentityConfig(hash_params=TEST_PARAMS), policy_dir=policy_dir
    )


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[Any, canary.Credentials]]:
    from gridwall.app.wiring import load_dataset
    from gridwall.store import make_engine, upgrade

    engine = make_engine(db_url)
    upgrade(db_url, engine)
    _real_dataset(tmp_path / "real")
    load_dataset(tmp_path / "real", engine, progress=False)
    engine.dispose()
    app = _serve(db_url, tmp_path)
    server = app.state.server
    canary.setup(server.engine, server.identity, tmp_path / "canary", datetime.now(UTC))
    yield app, canary.Credentials.read(tmp_path / "canary")
    server.close()


def _permit_all(tmp: Path) -> Path:
    """The shipped policy folder with every guard removed and one permit-all rule: a policy
    that loads without error and decides nothing right."""
    from gridwall import policy

    src = Path(policy.__file__).parent / "cedar"
    dst = tmp / "broken-policy"
    shutil.copytree(src, dst)
    for f in dst.glob("*.cedar"):
        f.write_text("", encoding="utf-8")
    (dst / "permits.cedar").write_text(
        '@id("permit-all")\npermit(principal, action, resource);\n', encoding="utf-8"
    )
    return dst


def _events(app: Any) -> list[dict[str, Any]]:
    log = app.state.server.audit_log
    return [json.loads(log.entry(i))["event"] for i in range(log.size())]


def test_with_the_shipped_policy_every_canary_passes(served: Any, tmp_path: Path) -> None:
    app, creds = served
    client = TestClient(app)
    state = app.state.server.canary
    outbox = canary.AlertOutbox(tmp_path / "alerts.jsonl")
    report = canary.run_and_report(canary.Runner(client, creds), state, outbox)
    assert report.ok, report.as_dict()
    assert len(report.results) == len(canary.PROBES)
    assert not (tmp_path / "alerts.jsonl").exists()
    r = client.get("/health")
    assert r.status_code == 200, r.text
    assert r.json()["components"]["canary"]["status"] == "ok"
    # a second run right after reuses the sessions (no TOTP replay, no false alarm)
    assert canary.run_and_report(canary.Runner(client, creds), state, outbox).ok


def test_a_permit_all_policy_fails_the_next_run_alerts_and_turns_health_red(
    db_url: str, served: Any, tmp_path: Path
) -> None:
    app, creds = served
    app.state.server.close()
    broken = _serve(db_url, tmp_path, policy_dir=_permit_all(tmp_path))
    try:
        client = TestClient(broken)
        state = broken.state.server.canary
        assert client.get("/health").status_code == 200  # no run yet: pending
        outbox = canary.AlertOutbox(tmp_path / "alerts.jsonl")
        report = canary.run_and_report(canary.Runner(client, creds), state, outbox)
        assert not report.ok
        failed = {r.name for r in report.failures}
        assert "retailer reads a competitor's customer" in failed
        assert "untrained NW operator" in failed
        alerts = [json.loads(x) for x in (tmp_path / "alerts.jsonl").read_text().splitlines()]
        assert len(alerts) == 1 and alerts[0]["severity"] == 5
        assert "retailer reads a competitor's customer" in alerts[0]["failures"]
        h = client.get("/health")
        assert h.status_code == 503
        assert h.json()["status"] == "failing"
        assert h.json()["components"]["canary"]["status"] == "failing"
        # even under a permit-all policy the canary principals read no real point
        body = _read(client, creds, "canary-nw", "takuso", REAL_POINT)
        assert body.status_code == 404 and REAL_NAME not in body.text
    finally:
        broken.state.server.close()


def _read(client: TestClient, creds: canary.Credentials, account: str, purpose: str,
          point: str) -> Any:  # fmt: skip
    from gridwall.identity import terminal_token

    runner = canary.Runner(client, creds)
    token = runner._login(account)
    assert token is not None
    key = creds.accounts[account]["terminal_key"]
    h = {"Authorization": f"Bearer {token}", "X-Gridwall-Purpose": purpose,
         "X-Gridwall-Terminal": terminal_token(key, datetime.now(UTC))}  # fmt: skip
    return client.get(f"/v1/supply-points/{point}", headers=h)


def test_canary_principals_reach_canary_points_only(served: Any) -> None:
    app, creds = served
    client = TestClient(app)
    # the trained NW canary may read any point by policy; the fence keeps it on canaries
    assert (
        _read(client, creds, "canary-nw", "takuso", canary.RIVAL_POINT.supply_point_id).status_code
        == 200
    )
    r = _read(client, creds, "canary-nw", "takuso", REAL_POINT)
    assert r.status_code == 404 and REAL_NAME not in r.text
    ev = [e for e in _events(app) if REAL_POINT in (e.get("supply_point_ids") or [])]
    assert ev and ev[-1]["decision"] == "deny" and canary.FENCE in ev[-1]["policy_ids"]
    assert ev[-1]["canary"] is True


def test_canary_events_are_marked_by_the_server_and_only_those(served: Any) -> None:
    app, creds = served
    client = TestClient(app)
    canary.Runner(client, creds).run()
    events = _events(app)
    mine = [e for e in events if canary.is_canary_account(e.get("account_id"))]
    assert mine and all(e.get("canary") is True for e in mine)
    assert not [e for e in events if e.get("canary") and e not in mine]


def test_marking_is_derived_from_the_account_not_the_event() -> None:
    seen: list[Any] = []

    class Sink:
        def record(self, event: Any) -> None:
            seen.append(event)

    sink = canary.CanaryMarkingSink(Sink())
    sink.record({"account_id": "someone", "canary": True})  # a forged mark is dropped
    sink.record({"account_id": "canary-retail"})
    assert "canary" not in seen[0] and seen[1]["canary"] is True


def test_the_second_walls_canary_setting_follows_the_account() -> None:
    """On PostgreSQL the fenced gateway's transactions tell the second wall whether the
    caller is a canary principal (``rls.FENCE``: canary rows for canaries only), decided
    by the account as the mark and the Cedar fence are, not by facts a caller could set."""
    from gridwall.interfaces import Principal, RequestContext, Terminal
    from gridwall.interfaces.facts import (
        AccountKind,
        AccountState,
        DeviceFacts,
        DeviceKind,
        DeviceOwner,
        OrgKind,
        PrincipalFacts,
        Purpose,
        RetailerKind,
        Role,
    )  # fmt: skip

    facts = PrincipalFacts(OrgKind.NW, RetailerKind.NONE, Role.TAKUSO_OPERATOR,
                           AccountKind.PERSONAL, AccountState.ACTIVE, True)  # fmt: skip
    term = Terminal("T", "nw", DeviceFacts(DeviceKind.NW_TERMINAL, DeviceOwner.SAME_ORG, True))
    gw = object.__new__(canary.FencedGateway)  # _scope reads only the request
    for account, expected in (("canary-nw", True), ("someone", False)):
        ctx = RequestContext(Principal(account, None, "nw", facts), term, Purpose.TAKUSO,
                             datetime.now(UTC))  # fmt: skip
        sc = gw._scope(ctx)
        assert sc.canary is expected and sc.settings()["canary"] == ("yes" if expected else "no")


def _write_csv(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _counts(url: str) -> dict[str, int]:
    from sqlalchemy import text

    from gridwall.store import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as c:
            return {
                t: int(c.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())
                for t in ("supply_points", "supply_contracts", "retailers")
            }
    finally:
        engine.dispose()


def _swap(old: str, new: str) -> Any:
    return lambda t: t.replace(old, new)


CANARY_1, CANARY_2 = canary.POINTS[0].supply_point_id, canary.POINTS[1].supply_point_id


@pytest.mark.parametrize(
    ("file", "line", "column", "edit"),
    [
        # a canary point's ID in the points file
        ("supply_points.csv", 3, "supply_point_id", _swap("03" + "2" * 20, CANARY_1)),
        # an unused ID of the reserved range
        (
            "supply_points.csv",
            3,
            "supply_point_id",
            _swap("03" + "2" * 20, "0100009999" + "0" * 9 + "777"),
        ),
        # a real dataset's contract naming a canary point
        ("supply_contracts.csv", 3, "supply_point_id", _swap("03" + "2" * 20, CANARY_2)),
        # a canary retailer code as a real retailer
        ("retailers.csv", 3, "retailer_code", _swap("B0002", canary.OWN_RETAILER)),
    ],
)
def test_a_real_dataset_cannot_use_canary_ids_or_codes(
    db_url: str, tmp_path: Path, file: str, line: int, column: str, edit: Any
) -> None:
    """``gridwall load`` refuses a real dataset with a canary point ID or retailer code in
    any table: the error names file, line and column, and nothing of the dataset is
    written (the canary rows already in the store stay as they were)."""
    from gridwall.app.wiring import load_dataset
    from gridwall.errors import InputErrors
    from gridwall.store import make_engine, upgrade

    engine = make_engine(db_url)
    upgrade(db_url, engine)
    (tmp_path / "canary-set").mkdir()
    canary._dataset(tmp_path / "canary-set")
    load_dataset(tmp_path / "canary-set", engine, progress=False, canary=True)
    before = _counts(db_url)
    folder = tmp_path / "real"
    _two_point_dataset(folder)
    load_dataset(folder, engine, progress=False)  # the control: loads as it stands
    assert _counts(db_url)["supply_points"] == before["supply_points"] + 2
    fresh = tmp_path / "bad"
    _two_point_dataset(fresh, second=REAL_POINT_2)
    target = fresh / file
    _write_csv(target, edit(target.read_text(encoding="utf-8")))
    mid = _counts(db_url)
    # a changed name elsewhere proves nothing of this load is written
    pts = fresh / "supply_points.csv"
    _write_csv(pts, pts.read_text(encoding="utf-8").replace(REAL_NAME, "書き換え 太郎"))
    with pytest.raises(InputErrors) as e:
        load_dataset(fresh, engine, progress=False)
    where = [(x.where.file, x.where.line, x.where.field) for x in e.value.errors if x.where]
    assert (file, line, column) in where, where
    assert "canary" in str(e.value)
    assert _counts(db_url) == mid
    from sqlalchemy import text

    with engine.connect() as c:
        names = set(c.execute(text("SELECT contract_name FROM supply_points")).scalars())
    assert "書き換え 太郎" not in names and REAL_NAME in names
    engine.dispose()


def test_the_canary_setup_load_writes_canary_rows_only(sqlite_url: str, tmp_path: Path) -> None:
    """The canary set-up's own load (``canary=True``) refuses a real point or retailer."""
    from gridwall.app.wiring import load_dataset
    from gridwall.errors import InputErrors
    from gridwall.store import make_engine, upgrade

    engine = make_engine(sqlite_url)
    upgrade(sqlite_url, engine)
    folder = tmp_path / "real"
    _two_point_dataset(folder)
    with pytest.raises(InputErrors) as e:
        load_dataset(folder, engine, progress=False, canary=True)
    cols = {(x.where.file, x.where.field) for x in e.value.errors if x.where}
    assert ("supply_points.csv", "supply_point_id") in cols
    assert ("retailers.csv", "retailer_code") in cols
    assert _counts(sqlite_url)["supply_points"] == 0
    engine.dispose()


REAL_POINT_2 = "03" + "2" * 20


def _two_point_dataset(folder: Path, second: str = REAL_POINT_2) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    since = datetime(2020, 1, 1).date()
    with dataset.CsvTableWriter(folder, dataset.RETAILERS) as w:
        w.write({"retailer_code": "B0001", "name": "新電力", "kind": "independent"})
        w.write({"retailer_code": "B0002", "name": "新電力二", "kind": "independent"})
    with dataset.CsvTableWriter(folder, dataset.SUPPLY_POINTS) as w:
        for pid, name in ((REAL_POINT, REAL_NAME), (second, "本物 次郎")):
            w.write({"supply_point_id": pid, "pref": "東京都", "city": "千代田区",
                     "town": "丸の内一丁目", "banchi": "1-1", "building": None, "room": None,
                     "contract_name": name, "phone": "03-1234-5678", "voltage": "low",
                     "meter_id": "M-" + pid[-4:], "status": "active"})  # fmt: skip
    with dataset.CsvTableWriter(folder, dataset.SUPPLY_CONTRACTS) as w:
        for pid in (REAL_POINT, second):
            w.write({"supply_point_id": pid, "retailer_code": "B0001", "start_date": since,
                     "end_date": None, "kind": "retail"})  # fmt: skip


def test_setup_is_idempotent(served: Any, tmp_path: Path) -> None:
    app, _ = served
    server = app.state.server
    before = (tmp_path / "canary" / canary.CREDENTIALS).read_text()
    done = canary.setup(server.engine, server.identity, tmp_path / "canary", datetime.now(UTC))
    assert not [d for d in done if d.startswith("credentials issued")]
    assert (tmp_path / "canary" / canary.CREDENTIALS).read_text() == before
    assert canary.Runner(TestClient(app), canary.Credentials.read(tmp_path / "canary")).run().ok


# --------------------------------------------------------------------------- the Cedar fence


def _ctx(org: str, role: str, account: str, device_kind: str) -> Any:
    from gridwall.interfaces import Principal, RequestContext, Terminal
    from gridwall.interfaces.facts import (
        AccountKind,
        AccountState,
        DeviceFacts,
        DeviceKind,
        DeviceOwner,
        OrgKind,
        PrincipalFacts,
        Purpose,
        RetailerKind,
        Role,
    )

    kind = OrgKind(org.split(":", 1)[0])
    facts = PrincipalFacts(
        kind,
        RetailerKind.INDEPENDENT if kind is OrgKind.RETAIL else RetailerKind.NONE,
        Role(role),
        AccountKind.PERSONAL,
        AccountState.ACTIVE,
        True,
    )
    terminal = Terminal(
        "T-" + account, org, DeviceFacts(DeviceKind(device_kind), DeviceOwner.SAME_ORG, True)
    )
    purpose = Purpose.TAKUSO if kind is OrgKind.NW else Purpose.CUSTOMER_SERVICE
    return RequestContext(
        Principal(account, "P-" + account, org, facts), terminal, purpose, datetime.now(UTC)
    )


def _last_event(app: Any, pid: str) -> dict[str, Any]:
    return [e for e in _events(app) if pid in (e.get("supply_point_ids") or [])][-1]


def test_the_cedar_fence_keeps_real_principals_off_canary_points(served: Any) -> None:
    """A real, trained NW 託送 operator may read every point by policy, but not a canary
    point: the served gateway gives Cedar the point's canary fact and forbid-canary-fence
    denies (I17); its searches never return canary points either."""
    from gridwall.gateway import NotVisible, SearchCriteria

    app, _ = served
    gw = app.state.server.gateway
    ctx = _ctx("nw", "takuso_operator", "real-nw-operator", "nw_terminal")
    assert gw.read_point(ctx, REAL_POINT)["contract_name"] == REAL_NAME  # the control
    with pytest.raises(NotVisible):
        gw.read_point(ctx, canary.OWN_POINT.supply_point_id)
    ev = _last_event(app, canary.OWN_POINT.supply_point_id)
    assert ev["decision"] == "deny" and "forbid-canary-fence" in ev["policy_ids"]
    assert "canary" not in ev
    found = gw.search(ctx, SearchCriteria(pref=canary.CANARY_PREF, city=canary.CITY_IN))
    assert found["count"] == 0, found
    found = gw.search(ctx, SearchCriteria(supply_point_id=canary.OWN_POINT.supply_point_id))
    assert found["count"] == 0, found
    # a real retailer holding a canary retailer's code (an operator's mistake) is fenced too
    rctx = _ctx(f"retail:{canary.OWN_RETAILER}", "call_center", "real-agent", "retail_terminal")
    with pytest.raises(NotVisible):
        gw.read_point(rctx, canary.OWN_POINT.supply_point_id)
    assert gw.list_customers(rctx)["count"] == 0


def test_the_cedar_fence_holds_without_the_python_fence(served: Any) -> None:
    """The canary principal's read of a real point, with the Python pre-check bypassed (the
    plain Gateway method on the served gateway): Cedar's forbid-canary-fence still denies."""
    from gridwall.gateway import Gateway, NotVisible

    app, _ = served
    gw = app.state.server.gateway
    ctx = _ctx("nw", "takuso_operator", "canary-nw", "nw_terminal")
    assert Gateway.read_point(gw, ctx, canary.OWN_POINT.supply_point_id)["contract_name"] == (
        canary.OWN_POINT.contract_name
    )
    with pytest.raises(NotVisible):
        Gateway.read_point(gw, ctx, REAL_POINT)
    ev = _last_event(app, REAL_POINT)
    assert ev["decision"] == "deny" and "forbid-canary-fence" in ev["policy_ids"]
    assert canary.FENCE not in ev["policy_ids"] and ev["canary"] is True
