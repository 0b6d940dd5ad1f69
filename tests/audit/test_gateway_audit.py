"""Every gateway route writes exactly one audit event into the real log; no log, no answer.

Walks the gateway's OpenAPI document, so a new route is covered (or the test says
how to cover it) without editing this file's list of routes.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import httpx
import pytest
from anyio import to_thread
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gridwall.app.http.gateway import create_app
from gridwall.app.wiring import load_dataset
from gridwall.audit import AuditLog, open_log
from gridwall.gateway import Gateway
from gridwall.policy import default_engine
from gridwall.store import make_engine, upgrade
from support.doubles import NoGrants

gateway_tests = pytest.importorskip("gateway.conftest")  # tests/gateway (same test tree)
tiny = pytest.importorskip("gateway.tiny")

NOW = gateway_tests.NOW
World = Any


@pytest.fixture
def loaded(sqlite_url: str, tmp_path: Path) -> Iterator[Engine]:
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    load_dataset(tiny.write(tmp_path / "ds"), engine, progress=False)
    yield engine
    engine.dispose()


@pytest.fixture
def world() -> World:
    return gateway_tests.make_world()


@pytest.fixture
def log(tmp_path: Path) -> Iterator[AuditLog]:
    with open_log(tmp_path / "audit.db") as lg:
        yield lg


def _client(loaded: Engine, world: World, log: AuditLog) -> TestClient:
    gw = Gateway(
        loaded, default_engine(), auth=world.auth, grants=NoGrants(), audit=log, clock=lambda: NOW
    )
    return TestClient(create_app(gw))


def _headers(world: World, account: str, terminal: str, purpose: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {world.tokens[account]}",
        "X-Gridwall-Terminal": world.terminals[terminal],
        "X-Gridwall-Purpose": purpose,
    }


#: How to fill each parameter the OpenAPI document declares (by location and name).
PARAM_VALUES: dict[tuple[str, str], str] = {
    ("path", "supply_point_id"): "",  # filled per call
    ("query", "town"): "一番町",
}
BODIES: dict[str, dict[str, Any]] = {
    "ExportRequest": {"recipient_org": "contractor:IT1", "supply_point_ids": []},
}


def _calls(spec: dict[str, Any], point: str) -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            url, params, body = path, {}, None
            for p in op.get("parameters", []):
                loc, name = p["in"], p["name"]
                if loc == "header":
                    continue
                if (loc, name) not in PARAM_VALUES:
                    if p.get("required"):
                        pytest.fail(f"{method.upper()} {path}: add a value for {loc} {name!r}")
                    continue
                if loc == "path":
                    url = url.replace("{" + name + "}", point)
                else:
                    params[name] = PARAM_VALUES[(loc, name)]
            rb = op.get("requestBody")
            if rb:
                ref = rb["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
                body = dict(BODIES[ref], supply_point_ids=[point])
            out.append((method.upper(), url, {"params": params, "json": body}))
    return out


CALLERS = [
    # (account, terminal, purpose, point): allowed and denied decisions of every kind
    ("nw-op", "T-NW", "takuso", "P_AFF"),
    ("nw-op", "T-NW", "takuso", "MISSING"),
    ("ind-agent", "T-IND", "customer_service", "P_IND"),
    ("aff-agent", "T-AFF", "customer_service", "P_IND"),  # another retailer's customer
    ("nw-op", "T-AFF", "takuso", "P_AFF"),  # a terminal of another organisation (I5)
    ("aff-revoked", "T-AFF", "customer_service", "P_AFF"),  # revoked account (I6)
    ("contractor", "T-CON", "system_maintenance", "P_AFF"),
]


def test_every_route_appends_exactly_one_event(loaded: Engine, world: World, log: AuditLog) -> None:
    client = _client(loaded, world, log)
    spec = client.get("/openapi.json").json()
    routes = _calls(spec, tiny.P_AFF)
    assert len(routes) >= 5  # read, usage, search, customers, export
    decisions = set()
    missing: list[tuple[Any, ...]] = []
    for account, terminal, purpose, point in CALLERS:
        h = _headers(world, account, terminal, purpose)
        for method, url, kw in _calls(spec, getattr(tiny, point)):
            before = log.size()
            r = client.request(method, url, headers=h, params=kw["params"], json=kw["json"])
            after = log.size()
            if after - before != 1:
                missing.append((account, terminal, method, url, r.status_code, after - before))
                continue
            ev = json.loads(log.entry(before))["event"]
            assert ev["decision"] in ("allow", "deny")
            assert ev["account_id"] == account
            assert (ev["decision"] == "allow") == (r.status_code == 200) or (
                r.status_code == 200 and ev["decision"] == "deny"  # e.g. empty search result
            ), (method, url, r.status_code, ev)
            decisions.add(ev["decision"])
    assert not missing, "calls without exactly one audit event:\n" + "\n".join(map(str, missing))
    assert decisions == {"allow", "deny"}


def test_unwritable_log_fails_closed(loaded: Engine, world: World, tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    lg = open_log(path)
    lg.record({"event_id": "before"})
    c = sqlite3.connect(path)
    c.execute(
        "CREATE TRIGGER disk_full BEFORE INSERT ON audit_entry "
        "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    c.commit()
    c.close()
    client = _client(loaded, world, lg)
    spec = client.get("/openapi.json").json()
    h = _headers(world, "nw-op", "T-NW", "takuso")
    for method, url, kw in _calls(spec, tiny.P_AFF):
        r = client.request(method, url, headers=h, params=kw["params"], json=kw["json"])
        assert r.status_code == 503, (method, url, r.status_code)
        assert "青木" not in r.text and "M001" not in r.text
    assert lg.size() == 1
    lg.close()
    # a closed log refuses too
    client = _client(loaded, world, lg)
    r = client.get(f"/v1/supply-points/{tiny.P_AFF}", headers=h)
    assert r.status_code == 503


class HeldSink:
    """An audit sink whose durability the test releases by hand (issue 15 item 1)."""

    def __init__(self) -> None:
        self.held: list[Future[list[int]]] = []
        self.lock = threading.Lock()

    def record(self, event: Any) -> None:  # the synchronous path: not used by the handlers
        raise AssertionError("the HTTP handlers must not wait for durability in a thread")

    def submit(self, events: Any) -> Future[list[int]]:
        f: Future[list[int]] = Future()
        with self.lock:
            self.held.append(f)
        return f


def _held_app(loaded: Engine, world: World, sink: HeldSink) -> Any:
    gw = Gateway(
        loaded, default_engine(), auth=world.auth, grants=NoGrants(), audit=sink, clock=lambda: NOW
    )
    return create_app(gw)


async def _wait_for(cond: Any, seconds: float = 20.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if cond():
            return
        await asyncio.sleep(0.01)


def test_answer_waits_for_durability_without_holding_threads(loaded: Engine, world: World) -> None:
    """64 requests in flight on a 4-thread pool all get past decision + read (their
    events are queued) while none is answered; releasing durability answers them with
    data; a failed durability answers 503 without data."""
    sink = HeldSink()
    app = _held_app(loaded, world, sink)
    h = _headers(world, "nw-op", "T-NW", "takuso")
    n = 64

    async def run() -> tuple[list[httpx.Response], int, int]:
        to_thread.current_default_thread_limiter().total_tokens = 4
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            tasks = [
                asyncio.ensure_future(client.get(f"/v1/supply-points/{tiny.P_AFF}", headers=h))
                for _ in range(n)
            ]
            await _wait_for(lambda: len(sink.held) >= n)
            queued = len(sink.held)
            done_before = sum(t.done() for t in tasks)
            for f in sink.held[:-1]:
                f.set_result([0])
            sink.held[-1].set_exception(OSError("disk full"))
            return list(await asyncio.gather(*tasks)), queued, done_before

    responses, queued, done_before = asyncio.run(run())
    assert queued == n  # every request was decided and read with only 4 threads
    assert done_before == 0  # nothing was answered before its entry was durable
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * (n - 1) + [503]
    for r in responses:
        if r.status_code == 503:
            assert "青木" not in r.text and "M001" not in r.text
        else:
            assert "青木" in r.text
