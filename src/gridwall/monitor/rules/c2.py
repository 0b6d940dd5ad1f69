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
    rationale_ja=(
        "事例 C②：小売の社員が自分の ID で NW の端末を使えた。端末は組織に"
        "属する（その日に有効な所有組織）。他組織の利用者による使用は試行も含めて検知"
        "する（I5）。"
    ),
    flag=_flag,
    reads=needs("d_owner", "org"),
)
