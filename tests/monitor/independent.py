"""An independent scenario generator for the monitor's quality test (issue 16).

    uv run python tests/monitor/independent.py OUT --points 3000 --days 28 --seed 7

(``bench/monitor/quality.py --independent`` generates, scans and scores in one go.)

It shares no code with ``gridwall.synth`` (only the dataset layout and its CSV writer from
``gridwall.dataset``): its own region (関西), organisations, roles, screens, timing
distributions and volumes, written from the seed descriptions of each incident type rather
than from the rules. Every incident is listed in ``OUT/incidents.jsonl`` with exactly its
misuse events. Hard negatives (legitimate work that looks like misuse) are generated on
purpose and are *not* incidents:

* the affiliated retailer's last-resort-supply team reading LRS points inside the area of its
  ``lrs_operations`` agreement;
* disaster-support agents of the affiliated and of an independent retailer working inside a
  declared disaster's window and area, on disaster terminals, with the minimal fields;
* NW staff looking at points that later switch; retailers looking at their own customers
  shortly before those leave them;
* transfers handled correctly (old account revoked on the transfer day, new account issued);
* a contractor's exports to the network operator itself under its agreement;
* meter readers on points in their agreement's area; the equal-footing lookup;
* gridwall's own operations: NW staff declaring, approving and ending the disaster (grant
  management events), NW staff logging out and in again at another terminal.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from gridwall.dataset import TABLES, CsvTableWriter

JST = timezone(timedelta(hours=9))
START = date(2026, 6, 1)  # a Monday
PREFS = {"大阪府": ["北区", "中央区", "堺市"], "兵庫県": ["神戸市", "姫路市", "尼崎市"]}
AFFILIATED = "K0101"
INDEPENDENTS = ("S0201", "S0202", "S0203", "S0204")
LRS_CODE = "K0000"
LRS_AREA = "大阪府"
METER_AREA = "兵庫県"
RETAIL_FIELDS = ("contract_name", "address", "usage", "contract")


@dataclass
class Staff:
    person_id: str
    account_id: str
    org: str
    role: str
    device: str
    system: str = "wheeling"
    start_day: int = -(10**6)  # works from this day on (a transferred person's new account)


@dataclass
class World:
    rng: random.Random
    days: int
    points: list[dict[str, Any]] = field(default_factory=list)
    # per point: list of (retailer, kind, start_day, end_day or None)
    history: dict[str, list[tuple[str, str, int, int | None]]] = field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {name: [] for name in TABLES}
    )
    incidents: list[dict[str, Any]] = field(default_factory=list)
    n_events: int = 0
    used: set[str] = field(default_factory=set)  # points an incident already uses
    fit_points: list[str] = field(default_factory=list)

    # ---- time -----------------------------------------------------------------------
    def at(self, day: int, hour: float) -> datetime:
        base = datetime(START.year, START.month, START.day, tzinfo=JST)
        return base + timedelta(days=day, seconds=int(hour * 3600))

    def workdays(self) -> list[int]:
        return [d for d in range(self.days) if (START + timedelta(days=d)).weekday() < 5]

    def work_hour(self) -> float:
        return self.rng.triangular(9.0, 18.5, 11.0)

    # ---- state ----------------------------------------------------------------------
    def retailer_on(self, sp: str, day: int) -> tuple[str, str] | None:
        for ret, kind, s, e in self.history[sp]:
            if s <= day and (e is None or day <= e):
                return ret, kind
        return None

    def customers(self, retailer: str, day: int) -> list[str]:
        return [
            p["supply_point_id"]
            for p in self.points
            if self.retailer_on(p["supply_point_id"], day) == (retailer, "retail")
        ]

    def others(self, retailer: str, day: int, area: str | None = None) -> list[str]:
        out = []
        for p in self.points:
            sp = p["supply_point_id"]
            r = self.retailer_on(sp, day)
            if r is None or r[0] == retailer or r[1] != "retail" or sp in self.used:
                continue
            if area is None or p["city"] == area or p["pref"] == area:
                out.append(sp)
        return out

    # ---- events ---------------------------------------------------------------------
    def event(self, who: Staff, ts: datetime, action: str, **kw: Any) -> str:
        self.n_events += 1
        eid = f"ev{self.n_events:08d}"
        self.tables["events"].append(
            {
                "event_id": eid,
                "ts": ts,
                "system": kw.get("system", who.system),
                "account_id": kw.get("account", who.account_id),
                "device_id": kw.get("device", who.device),
                "source_ip": None,
                "session_id": kw.get("session"),
                "action": action,
                "screen": kw.get("screen"),
                "purpose": kw.get("purpose"),
                "supply_point_ids": list(kw.get("points", ())),
                "query": kw.get("query"),
                "fields": list(kw.get("fields", ())),
                "result_count": len(kw.get("points", ())) if action == "search" else None,
                "recipient_org": kw.get("recipient"),
                "decision": kw.get("decision", "allow"),
            }
        )
        return eid

    def incident(self, kind: str, who: Staff, ids: list[str], note: str) -> None:
        self.incidents.append(
            {
                "incident_id": f"IND-{kind}-{len(self.incidents) + 1:03d}",
                "incident_type": kind,
                "event_ids": ids,
                "account_id": who.account_id,
                "person_id": who.person_id,
                "variant": note,
            }
        )


def _people(w: World) -> dict[str, list[Staff]]:
    """Persons, accounts and terminals; returns staff by group."""
    t = w.tables
    groups: dict[str, list[Staff]] = {}

    def add(
        group: str, org: str, role: str, n: int, dev_kind: str, *, system: str = "wheeling"
    ) -> None:
        for k in range(n):
            pid = f"{group}-{k:02d}"
            dev = f"PC-{group}-{k:02d}"
            acc = f"{'u' if org == 'nw' else 'x'}{len(t['accounts']) * 7919 % 10**6:06d}"
            t["persons"].append(
                {
                    "person_id": pid,
                    "name": f"社員{pid}",
                    "org": org,
                    "role": role,
                    "valid_from": date(2020, 4, 1),
                }
            )
            t["accounts"].append(
                {
                    "account_id": acc,
                    "system": system,
                    "holder_person_id": pid,
                    "kind": "personal",
                    "org": org,
                    "created_at": datetime(2020, 4, 1, tzinfo=JST),
                }
            )
            t["devices"].append(
                {"device_id": dev, "owner_org": org, "kind": dev_kind, "location": group}
            )
            groups.setdefault(group, []).append(Staff(pid, acc, org, role, dev, system))

    n = max(4, len(w.points) // 400)
    add("nwops", "nw", "takuso_operator", n, "nw_terminal")
    add("nwfit", "nw", "fit_team", 2, "nw_terminal", system="fit_mgmt")
    add("nwmgr", "nw", "manager", 2, "nw_terminal")
    for ret in (AFFILIATED, *INDEPENDENTS):
        org = f"retail:{ret}"
        add(f"{ret}-sales", org, "sales", w.rng.randint(2, 4), "retail_terminal")
        add(f"{ret}-desk", org, "call_center", w.rng.randint(1, 3), "retail_terminal")
    add(f"{AFFILIATED}-lrs", f"retail:{AFFILIATED}", "lrs_operations", 2, "retail_terminal")
    add("mtr", "contractor:MTR", "meter_reading", 2, "contractor_terminal")
    add("sys", "contractor:SYS", "it_maintenance", 1, "contractor_terminal")
    # disaster-support agents: their own account kind and a disaster terminal
    for ret in (AFFILIATED, INDEPENDENTS[0]):
        org = f"retail:{ret}"
        pid, acc, dev = f"{ret}-dis", f"dis-{ret}", f"DT-{ret}"
        t["persons"].append(
            {
                "person_id": pid,
                "name": f"災害{ret}",
                "org": org,
                "role": "disaster_support",
                "valid_from": date(2020, 4, 1),
            }
        )
        t["accounts"].append(
            {
                "account_id": acc,
                "system": "wheeling",
                "holder_person_id": pid,
                "kind": "disaster_support",
                "org": org,
            }
        )
        t["devices"].append({"device_id": dev, "owner_org": org, "kind": "disaster_terminal"})
        groups.setdefault("disaster", []).append(Staff(pid, acc, org, "disaster_support", dev))
    return groups


def _transfer(w: World, s: Staff, day: int, *, revoke: bool) -> Staff:
    """Move an NW operator to the affiliated retailer on ``day``: new assignment, new account,
    new terminal; the old account revoked that day (or, for an incident, forgotten)."""
    t = w.tables
    org = f"retail:{AFFILIATED}"
    for p in t["persons"]:
        if p["person_id"] == s.person_id:
            p["valid_to"] = START + timedelta(days=day - 1)
    t["persons"].append(
        {
            "person_id": s.person_id,
            "name": f"社員{s.person_id}",
            "org": org,
            "role": "sales",
            "valid_from": START + timedelta(days=day),
        }
    )
    if revoke:
        for a in t["accounts"]:
            if a["account_id"] == s.account_id:
                a["revoked_at"] = w.at(day, 0)
    acc, dev = f"r{s.account_id}", f"PC-moved-{s.person_id}"
    t["accounts"].append(
        {
            "account_id": acc,
            "system": "wheeling",
            "holder_person_id": s.person_id,
            "kind": "personal",
            "org": org,
        }
    )
    t["devices"].append({"device_id": dev, "owner_org": org, "kind": "retail_terminal"})
    return Staff(s.person_id, acc, org, "sales", dev, start_day=day)


def _points(w: World, n: int) -> None:
    rng = w.rng
    fit_points = []
    for i in range(n):
        pref = rng.choice(list(PREFS))
        city = rng.choice(PREFS[pref])
        sp = f"27{w.rng.randrange(10**6):06d}{i:014d}"
        w.points.append(
            {
                "supply_point_id": sp,
                "pref": pref,
                "city": city,
                "town": f"{rng.randint(1, 9)}丁目",
                "banchi": f"{rng.randint(1, 40)}-{rng.randint(1, 20)}",
                "contract_name": f"需要家{i}",
                "phone": f"06-{rng.randrange(10**4):04d}-{i % 10**4:04d}",
                "voltage": "low",
                "status": "active",
            }
        )
        u = rng.random()
        if u < 0.04 and pref == LRS_AREA:
            w.history[sp] = [(LRS_CODE, "lrs", -400, None)]
        else:
            ret = AFFILIATED if u < 0.55 else rng.choice(INDEPENDENTS)
            w.history[sp] = [(ret, "retail", -rng.randint(30, 3000), None)]
        if rng.random() < 0.01:
            fit_points.append(sp)
    # switching during the period (about 6 % of retail points), some back-dated before it
    for p in w.points:
        sp = p["supply_point_id"]
        ret, kind, s, _ = w.history[sp][0]
        if kind != "retail" or rng.random() > 0.06:
            continue
        new = rng.choice([r for r in (AFFILIATED, *INDEPENDENTS) if r != ret])
        eff = rng.randint(-20, w.days + 5)
        applied = eff - rng.randint(3, 12)
        w.history[sp] = [(ret, "retail", s, eff - 1), (new, "retail", eff, None)]
        w.tables["switching"].append(
            {
                "application_id": f"APP{len(w.tables['switching']):06d}",
                "supply_point_id": sp,
                "kind": "switch",
                "from_retailer": ret,
                "to_retailer": new,
                "applied_at": w.at(applied, rng.uniform(9, 17)),
                "effective_date": START + timedelta(days=eff),
            }
        )
    w.tables["supply_points"] = w.points
    for i, sp in enumerate(fit_points):
        w.tables["fit_contracts"].append(
            {
                "supply_point_id": sp,
                "generator_name": f"発電所{i}",
                "capacity_kw": 4.5,
                "start_date": date(2019, 1, 1),
            }
        )
    w.fit_points = fit_points


def _contracts(w: World) -> None:
    for sp, hist in w.history.items():
        for ret, kind, s, e in hist:
            w.tables["supply_contracts"].append(
                {
                    "supply_point_id": sp,
                    "retailer_code": ret,
                    "kind": kind,
                    "start_date": START + timedelta(days=s),
                    "end_date": None if e is None else START + timedelta(days=e),
                }
            )


def _background(w: World, g: dict[str, list[Staff]], disaster: tuple[int, int, str, str]) -> None:
    rng = w.rng
    all_sp = [p["supply_point_id"] for p in w.points]
    lrs_sp = [
        p["supply_point_id"] for p in w.points if w.history[p["supply_point_id"]][0][1] == "lrs"
    ]
    hyogo = [p["supply_point_id"] for p in w.points if p["pref"] == METER_AREA]
    d_from, d_to, d_pref, d_city = disaster
    dis_sp = [p["supply_point_id"] for p in w.points if p["pref"] == d_pref and p["city"] == d_city]
    for day in w.workdays():
        for s in g["nwops"] + g["nwmgr"]:
            start = w.at(day, rng.uniform(8.5, 9.5))
            w.event(s, start, "login", screen="login")
            for _ in range(rng.randint(8, 30)):
                w.event(
                    s,
                    w.at(day, w.work_hour()),
                    rng.choice(["view", "view", "search"]),
                    screen=rng.choice(["WH-detail", "WH-list", "WH-meter"]),
                    purpose="takuso",
                    points=[rng.choice(all_sp)],
                    fields=rng.sample(
                        ["contract_name", "address", "usage", "contract", "equipment", "phone"], 3
                    ),
                )
            w.event(s, w.at(day, rng.uniform(18.6, 19.5)), "logout")
        for s in g["nwfit"]:
            for _ in range(rng.randint(2, 6)):
                if w.fit_points:
                    w.event(
                        s,
                        w.at(day, w.work_hour()),
                        "view",
                        system="fit_mgmt",
                        screen="FIT-01",
                        purpose="fit",
                        points=[rng.choice(w.fit_points)],
                        fields=["fit", "contract_name"],
                    )
        for ret in (AFFILIATED, *INDEPENDENTS):
            own = w.customers(ret, day)
            for s in g[f"{ret}-sales"] + g[f"{ret}-desk"] + g.get(f"{ret}-moved", []):
                if day < s.start_day:
                    continue
                for _ in range(rng.randint(3, 12)):
                    if own:
                        w.event(
                            s,
                            w.at(day, w.work_hour()),
                            "view",
                            screen="CS-customer",
                            purpose="customer_service",
                            points=[rng.choice(own)],
                            fields=rng.sample(RETAIL_FIELDS, 3),
                        )
                if rng.random() < 0.3:  # the equal-footing lookup: address key + equipment
                    w.event(
                        s,
                        w.at(day, w.work_hour()),
                        "search",
                        screen="EQ-lookup",
                        purpose="switching",
                        points=[rng.choice(all_sp)],
                        fields=["address", "equipment"],
                    )
        for s in g[f"{AFFILIATED}-lrs"]:  # hard negative: LRS work inside the agreement
            for _ in range(rng.randint(2, 8)):
                if lrs_sp:
                    w.event(
                        s,
                        w.at(day, w.work_hour()),
                        "view",
                        screen="LRS-case",
                        purpose="lrs_operations",
                        points=[rng.choice(lrs_sp)],
                        fields=["contract_name", "address", "lrs"],
                    )
        for s in g["mtr"]:
            for _ in range(rng.randint(5, 15)):
                if hyogo:
                    w.event(
                        s,
                        w.at(day, w.work_hour()),
                        "view",
                        screen="MR-route",
                        purpose="meter_reading",
                        points=[rng.choice(hyogo)],
                        fields=["address", "equipment"],
                    )
        if (START + timedelta(days=day)).weekday() == 0:  # weekly export to the operator
            s = g["sys"][0]
            w.event(
                s,
                w.at(day, 7.5 + rng.random()),
                "export",
                screen="SYS-extract",
                purpose="system_operation",
                points=rng.sample(all_sp, min(30, len(all_sp))),
                fields=["address", "usage"],
                recipient="nw",
            )
    # gridwall's own operations (hard negatives): the disaster's grant management by NW
    # managers, and an operator changing desks mid-morning (logout, login elsewhere)
    mgr = g["nwmgr"][0]
    for step, day in (("declare", d_from), ("approve", d_from), ("end", d_to + 1)):
        w.event(
            mgr,
            w.at(day, 7.0 + rng.random()),
            "update",
            system="gridwall",
            screen=f"grants.disaster.{step}",
            purpose="disaster_support",
        )
    spare = [f"PC-spare-{k}" for k in range(2)]
    for dev in spare:
        w.tables["devices"].append(
            {"device_id": dev, "owner_org": "nw", "kind": "nw_terminal", "location": "spare"}
        )
    for day in w.workdays()[1::5]:
        s = rng.choice(g["nwops"])
        h = rng.uniform(10, 11.5)
        w.event(s, w.at(day, h), "logout", screen="logout")
        w.event(s, w.at(day, h + rng.uniform(0.02, 0.15)), "login", screen="login",
                device=rng.choice(spare))  # fmt: skip
    for day in range(d_from, d_to + 1):  # hard negative: disaster support inside the declaration
        for s in g["disaster"]:
            for _ in range(rng.randint(3, 10)):
                if dis_sp:
                    w.event(
                        s,
                        w.at(day, rng.uniform(8, 20)),
                        "view",
                        screen="DS-map",
                        purpose="disaster_support",
                        points=[rng.choice(dis_sp)],
                        fields=["contract_name", "address", "phone"],
                    )


def _incidents(
    w: World, g: dict[str, list[Staff]], k: int, disaster: tuple[int, int, str, str]
) -> None:
    rng = w.rng
    days = w.workdays()
    late = [d for d in days if d >= 3]
    retailers = (AFFILIATED, *INDEPENDENTS)

    def staff(ret: str, kind: str = "sales") -> Staff:
        return rng.choice(g[f"{ret}-{kind}"])

    def pick(pool: list[str]) -> str | None:
        pool = [p for p in pool if p not in w.used]
        if not pool:
            return None
        sp = rng.choice(pool)
        w.used.add(sp)
        return sp

    for _ in range(k):  # A: a screen shows another retailer's customer to sales staff
        ret = rng.choice(retailers)
        s, day = staff(ret), rng.choice(days)
        pts = [p for p in (pick(w.others(ret, day)) for _ in range(rng.randint(1, 2))) if p]
        ids = [
            w.event(
                s,
                w.at(day, w.work_hour()),
                "view",
                screen="CS-billing-overview",
                purpose="customer_service",
                points=[p],
                fields=["contract_name", "usage"],
            )
            for p in pts
        ]
        if ids:
            w.incident("A", s, ids, "unmasked screen")
    for _ in range(k):  # R1: a desk looks a point up for a third party's inquiry
        ret = rng.choice(retailers)
        s, day = staff(ret, "desk"), rng.choice(days)
        sp = pick(w.others(ret, day))
        if sp:
            h = w.work_hour()
            sess = f"S{rng.randrange(10**9)}"
            ids = [
                w.event(
                    s,
                    w.at(day, h),
                    "search",
                    screen="CS-search",
                    purpose="customer_service",
                    points=[sp],
                    fields=["contract_name", "address"],
                    query="工事の問い合わせ",
                    session=sess,
                ),
                w.event(
                    s,
                    w.at(day, h + rng.uniform(0.01, 0.1)),
                    "view",
                    screen="CS-customer",
                    purpose="customer_service",
                    points=[sp],
                    fields=["contract_name", "address", "phone"],
                    session=sess,
                ),
            ]
            w.incident("R1", s, ids, "inquiry")
    # R2: former own customers (switched away before the access)
    former = [
        (sp, h[0][0], h[1][2])
        for sp, h in w.history.items()
        if len(h) == 2 and h[1][2] < w.days - 3 and sp not in w.used
    ]
    rng.shuffle(former)
    for sp, ret, eff in former[:k]:
        day = rng.choice([d for d in days if d > max(eff, 0)] or [w.days - 1])
        s = staff(ret, "desk")
        w.used.add(sp)
        ids = [
            w.event(
                s,
                w.at(day, w.work_hour()),
                "view",
                screen="CS-collection",
                purpose="billing",
                points=[sp],
                fields=["contract_name", "usage", "contract"],
            )
        ]
        w.incident("R2", s, ids, "collectability")
    for _ in range(k):  # R3: a move-in application; the previous occupant's contract read
        ret = rng.choice(retailers)
        day = rng.choice(late)
        sp = pick(w.others(ret, day))
        if not sp:
            continue
        prev = w.retailer_on(sp, day)
        w.tables["switching"].append(
            {
                "application_id": f"MV{len(w.tables['switching']):06d}",
                "supply_point_id": sp,
                "kind": "move_in",
                "from_retailer": prev[0] if prev else None,
                "to_retailer": ret,
                "applied_at": w.at(day, 10.0),
                "effective_date": START + timedelta(days=day + 7),
            }
        )
        s = staff(ret, "desk")
        ids = [
            w.event(
                s,
                w.at(day, rng.uniform(10.2, 17)),
                "view",
                screen="CS-customer",
                purpose="move_in",
                points=[sp],
                fields=["contract_name", "contract", "usage"],
            )
        ]
        w.incident("R3", s, ids, "move-in")
    for _ in range(k):  # R4: an inbound applicant checked, then their application filed
        ret = rng.choice(retailers)
        day = rng.choice(days[:-2])
        sp = pick(w.others(ret, day + 30))
        if not sp:
            continue
        s = staff(ret, "desk")
        t0 = w.at(day, w.work_hour())
        ids = [
            w.event(
                s,
                t0 + timedelta(minutes=5 * j),
                "view",
                screen="CS-customer",
                purpose="sales",
                points=[sp],
                fields=["contract_name", "address", "contract"],
            )
            for j in range(rng.randint(1, 2))
        ]
        prev = w.retailer_on(sp, day)
        w.tables["switching"].append(
            {
                "application_id": f"IN{len(w.tables['switching']):06d}",
                "supply_point_id": sp,
                "kind": "switch",
                "from_retailer": prev[0] if prev else None,
                "to_retailer": ret,
                "applied_at": t0 + timedelta(hours=rng.uniform(0.5, 40)),
                "effective_date": START + timedelta(days=day + 10),
            }
        )
        w.incident("R4", s, ids, "inbound applicant")
    for _ in range(k):  # R5: a sales list of prospects viewed; a few switch weeks later
        ret = rng.choice(retailers)
        day = rng.choice(days[: max(1, len(days) // 2)])
        s = staff(ret)
        pool = w.others(ret, day + 40)
        prospects = [p for p in (pick(pool) for _ in range(rng.randint(6, 12))) if p]
        if not prospects:
            continue
        ids = [
            w.event(
                s,
                w.at(day, 13 + 0.15 * j),
                "view",
                screen="SL-prospect",
                purpose="sales",
                points=[p],
                fields=["contract_name", "address", "usage"],
            )
            for j, p in enumerate(prospects)
        ]
        for p in rng.sample(prospects, max(1, len(prospects) // 4)):
            prev = w.retailer_on(p, day)
            w.tables["switching"].append(
                {
                    "application_id": f"OUT{len(w.tables['switching']):06d}",
                    "supply_point_id": p,
                    "kind": "switch",
                    "from_retailer": prev[0] if prev else None,
                    "to_retailer": ret,
                    "applied_at": w.at(day + rng.randint(4, 25), 15.0),
                    "effective_date": START + timedelta(days=day + 35),
                }
            )
        w.incident("R5", s, ids, "outbound prospects")
    cities = [c for cs in PREFS.values() for c in cs]
    for _ in range(k):  # R6: one district's competitors' customers searched/exported in bulk
        ret = rng.choice(retailers)
        day, city = rng.choice(days), rng.choice(cities)
        pts = [p for p in w.others(ret, day, city) if p not in w.used][:60]
        if len(pts) < 30:
            continue
        w.used.update(pts)
        s = staff(ret)
        act = rng.choice(["search", "export"])
        ids = [
            w.event(
                s,
                w.at(day, w.work_hour()),
                act,
                screen="SL-analysis",
                purpose="sales",
                points=pts,
                fields=["contract_name", "address", "usage"],
                recipient=s.org if act == "export" else None,
            )
        ]
        w.incident("R6", s, ids, f"district {city} by {act}")
    _d_from, d_to, _d_pref, _d_city = disaster
    for j in range(k):  # B: disaster-support access outside the declaration
        s = g["disaster"][j % len(g["disaster"])]
        day = rng.choice([d for d in days if d > d_to + 1] or [w.days - 1])
        sp = pick([p["supply_point_id"] for p in w.points])
        if sp:
            ids = [
                w.event(
                    s,
                    w.at(day, w.work_hour()),
                    "view",
                    screen="DS-map",
                    purpose="disaster_support",
                    points=[sp],
                    fields=["contract_name", "address", "phone"],
                )
            ]
            w.incident("B", s, ids, "normal times")
    for _ in range(k):  # C1: the IT contractor mails an extract to a retailer
        s = g["sys"][0]
        day = rng.choice(days)
        pts = [p for p in (pick([q["supply_point_id"] for q in w.points]) for _ in range(5)) if p]
        ids = [
            w.event(
                s,
                w.at(day, rng.uniform(17, 19)),
                "export",
                screen="SYS-extract",
                purpose="system_operation",
                points=pts,
                fields=["contract_name", "address", "usage"],
                recipient=f"retail:{AFFILIATED}",
            )
        ]
        w.incident("C1", s, ids, "to retail")
    nw_devices = [s.device for s in g["nwops"]]
    for _ in range(k):  # C2: retail staff use an NW terminal with their own ID
        ret = rng.choice(retailers)
        s, day = staff(ret), rng.choice(days)
        dev = rng.choice(nw_devices)
        t0 = w.at(day, w.work_hour())
        own = w.customers(ret, day)
        ids = [w.event(s, t0, "login", screen="login", device=dev)]
        if own:
            ids.append(
                w.event(
                    s,
                    t0 + timedelta(minutes=3),
                    "view",
                    screen="CS-customer",
                    purpose="customer_service",
                    points=[rng.choice(own)],
                    fields=["contract_name", "usage"],
                    device=dev,
                )
            )
        w.incident("C2", s, ids, "NW terminal")
    ops = list(g["nwops"])
    rng.shuffle(ops)
    for j in range(k):  # C3: an NW ID in use on a retail terminal while its holder works
        s = ops[j % len(ops)]
        day = rng.choice(days)
        dev = staff(AFFILIATED).device
        t0 = w.at(day, rng.uniform(10, 16))
        ids = [w.event(s, t0, "login", screen="login", device=dev)]
        own = w.customers(AFFILIATED, day)
        if own:
            ids.append(
                w.event(
                    s,
                    t0 + timedelta(minutes=4),
                    "view",
                    screen="WH-detail",
                    purpose="takuso",
                    points=[rng.choice(own)],
                    fields=["contract_name", "usage"],
                    device=dev,
                )
            )
        w.incident("C3", s, ids, "shared NW ID")
    lrs_sp = [
        p["supply_point_id"] for p in w.points if w.history[p["supply_point_id"]][0][1] == "lrs"
    ]
    for j in range(k):  # LRS: an independent retailer reads last-resort-supply details
        ret = INDEPENDENTS[j % len(INDEPENDENTS)]
        s, day = staff(ret), rng.choice(days)
        sp = pick(lrs_sp)
        if sp:
            ids = [
                w.event(
                    s,
                    w.at(day, w.work_hour()),
                    "view",
                    screen="CS-customer",
                    purpose="sales",
                    points=[sp],
                    fields=["contract_name", "lrs"],
                )
            ]
            w.incident("LRS", s, ids, "independent on LRS")
    fit = w.fit_points
    for _ in range(k):  # FIT: sales staff read FIT data
        s, day = staff(rng.choice(retailers)), rng.choice(days)
        if fit:
            sp = rng.choice(fit)
            ids = [
                w.event(
                    s,
                    w.at(day, w.work_hour()),
                    "view",
                    system="fit_mgmt",
                    screen="FIT-01",
                    purpose="sales",
                    points=[sp],
                    fields=["fit"],
                )
            ]
            w.incident("FIT", s, ids, "retail on FIT")
    for j in range(k):  # ANOMALY: an NW operator pulls far more than usual one late day
        s = ops[(j + k) % len(ops)]
        day = days[-1 - (j % 3)]
        all_sp = [p["supply_point_id"] for p in w.points]
        ids = [
            w.event(
                s,
                w.at(day, rng.uniform(9, 18)),
                "view",
                screen="WH-detail",
                purpose="takuso",
                points=[rng.choice(all_sp)],
                fields=["contract_name", "usage"],
            )
            for _ in range(400)
        ]
        w.incident("ANOMALY", s, ids, "volume")


def generate(
    out: Path, *, points: int = 3000, days: int = 28, seed: int = 7, per_type: int = 4
) -> dict[str, int]:
    w = World(random.Random(seed), days)
    _points(w, points)
    g = _people(w)
    # a disaster in 兵庫県 on days 8–10 and the agreements the work relies on
    d_pref = "兵庫県"
    d_city = w.rng.choice(PREFS[d_pref])
    disaster = (8, 10, d_pref, d_city)
    w.tables["disasters"].append(
        {
            "disaster_id": "DIS-1",
            "area": [f"{d_pref}/{d_city}"],
            "start_at": w.at(8, 0),
            "end_at": w.at(10, 23.9),
        }
    )
    agr = w.tables["agreements"]
    agr.append(
        {
            "agreement_id": "AG-LRS",
            "counterparty_org": f"retail:{AFFILIATED}",
            "purpose": "lrs_operations",
            "fields": ["contract_name", "address", "phone", "lrs", "usage"],
            "area": [LRS_AREA],
            "valid_from": date(2025, 4, 1),
        }
    )
    agr.append(
        {
            "agreement_id": "AG-MTR",
            "counterparty_org": "contractor:MTR",
            "purpose": "meter_reading",
            "fields": ["address", "equipment"],
            "area": [METER_AREA],
            "valid_from": date(2025, 4, 1),
        }
    )
    agr.append(
        {
            "agreement_id": "AG-SYS",
            "counterparty_org": "contractor:SYS",
            "purpose": "system_operation",
            "fields": ["address", "usage"],
            "area": [],
            "valid_from": date(2025, 4, 1),
        }
    )
    for ret in (AFFILIATED, INDEPENDENTS[0]):
        agr.append(
            {
                "agreement_id": f"AG-DIS-{ret}",
                "counterparty_org": f"retail:{ret}",
                "purpose": "disaster_support",
                "fields": ["contract_name", "address", "phone"],
                "area": [],
                "valid_from": date(2025, 4, 1),
            }
        )
    # correct transfers (hard negatives) and one forgotten revocation per scenario (C3)
    ops = g["nwops"]
    moved = _transfer(w, ops[-1], days // 2, revoke=True)
    g[f"{AFFILIATED}-moved"] = [moved]  # background work only, from the transfer day
    forgot = ops[-2]
    moved2 = _transfer(w, forgot, days // 3, revoke=False)
    g["nwops"] = ops[:-2]
    _background(w, g, disaster)
    # the moved person's old NW account used after the transfer, from the new terminal
    day = max(days // 3 + 1, min(days - 1, days // 3 + 3))
    ids = [w.event(forgot, w.at(day, 10.0), "login", screen="login", device=moved2.device)]
    ids.append(
        w.event(
            forgot,
            w.at(day, 10.1),
            "view",
            screen="WH-detail",
            purpose="takuso",
            points=[w.points[0]["supply_point_id"]],
            fields=["contract_name", "usage"],
            device=moved2.device,
        )
    )
    w.incident("C3", forgot, ids, "old ID after transfer")
    _incidents(w, g, per_type, disaster)
    _contracts(w)
    for r in (AFFILIATED, *INDEPENDENTS, LRS_CODE):
        w.tables["retailers"].append(
            {
                "retailer_code": r,
                "name": f"小売{r}",
                "kind": "affiliated" if r == AFFILIATED else "independent",
            }
        )
    out.mkdir(parents=True, exist_ok=True)
    w.tables["events"].sort(key=lambda e: (e["ts"], e["event_id"]))
    for name, rows in w.tables.items():
        with CsvTableWriter(out, TABLES[name]) as cw:
            for row in rows:
                cw.write(row)
    with (out / "incidents.jsonl").open("w", encoding="utf-8") as f:
        for inc in w.incidents:
            f.write(json.dumps(inc, ensure_ascii=False) + "\n")
    return {"events": len(w.tables["events"]), "incidents": len(w.incidents)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--points", type=int, default=3000)
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--per-type", type=int, default=4)
    a = ap.parse_args(argv)
    print(
        json.dumps(generate(a.out, points=a.points, days=a.days, seed=a.seed, per_type=a.per_type))
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
