"""``generate()``: one synthetic operator dataset, written atomically.

Order of work (so the incident injector can see the whole world first):

1. organisations, persons, accounts, devices, agreements, the past disaster (in memory);
2. supply points in chunks → supply_points, supply_contracts, fit_contracts,
   switching, usage (streamed), filling the compact :class:`PointArrays`;
3. ``--incidents``: :func:`gridwall.synth.incidents.inject` gets the :class:`World`
   and an :class:`EventSink`; it may add persons/accounts/devices/agreements/
   disasters to the world's lists and emit events;
4. the small reference tables (so the injector's additions are in them);
5. D days of ordinary events, merged in time order with the injected ones;
6. ``incidents.jsonl``; then the temporary folder is renamed to DIR.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import random
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from operator import itemgetter
from pathlib import Path
from typing import Any

from gridwall import dataset
from gridwall.errors import UsageError
from gridwall.synth._events import OrdinaryEvents
from gridwall.synth._hash import key_for
from gridwall.synth._orgs import build_orgs
from gridwall.synth._out import USAGE, TableOut
from gridwall.synth._people import name_pools, town_infos
from gridwall.synth._points import Market, PointRenderer, PointWriters
from gridwall.synth._world import EventSink, Incident, PointArrays, StaticAttrs, World

CHUNK = 20_000
INCIDENTS_MODULE = "gridwall.synth.incidents"
#: Files a dataset folder may hold (``--force`` refuses to delete anything else).
_DATASET_NAMES = {
    f"{t}.{ext}" for t in (*dataset.TABLES, "usage") for ext in ("csv", "parquet", "jsonl")
} | {"incidents.jsonl", "synth.json"}


@dataclass(frozen=True)
class Options:
    supply_points: int
    days: int
    seed: int
    area: str = "06"
    start: date = date(2026, 4, 1)
    incidents: bool = False
    fmt: str = "csv"
    events_fmt: str | None = None  # None: as fmt
    force: bool = False
    independents: int = 40
    events_per_person_day: float = 30.0
    #: P(a point gets a switch or move inside the window), on top of the natural rate;
    #: None → enough for a few dozen view-then-switch candidates even in a small world.
    window_change_rate: float | None = None


def _validate(out_dir: Path, o: Options) -> None:
    from gridwall.data import SERVICE_AREAS

    if not isinstance(o.supply_points, int) or o.supply_points <= 0:
        raise UsageError(f"--supply-points: must be a positive integer, got {o.supply_points!r}")
    if o.supply_points > 100_000_000:
        raise UsageError(f"--supply-points: at most 100000000, got {o.supply_points}")
    if not isinstance(o.days, int) or o.days <= 0 or o.days > 3660:
        raise UsageError(f"--days: must be an integer from 1 to 3660, got {o.days!r}")
    if o.area not in SERVICE_AREAS:
        raise UsageError(
            f"--area: unknown area code {o.area!r}; one of "
            + ", ".join(f"{k} ({v[0]})" for k, v in SERVICE_AREAS.items())
        )
    if o.fmt not in ("csv", "parquet"):
        raise UsageError(f"--format: must be csv or parquet, got {o.fmt!r}")
    if o.events_fmt not in (None, "csv", "parquet", "jsonl"):
        raise UsageError(f"--events-format: must be csv, parquet or jsonl, got {o.events_fmt!r}")
    if o.independents < 1 or o.independents > 500:
        raise UsageError(f"--independents: must be 1–500, got {o.independents}")
    if o.events_per_person_day < 0:
        raise UsageError("--events-per-person-day: must not be negative")
    if o.start < date(2017, 1, 1) or o.start > date(2099, 1, 1):
        raise UsageError(f"--start: must be between 2017-01-01 and 2099-01-01, got {o.start}")
    if o.incidents and importlib.util.find_spec(INCIDENTS_MODULE) is None:
        raise UsageError(
            "--incidents: the incident injector (gridwall.synth.incidents) is not installed "
            "in this build; run without --incidents"
        )
    if out_dir.exists():
        if not out_dir.is_dir():
            raise UsageError(f"DIR: {out_dir} exists and is not a folder")
        entries = sorted(p.name for p in out_dir.iterdir())
        if entries and not o.force:
            raise UsageError(
                f"DIR: {out_dir} is not empty ({len(entries)} entries); "
                "choose a new folder or pass --force to replace a dataset"
            )
        foreign = [e for e in entries if e not in _DATASET_NAMES]
        if foreign:
            raise UsageError(
                f"DIR: {out_dir} holds files that are not part of a dataset "
                f"({', '.join(foreign[:3])}); refusing to replace it even with --force"
            )


@contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    ) as p:
        yield p


def generate(
    out_dir: str | os.PathLike[str],
    supply_points: int,
    days: int,
    seed: int,
    area: str = "06",
    incidents: bool = False,
    *,
    start: date = date(2026, 4, 1),
    fmt: str = "csv",
    events_fmt: str | None = None,
    force: bool = False,
    independents: int = 40,
    events_per_person_day: float = 30.0,
    window_change_rate: float | None = None,
    progress: bool = False,
) -> World:
    """Write a synthetic operator dataset (shared spec ``dataset.md``) to ``out_dir``.

    Deterministic: the same arguments give byte-identical files. Writes into a
    temporary sibling folder and renames it at the end, so a failure leaves
    nothing half-written. Raises :class:`~gridwall.errors.UsageError` for bad
    parameters (naming the parameter). Returns the :class:`World`.
    """
    o = Options(
        supply_points=supply_points,
        days=days,
        seed=seed,
        area=area,
        start=start,
        incidents=incidents,
        fmt=fmt,
        events_fmt=events_fmt,
        force=force,
        independents=independents,
        events_per_person_day=events_per_person_day,
        window_change_rate=window_change_rate,
    )
    out = Path(out_dir)
    _validate(out, o)
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(out)
    tmp = out.parent / f".{out.name}.synth-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        world = _write(tmp, o, progress)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    world.out_dir = str(out)
    return world


def _remove_stale(out: Path) -> None:
    """Remove temporary folders left by an earlier run that was killed (its process is gone)."""
    for p in out.parent.glob(f".{out.name}.synth-*"):
        pid = p.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(p, ignore_errors=True)
        except PermissionError:  # alive, someone else's
            pass


def _write(d: Path, o: Options, show: bool) -> World:
    from gridwall.data import SERVICE_AREAS, towns_in

    pools = name_pools(o.seed)
    towns = town_infos(towns_in(SERVICE_AREAS[o.area][1]))
    orgs = build_orgs(
        random.Random(key_for(o.seed, "orgs")),
        o.area,
        o.supply_points,
        o.independents,
        o.start,
        towns,
        pools,
    )
    arrays = PointArrays.empty(o.supply_points)
    static = StaticAttrs(o.seed, towns, pools)
    indep = [r.share for r in orgs.retailers[1:]]
    cum = []
    acc = 0.0
    for s in indep:
        acc += s
        cum.append(acc)
    market = Market(len(orgs.retailers), cum, aff_new=0.7, back_to_aff=0.35)
    nw_code = f"N00{o.area}"
    rate = o.window_change_rate
    if rate is None:
        rate = min(0.05, max(0.0015 * o.days / 7, 40 / o.supply_points))
    renderer = PointRenderer(
        o.seed,
        o.area,
        o.start,
        o.days,
        static,
        market,
        [r.code for r in orgs.retailers],
        nw_code,
        arrays,
        rate,
    )
    fmt = o.fmt
    writers = PointWriters(
        points=TableOut(d, dataset.SUPPLY_POINTS, fmt),
        contracts=TableOut(d, dataset.SUPPLY_CONTRACTS, fmt, extra=("contract_name",)),
        fit=TableOut(d, dataset.FIT_CONTRACTS, fmt),
        switching=TableOut(d, dataset.SWITCHING, fmt, extra=("contract_name",)),
        usage_path=str(d / f"usage.{fmt}"),
        fmt=fmt,
    )
    if fmt == "csv":
        with open(writers.usage_path, "w", encoding="utf-8", newline="") as f:
            f.write(",".join(USAGE.column_names) + "\n")
    with _progress(show) as prog:
        task = prog.add_task("supply points", total=o.supply_points) if prog else None
        for chunk, lo in enumerate(range(0, o.supply_points, CHUNK)):
            hi = min(o.supply_points, lo + CHUNK)
            renderer.render(chunk, lo, hi, writers)
            if prog is not None:
                prog.update(task, advance=hi - lo)
    for w in (writers.points, writers.contracts, writers.fit, writers.switching):
        w.close()
    renderer.close()

    world = World(
        seed=o.seed,
        area=o.area,
        nw_code=nw_code,
        start=o.start,
        days=o.days,
        n_points=o.supply_points,
        retailers=orgs.retailers,
        contractors=orgs.contractors,
        persons=orgs.persons,
        accounts=orgs.accounts,
        devices=orgs.devices,
        agreements=orgs.agreements,
        disasters=orgs.disasters,
        towns=towns,
        points=arrays,
        pools=pools,
        home_device=orgs.home_device,
    )
    sink = EventSink(o.seed)
    found: list[Incident] = []
    if o.incidents:
        mod = importlib.import_module(INCIDENTS_MODULE)
        found = list(
            mod.inject(world, sink, random.Random(key_for(o.seed, "incidents")), o.start, o.days)
        )
    _write_reference(d, world, fmt)
    _write_events(d, world, sink, o, show)
    if o.incidents:
        with (d / "incidents.jsonl").open("w", encoding="utf-8") as f:
            for inc in found:
                f.write(json.dumps(inc.to_json(), ensure_ascii=False, default=str) + "\n")
    meta = {
        "generator": "gridwall synth",
        "seed": o.seed,
        "area": o.area,
        "supply_points": o.supply_points,
        "days": o.days,
        "start": o.start.isoformat(),
        "format": fmt,
        "incidents": o.incidents,
        "nw_code": nw_code,
        "affiliated_retailer": world.affiliated_code,
        "events": sink.count,
    }
    (d / "synth.json").write_text(
        json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return world


def _iso(v: Any) -> str | None:
    return None if v is None else str(v.isoformat())


def _write_reference(d: Path, w: World, fmt: str) -> None:
    from gridwall.synth._world import format_ts

    def ts(v: Any) -> str | None:
        return None if v is None else format_ts(v)

    with TableOut(d, dataset.RETAILERS, fmt) as t:
        t.write_rows((r.code, r.name, r.kind) for r in w.retailers)
    with TableOut(d, dataset.PERSONS, fmt) as t:
        t.write_rows(
            (p.person_id, p.name, p.org, p.department, p.role, _iso(p.valid_from), _iso(p.valid_to))
            for p in w.persons
        )
    with TableOut(d, dataset.ACCOUNTS, fmt) as t:
        t.write_rows(
            (
                a.account_id,
                a.system,
                a.holder_person_id,
                a.kind,
                a.org,
                ts(a.created_at),
                ts(a.revoked_at),
            )
            for a in w.accounts
        )
    with TableOut(d, dataset.DEVICES, fmt, extra=("ip",)) as t:
        t.write_rows(
            (
                x.device_id,
                x.owner_org,
                x.kind,
                x.location,
                _iso(x.valid_from),
                _iso(x.valid_to),
                x.ip,
            )
            for x in w.devices
        )
    with TableOut(d, dataset.DISASTERS, fmt) as t:
        t.write_rows(
            (x.disaster_id, list(x.area), ts(x.start_at), ts(x.end_at)) for x in w.disasters
        )
    with TableOut(d, dataset.AGREEMENTS, fmt) as t:
        t.write_rows(
            (
                g.agreement_id,
                g.counterparty_org,
                g.purpose,
                list(g.fields),
                list(g.area),
                _iso(g.valid_from),
                _iso(g.valid_to),
            )
            for g in w.agreements
        )


def _write_events(d: Path, w: World, sink: EventSink, o: Options, show: bool) -> None:
    gen = OrdinaryEvents(w, sink, o.events_per_person_day)
    injected = sorted(sink.extra, key=itemgetter(1, 0))
    k = 0
    with TableOut(d, dataset.EVENTS, o.events_fmt or o.fmt) as out, _progress(show) as prog:
        task = prog.add_task("event days", total=o.days) if prog else None
        for rel in range(o.days):
            rows = gen.day(rel)
            nxt = w.day(rel + 1).isoformat()
            extra = []
            while k < len(injected) and (injected[k][1] < nxt or rel == o.days - 1):
                extra.append(injected[k])
                k += 1
            if extra:
                rows = sorted(rows + extra, key=itemgetter(1, 0))
            out.write_rows(rows)
            if prog is not None:
                prog.update(task, advance=1)
