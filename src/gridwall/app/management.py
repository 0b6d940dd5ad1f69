"""Grant management, the parts every face shares: the request class a step is decided on,
who counts as the same person, the server console as a terminal, and which parties exist.

Every face (the HTTP routes of :mod:`gridwall.app.http.grants`, the ``gridwall disaster …``
commands of :mod:`gridwall.app.cli.grants`) builds its :class:`ManageRequest` here and asks
the one management engine (:mod:`gridwall.policy`, proven as I15 by ``gridwall policy
check``), so the faces cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from gridwall.interfaces import Principal, Terminal
from gridwall.interfaces.facts import DeviceFacts, DeviceKind, DeviceOwner, GrantStep, ManageRequest

if TYPE_CHECKING:
    from sqlalchemy import Engine

#: the terminal id recorded for steps taken at the server's own console (the CLI)
CONSOLE_DEVICE_ID = "server-console"


def manage_request(
    step: GrantStep,
    principal: Principal,
    terminal: Terminal,
    *,
    own_request: bool = False,
    for_own_org: bool = False,
) -> ManageRequest:
    """The management request class of one step by ``principal`` on ``terminal``."""
    return ManageRequest(
        principal=principal.facts,
        device=terminal.facts,
        step=step,
        own_request=own_request,
        for_own_org=for_own_org,
    )


def same_person(
    principal: Principal, account_id: str | None, person_of: Callable[[str], str | None]
) -> bool:
    """Is ``account_id`` the principal's own account, or another account of its person?"""
    if not account_id:
        return False
    if account_id == principal.account_id:
        return True
    person = person_of(account_id)
    return person is not None and person == principal.person_id


def console_terminal(principal: Principal) -> Terminal:
    """The server's console as a terminal: the operator's own machine, so an NW terminal
    owned by the operator (``nw``). For anyone else it is another organisation's terminal,
    and every management step is refused (I15e), as on the API from a foreign terminal."""
    owner = DeviceOwner.SAME_ORG if principal.org == "nw" else DeviceOwner.OTHER_ORG
    return Terminal(CONSOLE_DEVICE_ID, "nw", DeviceFacts(DeviceKind.NW_TERMINAL, owner, True))


class StoreParties:
    """Which supply points and organisations exist, for the grant desks (a consent for an
    unknown point or retailer, an attestation by an unknown organisation is refused).

    Points and retailers come from the gateway's tables (existence only, no customer
    data); contractors are known when identity has staff assigned to them or grants has
    an agreement with them. Anything it cannot read counts as unknown (fail closed).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def point_exists(self, supply_point_id: str) -> bool:
        from gridwall.gateway import supply_point_exists

        return supply_point_exists(self.engine, supply_point_id)

    def org_exists(self, org: str) -> bool:
        from gridwall.gateway import retailer_kinds
        from gridwall.grants import agreement_counterparties
        from gridwall.identity import assigned_orgs

        org = org.strip()
        if org in ("nw", "regulator"):
            return True
        if org.startswith("retail:"):
            return org.split(":", 1)[1] in retailer_kinds(self.engine)
        if org.startswith("contractor:"):
            return org in assigned_orgs(self.engine) or org in agreement_counterparties(self.engine)
        return False
