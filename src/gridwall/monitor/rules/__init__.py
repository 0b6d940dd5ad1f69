"""The rule catalogue: one declarative detector per module entry (see ``_base``)."""

from __future__ import annotations

from gridwall.monitor.rules import a, anomaly, b, c1, c2, c3, fit, lrs, r1, r6, r_switching
from gridwall.monitor.rules._base import (
    HIT_COLUMNS,
    AnyRule,
    BaselineRule,
    Baselines,
    Reference,
    Rule,
)

RULES: tuple[AnyRule, ...] = (
    a.RULE,
    b.RULE,
    c1.RULE,
    c2.RULE,
    c3.RULE_TRANSFERRED,
    c3.RULE_REVOKED,
    c3.RULE_NW_ID_ELSEWHERE,
    c3.RULE_CONCURRENT,
    r1.RULE,
    r_switching.RULE_R2,
    r_switching.RULE_R3,
    r_switching.RULE_R4,
    r_switching.RULE_R5,
    r6.RULE,
    lrs.RULE,
    fit.RULE,
    *anomaly.RULES,
)

#: Incident types, most specific first. When several rules fire on the same event, the alert of
#: the most specific type leads it and the others are listed as related (one classification
#: per case): an identity misuse (C3) or a purpose-bound grant abused (B, LRS, FIT) says more
#: than "a retailer saw another's customer" (A); a lookup's context (R2–R6) says more than the
#: bare lookup (R1); a bulk analysis (R6) explains its own exports (C1); a shared ID (C3)
#: explains the foreign terminal it was used from (C2); baselines (ANOMALY) come last.
SPECIFICITY: tuple[str, ...] = (
    "C3",
    "B",
    "LRS",
    "FIT",
    "R6",
    "R4",
    "R5",
    "R3",
    "R2",
    "R1",
    "C1",
    "C2",
    "A",
    "ANOMALY",
)

__all__ = [
    "HIT_COLUMNS",
    "RULES",
    "SPECIFICITY",
    "AnyRule",
    "BaselineRule",
    "Baselines",
    "Reference",
    "Rule",
]
