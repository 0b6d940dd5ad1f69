"""Purpose-bound grants (目的限定の権限付与): disaster mode (非常災害), contractor
agreements (業務委託) and watermarked exports, last-resort-supply agreements, and
customer consent for usage inquiries (使用量照会).

Every grant is an interval compared with the clock of each request: expiry is
decided at decision time, never by a clean-up job. The gateway asks
:class:`StoreGrantResolver` for the :class:`gridwall.interfaces.facts.GrantFacts` of
a request; the policy decides from those facts. Management: the desks below, the CLI
(``gridwall disaster|agreement|consent|export``) and the HTTP routes in
:mod:`gridwall.app.http.grants`.

Every management step and its audit event commit in one transaction (grants' audit
outbox) and the event is delivered to the audit log before the step returns;
:func:`deliver_audit` sends a backlog an audit-log outage left (``gridwall serve`` does at
start), :func:`pending_audit` counts it, :class:`AuditPending` is raised for a step the
log did not take.
"""

from gridwall.grants._agreements import (
    AGREEMENT_PURPOSES,
    AgreementRegistry,
    agreement_counterparties,
)
from gridwall.grants._areas import PREFECTURES, Area, AreaError, parse_area
from gridwall.grants._consent import (
    MAX_SCOPE_MONTHS,
    VALIDITY_DAYS,
    ConsentCheck,
    ConsentDesk,
    usage_from,
)
from gridwall.grants._disaster import MAX_DISASTER_DURATION, DisasterDesk
from gridwall.grants._errors import AuditPending, GrantRefused
from gridwall.grants._exports import ExportDesk, seal_export, valid_agreement_for
from gridwall.grants._keys import find_key, load_key
from gridwall.grants._load import load_reference
from gridwall.grants._outbox import deliver_audit, pending_audit
from gridwall.grants._resolver import StoreGrantResolver
from gridwall.grants._watermark import (
    TraceResult,
    WatermarkedExport,
    register_export,
    trace_leak,
    watermark_export,
)

__all__ = [
    "AGREEMENT_PURPOSES",
    "MAX_DISASTER_DURATION",
    "MAX_SCOPE_MONTHS",
    "PREFECTURES",
    "VALIDITY_DAYS",
    "AgreementRegistry",
    "Area",
    "AreaError",
    "AuditPending",
    "ConsentCheck",
    "ConsentDesk",
    "DisasterDesk",
    "ExportDesk",
    "GrantRefused",
    "StoreGrantResolver",
    "TraceResult",
    "WatermarkedExport",
    "agreement_counterparties",
    "deliver_audit",
    "find_key",
    "load_key",
    "load_reference",
    "parse_area",
    "pending_audit",
    "register_export",
    "seal_export",
    "trace_leak",
    "usage_from",
    "valid_agreement_for",
    "watermark_export",
]
