"""A refusal's detail as a page shows it: from the message catalogue, never a capability's
English text (issue 12: any 400/403 detail on a page is in the page's language).

The gateway's, identity's and the grant desks' refusals carry English details meant for the
API and the CLI (and the audit log, which keeps them as they are). A page passes each one
through :func:`localise`: a detail of a known form becomes its catalogue message, with the
values it names (a change number, a campaign, a limit) kept; any other detail becomes one
neutral catalogue message. Nothing of an unknown English text reaches a page.
"""

from __future__ import annotations

import re
from collections.abc import Callable


def N_(message: str) -> str:
    """gettext's marker: the message is extracted into the catalogue, translated when shown."""
    return message


#: (the form of a capability's detail, its catalogue message with the form's named values)
DETAILS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), message)
    for pattern, message in (
        # the gateway (gridwall.gateway._errors, _requests, _gateway)
        (r"supply_point_id must be 22 digits.*",
         N_("The supply point ID must be 22 digits, beginning with an area code from 01 to 10.")),
        (r"(item (?P<item>\d+): )supply_point_id must be 22 digits.*",
         N_("Item %(item)s: the supply point ID must be 22 digits, beginning with an area code "
            "from 01 to 10.")),
        (r"give at least one search criterion", N_("Give at least one search criterion.")),
        (r"limit must be 1\.\.(?P<max>\d+)",
         N_("The number of results must be from 1 to %(max)s.")),
        (r"missing declared purpose.*", N_("Declare the purpose of use.")),
        (r"unknown purpose.*", N_("The purpose of use is not one of the known purposes.")),
        # identity's governance steps (gridwall.identity._governance)
        (r"two-person rule: the requester cannot approve their own change",
         N_("Two-person rule: the requester cannot approve their own change.")),
        (r"two-person rule: the holder cannot approve their own account",
         N_("Two-person rule: the holder cannot approve a change of their own account.")),
        (r"unknown change #(?P<id>\d+)", N_("There is no change number %(id)s.")),
        (r"device_id: terminal '(?P<device>[^']*)' already has an enrolment awaiting "
         r"approval \(change #(?P<id>\d+)\)",
         N_("Terminal %(device)s already has an enrolment awaiting approval (change #%(id)s).")),
        (r"change #(?P<id>\d+) is already (?P<status>\w+)",
         N_("Change %(id)s has already been decided (%(status)s).")),
        (r"change #(?P<id>\d+) is stale: .*",
         N_("Change %(id)s is out of date: the subject has changed since. Request it again.")),
        (r"a person cannot recertify their own access",
         N_("Nobody may recertify their own access.")),
        (r"unknown campaign '(?P<campaign>[^']*)'",
         N_("There is no review campaign %(campaign)s.")),
        (r"campaign (?P<campaign>\S+) passed its deadline .*",
         N_("Review campaign %(campaign)s has passed its deadline; its pending items lapsed.")),
        (r"no pending items of (?P<account>\S+) in (?P<campaign>\S+)",
         N_("Account %(account)s has no pending item in review campaign %(campaign)s.")),
        (r"unknown account '(?P<account>[^']*)'", N_("There is no account %(account)s.")),
        (r".* has no owner: only a manager of (?P<org>\S+) may decide it",
         N_("This item has no owner: only a manager of %(org)s may decide it.")),
        (r".* is owned by (?P<owner>\S+), not \S+",
         N_("This item is owned by %(owner)s: only they may decide it.")),
        (r"account (?P<account>\S+) belongs to (?P<org>\S+); its holder is now in .*",
         N_("Account %(account)s belongs to %(org)s, and its holder has moved elsewhere.")),
        (r"--by: a person cannot attest their own training",
         N_("Nobody may attest their own training.")),
        (r"--date: a training completion cannot be in the future",
         N_("A training completion cannot be in the future.")),
        # the grant desks' disaster declarations (gridwall.grants._disaster)
        (r".*the approver must be a second person, not the requester.*",
         N_("Two-person rule: the approver must be a second person, not the requester.")),
        (r".*already approved.*", N_("The declaration is already approved.")),
        (r".*it was cancelled.*", N_("The declaration was cancelled.")),
        (r".*its planned end .* has passed.*", N_("The declaration's planned end has passed.")),
    )
)  # fmt: skip
#: a detail that names the form field or parameter it refuses (``proof: …``, ``--org: …``):
#: the capabilities' convention for bad input, whatever the field
FIELD = re.compile(r"(?P<field>(?:--)?[a-z][a-z0-9_-]*): .+", re.S)
#: its catalogue message: the field stays named (bad input names its field), the English
#: reason stays in the audit log
FIELD_MESSAGE = N_("The value given for %(field)s was not accepted. Correct it and try again.")
#: every other detail
OTHER = N_("The request was refused. The reason is recorded in the audit log.")


def localise(detail: str, gettext: Callable[[str], str], *, names_field: bool = False) -> str:
    """``detail`` as the page's language says it (see the module's docstring).
    ``names_field``: the detail is a bad-input error, which by the capabilities' convention
    begins with the field or option it refuses; that name stays on the page."""
    text = detail.strip()
    for pattern, message in DETAILS:
        m = pattern.fullmatch(text)
        if m is not None:
            values = {k: v for k, v in m.groupdict().items() if v is not None}
            return gettext(message) % values if values else gettext(message)
    m = FIELD.fullmatch(text) if names_field else None
    if m is not None:
        return gettext(FIELD_MESSAGE) % {"field": m["field"]}
    return gettext(OTHER)
