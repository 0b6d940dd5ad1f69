"""Type C②: a login or access from a terminal owned by another organisation."""

from __future__ import annotations

import ibis.expr.types as ir

from gridwall.monitor.rules._base import Rule, needs


def _flag(e: ir.Table) -> ir.BooleanValue:
    return e.d_owner.notnull() & e.org.notnull() & (e.d_owner != e.org)


RULE = Rule(
    id="C2-foreign-terminal",
    incident_type="C2",
    severity=4,
    description_ja="他組織が所有する端末からログイン・アクセスした",
    description_en="Login or access from a terminal owned by another organisation",
    rationale="Seed type C②: NW terminals were usable by retail staff entering their own IDs. "
    "A terminal belongs to an organisation (devices.csv owner_org, valid at that day); any use "
    "by a principal of another organisation is flagged, attempts included (I5).",
    flag=_flag,
    reads=needs("d_owner", "org"),
)
