"""The index stays current without a separate step (issue 16).

``gridwall load`` refreshes exactly the supply points it inserted or updated, in its own
transaction (an unchanged reload writes no index row; k changed points write k rows; closed
points leave the answers, new ones join); a store without a current index (missing, or built
under another ``INDEX_VERSION``) is built by the load or by ``gridwall lookup``; and the
incrementally refreshed index always holds what a full build of the same data holds.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from gridwall import dataset
from gridwall.lookup import LookupIndex, build_index, index_state, refresh_index
from gridwall.lookup import _index as index_module
from gridwall.store import make_engine, upgrade

from .conftest import RECORDS, Record

SPIDS = [r["supply_point_id"] for r in RECORDS]


def points(engine: Engine) -> dict[str, tuple[Any, ...]]:
    """Every index row, keyed by point, with its row ID and its place's identity."""
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT p.supply_point_id, p.id, l.pref, l.city, l.town, l.chome, p.block, "
                "p.number, p.rest, p.room, p.voltage, p.meter_id, p.status "
                "FROM lookup_points p JOIN lookup_places l ON l.id = p.place_id"
            )
        ).all()
    return {str(r[0]): tuple(r[1:]) for r in rows}


def places(engine: Engine) -> set[tuple[Any, ...]]:
    with engine.connect() as c:
        return {
            tuple(r)
            for r in c.execute(
                text("SELECT pref, city, town, chome, known, key_text FROM lookup_places")
            )
        }


def meta(engine: Engine) -> dict[str, str]:
    with engine.connect() as c:
        return {str(k): str(v) for k, v in c.execute(text("SELECT key, value FROM lookup_meta"))}


def content(engine: Engine) -> tuple[dict[str, tuple[Any, ...]], set[tuple[Any, ...]]]:
    """What the index holds, without row IDs (a refresh and a build number rows apart).
    On SQLite the trigram index must agree with the places too (FTS5 integrity-check
    compares an external-content index with its table and raises when they differ)."""
    if engine.dialect.name == "sqlite":
        with engine.begin() as c:
            c.execute(
                text(
                    "INSERT INTO lookup_places_fts (lookup_places_fts, rank) "
                    "VALUES ('integrity-check', 1)"
                )
            )
    return {k: v[1:] for k, v in points(engine).items()}, places(engine)


def found(engine: Engine, address: str) -> list[str]:
    ix = LookupIndex(engine)
    return [c.supply_point_id for c in ix.search(ix.normalize(address))]


def load(directory: Path, engine: Engine) -> Any:
    from gridwall.app.wiring import load_and_index

    return load_and_index(directory, engine, progress=False)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    upgrade(db_url)
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


def test_first_load_builds_then_an_unchanged_reload_touches_no_index_row(
    engine: Engine, tmp_path: Path
) -> None:
    d = _write(tmp_path / "ds", RECORDS)
    assert index_state(engine) == "missing"
    report, sync = load(d, engine)
    assert report.changed_points == len(RECORDS)
    assert (sync.mode, sync.reason) == ("build", "missing")
    assert index_state(engine) == "current"
    assert found(engine, "東京都千代田区霞ヶ関2-1-1") == ["0300000000000000000103"]
    before = (points(engine), places(engine), meta(engine))
    assert len(before[0]) == len(RECORDS) - 1  # the closed point is not indexed

    report, sync = load(d, engine)
    assert report.changed_points == 0
    assert sync.mode == "refresh" and sync.refresh is not None
    assert sync.refresh.touched == 0 and sync.refresh.unchanged == 0
    # not one row rewritten (row IDs included), not even the index's state token
    assert (points(engine), places(engine), meta(engine)) == before


def _changes(records: list[Record]) -> tuple[list[Record], dict[str, set[str]]]:
    """Three moved addresses, one equipment change, one point closed, one new point in a
    town no other point has, and one change outside the lookup's fields."""
    recs = copy.deepcopy(records)
    by = {r["supply_point_id"]: r for r in recs}
    moved = ["0300000000000000000103", "0300000000000000000201", "0300000000000000000108"]
    by[moved[0]].update(town="霞が関", banchi="3-1-1")
    by[moved[1]].update(town="丸の内三丁目", banchi="9-9", building=None, room=None)
    by[moved[2]].update(town="二番町", banchi="5")  # the last point of 一番町 23 stays
    by["0300000000000000000202"]["meter_id"] = "M-NEW-202"
    by["0600000000000000000106"]["status"] = "closed"  # its place 梅田三丁目 empties
    new = Record(
        supply_point_id="0300000000000000000301", pref="東京都", city="千代田区",
        town="新開池", banchi="8-8", building=None, room=None, voltage="low",
        meter_id="M000301", status="active",
    )  # fmt: skip
    recs.append(new)
    by["0300000000000000000109"]["_name"] = "別名"  # contract name only (below)
    return recs, {
        "updated": {*moved, "0300000000000000000202"},
        "removed": {"0600000000000000000106"},
        "inserted": {new["supply_point_id"]},
        "unchanged": {"0300000000000000000109"},
    }


def _write(directory: Path, records: list[Record]) -> Path:
    rows = []
    for r in records:
        r = dict(r)
        name = r.pop("_name", None)
        row = {"contract_name": "名義 " + r["supply_point_id"][-3:], **r}
        if name:
            row["contract_name"] = name
        rows.append(row)
    directory.mkdir(parents=True, exist_ok=True)
    with dataset.CsvTableWriter(directory, dataset.SUPPLY_POINTS) as w:
        for row in rows:
            w.write(row)
    return directory


def test_a_reload_with_k_changes_writes_exactly_those_rows(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    load(_write(tmp_path / "v1", RECORDS), engine)
    before, places_before = points(engine), places(engine)
    recs, want = _changes(RECORDS)
    report, sync = load(_write(tmp_path / "v2", recs), engine)
    assert report.changed_points == sum(len(v) for v in want.values())
    r = sync.refresh
    assert sync.mode == "refresh" and r is not None
    assert (r.updated, r.removed, r.inserted, r.unchanged) == (4, 1, 1, 1)
    after = points(engine)
    differ = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert differ == want["updated"] | want["removed"] | want["inserted"]
    # updated rows keep their row ID (rewritten in place, not deleted and re-added)
    assert all(after[k][0] == before[k][0] for k in want["updated"])
    # places: 霞が関三丁目, 丸の内三丁目, 二番町 and the unknown 新開池 added; 霞が関二丁目
    # (its only point moved) and 梅田三丁目 (its only point closed) dropped
    assert r.places_added == 4 and r.places_removed == 2
    added = {(p[2], p[3]) for p in places(engine) - places_before}
    assert added == {("霞が関", 3), ("丸の内", 3), ("二番町", 0), ("新開池", 0)}
    assert {(p[2], p[3]) for p in places_before - places(engine)} == {("霞が関", 2), ("梅田", 3)}

    # answers follow: moved points at their new address only, the closed one gone, the new
    # one (in a town only the operator's data has) found, the untouched ones as before
    assert found(engine, "東京都千代田区霞が関3-1-1") == ["0300000000000000000103"]
    assert found(engine, "東京都千代田区霞ヶ関2-1-1") == []
    assert found(engine, "大阪市梅田3-1-3") == []
    assert found(engine, "東京都千代田区新開池8-8") == ["0300000000000000000301"]
    assert found(engine, "東京都千代田区丸の内三丁目9-9") == ["0300000000000000000201"]
    assert found(engine, "東京都千代田区一番町23-2") == ["0300000000000000000109"]
    ix = LookupIndex(engine)
    (c,) = ix.search(ix.normalize("千代田区丸の内2-7-3 丸の内ハイツ 102号室"))
    assert (c.supply_point_id, c.meter_id) == ("0300000000000000000202", "M-NEW-202")

    # and the refreshed index holds exactly what a full build of the same data holds
    full = _fresh(db_url, tmp_path)
    load(_write(tmp_path / "v3", recs), full)
    assert content(engine) == content(full)
    assert meta(engine)["points"] == meta(full)["points"]
    assert meta(engine)["places"] == meta(full)["places"]
    full.dispose()


def _fresh(db_url: str, tmp_path: Path) -> Engine:
    """Another, empty store of the same kind (for a from-scratch build to compare with)."""
    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        import uuid

        from sqlalchemy import create_engine

        name = f"gw_fresh_{uuid.uuid4().hex[:12]}"
        admin = create_engine(db_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = db_url.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    return make_engine(url)


def test_a_failing_refresh_leaves_data_and_index_as_they_were(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refresh runs in the load's transaction: when it fails half-way (after some index
    rows were written) nothing of the load or of the refresh remains."""
    load(_write(tmp_path / "v1", RECORDS), engine)
    with engine.connect() as c:
        data_before = c.execute(text("SELECT * FROM supply_points ORDER BY 1")).all()
    before = (points(engine), places(engine), meta(engine))
    recs, _ = _changes(RECORDS)
    real = index_module._point_row
    calls = {"n": 0}

    def fail_on_third(*a: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return real(*a)

    monkeypatch.setattr(index_module, "_point_row", fail_on_third)
    with pytest.raises(RuntimeError, match="disk full"):
        load(_write(tmp_path / "v2", recs), engine)
    assert calls["n"] == 3  # it did fail in the middle of the refresh
    with engine.connect() as c:
        assert c.execute(text("SELECT * FROM supply_points ORDER BY 1")).all() == data_before
    assert (points(engine), places(engine), meta(engine)) == before
    monkeypatch.undo()
    _, sync = load(_write(tmp_path / "v2", recs), engine)  # and the next load does it all
    assert sync.refresh is not None and sync.refresh.inserted == 1


def test_a_stale_or_missing_index_is_rebuilt_by_the_next_load(
    engine: Engine, tmp_path: Path
) -> None:
    d = _write(tmp_path / "v1", RECORDS)
    load(d, engine)
    want = content(engine)
    with engine.begin() as c:  # an index built by code with another layout version
        c.execute(text("UPDATE lookup_meta SET value = '1' WHERE key = 'version'"))
        c.execute(text("DELETE FROM lookup_points WHERE supply_point_id LIKE '%02__'"))
    assert index_state(engine) == "stale"
    _, sync = load(d, engine)  # nothing changed in the data: still rebuilt
    assert (sync.mode, sync.reason) == ("build", "stale")
    assert index_state(engine) == "current" and content(engine) == want
    with engine.begin() as c:  # an index never built (e.g. data loaded by older code)
        c.execute(text("DELETE FROM lookup_meta"))
    assert index_state(engine) == "missing"
    _, sync = load(d, engine)
    assert (sync.mode, sync.reason) == ("build", "missing") and content(engine) == want


def test_a_large_change_rebuilds_instead(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(_write(tmp_path / "v1", RECORDS), engine)
    recs, _ = _changes(RECORDS)
    monkeypatch.setattr(index_module, "_ALWAYS_REFRESH", 0)
    _, sync = load(_write(tmp_path / "v2", recs), engine)  # 7 of 21 points > 20 %
    assert (sync.mode, sync.reason) == ("build", "large")
    assert found(engine, "東京都千代田区新開池8-8") == ["0300000000000000000301"]


def test_a_long_lived_index_picks_up_refreshed_towns(engine: Engine, tmp_path: Path) -> None:
    """A server's LookupIndex learns the towns a refresh added (its dictionary and per-city
    cache follow the index's state token), and answers on changed points at once."""
    load(_write(tmp_path / "v1", RECORDS), engine)
    ix = LookupIndex(engine)
    assert ix.search(ix.normalize("東京都千代田区新開池8-8")) == []
    recs, _ = _changes(RECORDS)
    load(_write(tmp_path / "v2", recs), engine)
    # a moved point is answered from the tables at once
    assert [c.supply_point_id for c in ix.search(ix.normalize("東京都千代田区霞が関3-1-1"))] == [
        "0300000000000000000103"
    ]
    ix.RELOAD_CHECK_S = 0.0
    got = ix.search(ix.normalize("東京都千代田区新開池8-8"))
    assert [c.supply_point_id for c in got] == ["0300000000000000000301"]
    assert ix.size == len(recs) - 2


# -- the class of defect: an incremental refresh drifting from what a build would hold ------

_TOWNS = [
    ("東京都", "千代田区", "丸の内一丁目"),
    ("東京都", "千代田区", "一番町"),
    ("東京都", "千代田区", "新開地"),  # unknown to the national dictionary
    ("東京都", "千代田区", "新開池"),  # unknown too
    ("京都府", "京都市中京区", "虎屋町"),
    ("三重県", "三重郡川越町", "大字亀尾新田"),
]
_POOL = [f"03000000000000000009{i:02d}" for i in range(12)]

_record = st.builds(
    lambda town, banchi, room, voltage, status: {
        "pref": town[0], "city": town[1], "town": town[2], "banchi": banchi,
        "building": "ハイツ" if room else None, "room": room, "voltage": voltage,
        "meter_id": "M" + banchi, "status": status,
    },
    st.sampled_from(_TOWNS),
    st.sampled_from(["1-1", "1-2", "2-3", "23", "123-4"]),
    st.sampled_from([None, "101", "102"]),
    st.sampled_from(["low", "high"]),
    st.sampled_from(["active", "active", "vacant", "closed"]),
)  # fmt: skip
_store = st.dictionaries(st.sampled_from(_POOL), _record, max_size=len(_POOL))


def _as_records(store: dict[str, dict[str, Any]]) -> list[Record]:
    return [{"supply_point_id": k, **v} for k, v in sorted(store.items())]


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty migrated SQLite store, copied per example (migrating is the slow part)."""
    db = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{db}")
    return db


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(first=_store, later=st.lists(_store, min_size=1, max_size=3))
def test_refresh_after_any_changes_holds_what_a_build_holds(
    tmp_path_factory: pytest.TempPathFactory,
    migrated: Path,
    first: dict[str, dict[str, Any]],
    later: list[dict[str, dict[str, Any]]],
) -> None:
    d = tmp_path_factory.mktemp("refresh")
    for n in ("inc.db", "full.db"):
        shutil.copyfile(migrated, d / n)
    inc, full = (make_engine(f"sqlite:///{d / n}") for n in ("inc.db", "full.db"))
    try:
        build_index(inc, _as_records(first))
        current = first
        for nxt in later:
            changed = {k for k in current.keys() | nxt.keys() if current.get(k) != nxt.get(k)}
            recs = {r["supply_point_id"]: r for r in _as_records(nxt)}

            def fetch(ids: list[str], recs: dict[str, Record] = recs) -> list[Record]:
                return [recs[i] for i in ids if i in recs]

            with inc.begin() as conn:
                r = refresh_index(conn, changed, fetch)
            assert r.inserted + r.updated + r.removed + r.unchanged <= len(changed)
            build_index(full, _as_records(nxt))
            assert content(inc) == content(full)
            assert (meta(inc)["points"], meta(inc)["places"]) == (
                meta(full)["points"],
                meta(full)["places"],
            )
            for rec in recs.values():  # every indexed point is found at its address
                if rec["status"] == "closed":
                    continue
                addr = rec["pref"] + rec["city"] + rec["town"] + rec["banchi"]
                assert rec["supply_point_id"] in found(inc, addr)
            current = nxt
    finally:
        inc.dispose()
        full.dispose()


def test_refresh_refuses_an_index_that_is_not_current(engine: Engine) -> None:
    build_index(engine, RECORDS)
    with engine.begin() as c:
        c.execute(text("DELETE FROM lookup_meta WHERE key = 'version'"))
    before = points(engine)
    with pytest.raises(index_module.IndexNotCurrent, match="stale"), engine.begin() as conn:
        refresh_index(conn, SPIDS[:2], lambda ids: [])
    assert points(engine) == before


# -- gridwall lookup / gridwall load on the command line --------------------------------------


def _run(
    capsys: pytest.CaptureFixture[str], url: str, address: str, quiet: bool = False
) -> tuple[int, str, str]:
    from .test_cli import run_inproc

    return run_inproc(capsys, url, address, quiet=quiet)


def test_lookup_builds_a_missing_or_stale_index_with_a_progress_bar(
    engine: Engine, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gridwall.gateway import load_dataset

    load_dataset(_write(tmp_path / "ds", RECORDS), engine, progress=False)  # no index step
    assert index_state(engine) == "missing"
    code, out, err = _run(capsys, db_url, "東京都千代田区霞ヶ関2-1-1")
    assert code == 0, err
    assert '"0300000000000000000103"' in out
    assert "lookup index" in err and "the index was missing; built it: 21 points" in err
    assert index_state(engine) == "current"
    with engine.begin() as c:
        c.execute(text("UPDATE lookup_meta SET value = '0' WHERE key = 'version'"))
    code, out, err = _run(capsys, db_url, "東京都千代田区霞ヶ関2-1-1", quiet=True)
    assert code == 0 and '"0300000000000000000103"' in out and err == ""
    assert index_state(engine) == "current"
    code, out, err = _run(capsys, db_url, "東京都千代田区霞ヶ関2-1-1")  # current: no build
    assert code == 0 and "built" not in err


def test_lookup_on_a_store_that_does_not_exist_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "typo.db"
    code, _, err = _run(capsys, f"sqlite:///{db}", "東京都千代田区霞ヶ関2-1-1")
    assert code == 2 and "no such file" in err and not db.exists()
    empty = tmp_path / "empty.db"
    make_engine(f"sqlite:///{empty}").connect().close()  # a file, but no gridwall store
    code, _, err = _run(capsys, f"sqlite:///{empty}", "東京都千代田区霞ヶ関2-1-1")
    assert code == 2 and "not a gridwall store" in err


def test_load_command_reports_the_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gridwall.app.cli.load import load as load_cmd

    url = f"sqlite:///{tmp_path / 'gw.db'}"
    d = _write(tmp_path / "v1", RECORDS)
    load_cmd(d, db=url, quiet=True)
    err = capsys.readouterr().err
    assert "lookup index built (there was none): 21 points" in err
    load_cmd(d, db=url, quiet=True)
    err = capsys.readouterr().err
    assert "lookup index refreshed: 0 added, 0 updated, 0 removed, 0 unchanged of 0" in err
    recs, _ = _changes(RECORDS)
    load_cmd(_write(tmp_path / "v2", recs), db=url, quiet=True)
    err = capsys.readouterr().err
    assert "1 added, 4 updated, 1 removed, 1 unchanged of 7 changed" in err, err
