"""``gridwall synth --incidents``: misuse of every incident type, and hard negatives.

Called by the generator (see :mod:`gridwall.synth` "The incidents hook") with the generated
:class:`~gridwall.synth.World` before the ordinary events are written. Each injected case is
staged the way the seed describes it happening — through the retailer-facing system
(``nw_online``) or the 託送 system, on real terminals, at working hours — and becomes one line
of ``incidents.jsonl`` with the ids of exactly the events that make it misuse.

Hard negatives are added too and are *not* incidents: a disaster declared inside the window
with disaster-support agents of the affiliated and of an independent retailer working inside
its window and area on their disaster terminals; retailers using the equal-footing lookup
(address key + equipment only) on points they do not supply; NW staff working late on the
disaster's day. The ordinary background already holds NW staff at work, retailers on their own
customers, the FIT team on FIT data and exports under agreements.

Deterministic: only the ``rng`` handed in and the world decide what is injected.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np

from gridwall.interfaces.clock import JST
from gridwall.synth._world import (
    CHANGE_MOVE_IN,
    CHANGE_NONE,
    CHANGE_SWITCH,
    Account,
    Disaster,
    EventSink,
    Incident,
    Person,
    World,
)

#: cases injected per incident type (fewer when the world has too few suitable points)
PER_TYPE = 6
DISASTER_FIELDS = ["contract_name", "address", "phone"]


@dataclass
class _Ctx:
    w: World
    ev: EventSink
    rng: random.Random
    start: date
    days: int
    out: list[Incident]
    used_points: set[int]

    def at(self, rel: int, hh: int, mm: int = 0, ss: int = 0) -> datetime:
        return datetime.combine(self.start + timedelta(days=rel), time(hh, mm, ss), JST)

    def work_time(self, rel: int) -> datetime:
        return self.at(
            rel, self.rng.randrange(10, 16), self.rng.randrange(60), self.rng.randrange(60)
        )

    def weekday_rel(self, lo: int, hi: int) -> int | None:
        """A random weekday in [lo, hi) of the window (relative days), or None."""
        lo, hi = max(0, lo), min(self.days, hi)
        days = [r for r in range(lo, hi) if (self.start + timedelta(days=r)).weekday() < 5]
        return self.rng.choice(days) if days else None

    def record(self, kind: str, ids: list[str], acc: Account, **extra: object) -> None:
        n = sum(1 for i in self.out if i.incident_type == kind) + 1
        self.out.append(
            Incident(
                f"INC-{kind}-{n:03d}",
                kind,
                ids,
                acc.account_id,
                acc.holder_person_id,
                {k: v for k, v in extra.items() if v is not None},
            )
        )

    def pick_points(self, pool: np.ndarray, k: int) -> list[int]:
        """Up to ``k`` distinct points of ``pool`` not used by another case."""
        out: list[int] = []
        if len(pool) == 0:
            return out
        for _ in range(k * 20):
            i = int(pool[self.rng.randrange(len(pool))])
            if i not in self.used_points:
                self.used_points.add(i)
                out.append(i)
                if len(out) == k:
                    break
        return out


def inject(
    world: World, events: EventSink, rng: random.Random, start: date, days: int
) -> list[Incident]:
    """Inject misuse of every incident type plus hard negatives; return the ground truth."""
    c = _Ctx(world, events, rng, start, days, [], set())
    _hard_negative_disaster(c)
    _hard_negative_lookups(c)
    for stage in (
        _type_a,
        _type_b,
        _type_c1,
        _type_c2,
        _type_c3,
        _type_r1,
        _type_r2,
        _type_r3,
        _type_r4_r5,
        _type_r6,
        _type_lrs,
        _type_fit,
        _type_anomaly,
    ):
        stage(c)
    return c.out


# ---------------------------------------------------------------------------
# helpers over the world


def _staff(c: _Ctx, org: str, roles: Sequence[str], system: str) -> list[tuple[Person, Account]]:
    """(person, account on ``system``) of ``org``'s current staff with one of ``roles``."""
    on = c.start + timedelta(days=c.days - 1)
    out = []
    for p in c.w.persons:
        if p.org != org or p.role not in roles or p.valid_from > c.start:
            continue
        if p.valid_to is not None and p.valid_to < on:
            continue
        a = c.w.account_for(p.person_id, system, org)
        if a is not None and a.revoked_at is None and p.person_id in c.w.home_device:
            out.append((p, a))
    return out


def _session(c: _Ctx) -> str:
    return c.ev.new_session_id()


def _ip(c: _Ctx, device_id: str | None) -> str | None:
    if device_id is None:
        return None
    for d in c.w.devices:
        if d.device_id == device_id:
            return d.ip
    return None


def _other_customers(c: _Ctx, unchanged: bool = True) -> np.ndarray:
    """Points supplied by an independent retailer all window long (never changed if asked)."""
    p = c.w.points
    m = (p.retailer > 0) & (p.status == 0) & (p.change_day < 0)
    if unchanged:
        m &= p.change_kind == CHANGE_NONE
    return np.flatnonzero(m).astype(np.int64)


def _emit(
    c: _Ctx,
    ts: datetime,
    acc: Account,
    device: str | None,
    action: str,
    *,
    screen: str,
    points: Sequence[int] = (),
    fields: Sequence[str] = (),
    purpose: str | None = None,
    query: str | None = None,
    session: str | None = None,
    recipient: str | None = None,
    result_count: int | None = None,
    decision: str = "allow",
) -> str:
    pids = [c.w.point_id(i) for i in points]
    return c.ev.emit(
        ts=ts,
        system=acc.system,
        account_id=acc.account_id,
        action=action,
        device_id=device,
        source_ip=_ip(c, device),
        session_id=session,
        screen=screen,
        purpose=purpose,
        supply_point_ids=pids,
        query=query,
        fields=list(fields),
        result_count=result_count if result_count is not None else (len(pids) or None),
        recipient_org=recipient,
        decision=decision,
    )


def _login(c: _Ctx, ts: datetime, acc: Account, device: str | None, session: str) -> str:
    return _emit(c, ts, acc, device, "login", screen="login", session=session)


# ---------------------------------------------------------------------------
# hard negatives (not incidents)


def _hard_negative_disaster(c: _Ctx) -> None:
    """A typhoon declared inside the window; every disaster-support holder helps, in bounds."""
    if c.days < 4:
        return
    w = c.w
    rel = c.days // 2
    pref = w.towns[0].pref
    start_at = c.at(rel, 6)
    end_at = c.at(rel + 2, 18)
    w.disasters.append(Disaster(f"DS-{start_at.year}-9{rel:02d}", [pref], start_at, end_at))
    in_area = np.flatnonzero(
        np.array([w.towns[int(t)].pref == pref for t in w.points.town[: min(w.n_points, 50_000)]])
        & (w.points.status[: min(w.n_points, 50_000)] == 0)
    ).astype(np.int64)
    holders = [g.counterparty_org for g in w.agreements if g.purpose == "disaster_support"]
    for org in holders[:3]:
        accs = [a for a in w.accounts if a.kind == "disaster_support" and a.org == org]
        devs = w.devices_of(org, "disaster_terminal")
        if not accs or not devs or len(in_area) == 0:
            continue
        a, d = accs[0], devs[0].device_id
        s = _session(c)
        t = c.at(rel, 8, c.rng.randrange(60))
        _emit(c, t, a, d, "login", screen="login", purpose="disaster_support", session=s)
        for k in range(6):
            i = int(in_area[c.rng.randrange(len(in_area))])
            _emit(
                c,
                t + timedelta(minutes=5 + 7 * k),
                a,
                d,
                "view",
                screen="disaster_view",
                points=[i],
                fields=DISASTER_FIELDS,
                purpose="disaster_support",
                session=s,
            )


def _hard_negative_lookups(c: _Ctx) -> None:
    """Retailers (affiliated and independent) using the equal-footing lookup: no non-public data."""
    pool = _other_customers(c, unchanged=False)
    for org in (c.w.retailers[0].org, c.w.retailers[-1].org):
        staff = _staff(c, org, ("call_center", "sales"), "nw_online")
        for p, a in staff[:2]:
            rel = c.weekday_rel(0, c.days)
            if rel is None or len(pool) == 0:
                continue
            i = int(pool[c.rng.randrange(len(pool))])
            info = c.w.point(i)
            _emit(
                c,
                c.work_time(rel),
                a,
                c.w.home_device[p.person_id],
                "search",
                screen="customer_search",
                points=[i],
                fields=["address", "equipment"],
                purpose="switching",
                query=f"{info.pref}{info.city}{info.town}{info.banchi}",
            )


# ---------------------------------------------------------------------------
# incidents


def _aff_staff(
    c: _Ctx, roles: Sequence[str] = ("call_center", "sales")
) -> list[tuple[Person, Account]]:
    return _staff(c, c.w.retailers[0].org, roles, "nw_online")


def _type_a(c: _Ctx) -> None:
    """A: a screen without masking shows another retailer's customer to affiliated staff."""
    staff = _aff_staff(c)
    pool = _other_customers(c)
    for k in range(min(PER_TYPE, len(staff))):
        p, a = staff[k % len(staff)]
        rel = c.weekday_rel(1, c.days)
        pts = c.pick_points(pool, c.rng.randrange(1, 4))
        if rel is None or not pts:
            continue
        dev = c.w.home_device[p.person_id]
        t = c.work_time(rel)
        ids = [
            _emit(
                c,
                t + timedelta(minutes=3 * j),
                a,
                dev,
                "view",
                screen="contract_inquiry",
                points=[i],
                fields=["contract_name", "address", "phone", "contract"],
                purpose="customer_service",
            )
            for j, i in enumerate(pts)
        ]
        c.record("A", ids, a, screen="contract_inquiry")


def _type_r1(c: _Ctx) -> None:
    """①: the desk looks up an independent's customer for a construction company's inquiry."""
    staff = _aff_staff(c, ("call_center",)) or _aff_staff(c)
    pool = _other_customers(c)
    for k in range(PER_TYPE):
        if not staff:
            return
        p, a = staff[(k + 1) % len(staff)]
        rel = c.weekday_rel(0, c.days)
        pts = c.pick_points(pool, 1)
        if rel is None or not pts:
            continue
        info = c.w.point(pts[0])
        dev = c.w.home_device[p.person_id]
        t = c.work_time(rel)
        s = _session(c)
        ids = [
            _emit(
                c,
                t,
                a,
                dev,
                "search",
                screen="customer_search",
                points=pts,
                fields=["contract_name", "address"],
                purpose="customer_service",
                session=s,
                query=f"{info.city}{info.town}{info.banchi}（工事会社からの問合せ）",
            ),
            _emit(
                c,
                t + timedelta(minutes=2),
                a,
                dev,
                "view",
                screen="customer_detail",
                points=pts,
                fields=["contract_name", "address", "phone", "contract"],
                purpose="customer_service",
                session=s,
            ),
        ]
        c.record("R1", ids, a)


def _type_r2(c: _Ctx) -> None:
    """②: former own customers (switched away before the window) checked for unpaid bills."""
    p_ = c.w.points
    pool = np.flatnonzero(
        (p_.prev_retailer == 0)
        & (p_.retailer > 0)
        & (p_.change_day < 0)
        & (p_.status == 0)
        & (p_.change_kind == CHANGE_SWITCH)
    ).astype(np.int64)
    staff = _aff_staff(c)
    for k in range(PER_TYPE):
        pts = c.pick_points(pool, c.rng.randrange(1, 3))
        rel = c.weekday_rel(0, c.days)
        if not staff or not pts or rel is None:
            continue
        p, a = staff[(k + 2) % len(staff)]
        dev = c.w.home_device[p.person_id]
        t = c.work_time(rel)
        ids = [
            _emit(
                c,
                t + timedelta(minutes=4 * j),
                a,
                dev,
                "view",
                screen="customer_detail",
                points=[i],
                fields=["contract_name", "usage", "contract"],
                purpose="customer_service",
            )
            for j, i in enumerate(pts)
        ]
        c.record("R2", ids, a)


def _window_changes(c: _Ctx, kind: int) -> list[int]:
    p = c.w.points
    idx = c.w.changes_in_window(kind)
    return [
        int(i)
        for i in idx
        if p.retailer[i] == 0 and p.prev_retailer[i] != 0 and p.applied_day[i] >= 0
    ]


def _type_r3(c: _Ctx) -> None:
    """③: at a move-in to the affiliated retailer, the previous occupant's contract is read."""
    p_ = c.w.points
    cand = [i for i in _window_changes(c, CHANGE_MOVE_IN) if i not in c.used_points]
    staff = _aff_staff(c, ("call_center",)) or _aff_staff(c)
    for k, i in enumerate(cand[:PER_TYPE]):
        if not staff:
            return
        applied, eff = int(p_.applied_day[i]), int(p_.change_day[i])
        rel = applied if applied + 1 >= eff else applied + 1
        if rel >= eff or rel >= c.days:
            continue
        c.used_points.add(i)
        p, a = staff[k % len(staff)]
        ids = [
            _emit(
                c,
                c.at(rel, 16, c.rng.randrange(60)),
                a,
                c.w.home_device[p.person_id],
                "view",
                screen="customer_detail",
                points=[i],
                fields=["contract_name", "phone", "contract", "usage"],
                purpose="customer_service",
            )
        ]
        c.record("R3", ids, a)


def _type_r4_r5(c: _Ctx) -> None:
    """④ applicants fact-checked after applying; ⑤ prospects looked up before switching."""
    p_ = c.w.points
    cand = [i for i in _window_changes(c, CHANGE_SWITCH) if i not in c.used_points]
    c.rng.shuffle(cand)
    sales = _aff_staff(c, ("sales",)) or _aff_staff(c)
    n4 = n5 = 0
    for i in cand:
        if not sales or (n4 >= PER_TYPE and n5 >= PER_TYPE):
            break
        applied, eff = int(p_.applied_day[i]), int(p_.change_day[i])
        p, a = sales[(n4 + n5) % len(sales)]
        dev = c.w.home_device[p.person_id]
        can4 = n4 < PER_TYPE and applied + 1 < min(eff, c.days)
        can5 = n5 < PER_TYPE and applied >= 4
        if can4 and (not can5 or n4 <= n5):
            rel = applied + 1
            ids = [
                _emit(
                    c,
                    c.at(rel, 11, c.rng.randrange(60)),
                    a,
                    dev,
                    "view",
                    screen="customer_detail",
                    points=[i],
                    fields=["contract_name", "address", "phone", "contract"],
                    purpose="sales",
                )
            ]
            c.used_points.add(i)
            c.record("R4", ids, a)
            n4 += 1
        elif can5:
            rel = applied - c.rng.randrange(2, min(applied, 20) + 1)
            ids = [
                _emit(
                    c,
                    c.at(rel, 14, c.rng.randrange(60)),
                    a,
                    dev,
                    "view",
                    screen="customer_detail",
                    points=[i],
                    fields=["contract_name", "address", "usage", "contract"],
                    purpose="sales",
                )
            ]
            c.used_points.add(i)
            c.record("R5", ids, a)
            n5 += 1


def _type_r6(c: _Ctx) -> None:
    """⑥: competitors' customers analysed in bulk to target developers."""
    sales = _aff_staff(c, ("sales", "manager")) or _aff_staff(c)
    pool = _other_customers(c)
    for k in range(PER_TYPE):
        rel = c.weekday_rel(0, c.days)
        if not sales or rel is None:
            continue
        p, a = sales[k % len(sales)]
        dev = c.w.home_device[p.person_id]
        t = c.work_time(rel)
        s = _session(c)
        ids = []
        for j in range(c.rng.randrange(1, 3)):
            # a bulk query may touch points other cases touch too: sample the whole pool
            k_pts = min(len(pool), c.rng.randrange(30, 60))
            pts = sorted(int(pool[x]) for x in c.rng.sample(range(len(pool)), k_pts))
            if not pts:
                continue
            town = c.w.point(pts[0])
            ids.append(
                _emit(
                    c,
                    t + timedelta(minutes=9 * j),
                    a,
                    dev,
                    "search",
                    screen="area_analysis",
                    points=pts,
                    fields=["contract_name", "address", "usage", "contract"],
                    purpose="sales",
                    session=s,
                    query=f"{town.city} 高圧 集合住宅",
                )
            )
        if ids:
            c.record("R6", ids, a)


def _type_b(c: _Ctx) -> None:
    """B: the affiliated retailer's disaster-support ID used in normal times."""
    w = c.w
    org = w.retailers[0].org
    accs = [a for a in w.accounts if a.kind == "disaster_support" and a.org == org]
    devs = w.devices_of(org, "disaster_terminal") or w.devices_of(org, "retail_terminal")
    pool = _other_customers(c, unchanged=False)
    drel = c.days // 2  # the declared disaster (hard negative) spans drel .. drel+2
    for k in range(PER_TYPE):
        if not accs or not devs:
            return
        rel = c.weekday_rel(0, c.days)
        if rel is None or drel - 1 <= rel <= drel + 3:
            continue
        a, d = accs[k % len(accs)], devs[k % len(devs)].device_id
        pts = c.pick_points(pool, c.rng.randrange(1, 4))
        t = c.work_time(rel)
        s = _session(c)
        ids = [_login(c, t, a, d, s)]
        ids += [
            _emit(
                c,
                t + timedelta(minutes=4 + 3 * j),
                a,
                d,
                "view",
                screen="disaster_view",
                points=[i],
                fields=DISASTER_FIELDS,
                purpose="disaster_support",
                session=s,
            )
            for j, i in enumerate(pts)
        ]
        c.record("B", ids, a)


def _type_c1(c: _Ctx) -> None:
    """C①: the IT subsidiary mails NW extracts to the affiliated retailer; NW over-exports."""
    w = c.w
    it = [(p, a) for p, a in _staff(c, "contractor:C01", ("it_maintenance",), "takuso")]
    nw = _staff(c, "nw", ("takuso_operator",), "takuso")
    pool = np.flatnonzero(w.points.status == 0).astype(np.int64)
    for k in range(PER_TYPE):
        rel = c.weekday_rel(0, c.days)
        if rel is None or len(pool) == 0:
            continue
        pts = sorted({int(pool[c.rng.randrange(len(pool))]) for _ in range(40)})
        if k % 2 == 0 and it:
            p, a = it[k % len(it)]
            rec, fields, purpose = (
                w.retailers[0].org,
                ["contract_name", "address", "phone", "usage"],
                "system_maintenance",
            )
            screen = "admin/extract"
        elif nw:
            p, a = nw[k % len(nw)]
            rec, fields, purpose = (
                "contractor:C02",
                ["contract_name", "address", "phone", "usage"],
                "meter_reading",
            )
            screen = "export/meter_reading"
        else:
            continue
        dev = w.home_device[p.person_id]
        ids = [
            _emit(
                c,
                c.work_time(rel),
                a,
                dev,
                "export",
                screen=screen,
                points=pts,
                fields=fields,
                purpose=purpose,
                recipient=rec,
                result_count=len(pts) * 25,
            )
        ]
        c.record("C1", ids, a, recipient_org=rec)


def _type_c2(c: _Ctx) -> None:
    """C②: affiliated retail staff sign in on an NW terminal with their own IDs."""
    w = c.w
    nw_devs = w.devices_of("nw", "nw_terminal")
    staff = _aff_staff(c)
    own = w.customers_of(0, stable=True)
    for k in range(PER_TYPE):
        rel = c.weekday_rel(0, c.days)
        if not staff or not nw_devs or rel is None:
            continue
        _p, a = staff[(k + 3) % len(staff)]
        d = nw_devs[c.rng.randrange(len(nw_devs))].device_id
        t = c.work_time(rel)
        s = _session(c)
        ids = [_login(c, t, a, d, s)]
        for j in range(c.rng.randrange(0, 3)):
            if len(own):
                i = int(own[c.rng.randrange(len(own))])
                ids.append(
                    _emit(
                        c,
                        t + timedelta(minutes=2 + 3 * j),
                        a,
                        d,
                        "view",
                        screen="customer_detail",
                        points=[i],
                        fields=["contract_name", "usage"],
                        purpose="customer_service",
                        session=s,
                    )
                )
        c.record("C2", ids, a, device_id=d)


def _type_c3(c: _Ctx) -> None:
    """C③: old NW IDs used after a transfer to retail; an NW ID shared between two terminals."""
    w = c.w
    aff = w.retailers[0].org
    moved = {p.person_id for p in w.persons if p.org == aff}
    old = [
        a
        for a in w.accounts
        if a.holder_person_id in moved and a.org == "nw" and a.system == "takuso"
    ]
    pool = _other_customers(c, unchanged=False)
    n = 0
    for a in old:
        if n >= PER_TYPE // 2:
            break
        rel = c.weekday_rel(0, c.days)
        dev = w.home_device.get(a.holder_person_id or "")
        if rel is None or dev is None:
            continue
        t = c.work_time(rel)
        s = _session(c)
        ids = [_login(c, t, a, dev, s)]
        for j, i in enumerate(c.pick_points(pool, 2)):
            ids.append(
                _emit(
                    c,
                    t + timedelta(minutes=3 + 2 * j),
                    a,
                    dev,
                    "view",
                    screen="point_detail",
                    points=[i],
                    fields=["contract_name", "address", "phone", "retailer"],
                    purpose="takuso",
                    session=s,
                )
            )
        c.record("C3", ids, a, variant="after_transfer")
        n += 1
    nw = _staff(c, "nw", ("takuso_operator", "call_center"), "takuso")
    nw_devs = w.devices_of("nw", "nw_terminal")
    for k in range(PER_TYPE - n):
        if not nw or len(nw_devs) < 2:
            return
        p, a = nw[(k * 3) % len(nw)]
        home = w.home_device[p.person_id]
        other = [d.device_id for d in nw_devs if d.device_id != home]
        rel = c.weekday_rel(0, c.days)
        if rel is None:
            continue
        t = c.at(rel, 7, 40 + c.rng.randrange(10))
        ids = [
            _login(c, t, a, home, _session(c)),
            _login(
                c,
                t + timedelta(minutes=2 + c.rng.randrange(5)),
                a,
                other[c.rng.randrange(len(other))],
                _session(c),
            ),
        ]
        c.record("C3", ids, a, variant="shared_credentials")


def _type_lrs(c: _Ctx) -> None:
    """LRS: last-resort-supply details read by retail staff and by a meter-reading contractor."""
    w = c.w
    pool = w.lrs_points()
    staff = _aff_staff(c)
    mr = _staff(c, "contractor:C02", ("meter_reading",), "takuso")
    for k in range(PER_TYPE):
        rel = c.weekday_rel(0, c.days)
        pts = c.pick_points(pool, 1) if len(pool) else []
        if rel is None or not pts:
            continue
        if k % 2 == 0 and staff:
            p, a = staff[k % len(staff)]
            purpose, fields = "customer_service", ["contract_name", "phone", "lrs"]
        elif mr:
            p, a = mr[k % len(mr)]
            purpose, fields = "meter_reading", ["contract_name", "lrs", "contract"]
        else:
            continue
        ids = [
            _emit(
                c,
                c.work_time(rel),
                a,
                w.home_device[p.person_id],
                "view",
                screen="lrs_account",
                points=pts,
                fields=fields,
                purpose=purpose,
            )
        ]
        c.record("LRS", ids, a)


def _type_fit(c: _Ctx) -> None:
    """FIT: FIT contracts read by affiliated sales and by NW staff outside the FIT team."""
    w = c.w
    pool = w.fit_points()
    staff = _aff_staff(c, ("sales",)) or _aff_staff(c)
    nw = _staff(c, "nw", ("takuso_operator",), "takuso")
    for k in range(PER_TYPE):
        rel = c.weekday_rel(0, c.days)
        pts = c.pick_points(pool, 1) if len(pool) else []
        if rel is None or not pts:
            continue
        if k % 2 == 0 and staff:
            p, a = staff[k % len(staff)]
            purpose = "sales"
        elif nw:
            p, a = nw[k % len(nw)]
            purpose = "takuso"
        else:
            continue
        ids = [
            _emit(
                c,
                c.work_time(rel),
                a,
                w.home_device[p.person_id],
                "view",
                screen="fit_contract",
                points=pts,
                fields=["fit", "capacity", "address"],
                purpose=purpose,
            )
        ]
        c.record("FIT", ids, a)


def _type_anomaly(c: _Ctx) -> None:
    """ANOMALY: an NW operator's day of ten times the usual volume; another's night session."""
    w = c.w
    # one case per person: a second case inside the same baseline would hide in the first
    nw = _staff(c, "nw", ("takuso_operator", "call_center"), "takuso")
    active = np.flatnonzero(w.points.status == 0).astype(np.int64)
    if not nw or len(active) == 0:
        return
    people = c.rng.sample(nw, min(PER_TYPE, len(nw)))
    for k, (p, a) in enumerate(people):
        dev = w.home_device[p.person_id]
        rel = c.weekday_rel(12, c.days)
        if rel is None:
            return
        s = _session(c)
        ids: list[str] = []
        if k % 2 == 0:  # volume: hundreds of detail views in an afternoon
            t = c.at(rel, 13)
            for j in range(300):
                i = int(active[c.rng.randrange(len(active))])
                ids.append(
                    _emit(
                        c,
                        t + timedelta(seconds=40 * j),
                        a,
                        dev,
                        "view",
                        screen="point_detail",
                        points=[i],
                        fields=["contract_name", "address", "phone", "usage"],
                        purpose="takuso",
                        session=s,
                    )
                )
            c.record("ANOMALY", ids, a, variant="volume")
        else:  # off-hours: a night session
            t = c.at(rel, 23, 5)
            ids.append(_login(c, t, a, dev, s))
            for j in range(12):
                i = int(active[c.rng.randrange(len(active))])
                ids.append(
                    _emit(
                        c,
                        t + timedelta(minutes=3 + 4 * j),
                        a,
                        dev,
                        "view",
                        screen="point_detail",
                        points=[i],
                        fields=["contract_name", "address", "phone"],
                        purpose="takuso",
                        session=s,
                    )
                )
            c.record("ANOMALY", ids, a, variant="off_hours")
