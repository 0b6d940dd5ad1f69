"""POST /v1/lookup through the router, with the caller from an auth dependency."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Header, HTTPException
from fastapi.testclient import TestClient

from gridwall.app.http.lookup import make_router
from gridwall.gateway import LookupDecisions
from gridwall.lookup import LookupIndex, LookupService, TokenBucket
from gridwall.policy import default_engine
from gridwall.store import make_engine

from .conftest import ListSink
from .test_service import AFFILIATED, INDEPENDENT, NAMES, Ctx

CALLERS = {"tok-aff": AFFILIATED, "tok-ind": INDEPENDENT}


def context(authorization: str | None = Header(default=None)) -> Ctx:
    token = (authorization or "").removeprefix("Bearer ")
    if token not in CALLERS:
        raise HTTPException(401, "unknown token")
    return CALLERS[token]


@pytest.fixture
def client(index_url: str) -> Iterator[tuple[TestClient, ListSink]]:
    engine = make_engine(index_url)
    sink = ListSink()
    svc = LookupService(
        LookupIndex(engine),
        sink,
        name_checker=lambda spid, name: NAMES.get(spid) == name,
        limiter=TokenBucket(burst=4, per_second=0.001),
        decider=LookupDecisions(default_engine()),
    )
    app = FastAPI()
    app.include_router(make_router(svc, context))
    yield TestClient(app), sink
    engine.dispose()


def post(c: TestClient, token: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    r = c.post("/v1/lookup", json=body, headers={"Authorization": f"Bearer {token}"})
    return r.status_code, r.json()


def test_lookup_over_http(client: tuple[TestClient, ListSink]) -> None:
    c, sink = client
    status, body = post(c, "tok-ind", {"address": "東京都千代田区霞ヶ関2-1-1", "name": "霞 太郎"})
    assert status == 200
    assert body["name_match"] is True
    assert body["candidates"][0]["supply_point_id"] == "0300000000000000000103"  # type: ignore[index]
    assert sink.events[-1]["org"] == "retail:B0002"


def test_errors_over_http(client: tuple[TestClient, ListSink]) -> None:
    c, _ = client
    assert post(c, "nobody", {"address": "x"})[0] == 401
    status, body = post(c, "tok-aff", {"address": "大阪市"})
    assert status == 400 and body["parameter"] == "address"
    status, body = post(c, "tok-aff", {"address": ""})  # validation: 400 in the one shape
    assert status == 400 and body["parameter"] == "address"


def test_same_answers_and_limits_for_affiliated_and_independent(
    client: tuple[TestClient, ListSink],
) -> None:
    c, _ = client
    q: dict[str, object] = {"address": "東京都千代田区丸の内二丁目7-3"}
    aff = [post(c, "tok-aff", q) for _ in range(6)]
    ind = [post(c, "tok-ind", q) for _ in range(6)]
    assert [s for s, _ in aff] == [s for s, _ in ind] == [200] * 4 + [429] * 2
    assert [b for s, b in aff if s == 200] == [b for s, b in ind if s == 200]


def test_rate_limited_answer_names_when_to_retry(client: tuple[TestClient, ListSink]) -> None:
    c, _ = client
    q = {"address": "東京都千代田区霞ヶ関2-1-1"}
    codes = []
    for _ in range(5):
        r = c.post("/v1/lookup", json=q, headers={"Authorization": "Bearer tok-aff"})
        codes.append(r.status_code)
    assert codes == [200] * 4 + [429]
    assert int(r.headers["Retry-After"]) >= 1
    assert r.json()["error"] == "rate_limited"
