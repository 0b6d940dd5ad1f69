"""No timing oracle (issue 11 item 6): an existing point the caller may not see costs the
same as a nonexistent ID, measured (interleaved samples, Mann–Whitney rank test), and the
detector is shown to flag a path that does extra work."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from gridwall.app.wiring import load_dataset
from gridwall.gateway import Gateway, NotVisible, _store
from gridwall.interfaces import RequestContext
from gridwall.policy import default_engine
from gridwall.store import make_engine, upgrade
from support.doubles import MemoryAuditSink, NoGrants

from . import tiny
from .conftest import NOW, World, make_world
from .timing import FLOOR_NS, Verdict, busy_wait, compare, judge, mann_whitney

Op = Callable[[Gateway, RequestContext, str], Any]


def _read(gw: Gateway, c: RequestContext, pid: str) -> Any:
    return gw.read_point(c, pid)


def _usage(gw: Gateway, c: RequestContext, pid: str) -> Any:
    return gw.usage(c, pid)


CALLERS = {
    "ind": ("ind-agent", "T-IND", "customer_service"),
    "aff": ("aff-agent", "T-AFF", "customer_service"),
}
#: IDs that do not exist: between points, before the first, after the last (another area)
MISSING_IDS = {"between": tiny.MISSING, "first": tiny.pid(0), "last": "10" + "9" * 20}


def _gateway(url: str, directory: Path, world: World) -> tuple[Gateway, Engine]:
    upgrade(url)
    engine = make_engine(url)
    load_dataset(tiny.write(directory / "ds"), engine, progress=False)
    gw = Gateway(
        engine,
        default_engine(),
        auth=world.auth,
        grants=NoGrants(),
        audit=MemoryAuditSink(),
        clock=lambda: NOW,
    )
    return gw, engine


@pytest.fixture(scope="module")
def module_world() -> World:
    return make_world()


@pytest.fixture(scope="module")
def sqlite_gw(tmp_path_factory: pytest.TempPathFactory, module_world: World) -> Iterator[Gateway]:
    """One SQLite gateway over the tiny world for the whole module (loading it is the
    expensive part; the measurements only read)."""
    d = tmp_path_factory.mktemp("timing")
    gw, engine = _gateway(f"sqlite:///{d / 'gridwall.db'}", d, module_world)
    yield gw
    engine.dispose()


@pytest.fixture
def pg_gw(pg_url: str, tmp_path: Path, module_world: World) -> Iterator[Gateway]:
    gw, engine = _gateway(pg_url, tmp_path, module_world)
    yield gw
    engine.dispose()


def _path(gw: Gateway, op: Op, c: RequestContext, pid: str) -> Callable[[], None]:
    def run() -> None:
        try:
            op(gw, c, pid)
        except NotVisible:
            return
        raise AssertionError(f"{pid} unexpectedly visible")  # checked before timing

    return run


def _measure(
    gw: Gateway,
    world: World,
    op: Op,
    caller: str,
    seen: str,
    unseen: str,
    samples: int = 800,
    seed: int = 0,
) -> Verdict:
    account, terminal, purpose = CALLERS[caller]
    c = gw.authenticate(world.tokens[account], world.terminals[terminal], purpose)
    # precondition: both answers are the same refusal (the functional no-oracle rule)
    bodies = []
    for pid in (seen, unseen):
        with pytest.raises(NotVisible) as e:
            op(gw, c, pid)
        bodies.append(e.value.body())
    assert bodies[0] == bodies[1]
    return compare(_path(gw, op, c, seen), _path(gw, op, c, unseen), samples=samples, seed=seed)


def _same_work(measure: Callable[[int], Verdict]) -> None:
    """Fail only if two independent measurements (each its own interleaving) both find a
    divergence (one retry)."""
    first = measure(0)
    if not first.diverges:
        return
    second = measure(1)
    assert not second.diverges, f"timing oracle: {first}; retried: {second}"


@pytest.mark.parametrize(
    ("op", "caller", "seen", "missing"),
    [
        # the case: another retailer's point, against each kind of missing ID
        pytest.param(_read, "ind", tiny.P_AFF, "between", id="read-between"),
        pytest.param(_read, "ind", tiny.P_AFF, "first", id="read-first"),
        pytest.param(_read, "ind", tiny.P_AFF, "last", id="read-last"),
        # points whose content differs from the stand-in's: FIT, history, holder changes
        pytest.param(_read, "aff", tiny.P_FIT, "between", id="read-fit"),
        pytest.param(_read, "aff", tiny.P_FORMER, "between", id="read-history"),
        pytest.param(_read, "ind", tiny.P_LRS, "first", id="read-lrs"),
        pytest.param(_usage, "ind", tiny.P_AFF, "between", id="usage"),
        pytest.param(_usage, "aff", tiny.P_MOVED, "between", id="usage-moved"),
    ],
)
def test_invisible_costs_the_same_as_nonexistent(
    sqlite_gw: Gateway, module_world: World, op: Op, caller: str, seen: str, missing: str
) -> None:
    unseen = MISSING_IDS[missing]
    _same_work(lambda seed: _measure(sqlite_gw, module_world, op, caller, seen, unseen, seed=seed))


@pytest.mark.postgres
@pytest.mark.parametrize("op", [_read, _usage], ids=["read", "usage"])
def test_invisible_costs_the_same_as_nonexistent_on_postgresql(
    pg_gw: Gateway, module_world: World, op: Op
) -> None:
    seen, unseen = tiny.P_FORMER, tiny.MISSING
    _same_work(lambda seed: _measure(pg_gw, module_world, op, "aff", seen, unseen, 500, seed))


@pytest.mark.parametrize("extra_us", [50, 150])
@pytest.mark.parametrize("slow_side", ["existing", "missing"])
def test_the_detector_flags_extra_work_on_one_path(
    sqlite_gw: Gateway,
    module_world: World,
    monkeypatch: pytest.MonkeyPatch,
    extra_us: int,
    slow_side: str,
) -> None:
    """Inject a busy wait into the decision step of one path only (the shape of the
    original defect: work done only when the point exists, or only when it does not):
    the same measurement as above must flag it, in either direction."""
    real = sqlite_gw._facts

    def slow_facts(ctx: RequestContext, pid: str, row: _store.PointRow | None) -> Any:
        if (row is not None) == (slow_side == "existing"):
            busy_wait(extra_us * 1000)
        return real(ctx, pid, row)

    monkeypatch.setattr(sqlite_gw, "_facts", slow_facts)
    verdicts = []
    for seed in range(2):  # the same one retry the real test allows, the other way round
        v = _measure(sqlite_gw, module_world, _read, "ind", tiny.P_AFF, tiny.MISSING, seed=seed)
        verdicts.append(v)
        if v.diverges:
            break
    assert verdicts[-1].diverges, f"not flagged: {[str(v) for v in verdicts]}"
    sign = 1 if slow_side == "existing" else -1
    assert sign * verdicts[-1].gap_ns > 0


# -- the stand-in read never answers for a point that does not exist -----------------


EXISTING = [p["supply_point_id"] for p in tiny.POINTS]


@given(
    st.one_of(
        st.sampled_from(EXISTING),
        st.builds(
            lambda area, n: f"{area:02d}{n:020d}",
            st.integers(1, 10),
            st.integers(0, 10**20 - 1),
        ),
    )
)
def test_probe_returns_exactly_the_point_asked_for(sqlite_gw: Gateway, pid: str) -> None:
    with sqlite_gw.engine.connect() as conn:
        r = _store.probe_point(conn, pid, NOW.date())
    if pid in EXISTING:
        assert r is not None and r.supply_point_id == pid
    else:
        assert r is None


def test_probe_on_points(loaded: Engine) -> None:
    """Both stores: each point is its own, every gap (before, between, after) is None."""
    with loaded.connect() as conn:
        for pid in EXISTING:
            r = _store.probe_point(conn, pid, NOW.date())
            assert r is not None and r == _store.fetch_point(conn, pid, NOW.date())
        for pid in MISSING_IDS.values():
            assert _store.probe_point(conn, pid, NOW.date()) is None


def test_probe_on_an_empty_store(sqlite_url: str) -> None:
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert _store.probe_point(conn, tiny.MISSING, NOW.date()) is None
    finally:
        engine.dispose()


# -- the statistic itself --------------------------------------------------------------


@given(
    st.lists(st.integers(0, 6), min_size=1, max_size=30),
    st.lists(st.integers(0, 6), min_size=1, max_size=30),
)
def test_u_is_the_pairwise_count(a: list[int], b: list[int]) -> None:
    brute = sum(1.0 if x > y else 0.5 if x == y else 0.0 for x in a for y in b)
    r, s = mann_whitney(a, b), mann_whitney(b, a)
    assert r.u == pytest.approx(brute)
    assert r.u + s.u == pytest.approx(len(a) * len(b))
    assert r.p == pytest.approx(s.p) and 0.0 <= r.p <= 1.0


def test_normal_approximation_known_value() -> None:
    # n1 = n2 = 10, complete separation: U = 0, var = 175, z = (0 - 50 + 0.5) / sqrt(175)
    r = mann_whitney(range(10), range(10, 20))
    assert r.u == 0
    assert r.z == pytest.approx(-3.7418, abs=1e-4)
    assert r.p == pytest.approx(1.826e-4, rel=1e-3)
    assert mann_whitney([5.0] * 8, [5.0] * 9).p == 1.0
    with pytest.raises(ValueError, match="non-empty"):
        mann_whitney([], [1.0])


def test_verdict_needs_significance_and_effect() -> None:
    base = [200_000.0 + i for i in range(400)]
    shifted_small = [x + 2_000 for x in base]  # significant, but below the floor
    shifted_big = [x + 60_000 for x in base]
    assert not judge(base, base).diverges
    assert mann_whitney(base, shifted_small).p < 1e-3
    assert not judge(base, shifted_small).diverges
    big = judge(shifted_big, base)
    assert big.diverges and big.gap_ns == pytest.approx(60_000) and big.floor_ns >= FLOOR_NS
