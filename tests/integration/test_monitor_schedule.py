"""The monitor schedule inside the server (issue 13 item 1; docs/monitoring.md): a tick runs
the periodic analysis over the served log, opens cases from the stored alerts through the
server's one case desk (the one the HTTP case routes use), runs the deadline clock, and
reports itself as the ``monitor`` component of ``GET /health``; a failing tick turns it red
without stopping the server. On the composed app (SQLite and PostgreSQL) with a frozen
clock, and the real ``gridwall serve`` process with a short interval."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from gridwall.app.monitoring import MonitorSchedule, MonitorTicker, parse_interval
from gridwall.audit._db import Conn
from gridwall.errors import UsageError
from gridwall.monitor._models import MonitorAlert
from integration.site import Site, build_site
from monitor import world


@pytest.fixture
def site(db_url: str, tmp_path: Path) -> Site:
    return build_site(db_url, tmp_path)


def _alert(site: Site, alert_id: str, account: str, person: str, hours_ago: float) -> None:
    at = (site.clock() - timedelta(hours=hours_ago)).isoformat()
    with site.server.engine.begin() as c:
        c.execute(
            sa.insert(MonitorAlert).values(
                alert_id=alert_id, rule="A-test", incident_type="A", severity=4,
                account_id=account, person_id=person, org="nw", first_ts=at, last_ts=at,
                event_count=1, summary="test", related="[]", opened_run=1, updated_run=1,
            )
        )  # fmt: skip


def _schedule(site: Site, tmp: Path, reference: Path | None) -> MonitorSchedule:
    server = site.server
    assert server.cases is not None
    server.monitor.interval, server.monitor.reference = 60.0, reference
    ticker = MonitorTicker(
        server.engine, server.cases, lambda: Conn(site.db_url), reference=reference,
        work=tmp / "monitor-work", clock=site.clock,
    )  # fmt: skip
    return MonitorSchedule(ticker, server.monitor, 60.0, first_after=60.0)


def _health(site: Site) -> tuple[int, dict[str, Any]]:
    r = site.client.get("/health")
    return r.status_code, r.json()["components"]["monitor"]


def test_a_tick_opens_cases_through_the_servers_one_desk_and_escalates(
    site: Site, tmp_path: Path
) -> None:
    schedule = _schedule(site, tmp_path, None)
    code, comp = _health(site)
    assert code == 200 and comp["status"] == "pending"
    assert comp["analysis"] == "off (no --monitor-reference)"

    _alert(site, "al-sched-1", "nw-op", "P-NW-OP", hours_ago=2)
    report = schedule.run_once()
    assert report.ok and len(report.cases_touched) == 1 and report.escalated == []
    [cid] = report.cases_touched
    # the HTTP routes see the case the schedule opened: the same desk
    assert site.server.cases is not None
    headers = site.headers("nw-mgr", "T-NW", "case_work")
    r = site.client.get("/v1/cases", headers=headers)
    assert r.status_code == 200 and [c["case_id"] for c in r.json()] == [cid]
    assert r.json()[0]["first_line"] == "P-NW-MGR"

    again = schedule.run_once()  # re-running opens nothing twice
    assert again.ok and again.cases_touched == [] and again.escalated == []

    site.clock.advance(days=6)  # past the first line's 5 days: the clock escalates
    late = schedule.run_once()
    assert late.escalated == [{"case_id": cid, "from": "first_line", "to": "role:compliance"}]
    assert schedule.run_once().escalated == []  # once

    code, comp = _health(site)
    assert code == 200 and comp["status"] == "ok" and comp["last_error"] is None
    assert comp["totals"] == {"runs": 4, "alerts_opened": 0, "cases_touched": 1, "escalated": 1}


def test_a_tick_analyses_the_served_log_incrementally(site: Site, tmp_path: Path) -> None:
    ref = world.write(tmp_path / "ref", events=[])
    schedule = _schedule(site, tmp_path, ref)
    site.client.get("/health")
    first = schedule.run_once()
    assert first.ok and first.analysed and first.audit_from == 0
    assert first.audit_to is not None and 0 < first.audit_to <= site.log.size()
    site.client.get("/health")
    second = schedule.run_once()
    assert second.ok and second.audit_from == first.audit_to  # from where the last stopped
    code, comp = _health(site)
    assert code == 200 and comp["analysis"] == "on" and comp["last"]["audit_to"] == second.audit_to


def test_a_failing_tick_turns_health_red_and_serving_goes_on(site: Site, tmp_path: Path) -> None:
    ref = world.write(tmp_path / "ref", events=[])
    schedule = _schedule(site, tmp_path, ref)

    def broken() -> Any:
        raise ConnectionError("audit log reader down")

    schedule.ticker.reader_factory = broken
    report = schedule.run_once()
    assert not report.ok and "audit log reader down" in (report.error or "")
    code, comp = _health(site)
    assert code == 503 and comp["status"] == "failing"
    assert "ConnectionError: audit log reader down" in comp["last_error"]
    # still serving: a login and a case queue answer
    r = site.client.get("/v1/cases", headers=site.headers("nw-comp", "T-NW", "case_work"))
    assert r.status_code == 200
    schedule.ticker.reader_factory = lambda: Conn(site.db_url)
    assert schedule.run_once().ok  # the next good tick turns it green again
    assert _health(site)[0] == 200


def test_the_schedule_thread_ticks_and_a_stalled_one_is_red(site: Site, tmp_path: Path) -> None:
    schedule = _schedule(site, tmp_path, None)
    schedule.interval, schedule.first_after = 0.2, 0.05
    schedule.start()
    try:
        deadline = time.monotonic() + 30
        while site.server.monitor.runs < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        schedule.stop()
    assert site.server.monitor.runs >= 2
    state = site.server.monitor
    ok, comp = state.health(time.monotonic() + 2 * 60 + 61)
    assert not ok and comp["status"] == "stale"


@pytest.mark.parametrize(
    ("value", "seconds"), [("30", 30.0), ("30s", 30.0), ("15m", 900.0), ("6h", 21600.0),
                           ("1d", 86400.0), ("1.5h", 5400.0), ("off", None)],
)  # fmt: skip
def test_intervals(value: str, seconds: float | None) -> None:
    assert parse_interval(value, "--monitor-every") == seconds


@pytest.mark.parametrize("value", ["", "daily", "-1h", "0s", "5w", "1 d x"])
def test_a_bad_interval_names_the_option(value: str) -> None:
    with pytest.raises(UsageError, match="--monitor-every"):
        parse_interval(value, "--monitor-every")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from gridwall.app.cli import main; main()", *args]


def _wait(port: int, ok: Callable[[dict[str, Any]], bool], proc: Any, log: Path) -> Any:
    deadline = time.monotonic() + 120
    body: Any = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(log.read_text(errors="replace")[-3000:])
        try:
            body = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()
            if ok(body):
                return body
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise AssertionError((body, log.read_text(errors="replace")[-3000:]))


@pytest.mark.slow  # the real process, startup and two ticks: about a minute
def test_serve_runs_the_schedule_and_reports_it(db_url: str, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from gridwall.store import make_engine, upgrade
    from integration.test_canary_serve import _free_port, _stop

    # a stored alert about a person without HR data: its case goes to compliance at once,
    # whose (short) deadline the served clock then sees missed
    upgrade(db_url)
    engine = make_engine(db_url)
    at = datetime.now(UTC).isoformat()
    with engine.begin() as c:
        c.execute(
            sa.insert(MonitorAlert).values(
                alert_id="al-served", rule="A-test", incident_type="A", severity=4,
                account_id="nobody", person_id=None, org="nw", first_ts=at, last_ts=at,
                event_count=1, summary="test", related="[]", opened_run=1, updated_run=1,
            )
        )  # fmt: skip
    engine.dispose()
    port = _free_port()
    log = tmp_path / "serve.log"
    ref = world.write(tmp_path / "ref", events=[])
    args = ["serve", "--db", db_url, "--port", str(port), "--canary-every", "0",
            "--monitor-every", "1s", "--monitor-reference", str(ref),
            "--monitor-work", str(tmp_path / "mw"), "--second-line-deadline", "2s"]  # fmt: skip
    proc = subprocess.Popen(_cli(*args), stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        body = _wait(
            port,
            lambda b: b["components"]["monitor"].get("totals", {}).get("escalated", 0) >= 1,
            proc, log,
        )  # fmt: skip
        comp = body["components"]["monitor"]
        # the case opened once (re-running opens nothing twice), its missed deadline escalated
        assert comp["totals"]["cases_touched"] == 1 and comp["totals"]["escalated"] == 1
        assert comp["status"] == "ok" and comp["analysis"] == "on", comp
        assert comp["interval_seconds"] == 1.0 and comp["last"]["audit_to"] > 0
        assert list((tmp_path / "mw" / "events").glob("audit-*.parquet"))
    finally:
        _stop(proc)


@pytest.mark.parametrize(
    ("option", "value"),
    [("--monitor-every", "daily"), ("--first-line-deadline", "off"),
     ("--second-line-deadline", "ten days"), ("--monitor-reference", "/nonexistent/ref")],
)  # fmt: skip
def test_serve_refuses_a_bad_schedule_setting_naming_it(
    tmp_path: Path, option: str, value: str
) -> None:
    r = subprocess.run(
        _cli("serve", "--db", f"sqlite:///{tmp_path / 's.db'}", option, value),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert option in r.stderr
    assert not (tmp_path / "s.db").exists()


def test_the_server_builds_one_case_desk(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gridwall.app.casework import CaseDesk

    made: list[CaseDesk] = []
    init = CaseDesk.__init__

    def counting(self: CaseDesk, *a: Any, **kw: Any) -> None:
        made.append(self)
        init(self, *a, **kw)

    monkeypatch.setattr(CaseDesk, "__init__", counting)
    site = build_site(db_url, tmp_path)
    assert made == [site.server.cases]  # the routes and the schedule share this one
