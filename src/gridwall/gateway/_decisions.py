"""The lookup's decision, built by the gateway (the one place that builds access requests).

The equal-footing lookup (照会) answers addresses and equipment of points that are not the
caller's own; it asks the gateway whether this caller may use it, for a point under
last-resort supply or not, instead of building an :class:`AccessRequest` itself (a lookup
that built its own request once got the LRS fact wrong and leaked addresses, I3).
"""

from __future__ import annotations

from gridwall.interfaces import PolicyEngine, Principal, Terminal
from gridwall.interfaces.facts import (
    AccessRequest,
    Action,
    Decision,
    OrgKind,
    Purpose,
    Relation,
    ResourceFacts,
)


def lookup_request(
    principal: Principal, terminal: Terminal, purpose: Purpose, *, is_lrs: bool
) -> AccessRequest:
    """The request class of one lookup answer: a retailer is asked about points as if they
    were another retailer's (the lookup never tells whose a point is), anyone else as
    not applicable."""
    retail = principal.facts.org_kind is OrgKind.RETAIL
    rel = Relation.OTHER_RETAILER if retail else Relation.NOT_APPLICABLE
    return AccessRequest(
        principal=principal.facts,
        device=terminal.facts,
        action=Action.LOOKUP,
        purpose=Purpose(purpose),
        resource=ResourceFacts(rel, is_lrs, False),
    )


class LookupDecisions:
    """A :class:`gridwall.interfaces.LookupDecider` over a policy engine, for a lookup
    served without a gateway object (the CLI, tests, benchmarks). The served app hands the
    lookup its :class:`~gridwall.gateway.Gateway`, whose ``decide_lookup`` shares the
    gateway's decision cache."""

    def __init__(self, policy: PolicyEngine) -> None:
        self.policy = policy

    def decide_lookup(
        self, principal: Principal, terminal: Terminal, purpose: Purpose, *, is_lrs: bool
    ) -> Decision:
        return self.policy.decide(lookup_request(principal, terminal, purpose, is_lrs=is_lrs))
