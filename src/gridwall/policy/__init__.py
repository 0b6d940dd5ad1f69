"""Access policy: Cedar policies decide, per field group, for every request.

Public surface: the request/decision types in :mod:`gridwall.policy.model`.
The engine (``PolicyEngine``) and the invariant checker are added by the
policy implementation.
"""

from gridwall.policy.model import (
    FIELDS,
    NON_PUBLIC,
    AccessRequest,
    Action,
    Decision,
    DeviceFacts,
    FieldDecision,
    GrantFacts,
    PrincipalFacts,
    Purpose,
    ResourceFacts,
)

__all__ = [
    "FIELDS",
    "NON_PUBLIC",
    "AccessRequest",
    "Action",
    "Decision",
    "DeviceFacts",
    "FieldDecision",
    "GrantFacts",
    "PrincipalFacts",
    "Purpose",
    "ResourceFacts",
]
