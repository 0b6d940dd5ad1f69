"""業務委託 and other agreements that grant purpose-bound access.

An agreement names its counterparty organisation, purpose, field groups, area
and validity (JST calendar days, ``valid_to`` inclusive). Onward transfer
(再委託・第三者提供) is always forbidden. A retailer can hold only a
``disaster_support`` agreement (equal footing in disaster response); it can
never be the counterparty of any other agreement, and so never an export
recipient (type C①).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from gridwall.grants._areas import Area, AreaError, parse_area
from gridwall.grants._errors import GrantRefused
from gridwall.grants._models import Agreement
from gridwall.grants._outbox import AuditedDesk, T, audited_change, grant_event
from gridwall.grants._validate import check_id, check_org, is_retailer
from gridwall.interfaces.clock import JST, day_end_jst, day_start_jst, iso
from gridwall.interfaces.events import AuditEvent
from gridwall.interfaces.facts import DISASTER_FIELDS, FIELDS

#: Purposes an agreement can be registered for through gridwall (dataset rows may carry others).
AGREEMENT_PURPOSES: tuple[str, ...] = (
    "disaster_support",
    "lrs_operations",
    "system_maintenance",
    "meter_reading",
)
_PURPOSE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class AgreementProblem(ValueError):
    """What is wrong with an agreement, and which field."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class AgreementWindow:
    """The facts of one agreement that decisions need (a snapshot row)."""

    agreement_id: str
    counterparty_org: str
    purpose: str
    fields: frozenset[str]
    area: Area
    valid_from_at: datetime
    valid_until: datetime | None  # exclusive; None = open-ended
    ended_at: datetime | None

    @property
    def end(self) -> datetime | None:
        ends = [e for e in (self.valid_until, self.ended_at) if e is not None]
        return min(ends) if ends else None

    def valid_at(self, now: datetime) -> bool:
        end = self.end
        return self.valid_from_at <= now and (end is None or now < end)

    def covers(self, pref: str, city: str) -> bool:
        return self.area.whole_service_area or self.area.contains(pref, city)

    @staticmethod
    def of(row: Agreement) -> AgreementWindow:
        return AgreementWindow(
            agreement_id=row.agreement_id,
            counterparty_org=row.counterparty_org,
            purpose=row.purpose,
            fields=frozenset(f for f in row.fields.split(";") if f),
            area=parse_area(row.area, validate=False),
            valid_from_at=day_start_jst(row.valid_from),
            valid_until=None if row.valid_to is None else day_end_jst(row.valid_to),
            ended_at=row.ended_at,
        )


def validate_agreement(
    counterparty_org: str,
    purpose: str,
    fields: Iterable[str],
    area: Iterable[str] | str,
    valid_from: date,
    valid_to: date | None,
    *,
    strict_purpose: bool = True,
) -> tuple[str, str, list[str], Area]:
    """Check an agreement's content; returns (org, purpose, fields, area) or raises
    :class:`AgreementProblem` naming the field."""
    try:
        org = check_org(counterparty_org)
    except ValueError as e:
        raise AgreementProblem(str(e), "counterparty_org") from None
    purpose = purpose.strip()
    if strict_purpose and purpose not in AGREEMENT_PURPOSES:
        raise AgreementProblem(
            f"purpose {purpose!r}: must be one of {', '.join(AGREEMENT_PURPOSES)}", "purpose"
        )
    if not _PURPOSE_RE.match(purpose):
        raise AgreementProblem(f"purpose {purpose!r}: not a purpose code", "purpose")
    if org in ("nw", "regulator"):
        raise AgreementProblem(f"{org} cannot be an agreement counterparty", "counterparty_org")
    if is_retailer(org) and purpose != "disaster_support":
        raise AgreementProblem(
            f"a retailer ({org}) cannot be the counterparty of a {purpose} agreement: NW data "
            "never goes to a retailer under contract (type C①); retailers hold only "
            "disaster_support agreements",
            "counterparty_org",
        )
    flds = [f.strip() for f in fields if f.strip()]
    unknown = [f for f in flds if f not in FIELDS]
    if unknown:
        raise AgreementProblem(
            f"unknown field(s) {', '.join(unknown)}; known: {', '.join(FIELDS)}", "fields"
        )
    if purpose == "disaster_support":
        extra = set(flds) - DISASTER_FIELDS
        if extra:
            raise AgreementProblem(
                f"a disaster_support agreement covers only {', '.join(sorted(DISASTER_FIELDS))}; "
                f"not {', '.join(sorted(extra))}",
                "fields",
            )
        flds = flds or sorted(DISASTER_FIELDS)
    elif not flds:
        raise AgreementProblem("name the field groups the agreement covers", "fields")
    try:
        parsed = parse_area(area)
    except AreaError as e:
        raise AgreementProblem(str(e), "area") from None
    if valid_to is not None and valid_to < valid_from:
        raise AgreementProblem(f"valid_to {valid_to} is before valid_from {valid_from}", "valid_to")
    return org, purpose, sorted(set(flds), key=FIELDS.index), parsed


def agreement_dict(row: Agreement, now: datetime) -> dict[str, Any]:
    w = AgreementWindow.of(row)
    if w.valid_at(now):
        status = "valid"
    elif now < w.valid_from_at:
        status = "not_yet_valid"
    elif row.ended_at is not None and (w.valid_until is None or row.ended_at < w.valid_until):
        status = "ended"
    else:
        status = "expired"
    return {
        "agreement_id": row.agreement_id,
        "counterparty_org": row.counterparty_org,
        "purpose": row.purpose,
        "fields": sorted(w.fields),
        "area": w.area.entries(),
        "valid_from": row.valid_from.isoformat(),
        "valid_to": None if row.valid_to is None else row.valid_to.isoformat(),
        "onward_transfer_forbidden": row.onward_transfer_forbidden,
        "status": status,
        "registered_by": row.registered_by,
        "registered_at": iso(row.registered_at),
        "ended_by": row.ended_by,
        "ended_at": iso(row.ended_at),
        "source": row.source,
    }


class AgreementRegistry(AuditedDesk):
    """Register, list and end agreements; every step audited (allowed and refused)."""

    def _run(
        self,
        now: datetime,
        actor: str,
        step: str,
        aid: str,
        plan: Callable[[Connection], tuple[str, Callable[[Connection], T]]],
        purpose: str = "",
        recipient: str | None = None,
    ) -> T:
        def event(decision: str, detail: str) -> AuditEvent:
            return grant_event(
                now=now, actor=actor, actor_org=self.actor_org, screen=f"grants.agreement.{step}",
                purpose=purpose, decision=decision, query=f"agreement_id={aid} {detail}",
                recipient_org=recipient, extra={"grant_kind": "agreement", "grant_id": aid},
            )  # fmt: skip

        return audited_change(self.engine, self.audit, event, plan)

    def register(
        self,
        agreement_id: str,
        counterparty_org: str,
        purpose: str,
        fields: Iterable[str],
        area: Iterable[str] | str,
        valid_from: date,
        valid_to: date | None,
        registered_by: str,
    ) -> dict[str, Any]:
        """Register an agreement; a retailer counterparty is refused except for disaster support."""
        now = self._now()
        actor = registered_by.strip()
        no = partial(GrantRefused, subject=f"agreement {agreement_id}")
        fields = list(fields)

        def plan(conn: Connection) -> tuple[str, Callable[[Connection], dict[str, Any]]]:
            try:
                aid = check_id(agreement_id, "agreement_id")
            except ValueError as e:
                raise no(str(e), field="agreement_id") from None
            if not actor:
                raise no("registrant is required", field="by")
            try:
                org, purp, flds, parsed = validate_agreement(
                    counterparty_org, purpose, fields, area, valid_from, valid_to
                )
            except AgreementProblem as e:
                raise no(str(e), field=e.field) from None
            today = now.astimezone(JST).date()
            if valid_to is not None and valid_to < today:
                raise no(f"already expired (valid_to {valid_to} < today {today})", field="valid_to")
            if _get_row(conn, aid) is not None:
                raise no("an agreement with this id exists", field="agreement_id")
            values = {
                "agreement_id": aid, "counterparty_org": org, "purpose": purp,
                "fields": ";".join(flds), "area": parsed.canonical(), "valid_from": valid_from,
                "valid_to": valid_to, "onward_transfer_forbidden": True, "registered_by": actor,
                "registered_at": now, "source": "registered",
            }  # fmt: skip

            def apply(c: Connection) -> dict[str, Any]:
                c.execute(insert(Agreement).values(**values))
                return agreement_dict(Agreement(**values), now)

            detail = (
                f"registered counterparty={org} purpose={purp} fields={';'.join(flds)} "
                f"area={parsed} valid={valid_from}..{valid_to or ''}"
            )
            return detail, apply

        return self._run(
            now, actor, "register", agreement_id, plan, purpose.strip(), counterparty_org.strip()
        )

    def end(self, agreement_id: str, by: str) -> dict[str, Any]:
        """End an agreement now (it stops granting at this instant)."""
        now = self._now()
        actor = by.strip()
        no = partial(GrantRefused, subject=f"agreement {agreement_id}")

        def plan(conn: Connection) -> tuple[str, Callable[[Connection], dict[str, Any]]]:
            row = _get_row(conn, agreement_id)
            if row is None:
                raise no("no such agreement", field="agreement_id")
            if not actor:
                raise no("who ends it is required", field="by")
            w = AgreementWindow.of(row)
            if w.end is not None and now >= w.end:
                raise no("it has already ended or expired", field="agreement_id")

            def apply(c: Connection) -> dict[str, Any]:
                c.execute(
                    update(Agreement)
                    .where(Agreement.agreement_id == agreement_id)
                    .values(ended_by=actor, ended_at=now)
                )
                assert row is not None
                row.ended_by, row.ended_at = actor, now
                return agreement_dict(row, now)

            return "ended", apply

        return self._run(now, actor, "end", agreement_id, plan)

    def list(self) -> list[dict[str, Any]]:
        now = self._now()
        with self.engine.connect() as conn:
            return [agreement_dict(r, now) for r in _all_rows(conn)]


def _get_row(conn: Connection, agreement_id: str) -> Agreement | None:
    t = Agreement.__table__
    r = conn.execute(select(t).where(t.c.agreement_id == agreement_id)).mappings().first()
    return None if r is None else Agreement(**dict(r))


def _all_rows(conn: Connection) -> list[Agreement]:
    t = Agreement.__table__
    rows = conn.execute(select(t).order_by(t.c.agreement_id)).mappings().all()
    return [Agreement(**dict(r)) for r in rows]


def agreement_counterparties(engine: Engine) -> frozenset[str]:
    """Every organisation that is (or was) the counterparty of an agreement."""
    with engine.connect() as conn:
        return frozenset(str(o) for o in conn.scalars(select(Agreement.counterparty_org)))
