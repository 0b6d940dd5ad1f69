"""非常災害: disaster declarations, second-person approval, extension, early end,
the after-event access report and deletion attestations.

A declaration is *active* at an instant ``t`` exactly when it is approved and
``max(start_at, approved_at) <= t < effective_end`` where ``effective_end`` is the
earliest of its planned end, its hard maximum and an early end. That test is made
with the clock of every request (decision time); nothing is switched off by a job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, insert, select, update

from gridwall.grants._areas import Area, AreaError, parse_area
from gridwall.grants._errors import GrantRefused
from gridwall.grants._models import DeletionAttestation, DisasterDeclaration
from gridwall.grants._outbox import AuditedDesk, T, audited_change, grant_event
from gridwall.grants._validate import check_id, check_org
from gridwall.interfaces.clock import as_utc, iso, parse_instant
from gridwall.interfaces.events import AuditEvent

#: No declaration may last longer than this, whatever its own hard maximum says.
MAX_DISASTER_DURATION = timedelta(days=31)
#: A start this far in the past still counts as "now" (clock skew between desks).
START_TOLERANCE = timedelta(minutes=1)


@dataclass(frozen=True)
class DisasterWindow:
    """The facts of one declaration that decisions need (a snapshot row)."""

    disaster_id: str
    area: Area
    start_at: datetime
    planned_end_at: datetime
    hard_max_end_at: datetime
    approved_at: datetime | None
    ended_at: datetime | None

    @property
    def effective_end(self) -> datetime:
        ends = [self.planned_end_at, self.hard_max_end_at]
        if self.ended_at is not None:
            ends.append(self.ended_at)
        return min(ends)

    @property
    def active_from(self) -> datetime | None:
        if self.approved_at is None:
            return None
        return max(self.start_at, self.approved_at)

    def active_at(self, now: datetime) -> bool:
        start = self.active_from
        return start is not None and start <= now < self.effective_end

    @property
    def cancelled(self) -> bool:
        return self.approved_at is None and self.ended_at is not None

    def status(self, now: datetime) -> str:
        if self.cancelled:
            return "cancelled"
        if self.approved_at is None:
            return "expired" if now >= self.effective_end else "pending_approval"
        if self.active_at(now):
            return "active"
        if now < self.effective_end:
            return "scheduled"
        return "ended"

    @staticmethod
    def of(row: DisasterDeclaration) -> DisasterWindow:
        return DisasterWindow(
            disaster_id=row.disaster_id,
            area=parse_area(row.area, validate=False),
            start_at=row.start_at,
            planned_end_at=row.planned_end_at,
            hard_max_end_at=row.hard_max_end_at,
            approved_at=row.approved_at,
            ended_at=row.ended_at,
        )


def declaration_dict(row: DisasterDeclaration, now: datetime) -> dict[str, Any]:
    w = DisasterWindow.of(row)
    return {
        "disaster_id": row.disaster_id,
        "title": row.title,
        "area": w.area.entries(),
        "status": w.status(now),
        "start_at": iso(row.start_at),
        "planned_end_at": iso(row.planned_end_at),
        "hard_max_end_at": iso(row.hard_max_end_at),
        "active_from": iso(w.active_from),
        "effective_end": iso(w.effective_end),
        "requested_by": row.requested_by,
        "requested_at": iso(row.requested_at),
        "approved_by": row.approved_by,
        "approved_at": iso(row.approved_at),
        "ended_by": row.ended_by,
        "ended_at": iso(row.ended_at),
        "source": row.source,
    }


@dataclass
class OrgAccess:
    org: str
    events: int = 0
    allowed: int = 0
    denied: int = 0
    exports: int = 0
    accounts: set[str] = field(default_factory=set)
    supply_points: set[str] = field(default_factory=set)
    fields: set[str] = field(default_factory=set)
    event_ids: list[str] = field(default_factory=list)


class DisasterDesk(AuditedDesk):
    """Declare, approve, extend, end, report on and close out disasters (非常災害).

    Every step is audited through ``audit`` (allowed and refused alike): its event commits
    with the change and reaches the log before the step returns (see
    :func:`gridwall.grants._outbox.audited_change`).
    """

    # -- helpers ---------------------------------------------------------------

    def _run(
        self,
        now: datetime,
        actor: str,
        step: str,
        disaster_id: str,
        plan: Callable[[Connection], tuple[str, Callable[[Connection], T]]],
    ) -> T:
        def event(decision: str, detail: str) -> AuditEvent:
            return grant_event(
                now=now, actor=actor, actor_org=self.actor_org, screen=f"grants.disaster.{step}",
                purpose="disaster_support", decision=decision,
                query=f"disaster_id={disaster_id} {detail}",
                extra={"grant_kind": "disaster", "grant_id": disaster_id},
            )  # fmt: skip

        return audited_change(self.engine, self.audit, event, plan)

    @staticmethod
    def _overlapping(
        conn: Connection, disaster_id: str, area: Area, start: datetime, end: datetime
    ) -> list[str]:
        out = []
        for row in _all_rows(conn):
            if row.disaster_id == disaster_id:
                continue
            w = DisasterWindow.of(row)
            if w.cancelled:
                continue
            other_start = w.active_from or w.start_at
            if other_start < end and start < w.effective_end and area.overlaps(w.area):
                out.append(row.disaster_id)
        return out

    @staticmethod
    def _existing(conn: Connection, disaster_id: str) -> DisasterDeclaration:
        row = _get_row(conn, disaster_id)
        if row is None:
            raise GrantRefused("no such declaration", f"disaster {disaster_id}", "disaster_id")
        return row

    # -- steps -----------------------------------------------------------------

    def declare(
        self,
        disaster_id: str,
        area: Iterable[str] | str,
        planned_end: datetime,
        max_duration: timedelta,
        requested_by: str,
        *,
        start: datetime | None = None,
        title: str = "",
    ) -> dict[str, Any]:
        """Request a declaration (pending until a second person approves)."""
        now = self._now()
        actor = requested_by.strip()
        no = partial(GrantRefused, subject=f"disaster {disaster_id}")

        def plan(conn: Connection) -> tuple[str, Callable[[Connection], dict[str, Any]]]:
            try:
                did = check_id(disaster_id, "disaster_id")
            except ValueError as e:
                raise no(str(e), field="disaster_id") from None
            if not actor:
                raise no("requester is required", field="by")
            try:
                parsed = parse_area(area)
            except AreaError as e:
                raise no(str(e), field="area") from None
            if parsed.whole_service_area:
                raise no("name at least one prefecture or city", field="area")
            start_at = now if start is None else as_utc(start, "start")
            if start_at < now - START_TOLERANCE:
                raise no(
                    f"retroactive start {iso(start_at)} is before now ({iso(now)}); "
                    "declarations cannot reach into the past",
                    field="start",
                )
            planned = as_utc(planned_end, "planned end")
            if planned <= start_at:
                raise no("planned end must be after the start", field="until")
            if max_duration <= timedelta(0) or max_duration > MAX_DISASTER_DURATION:
                raise no(
                    f"hard maximum must be >0 and at most {MAX_DISASTER_DURATION.days} days",
                    field="max_hours",
                )
            hard_max = start_at + max_duration
            if planned > hard_max:
                raise no(
                    f"planned end {iso(planned)} is beyond the hard maximum {iso(hard_max)}",
                    field="until",
                )
            if _get_row(conn, did) is not None:
                raise no("a declaration with this id exists", field="disaster_id")
            clash = self._overlapping(conn, did, parsed, start_at, planned)
            if clash:
                raise no(
                    f"overlaps declaration(s) {', '.join(clash)} for the same area and time",
                    field="area",
                )
            row = DisasterDeclaration(
                disaster_id=did, title=title, area=parsed.canonical(), start_at=start_at,
                planned_end_at=planned, hard_max_end_at=hard_max, requested_by=actor,
                requested_at=now, source="declared",
            )  # fmt: skip

            def apply(c: Connection) -> dict[str, Any]:
                c.execute(insert(DisasterDeclaration).values(**_values(row)))
                return declaration_dict(row, now)

            detail = (
                f"declared area={parsed.canonical()} start={iso(start_at)} "
                f"planned_end={iso(planned)} hard_max={iso(hard_max)}"
            )
            return detail, apply

        return self._run(now, actor, "declare", disaster_id, plan)

    def approve(self, disaster_id: str, approved_by: str) -> dict[str, Any]:
        """Second-person approval (requester ≠ approver); the declaration becomes active."""
        now = self._now()
        actor = approved_by.strip()
        no = partial(GrantRefused, subject=f"disaster {disaster_id}")

        def plan(conn: Connection) -> tuple[str, Callable[[Connection], dict[str, Any]]]:
            row = self._existing(conn, disaster_id)
            w = DisasterWindow.of(row)
            if not actor:
                raise no("approver is required", field="by")
            if actor == row.requested_by:
                raise no("the approver must be a second person, not the requester", field="by")
            if row.approved_at is not None:
                raise no("already approved", field="disaster_id")
            if w.cancelled:
                raise no("it was cancelled", field="disaster_id")
            if now >= w.effective_end:
                raise no(f"its planned end {iso(w.effective_end)} has passed", field="disaster_id")

            def apply(c: Connection) -> dict[str, Any]:
                c.execute(
                    update(DisasterDeclaration)
                    .where(DisasterDeclaration.disaster_id == disaster_id)
                    .values(approved_by=actor, approved_at=now)
                )
                row.approved_by, row.approved_at = actor, now
                return declaration_dict(row, now)

            return f"approved; requested_by={row.requested_by}", apply

        return self._run(now, actor, "approve", disaster_id, plan)

    def extend(self, disaster_id: str, new_planned_end: datetime, by: str) -> dict[str, Any]:
        """Move the planned end later, never beyond the hard maximum."""
        now = self._now()
        actor = by.strip()
        new_end = as_utc(new_planned_end, "until")
        no = partial(GrantRefused, subject=f"disaster {disaster_id}")

        def plan(conn: Connection) -> tuple[str, Callable[[Connection], dict[str, Any]]]:
            row = self._existing(conn, disaster_id)
            w = DisasterWindow.of(row)
            if not actor:
                raise no("who extends it is required", field="by")
            if w.ended_at is not None or now >= w.effective_end:
                raise no("it has ended; declare a new one", field="disaster_id")
            if new_end <= row.planned_end_at:
                raise no(
                    f"new end {iso(new_end)} is not after planned end {iso(row.planned_end_at)}",
                    field="until",
                )
            if new_end > row.hard_max_end_at:
                raise no(
                    f"new end {iso(new_end)} is beyond the hard maximum {iso(row.hard_max_end_at)}",
                    field="until",
                )
            start = w.active_from or w.start_at
            clash = self._overlapping(conn, disaster_id, w.area, start, new_end)
            if clash:
                raise no(
                    f"the extension would overlap declaration(s) {', '.join(clash)}", field="until"
                )

            def apply(c: Connection) -> dict[str, Any]:
                c.execute(
                    update(DisasterDeclaration)
                    .where(DisasterDeclaration.disaster_id == disaster_id)
                    .values(planned_end_at=new_end)
                )
                row.planned_end_at = new_end
                return declaration_dict(row, now)

            return f"planned_end {iso(row.planned_end_at)} -> {iso(new_end)}", apply

        return self._run(now, actor, "extend", disaster_id, plan)

    def end(self, disaster_id: str, by: str) -> dict[str, Any]:
        """End now (early end; or cancel a declaration still pending approval)."""
        now = self._now()
        actor = by.strip()
        no = partial(GrantRefused, subject=f"disaster {disaster_id}")

        def plan(conn: Connection) -> tuple[str, Callable[[Connection], dict[str, Any]]]:
            row = self._existing(conn, disaster_id)
            w = DisasterWindow.of(row)
            if not actor:
                raise no("who ends it is required", field="by")
            if w.ended_at is not None or now >= w.effective_end:
                raise no("it has already ended", field="disaster_id")

            def apply(c: Connection) -> dict[str, Any]:
                c.execute(
                    update(DisasterDeclaration)
                    .where(DisasterDeclaration.disaster_id == disaster_id)
                    .values(ended_by=actor, ended_at=now)
                )
                row.ended_by, row.ended_at = actor, now
                return declaration_dict(row, now)

            what = "cancelled before approval" if row.approved_at is None else "ended early"
            return what, apply

        return self._run(now, actor, "end", disaster_id, plan)

    def list(self) -> list[dict[str, Any]]:
        now = self._now()
        with self.engine.connect() as conn:
            return [declaration_dict(r, now) for r in _all_rows(conn)]

    def get(self, disaster_id: str) -> dict[str, Any]:
        now = self._now()
        with self.engine.connect() as conn:
            return declaration_dict(self._existing(conn, disaster_id), now)

    def attest_deletion(
        self, disaster_id: str, org: str, by: str, *, copies: int, statement: str
    ) -> dict[str, Any]:
        """削除証明: ``org`` attests that the ``copies`` it made under the disaster are deleted."""
        now = self._now()
        actor = by.strip()
        no = partial(GrantRefused, subject=f"disaster {disaster_id}")

        def plan(conn: Connection) -> tuple[str, Callable[[Connection], dict[str, Any]]]:
            row = self._existing(conn, disaster_id)
            try:
                org_code = check_org(org)
            except ValueError as e:
                raise no(str(e), field="org") from None
            if self.parties is not None and not self.parties.org_exists(org_code):
                raise no(f"no such organisation {org_code!r}", field="org")
            if not actor:
                raise no("attester is required", field="by")
            if copies < 0:
                raise no("copies must be >= 0", field="copies")
            w = DisasterWindow.of(row)
            if now < w.effective_end and not w.cancelled:
                raise no(
                    "the disaster has not ended yet; attest deletion after the end",
                    field="disaster_id",
                )
            dup = conn.execute(
                select(DeletionAttestation.id).where(
                    DeletionAttestation.disaster_id == disaster_id,
                    DeletionAttestation.org == org_code,
                )
            ).first()
            if dup is not None:
                raise no(f"{org_code} has already attested", field="org")
            values = {
                "disaster_id": disaster_id, "org": org_code, "attested_by": actor,
                "attested_at": now, "copies": copies, "statement": statement,
            }  # fmt: skip

            def apply(c: Connection) -> dict[str, Any]:
                c.execute(insert(DeletionAttestation).values(**values))
                return {**values, "attested_at": iso(now)}

            return f"org={org_code} copies={copies} deleted", apply

        return self._run(now, actor, "attest-deletion", disaster_id, plan)

    def report(
        self,
        disaster_id: str,
        events: Iterable[Mapping[str, Any]],
        org_of_account: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Every access made under the disaster: events with the disaster purpose inside
        its active window (or naming it in ``disaster_id``), grouped by organisation, and
        which organisations still owe a deletion attestation. Events without an ``org``
        (legacy logs) take it from ``org_of_account`` (accounts.csv), else ``unknown``."""
        now = self._now()
        with self.engine.connect() as conn:
            row = _get_row(conn, disaster_id)
            if row is None:
                raise GrantRefused("no such declaration", f"disaster {disaster_id}", "disaster_id")
            at = DeletionAttestation.__table__
            atts = [
                DeletionAttestation(**dict(m))
                for m in conn.execute(select(at).where(at.c.disaster_id == disaster_id)).mappings()
            ]
        w = DisasterWindow.of(row)
        orgs: dict[str, OrgAccess] = {}
        start = w.active_from
        total = 0
        for ev in events:
            if not _under(ev, disaster_id, start, w.effective_end):
                continue
            total += 1
            org = str(
                ev.get("org") or (org_of_account or {}).get(str(ev.get("account_id"))) or "unknown"
            )
            oa = orgs.setdefault(org, OrgAccess(org))
            oa.events += 1
            if ev.get("decision") == "allow":
                oa.allowed += 1
            else:
                oa.denied += 1
            if ev.get("action") == "export":
                oa.exports += 1
            oa.accounts.add(str(ev.get("account_id")))
            oa.supply_points.update(str(p) for p in _as_list(ev.get("supply_point_ids")))
            if ev.get("decision") == "allow":
                oa.fields.update(str(f) for f in _as_list(ev.get("fields")))
            oa.event_ids.append(str(ev.get("event_id")))
        attested = {a.org: a for a in atts}
        owing = sorted(o for o, a in orgs.items() if a.allowed and o not in attested and o != "nw")
        return {
            "declaration": declaration_dict(row, now),
            "total_events": total,
            "organisations": [
                {
                    "org": a.org,
                    "events": a.events,
                    "allowed": a.allowed,
                    "denied": a.denied,
                    "exports": a.exports,
                    "accounts": sorted(a.accounts),
                    "supply_points": len(a.supply_points),
                    "fields": sorted(a.fields),
                    "event_ids": a.event_ids,
                }
                for a in sorted(orgs.values(), key=lambda a: a.org)
            ],
            "attestations": [
                {
                    "org": a.org,
                    "attested_by": a.attested_by,
                    "attested_at": iso(a.attested_at),
                    "copies": a.copies,
                    "statement": a.statement,
                }
                for a in atts
            ],
            "attestations_outstanding": owing,
        }


def _as_list(v: Any) -> list[Any]:
    if v is None or v == "":
        return []
    if isinstance(v, str):
        return [x for x in v.split(";") if x]
    return list(v)


def _ts(v: Any) -> datetime | None:
    if isinstance(v, datetime):
        return as_utc(v)
    if isinstance(v, str) and v:
        try:
            return parse_instant(v, "ts")
        except ValueError:
            return None
    return None


def _under(ev: Mapping[str, Any], disaster_id: str, start: datetime | None, end: datetime) -> bool:
    if ev.get("disaster_id") == disaster_id:
        return True
    if ev.get("purpose") != "disaster_support" or start is None:
        return False
    if str(ev.get("screen") or "").startswith("grants."):
        return False  # management steps, not accesses
    ts = _ts(ev.get("ts"))
    return ts is not None and start <= ts < end


def _get_row(conn: Connection, disaster_id: str) -> DisasterDeclaration | None:
    r = (
        conn.execute(
            select(DisasterDeclaration.__table__).where(
                DisasterDeclaration.__table__.c.disaster_id == disaster_id
            )
        )
        .mappings()
        .first()
    )
    return None if r is None else DisasterDeclaration(**dict(r))


def _all_rows(conn: Connection) -> list[DisasterDeclaration]:
    rows = (
        conn.execute(
            select(DisasterDeclaration.__table__).order_by(DisasterDeclaration.__table__.c.start_at)
        )
        .mappings()
        .all()
    )
    return [DisasterDeclaration(**dict(r)) for r in rows]


def _values(row: DisasterDeclaration) -> dict[str, Any]:
    return {c.name: getattr(row, c.key) for c in DisasterDeclaration.__table__.columns}
