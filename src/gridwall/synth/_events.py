"""Ordinary access events: everyone doing their own job, on their own terminals.

Nothing here is misuse — that is what the incident injector adds. NW 託送 staff
search and view any point with the 託送 purpose from NW terminals during working
hours; the call centre searches by phone and address; the FIT team reads FIT
points with the FIT purpose; retailer staff (affiliated and independent alike)
read only their own customers from their own terminals; contractors work under
their agreements; NW staff export files to contractors under those agreements.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from operator import itemgetter
from typing import Any

import numpy as np

from gridwall.interfaces.clock import JST
from gridwall.synth._hash import key_for
from gridwall.synth._world import Account, EventSink, Person, World

NW_VIEW = [
    "contract_name",
    "address",
    "phone",
    "retailer",
    "contract",
    "equipment",
    "switching_history",
]
RETAIL_VIEW = ["contract_name", "address", "phone", "usage", "contract"]
FIT_VIEW = ["fit", "contract_name", "address", "equipment"]
#: Mean events per working day relative to ``events_per_person_day``, by role.
ROLE_LOAD = {
    "takuso_operator": 1.0,
    "call_center": 1.2,
    "fit_team": 0.6,
    "it_maintenance": 0.3,
    "auditor": 0.25,
    "compliance": 0.3,
    "manager": 0.2,
    "sales": 0.35,
    "meter_reading": 0.6,
}
Row = tuple[Any, ...]
Action = tuple[str, str, str | None, list[str], str | None, list[str], int | None]


class OrdinaryEvents:
    """Generates one day of background events at a time (deterministic per seed and day)."""

    def __init__(self, world: World, sink: EventSink, per_person_day: float) -> None:
        self.w = world
        self.sink = sink
        self.load = per_person_day
        self.n = world.n_points
        self.active = np.flatnonzero(world.points.status == 0).astype(np.int64)
        self.fit = world.fit_points()
        self.lrs = world.lrs_points()
        self.own = {ri: world.customers_of(ri, stable=True) for ri in range(len(world.retailers))}
        self.dev_ip = {d.device_id: d.ip for d in world.devices}
        self.acct: dict[tuple[str, str, str], Account] = {}
        for a in world.accounts:
            if a.holder_person_id and a.kind == "personal":
                self.acct.setdefault((a.holder_person_id, a.system, a.org), a)
        self.agreement_orgs = {(g.counterparty_org, g.purpose): g for g in world.agreements}
        self.in_window = np.flatnonzero(
            (world.points.change_day >= 0) & (world.points.change_day < world.days)
        ).astype(np.int64)

    # ------------------------------------------------------------------
    def day(self, rel: int) -> list[Row]:
        w = self.w
        d = w.day(rel)
        wd = d.weekday()
        rnd = random.Random(key_for(w.seed, f"events:{rel}"))
        rows: list[Row] = []
        exporters_done: set[str] = set()
        for p in w.persons:
            if p.valid_from > d or (p.valid_to is not None and p.valid_to < d):
                continue
            if rnd.random() < 0.08:  # leave, training, sick
                continue
            kind = p.org.split(":", 1)[0]
            if p.org == "regulator":
                if wd == 1:
                    self._regulator(rows, rnd, d, p)
                continue
            saturday_shift = p.role == "call_center" and wd == 5 and rnd.random() < 0.5
            if wd >= 5 and not saturday_shift:
                continue
            if kind == "nw":
                self._nw(rows, rnd, d, p, exporters_done)
            elif kind == "retail":
                self._retail(rows, rnd, d, p)
            elif kind == "contractor":
                self._contractor(rows, rnd, d, p)
        rows.sort(key=itemgetter(1, 0))
        return rows

    # ------------------------------------------------------------------
    def _account(self, p: Person, system: str, d: date) -> Account | None:
        a = self.acct.get((p.person_id, system, p.org))
        if a is None:
            return None
        day_start = datetime.combine(d, time(0), JST)
        if a.created_at > day_start + timedelta(hours=8):
            return None
        if a.revoked_at is not None and a.revoked_at <= day_start + timedelta(hours=20):
            return None
        return a

    def _session(
        self,
        rows: list[Row],
        rnd: random.Random,
        d: date,
        p: Person,
        system: str,
        n_actions: int,
        make: Callable[[], Action | None],
        device: str | None = "home",
    ) -> None:
        a = self._account(p, system, d)
        if a is None:
            return
        dev = self.w.home_device.get(p.person_id) if device == "home" else device
        ip = self.dev_ip.get(dev, "") if dev else f"203.0.113.{rnd.randrange(1, 255)}"
        sess = self.sink.new_session_id()
        t0 = 8 * 3600 + 30 * 60 + rnd.randrange(3600)
        t1 = 17 * 3600 + 15 * 60 + rnd.randrange(5400)
        base = d.isoformat()

        def ts(sec: int) -> str:
            return f"{base}T{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}+09:00"

        nid = self.sink.next_event_id
        if rnd.random() < 0.03:
            rows.append(
                (
                    nid(),
                    ts(t0 - rnd.randrange(5, 60)),
                    system,
                    a.account_id,
                    dev,
                    ip,
                    None,
                    "login_failed",
                    "login",
                    None,
                    [],
                    None,
                    [],
                    None,
                    None,
                    "deny",
                )
            )
        rows.append(
            (
                nid(),
                ts(t0),
                system,
                a.account_id,
                dev,
                ip,
                sess,
                "login",
                "login",
                None,
                [],
                None,
                [],
                None,
                None,
                "allow",
            )
        )
        span = t1 - t0 - 120
        rr = rnd.random
        times = sorted([t0 + 60 + int(rr() * span) for _ in range(n_actions)])
        for sec in times:
            act = make()
            if act is None:
                continue
            action, screen, purpose, spids, query, fields, count = act
            rec = None
            if action == "export":
                rec = query
                query = None
            rows.append(
                (
                    nid(),
                    ts(sec),
                    system,
                    a.account_id,
                    dev,
                    ip,
                    sess,
                    action,
                    screen,
                    purpose,
                    spids,
                    query,
                    fields,
                    count,
                    rec,
                    "allow",
                )
            )
        rows.append(
            (
                nid(),
                ts(t1),
                system,
                a.account_id,
                dev,
                ip,
                sess,
                "logout",
                "logout",
                None,
                [],
                None,
                [],
                None,
                None,
                "allow",
            )
        )

    def _count(self, rnd: random.Random, role: str) -> int:
        mean = self.load * ROLE_LOAD.get(role, 0.5)
        return max(1, round(rnd.gauss(mean, mean * 0.3)))

    def _address(self, i: int) -> str:
        """The address as a clerk types it into a search box."""
        a = self.w.static.address(i)
        return f"{a.town.pref}{a.town.city}{a.town_text}{a.banchi}"

    def _name(self, i: int) -> str | None:
        """Current 契約名義 (None when vacant or closed)."""
        if self.w.points.status[i] != 0:
            return None
        a = self.w.static.address(i)
        return self.w.static.holder_name(i, int(self.w.points.holder_no[i]), a.business)

    def _phone(self, i: int) -> str | None:
        if self.w.points.status[i] != 0:
            return None
        a = self.w.static.address(i)
        return self.w.static.holder_phone(i, int(self.w.points.holder_no[i]), a.town.pref)

    def _pick(self, rnd: random.Random, arr: np.ndarray) -> int | None:
        if len(arr) == 0:
            return None
        return int(arr[int(rnd.random() * len(arr))])

    # ------------------------------------------------------------------
    def _nw(self, rows: list[Row], rnd: random.Random, d: date, p: Person, done: set[str]) -> None:
        w = self.w
        role = p.role
        n = self._count(rnd, role)
        if role in ("takuso_operator", "call_center", "manager"):

            def make() -> Action | None:
                # mostly supplied points; now and then a vacant or closed one
                i = self._pick(rnd, self.active) if rnd.random() < 0.97 else None
                if i is None:
                    i = int(rnd.random() * self.n)
                pid = w.point_id(i)
                x = rnd.random()
                if role == "call_center" and x < 0.5:
                    return (
                        "search",
                        "point_search",
                        "takuso",
                        [pid],
                        self._phone(i) or self._address(i),
                        ["contract_name", "address", "phone", "equipment"],
                        1,
                    )
                if x < 0.45 or role == "manager":
                    fields = list(NW_VIEW)
                    if w.points.retailer[i] == -2:
                        fields.append("lrs")
                    if rnd.random() < 0.3:
                        fields.append("usage")
                    return ("view", "point_detail", "takuso", [pid], None, fields, 1)
                if x < 0.8:
                    q = self._address(i)
                    return (
                        "search",
                        "point_search",
                        "takuso",
                        [pid],
                        q,
                        ["contract_name", "address", "equipment"],
                        1,
                    )
                if x < 0.9:
                    return (
                        "search",
                        "point_search",
                        "takuso",
                        [pid],
                        pid,
                        ["contract_name", "address", "equipment"],
                        1,
                    )
                j = self._pick(rnd, self.in_window)
                if j is not None:
                    pid = w.point_id(j)
                return ("update", "switching_review", "takuso", [pid], None, ["contract"], 1)

            self._session(rows, rnd, d, p, "takuso", n, make)
            if role == "takuso_operator" and d.weekday() in (0, 2):
                self._export(rows, rnd, d, p, done)
        elif role == "fit_team":

            def make_fit() -> Action | None:
                i = self._pick(rnd, self.fit)
                if i is None:
                    return None
                pid = w.point_id(i)
                if rnd.random() < 0.3:
                    return (
                        "search",
                        "fit_search",
                        "fit",
                        [pid],
                        self._name(i),
                        ["fit", "contract_name", "address"],
                        1,
                    )
                return ("view", "fit_contract", "fit", [pid], None, list(FIT_VIEW), 1)

            self._session(rows, rnd, d, p, "fit_mgmt", n, make_fit)
        elif role == "it_maintenance":

            def make_it() -> Action | None:
                screen = rnd.choice(("admin/batch_monitor", "admin/job_log", "admin/db_health"))
                return (
                    "update" if rnd.random() < 0.3 else "view",
                    screen,
                    "takuso",
                    [],
                    None,
                    [],
                    None,
                )

            self._session(rows, rnd, d, p, "takuso", n, make_it)
        elif role in ("auditor", "compliance"):
            self._audit(rows, rnd, d, p, n, "home")

    def _audit(
        self, rows: list[Row], rnd: random.Random, d: date, p: Person, n: int, device: str | None
    ) -> None:
        def make() -> Action | None:
            if rnd.random() < 0.6:
                return (
                    "search",
                    "/audit/events",
                    "audit",
                    [],
                    rnd.choice(("decision=deny", "org=retail:*", "action=export", "system=takuso")),
                    [],
                    rnd.randrange(0, 500),
                )
            return ("view", "/reports/monthly", "audit", [], None, [], None)

        self._session(rows, rnd, d, p, "gridwall", n, make, device)

    def _regulator(self, rows: list[Row], rnd: random.Random, d: date, p: Person) -> None:
        self._audit(rows, rnd, d, p, 2, None)

    def _export(
        self, rows: list[Row], rnd: random.Random, d: date, p: Person, done: set[str]
    ) -> None:
        """Weekly files to contractors under their agreements (meter reading; LRS)."""
        w = self.w
        key = "mr" if d.weekday() == 0 else "lrs"
        if key in done:
            return
        if key == "mr":
            org, purpose = "contractor:C02", "meter_reading"
            pool = self.active
        else:
            org, purpose = "contractor:C03", "lrs_operations"
            pool = self.lrs
        g = self.agreement_orgs.get((org, purpose))
        if g is None or len(pool) == 0 or g.valid_from > d or (g.valid_to and g.valid_to < d):
            return
        done.add(key)
        k = min(20, len(pool))
        sample = sorted({int(pool[rnd.randrange(len(pool))]) for _ in range(k)})
        total = len(pool) if key == "lrs" else max(len(sample), len(pool) // 20)
        spids = [w.point_id(i) for i in sample]
        self._session(
            rows,
            rnd,
            d,
            p,
            "takuso",
            1,
            lambda: ("export", f"export/{purpose}", purpose, spids, org, list(g.fields), total),
        )

    # ------------------------------------------------------------------
    def _retail(self, rows: list[Row], rnd: random.Random, d: date, p: Person) -> None:
        w = self.w
        code = p.org.split(":", 1)[1]
        ri = w.retailer_index(code)
        own = self.own[ri]
        purpose = "sales" if p.role == "sales" else "customer_service"
        n = self._count(rnd, p.role)

        def make() -> Action | None:
            i = self._pick(rnd, own)
            if i is None:
                return None
            pid = w.point_id(i)
            if p.role == "call_center" and rnd.random() < 0.35:
                q = self._name(i) if rnd.random() < 0.5 else self._phone(i)
                return (
                    "search",
                    "customer_search",
                    purpose,
                    [pid],
                    q,
                    ["contract_name", "address"],
                    1,
                )
            fields = (
                list(RETAIL_VIEW) if p.role != "sales" else ["contract_name", "usage", "contract"]
            )
            return ("view", "customer_detail", purpose, [pid], None, fields, 1)

        self._session(rows, rnd, d, p, "nw_online", n, make)

    def _contractor(self, rows: list[Row], rnd: random.Random, d: date, p: Person) -> None:
        w = self.w
        n = self._count(rnd, p.role)
        purpose = {
            "contractor:C01": "system_maintenance",
            "contractor:C02": "meter_reading",
            "contractor:C03": "lrs_operations",
        }.get(p.org)
        if purpose is None:
            return
        g = self.agreement_orgs.get((p.org, purpose))
        if g is None or g.valid_from > d or (g.valid_to is not None and g.valid_to < d):
            return
        pool = self.lrs if purpose == "lrs_operations" else self.active

        def make() -> Action | None:
            if purpose == "system_maintenance" and rnd.random() < 0.6:
                return ("update", "admin/batch", purpose, [], None, [], None)
            i = self._pick(rnd, pool)
            if i is None:
                return None
            screen = {
                "system_maintenance": "equipment_detail",
                "meter_reading": "meter_route",
                "lrs_operations": "lrs_account",
            }[purpose]
            return ("view", screen, purpose, [w.point_id(i)], None, list(g.fields), 1)

        self._session(rows, rnd, d, p, "takuso", n, make)
