"""Supply points and their history, streamed in chunks.

For each point: a fixed address (seed-determined, see :class:`StaticAttrs`),
then a life story simulated from when the point was created up to the end of
the event window — switches between retailers (low voltage only after the
2016-04 full liberalisation; before that every low-voltage customer was with the
affiliated みなし小売), move-outs, vacancies and move-ins with a new contract
holder, last-resort supply (最終保障供給) for a small subset, and FIT contracts
on some houses. A contract's ``end_date`` is exclusive — the effective date of
the change that ended it, which is the next contract's ``start_date`` — as
:mod:`gridwall.store.customer` defines "current". Rows go straight to the writers; only the compact
:class:`PointArrays` stay in memory.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

import numpy as np

from gridwall.synth._hash import h, key_for
from gridwall.synth._out import TableOut
from gridwall.synth._world import (
    CHANGE_LRS,
    CHANGE_MOVE_IN,
    CHANGE_MOVE_OUT,
    CHANGE_NONE,
    CHANGE_SWITCH,
    LRS,
    NEVER,
    NO_RETAILER,
    VOLTAGES,
    Address,
    PointArrays,
    StaticAttrs,
    point_id,
)

LIB_LOW = date(2016, 4, 1).toordinal()  # 電力小売全面自由化
LIB_HIGH = date(2005, 4, 1).toordinal()  # 高圧 liberalisation (simplified)
#: Seasonal factor per calendar month (Jan … Dec): heating and cooling peaks.
SEASON_LOW = (1.35, 1.30, 1.10, 0.90, 0.80, 0.85, 1.10, 1.35, 1.10, 0.85, 0.90, 1.20)
SEASON_HIGH = (1.10, 1.08, 1.02, 0.95, 0.92, 0.98, 1.10, 1.18, 1.08, 0.95, 0.97, 1.05)
#: Median monthly kWh by voltage: a household, a shop/office/factory, a large plant.
BASE_KWH = (260.0, 28_000.0, 1_600_000.0)


@dataclass
class Market:
    """Retailer draws: the affiliated retailer is index 0."""

    n_retailers: int
    indep_cum: list[float]  # cumulative shares among independents (index 1..)
    aff_new: float  # P(affiliated) for a new contract (move-in / new point)
    back_to_aff: float  # P(affiliated) when a customer of an independent switches

    def independent(self, rnd: random.Random) -> int:
        x = rnd.random() * self.indep_cum[-1]
        return 1 + min(bisect.bisect_right(self.indep_cum, x), len(self.indep_cum) - 1)

    def new_contract(self, rnd: random.Random) -> int:
        return 0 if rnd.random() < self.aff_new else self.independent(rnd)

    def switch_target(self, rnd: random.Random, current: int) -> int:
        if current != 0 and rnd.random() < self.back_to_aff:
            return 0
        for _ in range(8):
            t = self.independent(rnd)
            if t != current:
                return t
        return 0 if current != 0 else 1


@dataclass
class PointWriters:
    points: TableOut
    contracts: TableOut
    fit: TableOut
    switching: TableOut
    usage_path: str
    fmt: str


def _plus_years(d: date, years: int) -> date:
    """Same day ``years`` later (29 February → 28 February)."""
    try:
        return d.replace(year=d.year + years)
    except ValueError:
        return d.replace(year=d.year + years, day=28)


@cache
def _d(o: int) -> str:
    return date.fromordinal(o).isoformat()


class PointRenderer:
    """Renders points chunk by chunk, filling :class:`PointArrays`."""

    def __init__(
        self,
        seed: int,
        area: str,
        start: date,
        days: int,
        static: StaticAttrs,
        market: Market,
        retailer_codes: list[str],
        nw_code: str,
        arrays: PointArrays,
        window_change_rate: float,
    ) -> None:
        self.seed = seed
        self.area = area
        self.start_o = start.toordinal()
        self.end_o = self.start_o + days
        self.days = days
        self.static = static
        self.market = market
        self.codes = retailer_codes
        self.nw_code = nw_code
        self.arr = arrays
        self.k_fate = key_for(seed, "fate")
        self.k_since = key_for(seed, "since")
        self.window_rate = window_change_rate
        from gridwall.synth._hash import Bijection

        self.idb = Bijection(key_for(seed, "spid"), 16)
        # usage months: the 14 full months before the window's last day
        last = date.fromordinal(self.end_o - 1).replace(day=1)
        months = []
        y, m = last.year, last.month
        for _ in range(14):
            m -= 1
            if m == 0:
                y, m = y - 1, 12
            months.append((y, m))
        months.reverse()
        self.months = [f"{y:04d}-{m:02d}" for y, m in months]
        self.month_rel = np.array(
            [date(y, m, 15).toordinal() - self.start_o for y, m in months], np.int64
        )
        self.month_idx = np.array([m - 1 for _, m in months], np.int64)
        self.season = np.array([SEASON_LOW, SEASON_HIGH, SEASON_HIGH])

    def code(self, r: int) -> str:
        return self.nw_code if r == LRS else self.codes[r]

    # ------------------------------------------------------------------
    def render(self, chunk_no: int, lo: int, hi: int, out: PointWriters) -> None:
        st = self.static
        arr = self.arr
        start_o = self.start_o
        c = _Chunk(self, chunk_no)
        ids: list[str] = []
        for i in range(lo, hi):
            a = st.address(i)
            pid = point_id(self.area, self.idb, a.town_index, i)
            ids.append(pid)
            s = c.story(i, pid, a)
            status = 0
            if s.vacant:
                status = 2 if s.closed else 1
                r_now = NO_RETAILER
            else:
                c.c_rows.append(
                    (
                        pid,
                        self.code(s.r),
                        _d(s.p_start),
                        None,
                        "lrs" if s.r == LRS else "retail",
                        s.holders[s.holder],
                    )
                )
                r_now = s.r
            name = tel = None
            if status == 0:
                name = s.holders[s.holder]
                tel = st.holder_phone(i, s.holder, a.town.pref)
            c.sp_rows.append(
                (
                    pid,
                    a.town.pref,
                    a.town.city,
                    a.town_text,
                    a.banchi,
                    a.building,
                    a.room,
                    name,
                    tel,
                    VOLTAGES[a.voltage],
                    st.meter_id(i),
                    ("active", "vacant", "closed")[status],
                )
            )
            fit = False
            uf = s.uf
            if (
                a.voltage == 0
                and not a.apartment
                and status == 0
                and not a.business
                and (uf >> 32) % 1000 < 38
            ):
                cap = round(3.0 + ((uf >> 42) % 70) / 10.0, 1)
                f1 = date.fromordinal(start_o - 60 - (uf >> 50) % 4400)
                f_end = _plus_years(f1, 10) - timedelta(days=1)  # 10-year residential FIT
                fit = f_end.toordinal() >= self.end_o
                c.f_rows.append(
                    (
                        pid,
                        f"{s.holders[s.holder]}邸 太陽光発電設備",
                        cap,
                        f1.isoformat(),
                        f_end.isoformat(),
                    )
                )
            arr.town[i] = a.town_index
            arr.voltage[i] = a.voltage
            arr.status[i] = status
            arr.retailer[i] = r_now
            arr.prev_retailer[i] = s.prev
            arr.change_kind[i] = s.last_kind
            arr.change_day[i] = s.last_day - start_o if s.last_day != NEVER else NEVER
            arr.applied_day[i] = s.last_app - start_o if s.last_app != NEVER else NEVER
            arr.holder_since[i] = s.holder_since - start_o
            arr.holder_no[i] = s.holder
            arr.fit[i] = fit
        out.points.write_rows(c.sp_rows)
        out.contracts.write_rows(c.c_rows)
        out.switching.write_rows(c.s_rows)
        out.fit.write_rows(c.f_rows)
        self._usage(chunk_no, lo, hi, ids, out)

    # ------------------------------------------------------------------
    def _usage(self, chunk_no: int, lo: int, hi: int, ids: list[str], out: PointWriters) -> None:
        """Monthly kWh for the last 14 months: lognormal level × season × noise."""
        g = np.random.Generator(np.random.PCG64(key_for(self.seed, f"usage:{chunk_no}")))
        n = hi - lo
        v = self.arr.voltage[lo:hi].astype(np.int64)
        base = np.array(BASE_KWH)[v] * g.lognormal(0.0, 0.45, n)
        season = self.season[v][:, self.month_idx]  # n × 14
        kwh = base[:, None] * season * g.normal(1.0, 0.06, (n, len(self.months)))
        status = self.arr.status[lo:hi]
        cd = self.arr.change_day[lo:hi].astype(np.int64)
        off = (status != 0)[:, None] & (self.month_rel[None, :] >= cd[:, None])
        kwh = np.where(off, 0.0, np.maximum(kwh, 0.0))
        kwh_i = np.rint(kwh).astype(np.int64)
        if out.fmt == "csv":
            months = self.months
            rows = kwh_i.tolist()
            with open(out.usage_path, "a", encoding="utf-8", newline="") as f:
                f.write(
                    "".join(
                        f"{pid},{m},{k}\n"
                        for pid, ks in zip(ids, rows, strict=True)
                        for m, k in zip(months, ks, strict=True)
                    )
                )
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            m = len(self.months)
            t = pa.table(
                {
                    "supply_point_id": pa.array(np.repeat(np.array(ids), m)),
                    "month": pa.array(np.tile(np.array(self.months), n)),
                    "kwh": pa.array(kwh_i.reshape(-1).astype(np.float64)),
                }
            )
            if not hasattr(self, "_usage_pw"):
                self._usage_pw = pq.ParquetWriter(out.usage_path, t.schema, compression="zstd")
            self._usage_pw.write_table(t)

    def close(self) -> None:
        pw = getattr(self, "_usage_pw", None)
        if pw is not None:
            pw.close()


class _Story:
    """One point's life while it is being simulated."""

    __slots__ = (
        "closed",
        "holder",
        "holder_since",
        "holders",
        "last_app",
        "last_day",
        "last_kind",
        "p_start",
        "pid",
        "prev",
        "r",
        "uf",
        "vacant",
    )

    def __init__(self, pid: str, r: int, since: int, first_holder: str, uf: int) -> None:
        self.pid = pid
        self.r = r
        self.prev = NO_RETAILER
        self.holder = 0
        self.holders = [first_holder]
        self.p_start = since
        self.holder_since = since
        self.last_kind, self.last_day, self.last_app = CHANGE_NONE, NEVER, NEVER
        self.vacant = False
        self.closed = False
        self.uf = uf


class _Chunk:
    """Simulates the points of one chunk with the chunk's own random stream."""

    def __init__(self, pr: PointRenderer, chunk_no: int) -> None:
        self.pr = pr
        self.chunk_no = chunk_no
        self.rnd = random.Random(key_for(pr.seed, f"chunk:{chunk_no}"))
        self.sp_rows: list[tuple[object, ...]] = []
        self.c_rows: list[tuple[object, ...]] = []
        self.s_rows: list[tuple[object, ...]] = []
        self.f_rows: list[tuple[object, ...]] = []
        self.app_n = 0

    def app_id(self) -> str:
        self.app_n += 1
        return f"SW{self.chunk_no:06d}{self.app_n:07d}"

    def ts(self, o: int) -> str:
        sec = self.rnd.randrange(8 * 3600, 21 * 3600)
        return f"{_d(o)}T{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}+09:00"

    def story(self, i: int, pid: str, a: Address) -> _Story:
        pr, rnd, mk = self.pr, self.rnd, self.pr.market
        st = pr.static
        start_o, end_o = pr.start_o, pr.end_o
        uf = h(pr.k_fate, i)
        us = h(pr.k_since, i // st.BLOCK if a.apartment else i + (1 << 40))
        since = start_o - 400 - us % 9000
        low = a.voltage == 0
        lib = LIB_LOW if low else LIB_HIGH
        f_lrs = uf % 10000 < (30 if low else 700 if a.voltage == 1 else 200)
        fate = (uf >> 16) % 1000
        f_vacant = fate < (70 if a.apartment else 25)
        f_closed = 70 <= fate < 80
        lam_s = (0.04 if low else 0.08) / 365
        lam_m = (0.12 if a.apartment else 0.01 if a.business else 0.03) / 365
        forced = start_o + rnd.randrange(pr.days) if rnd.random() < pr.window_rate else -1
        stop = end_o
        lrs_at = -1
        if f_lrs:
            lrs_at = max(since + 60, start_o - 30 - rnd.randrange(1500))
            stop = lrs_at
        elif forced >= 0:
            stop = forced
        r = 0 if (since < lib or rnd.random() < mk.aff_new) else mk.independent(rnd)
        s = _Story(pid, r, since, st.holder_name(i, 0, a.business), uf)
        t = since
        while True:
            t += int(rnd.expovariate(lam_s + lam_m)) + 1
            if t >= stop:
                break
            if rnd.random() < lam_s / (lam_s + lam_m):
                if t >= lib:
                    self.switch(s, t)
            elif not self.move(s, t, i, a):
                break
            else:
                t = s.p_start
        if f_lrs and not s.vacant:
            lrs_at = max(lrs_at, s.p_start + 30, s.last_day + 30)
            f_lrs = lrs_at < start_o
        if not s.vacant:
            if f_lrs:
                self.close(s, lrs_at)
                s.prev, s.r, s.p_start = s.r, LRS, lrs_at
                s.last_kind, s.last_day, s.last_app = CHANGE_LRS, lrs_at, lrs_at
            elif forced >= 0 and forced > max(s.last_day, s.p_start):
                if rnd.random() < 0.7 and forced >= lib:
                    self.switch(s, forced)
                else:
                    self.move(s, forced, i, a)
            if not s.vacant and (f_vacant or f_closed) and not f_lrs:
                tv = max(max(s.last_day, s.p_start) + 30, end_o - 30 - rnd.randrange(700))
                if tv < start_o:
                    self.close(s, tv)
                    self.s_rows.append(
                        (
                            self.app_id(),
                            pid,
                            "move_out",
                            pr.code(s.r),
                            None,
                            self.ts(tv - rnd.randrange(3, 20)),
                            _d(tv),
                            s.holders[s.holder],
                        )
                    )
                    s.prev = s.r
                    s.last_kind, s.last_day, s.last_app = CHANGE_MOVE_OUT, tv, tv
                    s.vacant = True
        s.closed = s.vacant and f_closed
        return s

    def close(self, s: _Story, end: int) -> None:
        """End the current contract; ``end`` is exclusive (the change's effective date)."""
        self.c_rows.append(
            (s.pid, self.pr.code(s.r), _d(s.p_start), _d(end), "retail", s.holders[s.holder])
        )

    def move(self, s: _Story, t: int, i: int, a: Address) -> bool:
        """Move-out at ``t``, then (maybe) a move-in; False if the point stays vacant."""
        pr, rnd = self.pr, self.rnd
        self.close(s, t)
        self.s_rows.append(
            (
                self.app_id(),
                s.pid,
                "move_out",
                pr.code(s.r),
                None,
                self.ts(t - rnd.randrange(3, 20)),
                _d(t),
                s.holders[s.holder],
            )
        )
        s.prev = s.r
        s.last_kind, s.last_day, s.last_app = CHANGE_MOVE_OUT, t, t
        t2 = t + (rnd.randrange(1, 6) if t >= pr.start_o else rnd.randrange(3, 150))
        if t2 >= pr.end_o:
            s.vacant = True
            return False
        s.holder += 1
        s.holders.append(pr.static.holder_name(i, s.holder, a.business))
        s.r = s.prev if rnd.random() < 0.4 else pr.market.new_contract(rnd)
        app = t2 - rnd.randrange(1, 15)
        self.s_rows.append(
            (
                self.app_id(),
                s.pid,
                "move_in",
                None,
                pr.code(s.r),
                self.ts(app),
                _d(t2),
                s.holders[s.holder],
            )
        )
        s.p_start = s.holder_since = t2
        s.last_kind, s.last_day, s.last_app = CHANGE_MOVE_IN, t2, app
        return True

    def switch(self, s: _Story, t: int) -> None:
        pr, rnd, mk = self.pr, self.rnd, self.pr.market
        new = mk.switch_target(rnd, s.r)
        app = t - rnd.randrange(5, 30)
        if rnd.random() < 0.04:  # an earlier application for another retailer, cancelled
            other = mk.switch_target(rnd, s.r)
            a0 = app - rnd.randrange(20, 60)
            self.s_rows.append(
                (
                    self.app_id(),
                    s.pid,
                    "switch",
                    pr.code(s.r),
                    pr.code(other),
                    self.ts(a0),
                    _d(a0 + 30),
                    None,
                )
            )
            self.s_rows.append(
                (
                    self.app_id(),
                    s.pid,
                    "cancel",
                    pr.code(s.r),
                    pr.code(other),
                    self.ts(a0 + rnd.randrange(2, 15)),
                    None,
                    None,
                )
            )
        self.close(s, t)
        self.s_rows.append(
            (self.app_id(), s.pid, "switch", pr.code(s.r), pr.code(new), self.ts(app), _d(t), None)
        )
        s.prev, s.r, s.p_start = s.r, new, t
        s.last_kind, s.last_day, s.last_app = CHANGE_SWITCH, t, app
