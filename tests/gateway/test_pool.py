"""No pool exhaustion under concurrency (issue 11 item 10): no request holds one pooled
connection while it waits for another, so 64 concurrent callers share a pool of two.

The gateway and the real grant resolver (``StoreGrantResolver``, refreshing its snapshot
on every request so it takes a connection every time) draw from the same small pool
(pool_size=2, max_overflow=0, pool_timeout=2 s). Two checks, on SQLite and PostgreSQL:

* structural: pool events count the connections each thread holds; never more than one;
* behavioural: every request of 64 threads gets its normal answer (no 503).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from gridwall.app.wiring import load_dataset
from gridwall.gateway import Gateway, NotVisible, SearchCriteria, Unavailable
from gridwall.grants import StoreGrantResolver
from gridwall.interfaces import RequestContext
from gridwall.policy import default_engine
from gridwall.store import make_engine, upgrade
from support.doubles import MemoryAuditSink

from . import tiny
from .conftest import NOW, World

THREADS = 64
ROUNDS = 8  # requests of each kind per thread


class HeldConnections:
    """Counts, per thread, the pooled connections checked out and not yet returned."""

    def __init__(self, engine: Engine) -> None:
        self._lock = threading.Lock()
        self._held: Counter[int] = Counter()
        self.most = 0
        event.listen(engine, "checkout", self._out)
        event.listen(engine, "checkin", self._in)

    def _out(self, *_: Any) -> None:
        with self._lock:
            me = threading.get_ident()
            self._held[me] += 1
            self.most = max(self.most, self._held[me])

    def _in(self, *_: Any) -> None:
        with self._lock:
            self._held[threading.get_ident()] -= 1


@pytest.fixture
def small_pool(db_url: str, tmp_path: Path) -> Iterator[Engine]:
    upgrade(db_url)
    loader = make_engine(db_url)
    load_dataset(tiny.write(tmp_path / "ds"), loader, progress=False)
    loader.dispose()
    engine = make_engine(db_url, pool_size=2, max_overflow=0, pool_timeout=2)
    yield engine
    engine.dispose()


def _gateway(engine: Engine, world: World) -> Gateway:
    resolver = StoreGrantResolver(engine, lambda: NOW, refresh_seconds=0.0)
    return Gateway(
        engine,
        default_engine(),
        auth=world.auth,
        grants=resolver,
        audit=MemoryAuditSink(),
        clock=lambda: NOW,
    )


def _requests(gw: Gateway, world: World) -> list[Callable[[], Any]]:
    """One of each kind of request, each with its expected normal answer checked."""

    def c(account: str, terminal: str, purpose: str) -> RequestContext:
        return gw.authenticate(world.tokens[account], world.terminals[terminal], purpose)

    aff = c("aff-agent", "T-AFF", "customer_service")
    nw = c("nw-op", "T-NW", "takuso")

    def own_read() -> None:
        assert gw.read_point(aff, tiny.P_AFF)["contract_name"] == "青木 一郎"

    def refused_read() -> None:
        with pytest.raises(NotVisible):
            gw.read_point(aff, tiny.P_IND)

    def missing_read() -> None:
        with pytest.raises(NotVisible):
            gw.read_point(aff, tiny.MISSING)

    def history_read() -> None:
        assert "switching_history" in gw.read_point(nw, tiny.P_FORMER)

    def own_usage() -> None:
        assert gw.usage(aff, tiny.P_AFF)["usage"]

    def search() -> None:
        assert gw.search(nw, SearchCriteria(town="一番町"))["count"] >= 1

    def listing() -> None:
        assert gw.list_customers(aff)["count"] >= 1

    def export() -> None:
        gw.export(nw, "contractor:MAINT1", [tiny.P_AFF, tiny.P_LRS])

    return [own_read, refused_read, missing_read, history_read, own_usage, search, listing,
            export]  # fmt: skip


def test_no_request_holds_two_connections(small_pool: Engine, world: World) -> None:
    gw = _gateway(small_pool, world)
    held = HeldConnections(small_pool)
    for request in _requests(gw, world):
        request()
    assert held.most == 1


def test_64_concurrent_callers_share_a_pool_of_two(small_pool: Engine, world: World) -> None:
    gw = _gateway(small_pool, world)
    held = HeldConnections(small_pool)
    requests = _requests(gw, world)
    start = threading.Barrier(THREADS)
    failures: list[str] = []
    done = Counter[str]()
    lock = threading.Lock()

    stop = threading.Event()  # the first failure stops everyone: a regression fails fast

    def caller(i: int) -> None:
        start.wait()
        for r in range(ROUNDS * len(requests)):
            if stop.is_set():
                return
            request = requests[(i + r) % len(requests)]
            try:
                request()
            except Unavailable as e:
                with lock:
                    failures.append(f"{request.__name__}: 503 {e.detail}")
                stop.set()
            except Exception as e:
                with lock:
                    failures.append(f"{request.__name__}: {type(e).__name__}: {e}")
                stop.set()
            else:
                with lock:
                    done[request.__name__] += 1

    threads = [threading.Thread(target=caller, args=(i,), daemon=True) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    stop.set()
    assert not any(t.is_alive() for t in threads), "callers still running after 120 s"
    assert not failures, f"{len(failures)} failed, e.g. {failures[:3]}"
    assert sum(done.values()) == THREADS * ROUNDS * len(requests)
    assert held.most == 1
