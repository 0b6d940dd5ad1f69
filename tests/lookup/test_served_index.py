"""The served lookup never answers from a missing or stale index (issue 16): the composed app
refuses 503 with Retry-After and a message while it builds the index in the background, then
answers from the built index; a failed build is refused too and tried again after a backoff.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from gridwall.app.http.lookup import IndexKeeper
from gridwall.lookup import INDEX_VERSION, IndexUnavailable, index_state
from gridwall.store import make_engine
from integration.site import Site, build_site

QUERY = {"address": "東京都千代田区霞が関2-1-1"}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    s = build_site(f"sqlite:///{tmp_path / 'served.db'}", tmp_path)
    yield s
    s.server.close()


def _spoil(url: str, how: str) -> None:
    engine = make_engine(url)
    with engine.begin() as c:
        if how == "stale":  # built by code with another layout version
            c.execute(
                text("UPDATE lookup_meta SET value = :v WHERE key = 'version'"),
                {"v": str(INDEX_VERSION - 1)},
            )
        else:  # never built: the tables are there, empty
            for t in ("lookup_points", "lookup_places", "lookup_meta"):
                c.execute(text(f"DELETE FROM {t}"))
    assert index_state(engine) == how
    engine.dispose()


@pytest.mark.parametrize("how", ["missing", "stale"])
def test_served_lookup_refuses_while_it_builds_a_missing_or_stale_index(
    site: Site, how: str
) -> None:
    headers = site.headers("ind-agent", "T-IND", "switching")
    first = site.client.post("/v1/lookup", json=QUERY, headers=headers)
    assert first.status_code == 200 and first.json()["candidates"]
    _spoil(site.db_url, how)
    keeper: IndexKeeper = site.app.state.lookup_index
    builds = keeper.builds
    before = site.log.size()
    r = site.client.post("/v1/lookup", json=QUERY, headers=headers)
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["error"] == "unavailable"
    assert "being built" in body["detail"] and how in body["detail"]
    assert int(r.headers["Retry-After"]) >= 1
    assert "candidates" not in body
    assert keeper.builds == builds + 1
    # the refusal is audited like every refused lookup (deny, the error class named)
    events = [e for e in site.events_since(before) if e.get("screen") == "lookup"]
    assert [e["decision"] for e in events] == ["deny"]
    assert events[0]["denial"] == "IndexUnavailable"
    assert keeper.wait(60)
    assert index_state(site.server.engine) == "current"
    again = site.client.post("/v1/lookup", json=QUERY, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert keeper.builds == builds + 1  # built once


def test_a_current_index_is_answered_without_building(site: Site) -> None:
    headers = site.headers("aff-agent", "T-AFF", "switching")
    keeper: IndexKeeper = site.app.state.lookup_index
    for _ in range(3):
        assert site.client.post("/v1/lookup", json=QUERY, headers=headers).status_code == 200
    assert keeper.builds == 0


def test_keeper_refuses_until_the_build_committed_and_retries_a_failed_one() -> None:
    state = ["stale"]
    gate = threading.Event()
    reloaded: list[str] = []
    fail = [True]
    now = [0.0]

    def build() -> None:
        gate.wait(10)
        if fail[0]:
            raise RuntimeError("store went away")
        state[0] = "current"

    keeper = IndexKeeper(
        lambda: state[0], build, lambda: reloaded.append(state[0]), backoff_s=30.0,
        clock=lambda: now[0],
    )  # fmt: skip
    with pytest.raises(IndexUnavailable, match="being built"):
        keeper.check()
    with pytest.raises(IndexUnavailable, match="being built"):
        keeper.check()  # still building: refused, not started twice
    assert keeper.builds == 1
    gate.set()
    assert keeper.wait(10)
    assert reloaded == []  # the failed build reloaded nothing
    with pytest.raises(IndexUnavailable, match=r"failed \(RuntimeError\)") as e:
        keeper.check()  # within the backoff: refused, saying why, not rebuilt
    assert e.value.retry_after == 30.0 and keeper.builds == 1
    now[0] = 31.0
    fail[0] = False
    with pytest.raises(IndexUnavailable, match="being built"):
        keeper.check()
    assert keeper.wait(10) and keeper.builds == 2
    assert reloaded == ["current"]
    keeper.check()  # current: answered
    state[0] = "absent"
    with pytest.raises(IndexUnavailable, match="not migrated"):
        keeper.check()
    assert keeper.builds == 2
