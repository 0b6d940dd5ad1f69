"""Organisations and people: retailers, contractors, persons, accounts, devices,
agreements and the past disaster.

Staffing scales with the number of supply points (a 10 M-point operator has
thousands of 託送 staff; a 2 000-point test world has a few dozen people) with a
floor so every role of every organisation kind exists at any size.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from gridwall.interfaces.clock import JST
from gridwall.synth._people import RETAILER_FORMS, RETAILER_STEMS, NamePools, TownInfo, person_name
from gridwall.synth._world import (
    Account,
    Agreement,
    Contractor,
    Device,
    Disaster,
    Person,
    Retailer,
)

DISASTER_FIELDS = ["contract_name", "address", "phone"]

#: (org kind, role) → department, systems the role has accounts on
NW_ROLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "takuso_operator": ("託送業務部", ("takuso", "gridwall")),
    "call_center": ("お客さまセンター", ("takuso", "gridwall")),
    "fit_team": ("再エネ業務グループ", ("fit_mgmt", "gridwall")),
    "it_maintenance": ("情報システム部", ("takuso",)),
    "auditor": ("内部監査室", ("gridwall",)),
    "compliance": ("コンプライアンス推進室", ("gridwall",)),
    "manager": ("託送業務部", ("takuso", "gridwall")),
}
RETAIL_ROLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "call_center": ("お客さまセンター", ("nw_online", "gridwall")),
    "sales": ("営業部", ("nw_online", "gridwall")),
    "manager": ("管理部", ("nw_online", "gridwall")),
}
ACCOUNT_PREFIX = {"takuso": "tk", "nw_online": "no", "fit_mgmt": "ft", "gridwall": "gw"}
AREA_NAMES = {
    "01": "ほっかい",
    "02": "とうほく",
    "03": "みやこ",
    "04": "ちゅうぶ",
    "05": "ほくりく",
    "06": "かんさい",
    "07": "ちゅうごく",
    "08": "しこく",
    "09": "きゅうしゅう",
    "10": "うるま",
}


@dataclass
class Orgs:
    retailers: list[Retailer]
    contractors: list[Contractor]
    persons: list[Person]
    accounts: list[Account]
    devices: list[Device]
    agreements: list[Agreement]
    disasters: list[Disaster]
    home_device: dict[str, str]


def _n(base: float, scale: float, lo: int, hi: int) -> int:
    return max(lo, min(hi, round(base * scale)))


def _jst(d: date, hh: int = 9, mm: int = 0) -> datetime:
    return datetime.combine(d, time(hh, mm), JST)


def build_orgs(
    rng: random.Random,
    area: str,
    n_points: int,
    independents: int,
    start: date,
    towns: tuple[TownInfo, ...],
    pools: NamePools,
) -> Orgs:
    """Every organisation of the market, its staff, IDs and terminals."""
    scale = n_points / 1_000_000
    # -- retailers ------------------------------------------------------------
    codes: set[str] = set()

    def code() -> str:
        while True:
            c = f"A{rng.randrange(1, 10000):04d}"
            if c not in codes:
                codes.add(c)
                return c

    area_name = AREA_NAMES.get(area, "ちいき")
    retailers = [Retailer(code(), f"{area_name}みらい電力株式会社", "affiliated", 0.55)]
    names: set[str] = set()
    weights = [1.0 / (k + 1) ** 1.1 for k in range(independents)]
    total = sum(weights)
    for k in range(independents):
        while True:
            nm = f"{rng.choice(RETAILER_STEMS)}{rng.choice(RETAILER_FORMS)}株式会社"
            if nm not in names:
                names.add(nm)
                break
        retailers.append(Retailer(code(), nm, "independent", 0.45 * weights[k] / total))
    contractors = [
        Contractor("C01", f"{area_name}システムソリューションズ株式会社", "it_maintenance"),
        Contractor("C02", f"{area_name}検針サービス株式会社", "meter_reading"),
        Contractor("C03", f"{area_name}ビジネスサポート株式会社", "lrs_operations"),
    ]
    # -- offices (terminal locations) ------------------------------------------
    cities = list(dict.fromkeys(f"{t.pref}{t.city}" for t in towns))
    offices = [f"{c} 事業所" for c in rng.sample(cities, min(6, len(cities)))]
    offices[0] = offices[0].replace("事業所", "本店 託送センター")

    # systems came into service over time: an account is issued at hire or at launch
    launch = {
        "takuso": date(2000, 4, 1),
        "fit_mgmt": date(2012, 7, 1),
        "nw_online": date(2016, 4, 1),
        "gridwall": start - timedelta(days=90),
    }
    persons: list[Person] = []
    accounts: list[Account] = []
    devices: list[Device] = []
    home: dict[str, str] = {}
    used_ids: set[str] = set()
    pid_n = [0]

    def new_pid() -> str:
        pid_n[0] += 1
        return f"P{pid_n[0]:06d}"

    def hire_date() -> date:
        return start - timedelta(days=rng.randrange(60, 8000))

    def account(system: str, holder: str | None, kind: str, org: str, created: datetime) -> Account:
        while True:
            prefix = ACCOUNT_PREFIX.get(system, system[:2])
            aid = f"{prefix}{rng.randrange(10**6):06d}"
            if aid not in used_ids:
                used_ids.add(aid)
                break
        a = Account(aid, system, holder, kind, org, created)
        accounts.append(a)
        return a

    def staff(org: str, role: str, dept: str, systems: tuple[str, ...], count: int) -> list[Person]:
        out = []
        for _ in range(count):
            p = Person(
                new_pid(), person_name(pools, rng.getrandbits(64)), org, dept, role, hire_date()
            )
            persons.append(p)
            out.append(p)
            for s in systems:
                issued = max(p.valid_from, launch.get(s, p.valid_from))
                account(s, p.person_id, "personal", org, _jst(issued, 9, rng.randrange(60)))
        return out

    def terminals(
        org: str, kind: str, count: int, prefix: str, ip: str, loc: list[str]
    ) -> list[Device]:
        out = []
        for k in range(count):
            d = Device(
                f"{prefix}-{k + 1:04d}",
                org,
                kind,
                loc[k % len(loc)],
                start - timedelta(days=rng.randrange(200, 2000)),
                None,
                f"{ip}.{k // 250}.{k % 250 + 1}" if ip.count(".") == 1 else f"{ip}.{k % 250 + 1}",
            )
            devices.append(d)
            out.append(d)
        return out

    def seat(people: list[Person], devs: list[Device]) -> None:
        for k, p in enumerate(people):
            home[p.person_id] = devs[k % len(devs)].device_id

    # -- NW --------------------------------------------------------------------
    nw_counts = {
        "takuso_operator": _n(120, scale, 6, 1500),
        "call_center": _n(80, scale, 4, 1000),
        "fit_team": _n(10, scale, 2, 120),
        "it_maintenance": _n(8, scale, 2, 80),
        "auditor": _n(4, scale, 2, 40),
        "compliance": _n(4, scale, 2, 40),
        "manager": _n(15, scale, 2, 200),
    }
    nw_people: list[Person] = []
    for role, cnt in nw_counts.items():
        dept, systems = NW_ROLES[role]
        nw_people += staff("nw", role, dept, systems, cnt)
    nw_devs = terminals("nw", "nw_terminal", len(nw_people) + 3, "NWT", "10.10", offices)
    seat(nw_people, nw_devs)
    # legacy shared IDs (共用ID) of the 託送 system; two already revoked after the 2023 order
    for k in range(3):
        a = account("takuso", None, "shared", "nw", _jst(date(2014 + k, 4, 1)))
        if k < 2:
            a.revoked_at = _jst(date(2023, 6, 30), 18)
    # -- retailers ---------------------------------------------------------------
    retail_people: dict[str, list[Person]] = {}
    for ri, r in enumerate(retailers):
        weight = 0.65 if ri == 0 else r.share
        people: list[Person] = []
        for role, base in (("call_center", 150), ("sales", 60), ("manager", 10)):
            dept, systems = RETAIL_ROLES[role]
            people += staff(r.org, role, dept, systems, _n(base * weight, scale, 1, 1500))
        retail_people[r.code] = people
        devs = terminals(
            r.org,
            "retail_terminal",
            max(1, math.ceil(len(people) * 0.7)),
            f"RT{r.code}",
            f"172.{16 + ri // 250}.{ri % 250}",
            ["本社"],
        )
        seat(people, devs)
        account("nw_online", None, "service", r.org, _jst(date(2019, 4, 1)))
    # -- contractors -------------------------------------------------------------
    for ci, c in enumerate(contractors):
        role = "call_center" if c.role == "lrs_operations" else c.role
        base = {"it_maintenance": 10, "meter_reading": 40, "lrs_operations": 3}[c.role]
        dept = {
            "it_maintenance": "システム保守部",
            "meter_reading": "検針部",
            "lrs_operations": "最終保障供給業務課",
        }[c.role]
        people = staff(c.org, role, dept, ("takuso",), _n(base, scale, 2, 400))
        devs = terminals(
            c.org,
            "contractor_terminal",
            max(1, len(people) // 2),
            f"CT{c.contractor_id}",
            f"10.50.{ci}",
            ["受託拠点"],
        )
        seat(people, devs)
    # -- regulator (電取委) ---------------------------------------------------------
    staff("regulator", "auditor", "電力・ガス取引監視等委員会 事務局", ("gridwall",), 2)
    # -- transfers NW → affiliated retailer, and leavers --------------------------
    aff = retailers[0]
    movable = [p for p in nw_people if p.role in ("takuso_operator", "call_center")]
    n_tr = max(2, round(len(movable) * 0.02))
    for p in rng.sample(movable, min(n_tr, len(movable))):
        t = start - timedelta(days=rng.randrange(20, 330))
        p.valid_to = t - timedelta(days=1)
        role = rng.choice(("sales", "call_center"))
        dept, systems = RETAIL_ROLES[role]
        q = Person(p.person_id, p.name, aff.org, dept, role, t)
        persons.append(q)
        for a in accounts:
            if a.holder_person_id == p.person_id and a.revoked_at is None:
                a.revoked_at = _jst(p.valid_to, 18, 30)
        for s in systems:
            account(s, p.person_id, "personal", aff.org, _jst(t, 9, 30))
        devs = [d for d in devices if d.owner_org == aff.org and d.kind == "retail_terminal"]
        home[p.person_id] = devs[rng.randrange(len(devs))].device_id
    leavers = [p for p in nw_people if p.valid_to is None and p.role == "takuso_operator"]
    for p in rng.sample(leavers, min(max(1, len(leavers) // 60), len(leavers) - 2)):
        p.valid_to = start - timedelta(days=rng.randrange(5, 200))
        for a in accounts:
            if a.holder_person_id == p.person_id and a.revoked_at is None:
                a.revoked_at = _jst(p.valid_to, 18)
    # -- agreements, disaster-support IDs and terminals ----------------------------
    agreements: list[Agreement] = []
    independents_with = sorted(rng.sample(range(1, len(retailers)), min(5, len(retailers) - 1)))
    for n, ri in enumerate([0, *independents_with], start=1):
        r = retailers[ri]
        agreements.append(
            Agreement(
                f"AG-DS-{n:03d}",
                r.org,
                "disaster_support",
                list(DISASTER_FIELDS),
                [],
                date(2024, 4, 1),
            )
        )
        for _ in range(2):
            account("takuso", None, "disaster_support", r.org, _jst(date(2024, 4, 1)))
        terminals(
            r.org, "disaster_terminal", 1, f"DT{r.code}", f"172.31.{ri % 250}", ["災害対応室"]
        )
    agreements += [
        Agreement(
            "AG-SM-000",
            "contractor:C01",
            "system_maintenance",
            ["equipment", "contract"],
            [],
            date(2022, 4, 1),
            date(2025, 3, 31),
        ),
        Agreement(
            "AG-SM-001",
            "contractor:C01",
            "system_maintenance",
            ["equipment", "contract"],
            [],
            date(2025, 4, 1),
            date(2028, 3, 31),
        ),
        Agreement(
            "AG-MR-001",
            "contractor:C02",
            "meter_reading",
            ["contract_name", "address", "equipment"],
            [],
            date(2024, 4, 1),
            date(2028, 3, 31),
        ),
        Agreement(
            "AG-LRS-001",
            "contractor:C03",
            "lrs_operations",
            ["contract_name", "address", "phone", "contract", "lrs"],
            [],
            date(2024, 10, 1),
            None,
        ),
    ]
    # -- one past disaster (非常災害), e.g. a typhoon -------------------------------
    prefs = list(dict.fromkeys(t.pref for t in towns))
    p1 = rng.choice(prefs)
    other = [t for t in towns if t.pref != p1] or list(towns)
    cities2 = sorted({(t.pref, t.city) for t in other})
    d_area = [p1] + [f"{pc[0]}/{pc[1]}" for pc in rng.sample(cities2, min(2, len(cities2)))]
    d0 = start - timedelta(days=rng.randrange(120, 300))
    disasters = [
        Disaster(f"DS-{d0.year}-001", d_area, _jst(d0, 6), _jst(d0 + timedelta(days=4), 18))
    ]
    return Orgs(retailers, contractors, persons, accounts, devices, agreements, disasters, home)
