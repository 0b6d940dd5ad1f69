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

__all__ = ["HIT_COLUMNS", "RULES", "AnyRule", "BaselineRule", "Baselines", "Reference", "Rule"]
