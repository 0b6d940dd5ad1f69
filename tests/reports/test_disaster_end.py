"""The after-action report is made when a declaration ends: `disaster end` with a signing key
and a report folder writes it at once; without a key it is due, and `report disaster --due`
writes it after the next checkpoint; an early end through the API tells the server, whose
checkpoint loop signs and writes it (SQLite; the report itself is tested on PostgreSQL too
in test_disaster.py)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gridwall.app.http.grants import create_router
from gridwall.audit import note, open_log
from gridwall.grants import DisasterDesk
from gridwall.interfaces import Principal
from gridwall.interfaces.facts import (
    AccountKind,
    AccountState,
    DeviceKind,
    OrgKind,
    PrincipalFacts,
    RetailerKind,
    Role,
)
from support.doubles import MemoryAuditSink, TokenAuthenticator

grants_cli = pytest.importorskip("grants.test_cli")  # tests/grants (same test tree)
console = grants_cli.console  # the fixture: accounts that sign in with password + TOTP
run = grants_cli.run


def _key(tmp: Path) -> Path:
    key = tmp / "audit.key"
    key.write_text(note.generate_signer("test.example/audit").text() + "\n")
    return key


def _declare(capsys: pytest.CaptureFixture[str], db: str, did: str, c: object) -> None:
    code, _, err = run(capsys, db, "disaster", "declare", did, "--area", "東京都/千代田区",
                       "--until", "+48h", "--max-hours", "72", by="nw-alice",
                       console=c)  # fmt: skip
    assert code == 0, err
    assert run(capsys, db, "disaster", "approve", did, by="nw-bob", console=c)[0] == 0


def test_cli_end_writes_the_report_or_says_it_is_due(
    capsys: pytest.CaptureFixture[str], sqlite_url: str, console: object, tmp_path: Path
) -> None:
    from gridwall.app.cli import main

    out = tmp_path / "reports"
    _declare(capsys, sqlite_url, "TY-1", console)
    code, _, err = run(capsys, sqlite_url, "disaster", "end", "TY-1", "--report-dir", str(out),
                       "--audit-key", str(_key(tmp_path)), by="nw-bob",
                       console=console)  # fmt: skip
    assert code == 0, err
    assert "after-action report written" in err
    rep = json.loads((out / "disaster-TY-1.json").read_text(encoding="utf-8"))
    assert rep["declaration"]["status"] == "ended" and rep["declaration"]["ended_by"] == "nw-bob"
    assert sorted(p.name for p in out.iterdir()) == [
        "disaster-TY-1.html", "disaster-TY-1.json", "disaster-TY-1.pdf",
    ]  # fmt: skip

    # no key: the end stands, the report is due and --due writes it after a checkpoint
    _declare(capsys, sqlite_url, "TY-2", console)
    code, _, err = run(capsys, sqlite_url, "disaster", "end", "TY-2", "--report-dir", str(out),
                       by="nw-bob", console=console)  # fmt: skip
    assert code == 0 and "after-action report due" in err, err
    assert not (out / "disaster-TY-2.json").exists()
    log = open_log(sqlite_url, migrate=False)
    try:
        log.checkpoint([note.Signer.parse((tmp_path / "audit.key").read_text())])
    finally:
        log.close()
    with pytest.raises(SystemExit) as done:
        main(["report", "disaster", "--due", "--out", str(out), "--db", sqlite_url])
    assert done.value.code == 0
    assert json.loads(capsys.readouterr().out) == [
        {"disaster_id": "TY-2", "state": "written", "detail": str(out / "disaster-TY-2.json")}
    ]


def _nw(account: str) -> Principal:
    facts = PrincipalFacts(
        OrgKind.NW, RetailerKind.NONE, Role.MANAGER, AccountKind.PERSONAL, AccountState.ACTIVE,
        True,
    )  # fmt: skip
    return Principal(account, f"p-{account}", "nw", facts)


def test_an_api_end_tells_the_server_and_nothing_else_does(sqlite_url: str) -> None:
    from gridwall.store import make_engine, upgrade

    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    told: list[str] = []
    sink, auth = MemoryAuditSink(), TokenAuthenticator()
    app = FastAPI()
    app.include_router(create_router(engine, auth, sink, on_ended=told.append))
    client = TestClient(app)
    heads = {}
    for who in ("nw-a", "nw-b"):
        term = auth.enroll_terminal(f"t-{who}", "nw", DeviceKind.NW_TERMINAL)
        heads[who] = {"Authorization": f"Bearer {auth.register(_nw(who))}",
                      "X-Gridwall-Terminal": term}  # fmt: skip
    now = datetime.now(UTC)

    def post(path: str, who: str, body: object = None) -> int:
        r = client.post(f"/v1/grants/disasters{path}", json=body, headers=heads[who])
        return int(r.status_code)

    for did, city in (("EQ-1", "札幌市"), ("EQ-2", "函館市")):
        body = {"disaster_id": did, "area": [f"北海道/{city}"], "max_hours": 24,
                "planned_end": (now + timedelta(hours=12)).isoformat()}  # fmt: skip
        assert post("", "nw-a", body) == 201
    assert post("/EQ-1/approve", "nw-b") == 200
    assert post("/EQ-1/end", "nw-a") == 200
    # a pending one ended is cancelled: nothing to report on
    assert post("/EQ-2/end", "nw-a") == 200
    assert post("/EQ-1/end", "nw-a") == 400
    assert told == ["EQ-1"]
    engine.dispose()


def test_the_server_loop_writes_it_when_woken(sqlite_url: str, tmp_path: Path) -> None:
    from gridwall.app.server import create_server_app
    from gridwall.store import make_engine

    out = tmp_path / "reports"
    app = create_server_app(
        sqlite_url, audit_key=_key(tmp_path), checkpoint_seconds=3600, report_dir=out
    )
    server = app.state.server
    engine = make_engine(sqlite_url)
    try:
        desk = DisasterDesk(engine, server.audit_log)
        now = datetime.now(UTC)
        desk.declare("TY-7", "東京都/千代田区", now + timedelta(hours=4), timedelta(hours=8), "a")
        desk.approve("TY-7", "b")
        desk.end("TY-7", "a")
        server.start()
        assert not (out / "disaster-TY-7.json").exists()  # an hour to the next round …
        server.disaster_ended("TY-7")  # … but the end wakes it
        deadline = time.monotonic() + 30
        while not (out / "disaster-TY-7.json").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (out / "disaster-TY-7.json").exists()
        rep = json.loads((out / "disaster-TY-7.json").read_text(encoding="utf-8"))
        assert rep["tree_size"] == server.audit_log.latest_checkpoint().size
    finally:
        server.close()
        engine.dispose()
