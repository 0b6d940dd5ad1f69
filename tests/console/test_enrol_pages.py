"""Terminal enrolment from the browser (no browser here; tests/console/test_browser_enrol.py
drives Chromium): the administrator files a key generated in the browser, nothing changes
until a second person approves it, then the key is the terminal's and bound to its
organisation. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridwall.errors import UsageError
from gridwall.identity import (
    decide_change,
    enrolment_statement,
    list_changes,
    request_terminal_enrolment,
)
from gridwall.identity._keys import private_key_text
from gridwall.identity._models import Alert
from gridwall.identity._models import Terminal as TerminalRow
from integration.site import AFF, Site

from .conftest import Console
from .test_governance_pages import add_person, screens


class BrowserKey:
    """What static/terminal.js does on the enrolment page: a fresh Ed25519 key pair, the
    public key as hex and a signature of the enrolment statement (proof of possession)."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.key = Ed25519PrivateKey.generate()
        raw = self.key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public = raw.hex()
        sig = self.key.sign(enrolment_statement(device, self.public))
        self.proof = base64.urlsafe_b64encode(sig).rstrip(b"=").decode()

    def install(self, site: Site) -> None:
        """This browser's key, for the test client's terminal cookie."""
        site.keys[self.device] = private_key_text(self.key, self.device, "terminal")


@pytest.fixture
def admin(any_site: Site) -> Site:
    add_person(any_site, "nw-admin", "P-NW-ADM", "nw", "it_maintenance")
    return any_site


def terminal_row(site: Site, device: str) -> TerminalRow | None:
    with Session(site.server.identity.engine) as s:
        return s.get(TerminalRow, device)


def new_terminal(key: BrowserKey, org: str = f"retail:{AFF}") -> dict[str, str]:
    return {"mode": "new", "new_device_id": key.device, "org": org, "kind": "retail_terminal",
            "location": "本社 2F", "public_key": key.public, "proof": key.proof}  # fmt: skip


def test_enrolment_is_pending_until_a_second_person_approves_it(admin: Site) -> None:
    svc = admin.server.identity
    key = BrowserKey("R-NEW")
    key.install(admin)
    c = Console(admin)
    assert c.signin("nw-admin", "T-NW") == 303
    page = c.client.get("/console/admin/enrol")
    assert page.status_code == 200 and 'class="stack enrol-form"' in page.text
    c.token()
    before = admin.log.size()
    r = c.client.post("/console/admin/enrol", data={"csrf": c.token(), **new_terminal(key)})
    assert r.status_code == 200, r.text[:800]
    assert "登録を申請しました" in r.text
    assert screens(admin, before) == [("console/terminal.enrol", "allow")]
    (change,) = [x for x in list_changes(svc) if x.kind == "terminal_enrol"]
    assert (change.subject, change.status, change.new_value) == ("R-NEW", "pending", key.public)
    row = terminal_row(admin, "R-NEW")
    assert row is not None and row.owner_org == f"retail:{AFF}" and row.public_key is None
    # pending: this browser's key signs nothing in (refused like any unenrolled terminal)
    agent = Console(admin)
    assert agent.signin("aff-agent", "R-NEW") == 401
    # a second request for the same terminal waits for the first
    again = BrowserKey("R-NEW")
    r = c.client.post(
        "/console/admin/enrol",
        data={"csrf": c.token(), "mode": "existing", "device_id": "R-NEW",
              "public_key": again.public, "proof": again.proof},
    )  # fmt: skip
    assert r.status_code == 403 and f"change #{change.change_id}" in r.text
    # the requester can never approve it: not on the page (not a manager: the policy) …
    before = admin.log.size()
    r = c.client.post(
        "/console/manager/change",
        data={"csrf": c.token(), "change_id": str(change.change_id), "decision": "approve"},
    )
    assert r.status_code == 403
    assert screens(admin, before) == [("console/change.approve", "deny")]
    # … nor in identity itself (the two-person rule, behind the policy)
    with pytest.raises(UsageError, match="two-person"):
        decide_change(svc, change.change_id, "P-NW-ADM", admin.clock(), approve=True)
    row = terminal_row(admin, "R-NEW")
    assert row is not None and row.public_key is None
    # a second person (an NW manager) approves: the key is the terminal's
    m = Console(admin)
    assert m.signin("nw-mgr", "T-NW") == 303
    listed = m.client.get("/console/manager").text
    assert "terminal_enrol" in listed and "R-NEW" in listed
    r = m.client.post(
        "/console/manager/change",
        data={"csrf": m.token(), "change_id": str(change.change_id), "decision": "approve"},
    )
    assert r.status_code == 200 and "変更を承認しました" in r.text
    row = terminal_row(admin, "R-NEW")
    assert row is not None and row.public_key == key.public and row.enrolled_at is not None
    assert agent.signin("aff-agent", "R-NEW") == 303


def test_a_browser_enrolled_to_one_retailer_is_refused_for_another_with_c2(admin: Site) -> None:
    svc = admin.server.identity
    key = BrowserKey("R-AFF-2")
    key.install(admin)
    cid = request_terminal_enrolment(
        svc, key.device, key.public, key.proof, "P-NW-ADM", admin.clock(),
        register=(f"retail:{AFF}", "retail_terminal", None),
    )  # fmt: skip
    decide_change(svc, cid, "P-NW-MGR", admin.clock(), approve=True)
    c = Console(admin)
    assert c.signin("ind-agent", key.device) == 403
    assert "この端末ではサインインできません" in c.last.text or "Access refused" in c.last.text
    with Session(svc.engine) as s:
        alerts = list(s.scalars(select(Alert).where(Alert.account_id == "ind-agent")))
    assert [(a.rule, a.incident_type) for a in alerts] == [("other_org_terminal", "C2")]
    assert key.device in alerts[0].device_ids
    assert c.signin("aff-agent", key.device) == 303


def test_bad_enrolments_name_the_field_and_change_nothing(admin: Site) -> None:
    key = BrowserKey("R-BAD")
    c = Console(admin)
    assert c.signin("nw-admin", "T-NW") == 303
    forged = BrowserKey("R-OTHER")  # a signature over another device's statement
    cases = {
        "proof": {**new_terminal(key), "proof": forged.proof},
        "public_key": {**new_terminal(key), "public_key": "zz" * 32},
        "kind": {**new_terminal(key), "kind": "disaster_terminal"},
        "--org": {**new_terminal(key), "org": "retail:"},
        "mode": {**new_terminal(key), "mode": "both"},
    }
    for name, data in cases.items():
        r = c.client.post("/console/admin/enrol", data={"csrf": c.token(), **data})
        assert r.status_code in (400, 403), (name, r.status_code)
        assert name in r.text, (name, r.text[r.text.find("<main") :][:600])
    before = admin.log.size()
    r = c.client.post("/console/admin/enrol", data=new_terminal(key))  # no CSRF token
    assert r.status_code == 403 and admin.log.size() == before + 1  # the refusal, only
    assert terminal_row(admin, "R-BAD") is None
    assert not [x for x in list_changes(admin.server.identity) if x.kind == "terminal_enrol"]
    # only the NW's administrators file enrolments (the policy), refused and recorded
    m = Console(admin)
    assert m.signin("nw-mgr", "T-NW") == 303
    m.token()
    before = admin.log.size()
    r = m.client.post("/console/admin/enrol", data={"csrf": m.token(), **new_terminal(key)})
    assert r.status_code == 403
    assert screens(admin, before) == [("console/terminal.enrol", "deny")]
    assert terminal_row(admin, "R-BAD") is None


def test_an_approval_after_the_key_changed_is_stale(admin: Site) -> None:
    svc = admin.server.identity
    key = BrowserKey("T-IND")
    cid = request_terminal_enrolment(svc, "T-IND", key.public, key.proof, "P-NW-ADM",
                                     admin.clock())  # fmt: skip
    svc.enroll_terminal("T-IND", admin.clock())  # re-keyed by the CLI meanwhile
    with pytest.raises(UsageError, match="stale"):
        decide_change(svc, cid, "P-NW-MGR", admin.clock(), approve=True)
    svc.revoke_terminal("T-IND", admin.clock())
    with pytest.raises(UsageError, match="retired"):
        request_terminal_enrolment(svc, "T-IND", key.public, key.proof, "P-NW-ADM",
                                   admin.clock())  # fmt: skip
