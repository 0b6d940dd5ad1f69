"""An answer echoes only what the caller typed (issue 11, item 1).

A lookup answer may carry the caller's own address, normalised, and nothing of any stored
address the caller did not type: not the building or room of other points at the typed 番地,
not their 号, not a stored town a typo was matched to, not a 都道府県 or 区 the caller left out.

Two properties, over generated stores and queries (hypothesis):

* **containment** — for every caller kind (the operator's own lookup, NW 託送 staff, an
  affiliated and an independent retailer), through the service, the HTTP route and the CLI
  (JSON, text and ``--explain``): no stored token the query did not contain appears in an
  answer's address text, and no stored building word appears anywhere in the output;
* **invariance** — two stores that differ only in parts the query left out (号, building,
  room) give byte-identical answers, scores included: nothing derived from an untyped stored
  part leaves, not even as a number.
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI, Header, HTTPException
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridwall.errors import GridwallError
from gridwall.gateway import LookupDecisions
from gridwall.interfaces import Principal, Terminal
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
from gridwall.lookup import LookupIndex, LookupService, TokenBucket, build_index
from gridwall.policy import default_engine
from gridwall.store import make_engine, upgrade

from .conftest import ListSink
from .test_service import AFFILIATED, INDEPENDENT, Ctx

#: (pref, city, town base, 丁目 numbers) — real towns; 0 = the town has no 丁目
PLACES = [
    ("東京都", "千代田区", "平河町", (1, 2)),
    ("東京都", "千代田区", "永田町", (1, 2)),
    ("東京都", "千代田区", "岩本町", (1, 2, 3)),
    ("東京都", "千代田区", "神田和泉町", (0,)),
    ("京都府", "京都市中京区", "虎屋町", (0,)),
]
#: words of building names; none occurs in any place name above
WORDS = ("サンハイツ", "横尾", "グリーン", "コーポ", "レジデンス", "メゾン", "パレス", "A棟",
         "B棟", "別館", "エルム", "ソレイユ")  # fmt: skip
BLOCKS = ("27", "5", "113")
KANJI = "〇一二三四五六七八九"


@dataclass(frozen=True)
class Point:
    spid: str
    pref: str
    city: str
    town: str  # as the operator keeps it (丁目 included)
    base: str
    chome: int
    block: str
    number: str  # '' = none
    building: str  # '' = none
    room: str  # '' = none

    def record(self) -> dict[str, Any]:
        return dict(
            supply_point_id=self.spid, pref=self.pref, city=self.city, town=self.town,
            banchi="-".join(x for x in (self.block, self.number) if x),
            building=self.building or None, room=self.room or None,
            voltage="low", meter_id="M" + self.spid[-6:], status="active",
        )  # fmt: skip


def make_points(seed: int) -> list[Point]:
    """Several points at every (place, 丁目, 番地): houses, 枝番/号, buildings with rooms."""
    rng = random.Random(seed)
    out: list[Point] = []
    n = 0
    for pref, city, base, chomes in PLACES:
        for ch in chomes:
            town = base + (KANJI[ch] + "丁目" if ch else "")
            for block in BLOCKS:
                for _ in range(rng.randint(2, 6)):
                    n += 1
                    bld = ""
                    if rng.random() < 0.7:
                        bld = " ".join(rng.sample(WORDS, rng.randint(1, 3)))
                    room = (
                        str(rng.choice((101, 102, 201, 303, 19)))
                        if bld and rng.random() < 0.8
                        else ""
                    )
                    out.append(
                        Point(f"07{n:020d}", pref, city, town, base, ch, block,
                              rng.choice(("", "", "19", "3", "7")), bld, room)
                    )  # fmt: skip
    return out


def perturb(points: list[Point], level: str, seed: int) -> list[Point]:
    """The same points with every part *beyond* ``level`` rewritten (and sometimes dropped):
    ``block`` → 号, building and room; ``number`` → building and room; ``building`` → room."""
    rng = random.Random(seed)
    out = []
    for p in points:
        number, building, room = p.number, p.building, p.room
        if level == "block":
            number = rng.choice(("", "2", "19", "44"))
        if level in ("block", "number"):
            building = rng.choice(("", " ".join(rng.sample(WORDS, 2))))
        if level in ("block", "number", "building"):
            room = rng.choice(("", "909", "19", "2")) if building else ""
        out.append(Point(p.spid, p.pref, p.city, p.town, p.base, p.chome, p.block, number,
                         building, room))  # fmt: skip
    return out


# --- the callers -----------------------------------------------------------------------------
def _nw() -> Ctx:
    facts = PrincipalFacts(
        OrgKind.NW, RetailerKind.NONE, Role.TAKUSO_OPERATOR, AccountKind.PERSONAL,
        AccountState.ACTIVE, training_current=True,
    )  # fmt: skip
    p = Principal("acct-nw1", "person-nw1", "nw", facts, "sess-nw")
    t = Terminal("dev-nw1", "nw", DeviceFacts(DeviceKind.NW_TERMINAL, DeviceOwner.SAME_ORG, True))
    return Ctx(p, t, Purpose.TAKUSO)


CALLERS: dict[str, Ctx | None] = {
    "operator": None,
    "nw": _nw(),
    "affiliated": AFFILIATED,
    "independent": INDEPENDENT,
}


# --- queries, written the ways people type them ------------------------------------------------
HYPHENS = ("-", "－", "‐", "ー", "−")


def _fw(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "0" <= c <= "9" or "A" <= c <= "Z" else c for c in s)


@st.composite
def queries(
    draw: st.DrawFn,
    points: list[Point],
    levels: tuple[str, ...] = ("block", "number", "building", "room"),
) -> tuple[str, Point, str]:
    """(query text, the point it was written from, how far it was typed: ``block`` = down to
    the 番地, ``number`` = and the 号, ``building`` = and (part of) the building, ``room``)."""
    p = draw(st.sampled_from(points))
    level = draw(st.sampled_from(levels))
    if level in ("building", "room") and not p.building:
        level = "number"
    if level == "number" and not p.number:
        level = "block"
    if level == "room" and not p.room:
        level = "building"
    assert level in levels or level in ("block", "number")
    s = "" if draw(st.booleans()) else p.pref
    town = p.base
    if draw(st.integers(0, 5)) == 0:  # a typo in the town: the near-miss path
        i = draw(st.integers(0, len(town) - 1))
        town = town[:i] + draw(st.sampled_from("池田本新")) + town[i + 1 :]
    s += p.city + town
    if p.chome:
        s += draw(st.sampled_from((KANJI[p.chome] + "丁目", f"{p.chome}丁目", f"{p.chome}-")))
    sep = draw(st.sampled_from((*HYPHENS, "番地", "番", "の")))
    s += p.block
    if level != "block":
        s += sep + p.number + draw(st.sampled_from(("", "号")))
    elif draw(st.booleans()):
        s += "番地"
    if level in ("building", "room"):
        words = p.building.split()
        typed = words if draw(st.booleans()) else words[:1]  # all of it, or its first word
        s += draw(st.sampled_from((" ", "", "　"))) + " ".join(typed)
    if level == "room":
        s += " " + p.room + draw(st.sampled_from(("", "号室", "号")))
    if draw(st.booleans()):
        s = _fw(s)
    return s, p, level


def _nfkc(s: str) -> str:
    return unicodedata.normalize("NFKC", s)


def stored_area_words(points: list[Point]) -> set[str]:
    words = {p.pref for p in points} | {p.base for p in points} | {"京都市", "中京区"}
    return words | {"千代田区"}


def assert_echo_only(query: str, answer: dict[str, Any], points: list[Point]) -> None:
    """No stored token the query did not contain appears in the answer's address text."""
    q = _nfkc(query)
    q_digits = set(re.findall(r"\d+", q))
    for c in answer.get("candidates", []):
        addr = _nfkc(c["address"])
        for d in re.findall(r"\d+", addr):  # 番地, 号 and room numbers
            assert d in q_digits, (query, addr, d)
        for w in WORDS:  # building words
            if w in addr:
                assert w in q, (query, addr, w)
        for w in stored_area_words(points):  # 都道府県, 市区, town (e.g. matched to a typo)
            if w in addr:
                assert w in q, (query, addr, w)


def assert_no_untyped_building_word(query: str, blob: str) -> None:
    q = _nfkc(query)
    for w in WORDS:
        if w in blob:
            assert w in q, (query, w, blob)


# --- fixtures ----------------------------------------------------------------------------------
POINTS = make_points(11)


@pytest.fixture(scope="module")
def echo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('echo') / 'gridwall.db'}"
    upgrade(url)
    engine = make_engine(url)
    build_index(engine, [p.record() for p in POINTS])
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def echo_service(echo_url: str) -> Iterator[LookupService]:
    engine = make_engine(echo_url)
    yield LookupService(
        LookupIndex(engine), ListSink(), name_checker=lambda spid, name: False,
        lrs_checker=lambda ids: set(), decider=LookupDecisions(default_engine()),
        limiter=TokenBucket(burst=10**9, per_second=1e9),
    )  # fmt: skip
    engine.dispose()


def _answer(svc: LookupService, text: str, caller: Ctx | None) -> dict[str, Any]:
    try:
        return svc.lookup(text, caller=caller).to_json()
    except GridwallError as e:
        return {"error": e.diagnostics()}


SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(data=st.data())
def test_service_answers_echo_only_the_typed_address(
    echo_service: LookupService, data: st.DataObject
) -> None:
    query, _, _ = data.draw(queries(POINTS))
    answers = {k: _answer(echo_service, query, c) for k, c in CALLERS.items()}
    for kind, ans in answers.items():
        assert_echo_only(query, ans, POINTS)
        assert_no_untyped_building_word(query, json.dumps(ans, ensure_ascii=False))
        assert "error" not in ans, (kind, query, ans)
    # every caller kind gets the same answer (and the same address for every candidate)
    assert len({json.dumps(a, sort_keys=True) for a in answers.values()}) == 1
    addrs = {c["address"] for c in answers["operator"]["candidates"]}
    assert len(addrs) <= 1


def test_the_reported_leak_is_closed(echo_service: LookupService) -> None:
    """The probe's case: typed down to the 番地, other points there have buildings and rooms."""
    p = next(p for p in POINTS if p.building and p.room and p.number)
    query = f"{p.pref}{p.city}{p.town}{p.block}"
    for caller in CALLERS.values():
        ans = echo_service.lookup(query, caller=caller)
        assert len(ans.candidates) >= 2
        for c in ans.candidates:
            assert c.address == ans.query.typed_form()
            assert p.building.split()[0] not in c.address and p.room not in c.address


# --- HTTP ---------------------------------------------------------------------------------------
TOKENS = {"tok-" + k: c for k, c in CALLERS.items() if c is not None}


def _context(authorization: str | None = Header(default=None)) -> Ctx:
    c = TOKENS.get((authorization or "").removeprefix("Bearer "))
    if c is None:
        raise HTTPException(401, "unknown token")
    return c


@pytest.fixture(scope="module")
def echo_client(echo_service: LookupService) -> TestClient:
    from gridwall.app.http.lookup import make_router

    app = FastAPI()
    app.include_router(make_router(echo_service, _context))
    return TestClient(app)


@SETTINGS
@given(data=st.data())
def test_http_answers_echo_only_the_typed_address(
    echo_client: TestClient, data: st.DataObject
) -> None:
    query, _, _ = data.draw(queries(POINTS))
    for token in TOKENS:
        r = echo_client.post(
            "/v1/lookup", json={"address": query}, headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 200, r.text
        assert_echo_only(query, r.json(), POINTS)
        assert_no_untyped_building_word(query, r.text)


# --- CLI ----------------------------------------------------------------------------------------
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_cli_output_echoes_only_the_typed_address(
    echo_url: str, capsys: pytest.CaptureFixture[str], data: st.DataObject
) -> None:
    from gridwall.app.cli.lookup import lookup

    query, _, _ = data.draw(queries(POINTS))
    for as_json in (True, False):
        capsys.readouterr()
        lookup(query, name=None, batch=None, as_json=as_json, explain=True, db=echo_url,
               quiet=True)  # fmt: skip
        out = capsys.readouterr()
        assert_no_untyped_building_word(query, out.out + out.err)
        if as_json:
            assert_echo_only(query, json.loads(out.out), POINTS)
        else:
            # text lines: score, ID, address, [voltage, meter …]
            cands = []
            for line in out.out.splitlines():
                m = re.match(r"^[\d.]+  \d+  (.*)  \[", line)
                assert m, line
                cands.append({"address": m.group(1)})
            assert_echo_only(query, {"candidates": cands}, POINTS)
        explained = [x for x in out.err.splitlines() if "normalised:" in x]
        assert explained, out.err
        shown = explained[0].split("normalised: ", 1)[1].split(" (inferred:", 1)[0]
        assert_echo_only(query, {"candidates": [{"address": shown}]}, POINTS)


# --- invariance ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def scratch_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('echo_inv') / 'gridwall.db'}"
    upgrade(url)
    return url


def _answers_on(url: str, points: list[Point], query: str) -> list[str]:
    engine = make_engine(url)
    try:
        build_index(engine, [p.record() for p in points])
        svc = LookupService(
            LookupIndex(engine), ListSink(), lrs_checker=lambda ids: set(),
            decider=LookupDecisions(default_engine()),
            limiter=TokenBucket(burst=10**9, per_second=1e9),
        )  # fmt: skip
        return [
            json.dumps(_answer(svc, query, c), ensure_ascii=False, sort_keys=True)
            for c in CALLERS.values()
        ]
    finally:
        engine.dispose()


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), seed=st.integers(0, 10**6))
def test_untyped_stored_parts_do_not_change_the_answer(
    scratch_url: str, data: st.DataObject, seed: int
) -> None:
    base = make_points(seed % 97)
    query, _, level = data.draw(queries(base, levels=("block", "number", "building")))
    other = perturb(base, level, seed)
    assert other != base or level == "building"
    assert _answers_on(scratch_url, base, query) == _answers_on(scratch_url, other, query), (
        query,
        level,
    )
