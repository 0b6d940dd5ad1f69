"""The synthetic operator: determinism, validity against the dataset layout, realism."""

from __future__ import annotations

import csv
import filecmp
import importlib.util
import itertools
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gridwall import dataset
from gridwall.data import SERVICE_AREAS, towns_in
from gridwall.errors import UsageError
from gridwall.synth import LRS, NO_RETAILER, World, generate
from gridwall.synth._out import USAGE

N = 1500
DAYS = 3
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+09:00$")


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, World]:
    d = tmp_path_factory.mktemp("synth") / "op"
    return d, generate(d, N, DAYS, seed=7)


def rows(d: Path, table: dataset.Table) -> list[dict[str, Any]]:
    p = dataset.find_table_file(d, table)
    assert p is not None, table.name
    return [r for _, r in dataset.iter_rows(p, table)]


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(a, 400, 2, seed=3)
    generate(b, 400, 2, seed=3)
    generate(c, 400, 2, seed=4)
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    match, mismatch, errors = filecmp.cmpfiles(a, b, names, shallow=False)
    assert mismatch == [] and errors == [] and len(match) == len(names)
    assert (a / "supply_points.csv").read_bytes() != (c / "supply_points.csv").read_bytes()
    assert (a / "events.csv").read_bytes() != (c / "events.csv").read_bytes()


def test_every_table_parses_with_full_validation(ds: tuple[Path, World]) -> None:
    d, _ = ds
    for t in (*dataset.REFERENCE_TABLES, dataset.EVENTS, USAGE):
        got = rows(d, t)
        assert got, f"{t.name} is empty"
    assert len(rows(d, dataset.SUPPLY_POINTS)) == N


def test_supply_point_ids(ds: tuple[Path, World]) -> None:
    d, w = ds
    ids = [r["supply_point_id"] for r in rows(d, dataset.SUPPLY_POINTS)]
    assert len(set(ids)) == N
    assert all(len(i) == 22 and i.isdigit() and i.startswith("06") for i in ids)
    for k in (0, 17, N - 1):
        assert w.point_id(k) == ids[k]
        assert w.point_index(ids[k]) == k
    with pytest.raises(KeyError):
        w.point_index("06" + "0" * 20)


def test_point_api_matches_file(ds: tuple[Path, World]) -> None:
    d, w = ds
    sp = rows(d, dataset.SUPPLY_POINTS)
    for k in (0, 5, 99, N // 2, N - 1):
        info = w.point(k)
        r = sp[k]
        assert (info.pref, info.city, info.town, info.banchi) == (
            r["pref"],
            r["city"],
            r["town"],
            r["banchi"],
        )
        assert (info.building, info.room) == (r["building"], r["room"])
        assert (info.contract_name, info.phone, info.status, info.voltage) == (
            r["contract_name"],
            r["phone"],
            r["status"],
            r["voltage"],
        )


def test_addresses_are_real_towns_of_the_area(ds: tuple[Path, World]) -> None:
    d, _ = ds
    towns = towns_in(SERVICE_AREAS["06"][1])
    known = {(t.pref, t.city, t.town) for t in towns}
    stems = {(t.pref, t.city, re.sub(r"[一二三四五六七八九十]+丁目$", "", t.town)) for t in towns}
    folded = 0
    for r in rows(d, dataset.SUPPLY_POINTS):
        key = (r["pref"], r["city"], r["town"])
        if key not in known:
            assert key in stems and re.fullmatch(r"\d+-\d+-\d+", r["banchi"]), key
            folded += 1
        assert re.fullmatch(r"\d+(-\d+){0,2}", r["banchi"]), r["banchi"]
    assert 0 < folded < N // 4
    buildings = [r for r in rows(d, dataset.SUPPLY_POINTS) if r["room"]]
    assert len(buildings) > N // 10


def test_market_shape(ds: tuple[Path, World]) -> None:
    d, w = ds
    retailers = {r["retailer_code"]: r["kind"] for r in rows(d, dataset.RETAILERS)}
    assert list(retailers.values()).count("affiliated") == 1
    assert len(retailers) >= 25
    current = Counter(
        r["retailer_code"] for r in rows(d, dataset.SUPPLY_CONTRACTS) if r["end_date"] is None
    )
    top, _ = current.most_common(1)[0]
    assert retailers[top] == "affiliated" == w.affiliated.kind
    assert top == w.affiliated_code
    supplied = sum(v for k, v in current.items() if k != w.nw_code)
    assert 0.5 < current[top] / supplied < 0.8
    assert w.nw_code == "N0006" and w.nw_code not in retailers
    lrs = [r for r in rows(d, dataset.SUPPLY_CONTRACTS) if r["kind"] == "lrs"]
    assert lrs and all(r["retailer_code"] == w.nw_code for r in lrs)
    fit = rows(d, dataset.FIT_CONTRACTS)
    low = sum(1 for r in rows(d, dataset.SUPPLY_POINTS) if r["voltage"] == "low")
    assert 0.01 < len(fit) / low < 0.06
    kinds = Counter(r["kind"] for r in rows(d, dataset.SWITCHING))
    assert {"switch", "move_in", "move_out", "cancel"} <= set(kinds)
    statuses = Counter(r["status"] for r in rows(d, dataset.SUPPLY_POINTS))
    assert statuses["vacant"] > 0 and statuses["active"] > 0.85 * N


def test_contract_history_is_consistent(ds: tuple[Path, World]) -> None:
    """Periods do not overlap; exactly one open contract per active point, none otherwise."""
    d, w = ds
    by_point: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows(d, dataset.SUPPLY_CONTRACTS):
        by_point[r["supply_point_id"]].append(r)
    for k, sp in enumerate(rows(d, dataset.SUPPLY_POINTS)):
        periods = sorted(by_point[sp["supply_point_id"]], key=lambda r: r["start_date"])
        open_ = [p for p in periods if p["end_date"] is None]
        assert len(open_) == (1 if sp["status"] == "active" else 0)
        for a, b in itertools.pairwise(periods):
            # end_date is exclusive: the next contract may start on it, never before
            assert a["end_date"] is not None and a["end_date"] <= b["start_date"]
        for a in periods:
            assert a["end_date"] is None or a["start_date"] < a["end_date"]
        if open_:
            code = w.retailer_code_of(int(w.points.retailer[k]))
            assert open_[0]["retailer_code"] == code
            assert open_[0]["contract_name"] == sp["contract_name"]
        else:
            assert int(w.points.retailer[k]) == NO_RETAILER


def test_organisations_people_and_grants(ds: tuple[Path, World]) -> None:
    d, w = ds
    persons = rows(d, dataset.PERSONS)
    roles = {(p["org"].split(":")[0], p["role"]) for p in persons}
    for r in (
        "takuso_operator",
        "call_center",
        "fit_team",
        "it_maintenance",
        "auditor",
        "compliance",
        "manager",
    ):
        assert ("nw", r) in roles
    for r in ("call_center", "sales", "manager"):
        assert ("retail", r) in roles
    assert {
        ("contractor", "it_maintenance"),
        ("contractor", "meter_reading"),
        ("regulator", "auditor"),
    } <= roles
    per = defaultdict(list)
    for p in persons:
        per[p["person_id"]].append(p)
    transfers = [v for v in per.values() if len(v) == 2]
    assert transfers
    for a, b in transfers:
        assert a["org"] == "nw" and b["org"] == f"retail:{w.affiliated_code}"
        assert a["valid_to"] is not None and a["valid_to"] < b["valid_from"]
    accounts = rows(d, dataset.ACCOUNTS)
    kinds = Counter(a["kind"] for a in accounts)
    assert kinds["personal"] > kinds["shared"] > 0 and kinds["disaster_support"] > 0
    assert {a["system"] for a in accounts} >= {"takuso", "nw_online", "fit_mgmt", "gridwall"}
    devs = Counter(x["kind"] for x in rows(d, dataset.DEVICES))
    assert set(devs) == {
        "nw_terminal",
        "retail_terminal",
        "disaster_terminal",
        "contractor_terminal",
    }
    ag = rows(d, dataset.AGREEMENTS)
    ds_orgs = {g["counterparty_org"] for g in ag if g["purpose"] == "disaster_support"}
    assert f"retail:{w.affiliated_code}" in ds_orgs and len(ds_orgs) >= 3
    assert {g["purpose"] for g in ag} >= {"system_maintenance", "meter_reading", "lrs_operations"}
    assert len(rows(d, dataset.DISASTERS)) == 1


def test_events_reference_existing_things(ds: tuple[Path, World]) -> None:
    d, _ = ds
    accounts = {a["account_id"]: a for a in rows(d, dataset.ACCOUNTS)}
    devices = {x["device_id"]: x for x in rows(d, dataset.DEVICES)}
    points = {p["supply_point_id"] for p in rows(d, dataset.SUPPLY_POINTS)}
    ev = rows(d, dataset.EVENTS)
    assert len({e["event_id"] for e in ev}) == len(ev)
    assert len(ev) > 1000
    with (d / "events.csv").open(encoding="utf-8") as f:
        raw = list(csv.DictReader(f))
    assert all(TS.match(r["ts"]) for r in raw)
    assert [r["ts"] for r in raw] == sorted(r["ts"] for r in raw)
    actions = Counter(e["action"] for e in ev)
    assert {"login", "logout", "view", "search", "export", "login_failed", "update"} <= set(actions)
    for e in ev:
        a = accounts[e["account_id"]]
        assert a["kind"] == "personal"
        if e["device_id"] is not None:
            assert devices[e["device_id"]]["owner_org"] == a["org"]
        assert set(e["supply_point_ids"]) <= points
        assert e["ts"].date() >= date(2026, 4, 1)
        if e["action"] == "export":
            assert e["recipient_org"].startswith("contractor:")


def test_retail_staff_only_see_their_own_customers(ds: tuple[Path, World]) -> None:
    d, _ = ds
    accounts = {a["account_id"]: a for a in rows(d, dataset.ACCOUNTS)}
    contracts = defaultdict(list)
    for c in rows(d, dataset.SUPPLY_CONTRACTS):
        contracts[c["supply_point_id"]].append(c)
    fit = {f["supply_point_id"] for f in rows(d, dataset.FIT_CONTRACTS)}
    seen_retail = 0
    for e in rows(d, dataset.EVENTS):
        org = accounts[e["account_id"]]["org"]
        day = e["ts"].date()
        for sp in e["supply_point_ids"]:
            if org.startswith("retail:"):
                code = org.split(":", 1)[1]
                cur = [
                    c
                    for c in contracts[sp]
                    if c["start_date"] <= day and (c["end_date"] is None or day < c["end_date"])
                ]
                assert [c["retailer_code"] for c in cur] == [code]
                assert e["purpose"] in ("customer_service", "sales")
                seen_retail += 1
            if "fit" in e["fields"]:
                assert e["purpose"] == "fit" and sp in fit and org == "nw"
            if "lrs" in e["fields"]:
                assert org == "nw" or e["purpose"] == "lrs_operations"
    assert seen_retail > 100


def test_world_arrays(ds: tuple[Path, World]) -> None:
    _, w = ds
    assert len(w.points.retailer) == N
    assert (w.points.retailer == LRS).sum() == len(w.lrs_points()) >= 1
    assert len(w.fit_points()) > 0
    for ri in range(len(w.retailers)):
        stable = w.customers_of(ri, stable=True)
        assert (w.points.retailer[stable] == ri).all()
        assert (w.points.change_day[stable] < 0).all()
    assert len(w.customers_of(0)) == max(len(w.customers_of(i)) for i in range(len(w.retailers)))


def test_events_as_json_lines(tmp_path: Path) -> None:
    d = tmp_path / "j"
    generate(d, 200, 1, seed=5, events_fmt="jsonl")
    assert not (d / "events.csv").exists()
    got = rows(d, dataset.EVENTS)
    assert got and all(isinstance(e["supply_point_ids"], list) for e in got)
    assert any(e["supply_point_ids"] for e in got)


def test_parquet_format(tmp_path: Path) -> None:
    d = tmp_path / "pq"
    generate(d, 300, 1, seed=5, fmt="parquet")
    for t in (*dataset.REFERENCE_TABLES, dataset.EVENTS, USAGE):
        p = d / f"{t.name}.parquet"
        assert p.exists(), t.name
        assert [r for _, r in dataset.iter_rows(p, t)] or t.name in ("fit_contracts",)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"supply_points": 0}, "--supply-points"),
        ({"supply_points": -5}, "--supply-points"),
        ({"days": 0}, "--days"),
        ({"area": "11"}, "--area"),
        ({"fmt": "xlsx"}, "--format"),
        ({"events_fmt": "xml"}, "--events-format"),
    ],
)
def test_bad_parameters_are_named(tmp_path: Path, kwargs: dict[str, Any], param: str) -> None:
    args: dict[str, Any] = {"supply_points": 10, "days": 1, "seed": 1}
    args.update(kwargs)
    with pytest.raises(UsageError) as e:
        generate(tmp_path / "x", **args)
    assert param in str(e.value)
    assert not (tmp_path / "x").exists()
    assert list(tmp_path.iterdir()) == []


def test_non_empty_dir_needs_force_and_force_only_replaces_datasets(tmp_path: Path) -> None:
    d = tmp_path / "x"
    d.mkdir()
    (d / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="DIR"):
        generate(d, 10, 1, seed=1)
    with pytest.raises(UsageError, match="not part of a dataset"):
        generate(d, 10, 1, seed=1, force=True)
    assert (d / "notes.txt").read_text() == "mine"
    e = tmp_path / "y"
    generate(e, 10, 1, seed=1)
    generate(e, 12, 1, seed=2, force=True)
    assert len(rows(e, dataset.SUPPLY_POINTS)) == 12


def test_failure_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gridwall.synth import _generate

    def boom(*a: object, **k: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(_generate, "_write_events", boom)
    with pytest.raises(RuntimeError):
        generate(tmp_path / "x", 50, 1, seed=1)
    assert list(tmp_path.iterdir()) == []


def test_leftovers_of_a_killed_run_are_removed(tmp_path: Path) -> None:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()  # a process id that is certainly gone now
    stale = tmp_path / f".x.synth-{p.pid}"
    stale.mkdir()
    (stale / "supply_points.csv").write_text("partial")
    generate(tmp_path / "x", 20, 1, seed=1)
    assert sorted(q.name for q in tmp_path.iterdir()) == ["x"]


def test_incidents_without_injector_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *a: Any) -> object:
        return None if name == "gridwall.synth.incidents" else real(name, *a)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(UsageError, match="--incidents"):
        generate(tmp_path / "x", 10, 1, seed=1, incidents=True)
    assert list(tmp_path.iterdir()) == []


def test_cli_bad_n_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    args = [
        sys.executable,
        "-m",
        "gridwall",
        "synth",
        str(tmp_path / "o"),
        "--days",
        "1",
        "--seed",
        "1",
        "--supply-points",
        "0",
    ]
    p = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    assert "--supply-points" in p.stderr
    assert not (tmp_path / "o").exists()


def _app() -> typer.Typer:
    from gridwall.app.cli.synth import register

    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # keep "synth" a sub-command, as in gridwall
    return app


def test_cli_bad_start_names_the_option(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        _app(),
        [
            "synth",
            str(tmp_path / "o"),
            "--supply-points",
            "10",
            "--days",
            "1",
            "--seed",
            "1",
            "--start",
            "2026-13-01",
        ],
    )
    assert isinstance(r.exception, UsageError) and "--start" in str(r.exception)
    assert not (tmp_path / "o").exists()


def test_cli_writes_a_dataset(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        _app(),
        ["synth", str(tmp_path / "o"), "--supply-points", "50", "--days", "1", "--seed", "2"],
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "o" / "supply_points.csv").exists()
    assert "synth: wrote 50 supply points" in r.output


def _fake_injector(monkeypatch: pytest.MonkeyPatch, inject: object) -> None:
    import importlib.machinery
    import types

    mod = types.ModuleType("gridwall.synth.incidents")
    mod.__spec__ = importlib.machinery.ModuleSpec("gridwall.synth.incidents", None)
    mod.inject = inject  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gridwall.synth.incidents", mod)


def test_incidents_hook_contract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The injector sees the world, adds people and events; all of it lands in the files."""
    import json
    import random
    from datetime import datetime, time, timedelta

    from gridwall.synth import (
        CHANGE_SWITCH,
        JST,
        Account,
        EventSink,
        Incident,
        Person,
    )

    seen: dict[str, object] = {}

    def inject(
        world: World, events: EventSink, rng: random.Random, start: date, days: int
    ) -> list[Incident]:
        seen["n"] = world.n_points
        seen["switches"] = len(world.changes_in_window(CHANGE_SWITCH))
        aff = world.affiliated
        world.persons.append(Person("PX00001", "試験 太郎", aff.org, "営業部", "sales", start))
        acct = Account(
            "no999999",
            "nw_online",
            "PX00001",
            "personal",
            aff.org,
            datetime.combine(start, time(9), JST),
        )
        world.accounts.append(acct)
        other = world.customers_of(1, stable=True)
        victim = world.point_id(int(other[0]))
        dev = world.devices_of(aff.org, "retail_terminal")[0]
        ts = datetime.combine(start + timedelta(days=1), time(10, 30), JST)
        sess = events.new_session_id()
        ids = [
            events.emit(
                ts=ts,
                system="nw_online",
                account_id=acct.account_id,
                device_id=dev.device_id,
                source_ip=dev.ip,
                session_id=sess,
                action="view",
                screen="customer_detail",
                purpose="sales",
                supply_point_ids=[victim],
                fields=["contract_name", "phone"],
                result_count=1,
                decision="allow",
            )
            for _ in range(2)
        ]
        return [
            Incident(
                "INC-0001", "A", ids, acct.account_id, "PX00001", {"note": rng.choice(["x", "y"])}
            )
        ]

    _fake_injector(monkeypatch, inject)
    d = tmp_path / "inc"
    w = generate(d, 600, 3, seed=11, incidents=True)
    assert seen["n"] == 600 and int(seen["switches"]) > 0  # type: ignore[call-overload]
    lines = [json.loads(x) for x in (d / "incidents.jsonl").read_text().splitlines()]
    assert len(lines) == 1
    inc = lines[0]
    assert set(inc) >= {"incident_id", "incident_type", "event_ids", "account_id", "person_id"}
    ev = rows(d, dataset.EVENTS)
    by_id = {e["event_id"]: e for e in ev}
    assert len(by_id) == len(ev)
    for eid in inc["event_ids"]:
        assert by_id[eid]["account_id"] == "no999999"
    assert [e["ts"] for e in ev] == sorted(e["ts"] for e in ev)
    assert any(p["person_id"] == "PX00001" for p in rows(d, dataset.PERSONS))
    assert any(a["account_id"] == "no999999" for a in rows(d, dataset.ACCOUNTS))
    assert w.out_dir == str(d)
    # same seed, same injector → same bytes, incidents included
    e = tmp_path / "inc2"
    generate(e, 600, 3, seed=11, incidents=True)
    for name in ("incidents.jsonl", "events.csv", "persons.csv"):
        assert (d / name).read_bytes() == (e / name).read_bytes()


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**40),
    n=st.integers(1, 120),
    start=st.dates(date(2017, 1, 1), date(2040, 12, 31)),
    area=st.sampled_from(sorted(SERVICE_AREAS)),
)
def test_any_seed_start_and_area_gives_a_valid_dataset(
    tmp_path_factory: pytest.TempPathFactory, seed: int, n: int, start: date, area: str
) -> None:
    d = tmp_path_factory.mktemp("prop") / "x"
    w = generate(d, n, 2, seed=seed, area=area, start=start, independents=5)
    for t in (*dataset.REFERENCE_TABLES, dataset.EVENTS, USAGE):
        p = dataset.find_table_file(d, t)
        assert p is not None
        for _, _r in dataset.iter_rows(p, t):
            pass
    sp = rows(d, dataset.SUPPLY_POINTS)
    assert len(sp) == n
    prefs = set(SERVICE_AREAS[area][1])
    assert all(r["supply_point_id"].startswith(area) and r["pref"] in prefs for r in sp)
    assert w.nw_code == f"N00{area}"


def test_same_bytes_across_processes_and_hash_seeds(tmp_path: Path) -> None:
    """No dependence on str hashing (set order) or anything else of one process."""
    import os

    outs = []
    for hs in ("1", "2"):
        out = tmp_path / f"h{hs}"
        env = dict(os.environ, PYTHONHASHSEED=hs)
        code = f"from gridwall.synth import generate; generate({str(out)!r}, 300, 1, seed=4)"
        p = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
        )
        assert p.returncode == 0, p.stderr
        outs.append(out)
    names = sorted(p.name for p in outs[0].iterdir())
    match, mismatch, errors = filecmp.cmpfiles(outs[0], outs[1], names, shallow=False)
    assert mismatch == [] and errors == [] and len(match) == len(names)


def test_csv_bytes_are_what_csv_table_writer_writes(ds: tuple[Path, World], tmp_path: Path) -> None:
    """The fast writer is a drop-in for :class:`gridwall.dataset.CsvTableWriter`."""
    d, _ = ds
    for t in (*dataset.REFERENCE_TABLES, dataset.EVENTS):
        src = d / f"{t.name}.csv"
        with src.open(encoding="utf-8", newline="") as f:
            header = next(csv.reader(f))
        extra = tuple(c for c in header if c not in t.column_names)
        with dataset.CsvTableWriter(tmp_path, t, extra=extra) as w:
            for _, r in dataset.iter_rows(src, t):
                w.write(r)
        assert (tmp_path / f"{t.name}.csv").read_bytes() == src.read_bytes(), t.name


def test_usage_is_seasonal_and_zero_when_vacant(ds: tuple[Path, World]) -> None:
    d, w = ds
    sp = {r["supply_point_id"]: r for r in rows(d, dataset.SUPPLY_POINTS)}
    idx = {pid: k for k, pid in enumerate(sp)}
    by_month: dict[str, list[float]] = defaultdict(list)
    vacant_last: list[float] = []
    months = sorted({r["month"] for r in rows(d, USAGE)})
    assert len(months) == 14
    for r in rows(d, USAGE):
        p = sp[r["supply_point_id"]]
        if p["voltage"] == "low" and p["status"] == "active":
            by_month[r["month"][5:]].append(r["kwh"])
        # vacated well before the last usage month (the month before the window)
        gone = p["status"] != "active" and w.points.change_day[idx[r["supply_point_id"]]] < -45
        if gone and r["month"] == months[-1]:
            vacant_last.append(r["kwh"])

    def mean(m: str) -> float:
        return sum(by_month[m]) / len(by_month[m])

    assert mean("08") > 1.3 * mean("05") and mean("01") > 1.3 * mean("05")
    assert 150 < mean("05") < 400  # a Japanese household
    assert vacant_last and all(k == 0 for k in vacant_last)


@given(st.integers(0, 2**64 - 1), st.integers(1, 20), st.integers(0, 10**6))
def test_bijection_inverts(key: int, digits: int, i: int) -> None:
    from gridwall.synth._hash import Bijection

    b = Bijection(key, digits)
    i %= b.mod
    v = b.forward(i)
    assert 0 <= v < b.mod and b.inverse(v) == i


def test_nw_and_contractors_stay_within_purpose_terminal_and_agreement(
    ds: tuple[Path, World],
) -> None:
    d, _ = ds
    accounts = {a["account_id"]: a for a in rows(d, dataset.ACCOUNTS)}
    devices = {x["device_id"]: x for x in rows(d, dataset.DEVICES)}
    agreements = defaultdict(list)
    for g in rows(d, dataset.AGREEMENTS):
        agreements[(g["counterparty_org"], g["purpose"])].append(g)
    kinds = {"nw": "nw_terminal", "retail": "retail_terminal", "contractor": "contractor_terminal"}
    for e in rows(d, dataset.EVENTS):
        org = accounts[e["account_id"]]["org"]
        kind = org.split(":")[0]
        if e["device_id"] is not None:
            assert devices[e["device_id"]]["kind"] == kinds[kind]
        else:
            assert org == "regulator"
        if e["action"] not in ("view", "search", "export", "update"):
            continue
        if kind == "nw" and e["action"] != "export":
            assert e["purpose"] in ("takuso", "fit", "audit")
            if e["purpose"] == "audit":
                assert e["fields"] == [] and e["supply_point_ids"] == []
        if kind == "contractor" or e["action"] == "export":
            party = e["recipient_org"] if e["action"] == "export" else org
            valid = [
                g
                for g in agreements[(party, e["purpose"])]
                if g["valid_from"] <= e["ts"].date()
                and (g["valid_to"] is None or e["ts"].date() <= g["valid_to"])
            ]
            assert valid, (org, e["purpose"])
            assert set(e["fields"]) <= set(valid[0]["fields"])


def test_every_town_of_japan_splits_into_stem_and_chome() -> None:
    from gridwall.data import iter_towns
    from gridwall.synth._people import kanji_number, town_infos

    digits = "一二三四五六七八九"

    def kanji(n: int) -> str:
        tens, ones = divmod(n, 10)
        return ((digits[tens - 1] if tens > 1 else "") + "十" if tens else "") + (
            digits[ones - 1] if ones else ""
        )

    assert [kanji_number(kanji(n)) for n in range(1, 100)] == list(range(1, 100))
    infos = town_infos(tuple(iter_towns()))
    assert sum(1 for t in infos if t.chome) > 50_000
    for t in infos:
        if t.chome:
            assert t.town == f"{t.stem}{kanji(t.chome)}丁目", t
