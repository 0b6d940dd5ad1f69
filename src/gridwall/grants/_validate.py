"""Grants' identifiers and organisations: what a well-formed one looks like."""

from __future__ import annotations

import re

_ORG_RE = re.compile(r"^(nw|regulator|retail:[A-Za-z0-9_\-]+|contractor:[A-Za-z0-9_\-.]+)$")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-.:]{0,63}$")


def check_org(org: str) -> str:
    """Validate an organisation code (``nw | retail:<code> | contractor:<id> | regulator``)."""
    org = org.strip()
    if not _ORG_RE.match(org):
        raise ValueError(
            f"organisation {org!r}: expected nw | retail:<retailer_code> | "
            "contractor:<id> | regulator"
        )
    return org


def check_id(value: str, what: str) -> str:
    value = value.strip()
    if not _ID_RE.match(value):
        raise ValueError(f"{what} {value!r}: use 1-64 letters, digits, '_', '-', '.', ':'")
    return value


def is_retailer(org: str) -> bool:
    return org.strip().startswith("retail:")
