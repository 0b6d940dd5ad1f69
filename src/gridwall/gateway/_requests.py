"""What a request must carry before anything is asked: a known purpose, a well-formed ID,
limits within bounds. Refusals name the header or parameter (never a value)."""

from __future__ import annotations

from gridwall.gateway._errors import ID_DETAIL, BadRequest
from gridwall.interfaces.facts import Purpose
from gridwall.store.customer import is_valid_supply_point_id

MAX_SEARCH = 200
MAX_LIST = 1000
MAX_EXPORT = 10_000

_PURPOSES = {p.value: p for p in Purpose}


def parse_purpose(text: str | None) -> Purpose:
    """The declared purpose (``X-Gridwall-Purpose``), or :class:`BadRequest` naming the header."""
    if not text:
        raise BadRequest(
            "missing declared purpose (X-Gridwall-Purpose)", header="X-Gridwall-Purpose"
        )
    p = _PURPOSES.get(text.strip())
    if p is None:
        raise BadRequest(
            "unknown purpose; one of: " + ", ".join(_PURPOSES), header="X-Gridwall-Purpose"
        )
    return p


def check_id(supply_point_id: str, parameter: str = "supply_point_id") -> str:
    if not is_valid_supply_point_id(supply_point_id):
        raise BadRequest(ID_DETAIL, parameter=parameter)
    return supply_point_id
