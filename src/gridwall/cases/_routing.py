"""Routing a case to the first line from HR data, and the relations separation of duties
forbids (computed here, decided by Cedar in the app layer).

HR assignments name an organisation, a department and a role, not a manager. The line
manager of a person at an instant is the person with role ``manager`` in the same
organisation whose department is the person's own or the nearest one above it
(departments are paths, ``託送業務部/託送一課``); a manager's own line manager sits strictly
above their department. Ties go to the lowest person id, so routing is reproducible.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from gridwall.interfaces import HrDirectory, HrPosition

MANAGER_ROLE = "manager"


def _path(department: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (department or "").split("/") if p.strip())


def _above_or_same(upper: tuple[str, ...], lower: tuple[str, ...]) -> bool:
    return len(upper) <= len(lower) and lower[: len(upper)] == upper


def line_manager(hr: HrDirectory, person_id: str, at: datetime) -> str | None:
    """The person's line manager at ``at`` (None: no assignment, or no manager above)."""
    me = hr.position(person_id, at)
    if me is None:
        return None
    mine = _path(me.department)
    best: tuple[int, str] | None = None
    for p in hr.positions(me.org, at):
        if p.person_id == person_id or p.role != MANAGER_ROLE:
            continue
        theirs = _path(p.department)
        if not _above_or_same(theirs, mine):
            continue
        if me.role == MANAGER_ROLE and len(theirs) >= len(mine):
            continue  # a manager's manager sits above their department
        key = (-len(theirs), p.person_id)
        if best is None or key < best:
            best = key
    return best[1] if best else None


def manager_chain(hr: HrDirectory, person_id: str, at: datetime) -> list[str]:
    """The person's managers at ``at``, nearest first."""
    out: list[str] = []
    cur = person_id
    while True:
        nxt = line_manager(hr, cur, at)
        if nxt is None or nxt in out or nxt == person_id:
            return out
        out.append(nxt)
        cur = nxt


def same_unit(a: HrPosition | None, b: HrPosition | None) -> bool:
    """Whether two people sit in one organisation unit (same department, or one above
    the other, in the same organisation)."""
    if a is None or b is None or a.org != b.org:
        return False
    pa, pb = _path(a.department), _path(b.department)
    return _above_or_same(pa, pb) or _above_or_same(pb, pa)


@dataclass(frozen=True)
class Relation:
    """The caller's relation to a case's subject: the facts of a case decision, with the
    detail each refusal names."""

    about_self: bool
    about_own_manager: bool
    approved_subject: bool
    first_line: bool
    in_subject_unit: bool
    approval: str | None = None


def relation(
    hr: HrDirectory,
    actor_person: str | None,
    subject_person: str | None,
    first_line: str | None,
    instants: Iterable[datetime],
) -> Relation:
    """How ``actor_person`` relates to ``subject_person`` at every one of ``instants``
    (the alert's time and now: a relation at either counts). An actor with no person
    relates to nobody, and is then refused by every permit that needs a line."""
    if actor_person is None or subject_person is None:
        return Relation(
            about_self=False,
            about_own_manager=False,
            approved_subject=False,
            first_line=False,
            in_subject_unit=False,
        )
    times = list(instants)
    chain = {m for t in times for m in manager_chain(hr, actor_person, t)}
    unit = any(
        same_unit(hr.position(actor_person, t), hr.position(subject_person, t)) for t in times
    )
    approval = hr.approvals_by(actor_person).get(subject_person)
    return Relation(
        about_self=actor_person == subject_person,
        about_own_manager=subject_person in chain,
        approved_subject=approval is not None,
        first_line=first_line is not None and first_line == actor_person,
        in_subject_unit=unit,
        approval=approval,
    )
