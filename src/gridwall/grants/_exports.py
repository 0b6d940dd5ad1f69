"""Exports to contractors (業務委託先への提供), checked against the registry and audited.

:class:`ExportDesk` is the C① control: a file goes out only under a valid
agreement, to that agreement's counterparty, for the agreement's purpose, with
only the field groups (and area) the agreement covers; never to a retailer.
Every attempt — allowed or refused — is recorded through the audit sink, and an
allowed file is watermarked and registered in the same transaction as its audit
event (grants' outbox); if the audit log cannot take the event, the call raises and
no file is handed out.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from gridwall.grants._agreements import AgreementWindow
from gridwall.grants._errors import GrantRefused
from gridwall.grants._keys import load_key
from gridwall.grants._models import Agreement
from gridwall.grants._outbox import audited_change, grant_event
from gridwall.grants._validate import is_retailer
from gridwall.grants._watermark import (
    MARK_COLUMN,
    WatermarkedExport,
    register_export,
    watermark_export,
)
from gridwall.interfaces import AuditSink, Parties
from gridwall.interfaces.clock import Clock, as_utc, system_clock
from gridwall.interfaces.events import AuditEvent
from gridwall.interfaces.facts import FIELDS

#: Export columns and the field group each belongs to (None: the supply point ID itself).
COLUMN_FIELDS: dict[str, str | None] = {
    "supply_point_id": None,
    "pref": "address",
    "city": "address",
    "town": "address",
    "banchi": "address",
    "building": "address",
    "room": "address",
    "voltage": "equipment",
    "meter_id": "equipment",
    "status": "equipment",
    **{f: f for f in FIELDS},
}


def fields_of(columns: Iterable[str]) -> tuple[set[str], list[str]]:
    """(field groups the columns reveal, columns that are not known at all)."""
    groups: set[str] = set()
    unknown: list[str] = []
    for c in columns:
        if c == MARK_COLUMN:
            continue
        if c not in COLUMN_FIELDS:
            unknown.append(c)
            continue
        g = COLUMN_FIELDS[c]
        if g is not None:
            groups.add(g)
    return groups, unknown


class ExportDesk:
    """Produce watermarked export files under registered agreements (every attempt audited)."""

    def __init__(
        self,
        engine: Engine,
        audit: AuditSink,
        clock: Clock = system_clock,
        key: bytes | None = None,
        *,
        parties: Parties | None = None,
    ) -> None:
        self.engine = engine
        self.audit = audit
        self.clock = clock
        self._key = key
        #: when given, canary IDs avoid every point it knows (not only the exported ones)
        self.parties = parties

    @property
    def key(self) -> bytes:
        if self._key is None:
            self._key = load_key(self.engine, "watermark")
        return self._key

    def export(
        self,
        rows: Iterable[Mapping[str, Any]],
        *,
        recipient_org: str,
        agreement_id: str,
        purpose: str,
        actor: str,
        actor_org: str = "nw",
        export_id: str | None = None,
    ) -> WatermarkedExport:
        now = as_utc(self.clock(), "clock")
        export_id = export_id or f"EXP-{uuid.uuid4().hex[:16]}"
        recipient = recipient_org.strip()
        data = [dict(r) for r in rows]
        columns = list(dict.fromkeys(c for r in data for c in r))
        points = [str(r["supply_point_id"]) for r in data if r.get("supply_point_id")]
        groups, unknown = fields_of(columns)
        key = self.key  # before any transaction: the first use creates it

        def event(decision: str, detail: str) -> AuditEvent:
            return grant_event(
                now=now, actor=actor, actor_org=actor_org, screen="grants.export",
                purpose=purpose, decision=decision, recipient_org=recipient,
                supply_point_ids=points, fields=groups, result_count=len(data),
                query=f"export_id={export_id} agreement_id={agreement_id} {detail}",
                extra={"grant_kind": "export", "grant_id": agreement_id, "export_id": export_id},
            )  # fmt: skip

        def refuse(msg: str, fld: str) -> GrantRefused:
            return GrantRefused(msg, f"export {export_id}", fld)

        def plan(conn: Connection) -> tuple[str, Callable[[Connection], WatermarkedExport]]:
            if is_retailer(recipient):
                raise refuse("an export to a retailer is impossible (type C①)", "recipient")
            if unknown:
                raise refuse(f"unknown column(s) {', '.join(unknown)}", "rows")
            q = select(Agreement.__table__).where(Agreement.agreement_id == agreement_id)
            r = conn.execute(q).mappings().first()
            if r is None:
                raise refuse("no such agreement", "agreement")
            w = AgreementWindow.of(Agreement(**dict(r)))
            if w.counterparty_org != recipient:
                raise refuse(
                    f"the agreement's counterparty is {w.counterparty_org}, not {recipient}",
                    "recipient",
                )
            if purpose not in (w.purpose, "takuso"):
                raise refuse(f"the agreement is for {w.purpose}, not {purpose}", "purpose")
            if not w.valid_at(now):
                raise refuse("the agreement is not valid now (expired or ended)", "agreement")
            if not groups <= w.fields:
                extra = ", ".join(sorted(groups - w.fields))
                raise refuse(f"the agreement does not cover field(s) {extra}", "rows")
            if not w.area.whole_service_area:
                outside = [
                    i for i, row in enumerate(data, 1)
                    if not w.covers(str(row.get("pref", "")), str(row.get("city", "")))
                ]  # fmt: skip
                if outside:
                    raise refuse(
                        f"{len(outside)} row(s) outside the agreement's area (first: "
                        f"{outside[0]}); area-bound exports need pref and city columns",
                        "rows",
                    )

            if "wm" not in made:
                exists = self.parties.point_exists if self.parties is not None else None
                made["wm"] = watermark_export(
                    data, recipient, agreement_id, export_id, key, created_at=now,
                    point_exists=exists,
                )  # fmt: skip
            wm = made["wm"]

            def apply(c: Connection) -> WatermarkedExport:
                register_export(c, wm, actor)
                return wm

            return f"rows={wm.real_rows} canaries={len(wm.canaries)} watermarked", apply

        made: dict[str, WatermarkedExport] = {}
        return audited_change(self.engine, self.audit, event, plan, bump=False)


def valid_agreement_for(
    engine: Engine,
    recipient_org: str,
    purpose: str,
    now: datetime,
    fields: Iterable[str] = (),
) -> str | None:
    """The id of a valid agreement of ``recipient_org`` at ``now`` for ``purpose`` (any
    purpose when it is ``takuso``, NW's own work), preferring one that covers ``fields``;
    None if there is none or the recipient is a retailer."""
    recipient = recipient_org.strip()
    if is_retailer(recipient):
        return None
    at = as_utc(now, "now")
    need = set(fields)
    t = Agreement.__table__
    q = select(t).where(t.c.counterparty_org == recipient).order_by(t.c.agreement_id)
    if purpose != "takuso":
        q = q.where(t.c.purpose == purpose)
    with engine.connect() as conn:
        valid = [AgreementWindow.of(Agreement(**dict(r))) for r in conn.execute(q).mappings()]
    valid = [w for w in valid if w.valid_at(at)]
    covering = [w for w in valid if need <= w.fields]
    best = covering or valid
    return best[0].agreement_id if best else None


def seal_export(
    engine: Engine,
    rows: Iterable[Mapping[str, Any]],
    *,
    recipient_org: str,
    purpose: str,
    export_id: str,
    now: datetime,
    created_by: str | None = None,
    point_exists: Callable[[str], bool] | None = None,
) -> WatermarkedExport:
    """For the gateway's export endpoint, after its policy decision and audit record:
    find the recipient's valid agreement for ``purpose``, watermark the rows for the
    recipient and register the export. Raises :class:`GrantRefused` when there is no valid
    agreement or the recipient is a retailer (the file must then not be released).
    ``point_exists`` lets the canary IDs avoid every point of the store."""
    data = [dict(r) for r in rows]
    groups, _ = fields_of(c for r in data for c in r)
    agreement_id = valid_agreement_for(engine, recipient_org, purpose, now, groups)
    if agreement_id is None:
        raise GrantRefused(
            f"no valid {purpose} agreement with {recipient_org.strip()} (exports go only to the "
            "counterparty of a valid agreement, never to a retailer)",
            f"export {export_id}",
            "recipient",
        )
    key = load_key(engine, "watermark")
    wm = watermark_export(
        data, recipient_org, agreement_id, export_id, key, created_at=as_utc(now, "now"),
        point_exists=point_exists,
    )  # fmt: skip
    with engine.begin() as conn:
        register_export(conn, wm, created_by)
    return wm
