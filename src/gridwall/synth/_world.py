"""The synthetic operator's public structures: :class:`World` and :class:`EventSink`.

A :class:`World` is the compact summary of one generated operator that the demo
and the incident injector need: organisations (retailers, contractors), persons,
accounts, devices, agreements, disasters, and per-point numpy arrays (current
retailer, last change, LRS/FIT flags, town) — never 10 M rows of dicts. Any one
point's full row (address, holder, phone …) is re-derived on demand with
:meth:`World.point`.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np

from gridwall.interfaces.clock import JST
from gridwall.synth._hash import Bijection, h, key_for, mix
from gridwall.synth._people import (
    NamePools,
    TownInfo,
    building_name,
    company_name,
    person_name,
    phone,
)

#: ``World.points.retailer`` values that are not retailer indexes.
NO_RETAILER = -1  # vacant or closed: no current supply contract
LRS = -2  # 最終保障供給 by the NW operator itself

VOLTAGES = ("low", "high", "extra_high")
STATUSES = ("active", "vacant", "closed")
#: ``World.points.change_kind`` codes: what the point's last change was.
CHANGE_NONE, CHANGE_SWITCH, CHANGE_MOVE_IN, CHANGE_MOVE_OUT, CHANGE_LRS = 0, 1, 2, 3, 4
NEVER = -(2**31)  # change_day / applied_day when the point never changed


@dataclass(frozen=True, slots=True)
class Retailer:
    """A retail electricity supplier (小売電気事業者) registered in the area."""

    code: str
    name: str
    kind: str  # "affiliated" (関係小売電気事業者) | "independent" (新電力)
    share: float  # target share of new contracts (switch / move-in draws)

    @property
    def org(self) -> str:
        return f"retail:{self.code}"


@dataclass(frozen=True, slots=True)
class Contractor:
    """A contractor (委託先) of the NW operator."""

    contractor_id: str
    name: str
    role: str  # it_maintenance | meter_reading | lrs_operations

    @property
    def org(self) -> str:
        return f"contractor:{self.contractor_id}"


@dataclass(slots=True)
class Person:
    """One HR assignment period (persons.csv row). A transfer is two rows, one person_id."""

    person_id: str
    name: str
    org: str
    department: str
    role: str
    valid_from: date
    valid_to: date | None = None


@dataclass(slots=True)
class Account:
    """A login ID of one system (accounts.csv row)."""

    account_id: str
    system: str  # takuso | nw_online | fit_mgmt | gridwall
    holder_person_id: str | None
    kind: str  # personal | shared | disaster_support | service
    org: str
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(slots=True)
class Device:
    """A terminal (端末) owned by one organisation (devices.csv row; ``ip`` is an extra column)."""

    device_id: str
    owner_org: str
    kind: str  # nw_terminal | retail_terminal | disaster_terminal | contractor_terminal
    location: str
    valid_from: date
    valid_to: date | None = None
    ip: str = ""


@dataclass(slots=True)
class Disaster:
    """A declared disaster (非常災害)."""

    disaster_id: str
    area: list[str]  # "pref" or "pref/city"
    start_at: datetime
    end_at: datetime


@dataclass(slots=True)
class Agreement:
    """A contract granting purpose-bound access (agreements.csv row)."""

    agreement_id: str
    counterparty_org: str
    purpose: str
    fields: list[str]
    area: list[str]
    valid_from: date
    valid_to: date | None = None


@dataclass(slots=True)
class Incident:
    """Ground truth for one injected misuse (a line of incidents.jsonl)."""

    incident_id: str
    incident_type: str  # A, B, C1, C2, C3, R1 … R6, LRS, FIT (dataset.INCIDENT_TYPES)
    event_ids: list[str]
    account_id: str
    person_id: str | None
    extra: dict[str, Any] = field(default_factory=dict)  # free-form, written as-is

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "incident_id": self.incident_id,
            "incident_type": self.incident_type,
            "event_ids": list(self.event_ids),
            "account_id": self.account_id,
            "person_id": self.person_id,
        }
        d.update(self.extra)
        return d


@dataclass(slots=True)
class PointArrays:
    """Compact per-point state at the END of the event window, indexed by point index.

    ``retailer``: retailer index, :data:`NO_RETAILER` or :data:`LRS`;
    ``prev_retailer``: the retailer of record before the last change (same codes);
    ``change_day`` / ``applied_day``: the last change's effective / application day,
    as days relative to ``World.start`` (negative = before the window; :data:`NEVER`);
    ``holder_since``: day the current (or last) contract holder's contract began;
    ``holder_no``: how many holders came before the current one (0 = original).
    """

    town: np.ndarray  # int32 → World.towns
    voltage: np.ndarray  # int8 → VOLTAGES
    status: np.ndarray  # int8 → STATUSES
    retailer: np.ndarray  # int16
    prev_retailer: np.ndarray  # int16
    change_kind: np.ndarray  # int8
    change_day: np.ndarray  # int32
    applied_day: np.ndarray  # int32
    holder_since: np.ndarray  # int32
    holder_no: np.ndarray  # int16
    fit: np.ndarray  # bool

    @classmethod
    def empty(cls, n: int) -> PointArrays:
        return cls(
            town=np.zeros(n, np.int32),
            voltage=np.zeros(n, np.int8),
            status=np.zeros(n, np.int8),
            retailer=np.full(n, NO_RETAILER, np.int16),
            prev_retailer=np.full(n, NO_RETAILER, np.int16),
            change_kind=np.zeros(n, np.int8),
            change_day=np.full(n, NEVER, np.int32),
            applied_day=np.full(n, NEVER, np.int32),
            holder_since=np.full(n, NEVER, np.int32),
            holder_no=np.zeros(n, np.int16),
            fit=np.zeros(n, np.bool_),
        )


@dataclass(frozen=True, slots=True)
class PointInfo:
    """One supply point as written to supply_points.csv, plus its current retailer."""

    index: int
    supply_point_id: str
    pref: str
    city: str
    town: str
    banchi: str
    building: str | None
    room: str | None
    contract_name: str | None
    phone: str | None
    voltage: str
    meter_id: str
    status: str
    retailer_code: str | None  # None when vacant/closed; the NW code for LRS
    lrs: bool
    fit: bool

    @property
    def address(self) -> str:
        parts = [self.pref, self.city, self.town, self.banchi]
        if self.building:
            parts.append(" " + self.building)
        if self.room:
            parts.append(" " + self.room)
        return "".join(parts)


class EventSink:
    """Where extra events go: the incident injector emits through this.

    :meth:`emit` returns the new event's ``event_id`` at once (opaque, unique and
    stable per seed, from the same counter as ordinary events), so an injector
    can list its evidence in an :class:`Incident`. Emitted events are merged into
    ``events`` in time order with the ordinary ones.
    """

    def __init__(self, seed: int) -> None:
        self._ids = Bijection(key_for(seed, "event-id"), 12)
        self._sessions = Bijection(key_for(seed, "session-id"), 10)
        self._n = 0
        self._s = 0
        self.extra: list[tuple[Any, ...]] = []  # rows in dataset.EVENTS column order

    def next_event_id(self) -> str:
        v = self._ids.forward(self._n)
        self._n += 1
        return f"ev{v:012d}"

    def new_session_id(self) -> str:
        v = self._sessions.forward(self._s)
        self._s += 1
        return f"ss{v:010d}"

    @property
    def count(self) -> int:
        return self._n

    def emit(
        self,
        *,
        ts: datetime,
        system: str,
        account_id: str,
        action: str,
        device_id: str | None = None,
        source_ip: str | None = None,
        session_id: str | None = None,
        screen: str | None = None,
        purpose: str | None = None,
        supply_point_ids: Sequence[str] = (),
        query: str | None = None,
        fields: Sequence[str] = (),
        result_count: int | None = None,
        recipient_org: str | None = None,
        decision: str = "allow",
    ) -> str:
        """Add one event (``ts`` must carry an offset) and return its ``event_id``."""
        if ts.tzinfo is None:
            raise ValueError("EventSink.emit: ts needs a time zone (RFC 3339 offset)")
        eid = self.next_event_id()
        self.extra.append(
            (
                eid,
                format_ts(ts),
                system,
                account_id,
                device_id,
                source_ip,
                session_id,
                action,
                screen,
                purpose,
                list(supply_point_ids),
                query,
                list(fields),
                result_count,
                recipient_org,
                decision,
            )
        )
        return eid


def format_ts(ts: datetime) -> str:
    """RFC 3339 in JST, second precision: ``2026-04-01T09:15:00+09:00``."""
    return ts.astimezone(JST).replace(microsecond=0, tzinfo=None).isoformat() + "+09:00"


@dataclass
class World:
    """A generated operator: everything but the per-point rows, which are on disk.

    Retailer index 0 is the affiliated retailer (``retailers[0].kind == "affiliated"``).
    """

    seed: int
    area: str  # "06"
    nw_code: str  # the NW operator's own code on LRS contracts, e.g. "N0006"
    start: date  # first day of the event window
    days: int
    n_points: int
    retailers: list[Retailer]
    contractors: list[Contractor]
    persons: list[Person]
    accounts: list[Account]
    devices: list[Device]
    agreements: list[Agreement]
    disasters: list[Disaster]
    towns: tuple[TownInfo, ...]
    points: PointArrays
    pools: NamePools
    #: person_id → the terminal the person normally works at (per current assignment)
    home_device: dict[str, str] = field(default_factory=dict)
    out_dir: str | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    # -- organisations -----------------------------------------------------
    @property
    def affiliated(self) -> Retailer:
        return self.retailers[0]

    @property
    def affiliated_code(self) -> str:
        return self.retailers[0].code

    def retailer_index(self, code: str) -> int:
        for i, r in enumerate(self.retailers):
            if r.code == code:
                return i
        raise KeyError(code)

    def retailer_code_of(self, value: int) -> str | None:
        """Code for a ``points.retailer`` value (None for :data:`NO_RETAILER`)."""
        if value == LRS:
            return self.nw_code
        if value < 0:
            return None
        return self.retailers[value].code

    def persons_of(self, org: str, role: str | None = None, on: date | None = None) -> list[Person]:
        """Assignment rows of ``org`` (optionally one role, valid on a day)."""
        out = []
        for p in self.persons:
            if p.org != org or (role is not None and p.role != role):
                continue
            if on is not None and (
                p.valid_from > on or (p.valid_to is not None and p.valid_to < on)
            ):
                continue
            out.append(p)
        return out

    def accounts_of(self, person_id: str) -> list[Account]:
        return [a for a in self.accounts if a.holder_person_id == person_id]

    def account_for(self, person_id: str, system: str, org: str | None = None) -> Account | None:
        for a in self.accounts:
            if (
                a.holder_person_id == person_id
                and a.system == system
                and (org is None or a.org == org)
            ):
                return a
        return None

    def devices_of(self, org: str, kind: str | None = None) -> list[Device]:
        return [d for d in self.devices if d.owner_org == org and (kind is None or d.kind == kind)]

    def device(self, device_id: str) -> Device:
        for d in self.devices:
            if d.device_id == device_id:
                return d
        raise KeyError(device_id)

    # -- days --------------------------------------------------------------
    def day(self, rel: int) -> date:
        """The date ``rel`` days after :attr:`start`."""
        return self.start + timedelta(days=rel)

    # -- points ------------------------------------------------------------
    def customers_of(self, retailer: int, *, stable: bool = False) -> np.ndarray:
        """Point indexes whose retailer of record (end of window) is ``retailer``.

        ``stable=True``: only points with no change during the window, i.e.
        the retailer's customers on every day of it.
        """
        ck = f"cust:{retailer}:{stable}"
        if ck not in self._cache:
            p = self.points
            m = p.retailer == retailer
            if stable:
                m &= p.change_day < 0
            self._cache[ck] = np.flatnonzero(m).astype(np.int64)
        out: np.ndarray = self._cache[ck]
        return out

    def lrs_points(self) -> np.ndarray:
        return self.customers_of(LRS)

    def fit_points(self) -> np.ndarray:
        if "fit" not in self._cache:
            self._cache["fit"] = np.flatnonzero(self.points.fit).astype(np.int64)
        out: np.ndarray = self._cache["fit"]
        return out

    def changes_in_window(self, kind: int) -> np.ndarray:
        """Points whose last change (``CHANGE_*``) took effect inside the window."""
        p = self.points
        m = (p.change_kind == kind) & (p.change_day >= 0) & (p.change_day < self.days)
        return np.flatnonzero(m).astype(np.int64)

    def _id_bij(self) -> Bijection:
        if "idb" not in self._cache:
            self._cache["idb"] = Bijection(key_for(self.seed, "spid"), 16)
        b: Bijection = self._cache["idb"]
        return b

    def point_id(self, i: int) -> str:
        """The 22-digit 供給地点特定番号 of point ``i``."""
        return point_id(self.area, self._id_bij(), int(self.points.town[i]), i)

    def point_index(self, supply_point_id: str) -> int:
        """Inverse of :meth:`point_id` (raises KeyError for an ID not of this world)."""
        if len(supply_point_id) != 22 or not supply_point_id.isdigit():
            raise KeyError(supply_point_id)
        i = self._id_bij().inverse(int(supply_point_id[6:]))
        if i >= self.n_points or self.point_id(i) != supply_point_id:
            raise KeyError(supply_point_id)
        return i

    def point(self, i: int) -> PointInfo:
        """Re-derive point ``i``'s supply_points row (current state) from the seed."""
        p = self.points
        st = self.static
        a = st.address(i)
        status = STATUSES[int(p.status[i])]
        r = int(p.retailer[i])
        holder = None
        tel = None
        if status == "active":
            holder, tel = st.holder(i, int(p.holder_no[i]), a.business, a.town.pref)
        return PointInfo(
            index=i,
            supply_point_id=self.point_id(i),
            pref=a.town.pref,
            city=a.town.city,
            town=a.town_text,
            banchi=a.banchi,
            building=a.building,
            room=a.room,
            contract_name=holder,
            phone=tel,
            voltage=VOLTAGES[int(p.voltage[i])],
            meter_id=st.meter_id(i),
            status=status,
            retailer_code=self.retailer_code_of(r),
            lrs=r == LRS,
            fit=bool(p.fit[i]),
        )

    @property
    def static(self) -> StaticAttrs:
        if "static" not in self._cache:
            self._cache["static"] = StaticAttrs(self.seed, self.towns, self.pools)
        st: StaticAttrs = self._cache["static"]
        return st

    def holder_name(self, i: int, holder_no: int) -> str:
        """Contract holder name of point ``i``'s ``holder_no``-th holder (0 = original)."""
        st = self.static
        a = st.address(i)
        return st.holder(i, holder_no, a.business, a.town.pref)[0]


def point_id(area: str, bij: Bijection, town: int, i: int) -> str:
    """area(2) + office(4, from the town) + opaque serial(16) = 22 digits."""
    return f"{area}{1000 + (town * 7919) % 9000:04d}{bij.forward(i):016d}"


@dataclass(frozen=True, slots=True)
class Address:
    town: TownInfo
    town_index: int
    town_text: str
    banchi: str
    building: str | None
    room: str | None
    apartment: bool
    voltage: int
    business: bool


class StaticAttrs:
    """The seed-determined, never-changing attributes of a point (address, voltage …)."""

    BLOCK = 16  # points per block; an apartment block is one building of 16 rooms

    def __init__(self, seed: int, towns: tuple[TownInfo, ...], pools: NamePools) -> None:
        self.towns = towns
        self.pools = pools
        self.k_block = key_for(seed, "block")
        self.k_point = key_for(seed, "point")
        self.k_addr = key_for(seed, "addr")
        self.k_holder = key_for(seed, "holder")
        self.meter = Bijection(key_for(seed, "meter"), 10)
        self._cum = _town_weights(towns)

    def _town(self, u: int) -> int:
        x = (u % 1_000_003) / 1_000_003 * self._cum[-1]
        return bisect.bisect_right(self._cum, x)

    def address(self, i: int) -> Address:
        blk = i // self.BLOCK
        ub = h(self.k_block, blk)
        apartment = ub % 100 < 22
        up = h(self.k_point, i)
        if apartment:
            ua = h(self.k_addr, blk)
            voltage = 0
        else:
            ua = h(self.k_addr, i + (1 << 40))
            r = up % 10000
            voltage = 1 if r < 270 else 2 if r < 300 else 0
        ti = min(self._town(ua), len(self.towns) - 1)
        t = self.towns[ti]
        ua2 = ua >> 20
        town_text = t.town
        if t.chome:
            ban, go = 1 + ua2 % 30, 1 + (ua2 >> 5) % 28
            if (ua2 >> 10) % 100 < 20:  # kept with the 丁目 folded into the 番地
                town_text = t.stem
                banchi = f"{t.chome}-{ban}-{go}"
            else:
                banchi = f"{ban}-{go}"
        else:
            ban = 1 + int(2400 * (((ua2 >> 10) % 1000) / 1000.0) ** 2)
            banchi = f"{ban}-{1 + ua2 % 24}" if ua2 % 100 < 60 else str(ban)
        building = room = None
        if apartment:
            building = building_name(t.stem, ua >> 40)
            k = i % self.BLOCK
            room = f"{k // 4 + 1}0{k % 4 + 1}"
        elif voltage > 0 and up % 7 < 4:
            building = f"{t.stem}{'第' + str(1 + (up >> 20) % 5) if (up >> 24) % 2 else ''}ビル"
        business = voltage > 0 or (up >> 32) % 100 < 4
        return Address(t, ti, town_text, banchi, building, room, apartment, voltage, business)

    def holder(self, i: int, holder_no: int, business: bool, pref: str) -> tuple[str, str]:
        """(契約名義, phone) of point ``i``'s ``holder_no``-th contract holder."""
        return self.holder_name(i, holder_no, business), self.holder_phone(i, holder_no, pref)

    def holder_name(self, i: int, holder_no: int, business: bool) -> str:
        u = h(self.k_holder, i * 64 + holder_no)
        return company_name(self.pools, u >> 20) if business else person_name(self.pools, u)

    def holder_phone(self, i: int, holder_no: int, pref: str) -> str:
        return phone(pref, mix(h(self.k_holder, i * 64 + holder_no)))

    def meter_id(self, i: int) -> str:
        return f"M{self.meter.forward(i):010d}"


def _town_weights(towns: tuple[TownInfo, ...]) -> list[float]:
    """Cumulative weights: towns of cities and wards (市/区) draw more points than 町村."""
    cum = []
    acc = 0.0
    for t in towns:
        w = 3.0 if t.city.endswith("区") else 2.0 if t.city.endswith("市") else 1.0
        if t.chome:
            w *= 1.5
        acc += w
        cum.append(acc)
    return cum
