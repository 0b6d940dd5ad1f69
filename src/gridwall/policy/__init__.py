"""Access policy (アクセス制御ポリシー): Cedar policies decide, per field group, for every request.

* :class:`PolicyEngine` / :func:`default_engine` — decide an :class:`AccessRequest`
  (the schema and policies in ``gridwall/policy/cedar/`` are loaded and validated
  once; decisions are memoised per request class; any error denies everything).
* The request and decision types of :mod:`gridwall.interfaces.facts`.
* :class:`ManagementEngine` / :func:`default_management_engine` — decide a
  :class:`~gridwall.interfaces.facts.ManageRequest` (grant management: the policies in
  ``gridwall/policy/cedar/manage/``, same loader, same fail-closed rule).
* :class:`CaseEngine` / :func:`default_case_engine` — decide a
  :class:`~gridwall.interfaces.facts.CaseRequest` (the case workflow's separation of
  duties: the policies in ``gridwall/policy/cedar/cases/``).
* ``gridwall policy check`` proves the invariants (``docs/policy.md``), I15 with
  :func:`check_management`, I16 with :func:`check_cases`.
"""

from gridwall.interfaces.facts import (
    DISASTER_FIELDS,
    FIELDS,
    LOOKUP_FIELDS,
    NON_PUBLIC,
    AccessRequest,
    AccountKind,
    AccountState,
    Action,
    AgreementState,
    ConsentState,
    Decision,
    DeviceFacts,
    DeviceKind,
    DeviceOwner,
    DisasterState,
    FieldDecision,
    GrantFacts,
    OrgKind,
    PrincipalFacts,
    Purpose,
    Recipient,
    Relation,
    ResourceFacts,
    RetailerKind,
    Role,
)
from gridwall.policy._cases import CaseEngine, check_cases, default_case_engine
from gridwall.policy._engine import PolicyEngine, default_engine
from gridwall.policy._manage import (
    ManagementEngine,
    check_management,
    default_management_engine,
)

__all__ = [
    "DISASTER_FIELDS",
    "FIELDS",
    "LOOKUP_FIELDS",
    "NON_PUBLIC",
    "AccessRequest",
    "AccountKind",
    "AccountState",
    "Action",
    "AgreementState",
    "CaseEngine",
    "ConsentState",
    "Decision",
    "DeviceFacts",
    "DeviceKind",
    "DeviceOwner",
    "DisasterState",
    "FieldDecision",
    "GrantFacts",
    "ManagementEngine",
    "OrgKind",
    "PolicyEngine",
    "PrincipalFacts",
    "Purpose",
    "Recipient",
    "Relation",
    "ResourceFacts",
    "RetailerKind",
    "Role",
    "check_cases",
    "check_management",
    "default_case_engine",
    "default_engine",
    "default_management_engine",
]
