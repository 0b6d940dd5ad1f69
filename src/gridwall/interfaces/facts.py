"""The access request and decision types: the contract between the gateway,
identity, grants and the policy engine.

Every live request is reduced to an :class:`AccessRequest` made only of finite
enumerations and booleans, so that ``gridwall policy check`` can enumerate the
whole request space and prove the invariants (shared/spec/invariants.md), and
the same enumeration serves as a decision cache on the live path. Anything
time-dependent (account expiry, disaster window, agreement validity, consent
expiry) is resolved into these facts *at decision time* by the code that builds
the request (identity, grants, gateway) using the clock of that request.

Field groups (``FIELDS``) are the unit of a decision: the policy decides each
one separately and the gateway returns only the allowed ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

#: Field groups of a supply point, as named in the ``events.fields`` column.
FIELDS: tuple[str, ...] = (
    "contract_name",  # 契約名義
    "address",  # 住所 (non-public, except as the search key of the lookup)
    "phone",  # 電話番号
    "usage",  # 使用量 (monthly kWh)
    "retailer",  # which retailer supplies the point
    "switching_history",
    "contract",  # supply contract details
    "equipment",  # voltage, meter: what the lookup may return
    "lrs",  # 最終保障供給 details
    "fit",  # 再エネ特措法 FIT contract
)
#: 非公開情報 (invariants.md). ``address`` is non-public except as a lookup key.
NON_PUBLIC: frozenset[str] = frozenset(
    {
        "contract_name",
        "address",
        "phone",
        "usage",
        "retailer",
        "switching_history",
        "contract",
        "lrs",
        "fit",
    }
)
#: What the equal-footing lookup may return about a point (besides its ID).
LOOKUP_FIELDS: frozenset[str] = frozenset({"equipment", "address"})
#: Exactly what disaster support sees (I4).
DISASTER_FIELDS: frozenset[str] = frozenset({"contract_name", "address", "phone"})


class OrgKind(StrEnum):
    NW = "nw"
    RETAIL = "retail"
    CONTRACTOR = "contractor"
    REGULATOR = "regulator"


class RetailerKind(StrEnum):
    """Only for retail principals; must never change a decision (I7)."""

    AFFILIATED = "affiliated"
    INDEPENDENT = "independent"
    NONE = "none"  # not a retailer


class Role(StrEnum):
    TAKUSO_OPERATOR = "takuso_operator"  # NW 託送 staff
    CALL_CENTER = "call_center"
    SALES = "sales"
    FIT_TEAM = "fit_team"
    IT_MAINTENANCE = "it_maintenance"
    METER_READING = "meter_reading"
    AUDITOR = "auditor"  # internal audit / regulator
    COMPLIANCE = "compliance"
    MANAGER = "manager"


class AccountKind(StrEnum):
    PERSONAL = "personal"
    SERVICE = "service"  # a retailer system's API client, bound to the retailer org
    SHARED = "shared"  # legacy; never receives anything
    DISASTER_SUPPORT = "disaster_support"  # legacy shared disaster IDs (type B); never


class AccountState(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"
    LOCKED = "locked"
    TRANSFERRED = "transferred"  # holder moved to another organisation


class DeviceKind(StrEnum):
    NW_TERMINAL = "nw_terminal"
    RETAIL_TERMINAL = "retail_terminal"
    DISASTER_TERMINAL = "disaster_terminal"
    CONTRACTOR_TERMINAL = "contractor_terminal"
    REGULATOR_TERMINAL = "regulator_terminal"


class DeviceOwner(StrEnum):
    """The terminal's owner organisation relative to the principal's."""

    SAME_ORG = "same_org"
    OTHER_ORG = "other_org"


class Purpose(StrEnum):
    TAKUSO = "takuso"  # 託送業務 (NW)
    FIT = "fit"  # 再エネ特措法 work (NW FIT team)
    LRS_OPERATIONS = "lrs_operations"  # 最終保障供給 operations
    DISASTER_SUPPORT = "disaster_support"  # 非常災害 response
    CUSTOMER_SERVICE = "customer_service"  # a retailer serving its own customers
    SALES = "sales"  # a retailer's sales work (own customers only)
    SWITCHING = "switching"  # a retailer checking a switching application (lookup)
    CONSENT_USAGE = "consent_usage"  # 使用量照会 with customer consent
    SYSTEM_MAINTENANCE = "system_maintenance"  # contractor agreements
    METER_READING = "meter_reading"
    AUDIT = "audit"  # auditors, compliance, regulator


class Action(StrEnum):
    VIEW = "view"  # read one supply point
    SEARCH = "search"  # search supply points (NW; retailers: own customers)
    LIST = "list"  # list own customers
    EXPORT = "export"  # a file to a recipient
    LOOKUP = "lookup"  # equal-footing supply-point lookup (ID + equipment + address key)
    READ_AUDIT = "read_audit"  # read the audit log / reports (no customer values)


class Relation(StrEnum):
    """The supply point's relation to the principal's organisation, at decision time."""

    OWN_CUSTOMER = "own_customer"  # the principal's retailer is the retailer of record
    OTHER_RETAILER = "other_retailer"  # another retailer (any kind) is the retailer of record
    NO_RETAILER = "no_retailer"  # vacant / closed / no current contract
    NOT_APPLICABLE = "not_applicable"  # principal is not a retailer (NW, contractor, regulator)


class Era(StrEnum):
    """When the data asked about dates from, relative to the caller's relationship with the
    point (I13). A retailer's relationship with a point begins at the later of the start of
    its own current supply and the last change of contract holder; for anyone who is not a
    retailer every datum is ``current``."""

    CURRENT = "current"  # inside the caller's relationship (or the caller is not a retailer)
    BEFORE_RELATIONSHIP = "before_relationship"  # dated before it began (or no relationship)


class DisasterState(StrEnum):
    NONE = "none"  # no active declaration (none declared, not yet started, or ended)
    ACTIVE_IN_AREA = "active_in_area"
    ACTIVE_OUT_OF_AREA = "active_out_of_area"


class AgreementState(StrEnum):
    """State of the principal's organisation's agreement for the declared purpose."""

    NONE = "none"
    VALID_IN_SCOPE = "valid_in_scope"  # valid now and its area covers the point
    VALID_OUT_OF_SCOPE = "valid_out_of_scope"  # valid now, point outside its area
    EXPIRED = "expired"  # not yet valid or already ended


class ConsentState(StrEnum):
    NONE = "none"
    VALID = "valid"  # a customer-consent token for this point, valid now
    EXPIRED = "expired"


class Recipient(StrEnum):
    """For exports: who the file goes to."""

    NONE = "none"  # not an export
    AGREEMENT_COUNTERPARTY = "agreement_counterparty"  # the counterparty of a valid agreement
    RETAILER = "retailer"  # any retailer organisation: never
    OTHER = "other"  # anyone else


@dataclass(frozen=True, slots=True)
class PrincipalFacts:
    org_kind: OrgKind
    retailer_kind: RetailerKind
    role: Role
    account_kind: AccountKind
    account_state: AccountState
    training_current: bool
    #: the caller is one of gridwall's own canary principals (issue 17; the fence, I17)
    canary: bool = False


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    kind: DeviceKind
    owner: DeviceOwner
    valid: bool  # registered and within its validity period


#: the reserved range of canary supply point IDs: this stem and three digits (issue 17). No real
#: dataset may load one (``gridwall load`` refuses it), and on PostgreSQL the second wall fences
#: them in SQL: a canary caller reads only these points, any other caller none of them.
CANARY_POINT_ID_STEM = "0100009999000000000"


@dataclass(frozen=True, slots=True)
class ResourceFacts:
    relation: Relation
    is_lrs: bool  # current supply is last-resort supply
    has_fit: bool  # has a FIT contract
    #: the data asked about is from the caller's relationship, or from before it (I13)
    era: Era = Era.CURRENT
    #: the point is one of gridwall's canary points (reserved IDs; the fence, I17)
    canary: bool = False


@dataclass(frozen=True, slots=True)
class GrantFacts:
    disaster: DisasterState = DisasterState.NONE
    agreement: AgreementState = AgreementState.NONE
    #: field groups the agreement names (meaningful when ``agreement`` is valid)
    agreement_fields: frozenset[str] = frozenset()
    consent: ConsentState = ConsentState.NONE
    recipient: Recipient = Recipient.NONE


@dataclass(frozen=True, slots=True)
class AccessRequest:
    """One request class: everything a decision may depend on, and nothing else."""

    principal: PrincipalFacts
    device: DeviceFacts
    action: Action
    purpose: Purpose
    resource: ResourceFacts
    grants: GrantFacts = field(default_factory=GrantFacts)


@dataclass(frozen=True, slots=True)
class FieldDecision:
    allowed: bool
    #: ids of the policies that determined it (permits that fired, or forbids
    #: that fired); empty for a default deny
    policy_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Decision:
    request: AccessRequest
    fields: dict[str, FieldDecision]

    @property
    def allowed_fields(self) -> frozenset[str]:
        return frozenset(f for f, d in self.fields.items() if d.allowed)

    @property
    def any_allowed(self) -> bool:
        return any(d.allowed for d in self.fields.values())

    @property
    def policy_ids(self) -> tuple[str, ...]:
        """All policy ids that decided any field (for the audit event)."""
        seen: dict[str, None] = {}
        for d in self.fields.values():
            for p in d.policy_ids:
                seen[p] = None
        return tuple(seen)

    def explain(self) -> str:
        parts = []
        for f, d in self.fields.items():
            why = ",".join(d.policy_ids) or "default-deny"
            parts.append(f"{f}={'allow' if d.allowed else 'deny'}({why})")
        return "; ".join(parts)


# --------------------------------------------------------------------------- grant management


class GrantStep(StrEnum):
    """One step of managing purpose-bound grants (the resource of a management decision)."""

    DISASTER_LIST = "disaster.list"
    DISASTER_DECLARE = "disaster.declare"
    DISASTER_APPROVE = "disaster.approve"
    DISASTER_EXTEND = "disaster.extend"
    DISASTER_END = "disaster.end"
    DISASTER_REPORT = "disaster.report"
    DISASTER_ATTEST_DELETION = "disaster.attest-deletion"
    AGREEMENT_LIST = "agreement.list"
    AGREEMENT_REGISTER = "agreement.register"
    AGREEMENT_END = "agreement.end"
    CONSENT_ISSUE = "consent.issue"
    CONSENT_REVOKE = "consent.revoke"
    #: the audit log's explorer: its entries (accounts, supply point IDs, decisions) with
    #: their inclusion proofs (the console's internal-audit page)
    AUDIT_EXPLORE = "audit.explore"
    #: signed checkpoints, the public key and the log's verification against the latest
    #: checkpoint (internal audit, compliance and the regulator; read-only)
    AUDIT_VERIFY = "audit.verify"
    #: read a retailer's transparency statement (gridwall.reports): who outside it
    #: accessed its customers' data
    REPORT_STATEMENT = "report.statement"
    # -- the console's first-line, second-line and administration pages (issue 12) ------
    #: the compliance (second line) pages: alert and case queue, rule catalogue, dashboard
    CONSOLE_COMPLIANCE = "console.compliance"
    #: the manager (first line) pages: access reviews and two-person changes awaiting one
    CONSOLE_MANAGER = "console.manager"
    #: recertify or revoke an entitlement in an access review (権限棚卸し)
    REVIEW_DECIDE = "review.decide"
    #: approve or reject another person's two-person change (二人承認: reactivations …)
    CHANGE_APPROVE = "change.approve"
    #: the administrator's pages: persons, accounts, terminals, HR import, training
    CONSOLE_ADMIN = "console.admin"
    #: retire (revoke) an enrolled terminal
    TERMINAL_RETIRE = "terminal.retire"
    #: request the enrolment of a key generated in a browser for a terminal (new or
    #: existing); it takes effect only on another person's ``change.approve``
    TERMINAL_ENROL = "terminal.enrol"
    #: apply an HR change file (人事異動): assignments, and the revocations they imply
    HR_IMPORT = "hr.import"
    #: record a person's compliance-training completion (研修)
    TRAINING_ATTEST = "training.attest"
    #: the self-report queue (自主申告): reports, their cases and statuses, the reporter
    #: shown as "anonymous" where the reporter asked for it (compliance, internal audit)
    SELFREPORT_QUEUE = "selfreport.queue"
    #: who made an anonymous self-report (compliance only: anonymous towards everyone else)
    SELFREPORT_IDENTITY = "selfreport.identity"
    #: write a public note the reporter reads with the receipt code (compliance only)
    SELFREPORT_NOTE = "selfreport.note"


#: The steps that grant or change access (I15: retailers, contractors and the regulator
#: never take them). Listing, reports and deletion attestations change nobody's access.
GRANTING_STEPS: frozenset[GrantStep] = frozenset(
    {
        GrantStep.DISASTER_DECLARE,
        GrantStep.DISASTER_APPROVE,
        GrantStep.DISASTER_EXTEND,
        GrantStep.DISASTER_END,
        GrantStep.AGREEMENT_REGISTER,
        GrantStep.AGREEMENT_END,
        GrantStep.CONSENT_ISSUE,
        GrantStep.CONSENT_REVOKE,
        # identity administration from the console: each grants or removes someone's access
        GrantStep.CHANGE_APPROVE,
        GrantStep.TERMINAL_RETIRE,
        GrantStep.TERMINAL_ENROL,
        GrantStep.HR_IMPORT,
        GrantStep.TRAINING_ATTEST,
    }
)


@dataclass(frozen=True, slots=True)
class ManageRequest:
    """One grant-management request class: who, on which terminal, which step, and the
    two facts about its object a decision may depend on (and nothing else)."""

    principal: PrincipalFacts
    device: DeviceFacts
    step: GrantStep
    #: the caller (or the same person under another account) made the request this step
    #: acts on (a declaration it would approve)
    own_request: bool = False
    #: the step is about the caller's own organisation (a deletion attestation for it)
    for_own_org: bool = False


@dataclass(frozen=True, slots=True)
class ManageDecision:
    request: ManageRequest
    allowed: bool
    #: the permits (allow) or forbids (deny) that decided; empty for a default deny;
    #: ``error:…`` when the engine could not decide (and denied)
    policy_ids: tuple[str, ...]


class CaseStep(StrEnum):
    """One step of the case workflow (the resource of a case decision, docs/cases.md)."""

    #: see the queue of cases (each listed case is then a ``case.view`` decision)
    LIST = "case.list"
    VIEW = "case.view"
    #: first line (the subject's line manager): confirm the facts, or explain them
    CONFIRM = "case.confirm"
    EXPLAIN = "case.explain"
    #: second line (compliance): decide, record the disciplinary outcome, reveal identity
    DECIDE = "case.decide"
    DISCIPLINE = "case.discipline"
    REVEAL = "case.reveal"
    #: third line (internal audit): sample closed cases, sign off or reopen
    SAMPLE = "case.sample"
    SIGNOFF = "case.signoff"
    REOPEN = "case.reopen"
    #: run the deadline clock (missed deadlines escalate to the next line)
    ESCALATE = "case.escalate"
    #: read (and acknowledge) one's own case notifications (the outbox, docs/cases.md)
    NOTIFICATIONS = "case.notifications"


#: the steps of the second line (compliance) and of the third line (internal audit)
SECOND_LINE_STEPS: frozenset[CaseStep] = frozenset(
    {CaseStep.DECIDE, CaseStep.DISCIPLINE, CaseStep.REVEAL}
)
THIRD_LINE_STEPS: frozenset[CaseStep] = frozenset(
    {CaseStep.SAMPLE, CaseStep.SIGNOFF, CaseStep.REOPEN}
)
FIRST_LINE_STEPS: frozenset[CaseStep] = frozenset({CaseStep.CONFIRM, CaseStep.EXPLAIN})


@dataclass(frozen=True, slots=True)
class CaseRequest:
    """One case-workflow request class: who, on which terminal, which step, and the facts
    about the caller's relation to the case's subject that separation of duties needs
    (computed by the app from HR data and identity's approvals; all false for
    ``case.list``, which is about no case)."""

    principal: PrincipalFacts
    device: DeviceFacts
    step: CaseStep
    #: the subject is the caller (the same person, under any account)
    about_self: bool = False
    #: the subject is in the caller's own manager chain (their manager, or above)
    about_own_manager: bool = False
    #: the caller approved a change for the subject (a reactivation, a role …)
    approved_subject: bool = False
    #: the caller is the case's first line (the subject's line manager it is routed to)
    first_line: bool = False
    #: the caller works in the subject's organisation unit (same department, or one
    #: above or below it): not independent of the subject
    in_subject_unit: bool = False


@dataclass(frozen=True, slots=True)
class CaseDecision:
    request: CaseRequest
    allowed: bool
    #: the determining policies; on refusal the forbids that fired (empty: default deny)
    policy_ids: tuple[str, ...]
