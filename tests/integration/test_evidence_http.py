"""Evidence over HTTP through the composed app: retailer statements (``GET
/v1/reports/statement``), the published checkpoint and proofs, and ``serve``'s witnessing
of each new checkpoint (cosigned when consistent; a forked log refused and alerted)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gridwall.audit import merkle, note

from .site import AFF, IND, KASUMI, MINATO, Site, build_site

SECRET = "operator-secret-for-tests-0123456789"
DAY = "2026-11-25"
MANAGERS = [("aff-mgr", "P-AFF-MGR", f"retail:{AFF}", "T-AFF"),
            ("ind-mgr", "P-IND-MGR", f"retail:{IND}", "T-IND")]  # fmt: skip


@pytest.fixture
def evidence_site(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    key = tmp_path / "pseudonym.key"
    key.write_text(SECRET)
    monkeypatch.setenv("GRIDWALL_PSEUDONYM_KEY", str(key))
    site = build_site(db_url, tmp_path)
    svc = site.server.identity
    before = site.clock() - timedelta(days=30)
    from datetime import date

    from gridwall.identity import attest_training

    from .site import PASSWORD

    for account, person, org, _ in MANAGERS:
        svc.create_person(person, account, org, "manager", before, valid_from=before)
        svc.create_account(account, person, before)
        svc.set_password(account, PASSWORD, before)
        site.totp[account], _ = svc.enroll_totp(account, before)
        attest_training(svc, person, date(2026, 10, 1), "P-NW-COMP", site.clock())
    yield site
    site.server.close()


def _seed(site: Site) -> note.Signer:
    """NW staff read one AFF customer and one IND customer; then a signed checkpoint."""
    h = site.headers("nw-op", "T-NW", "takuso")
    for p in (KASUMI, MINATO):
        assert site.client.get(f"/v1/supply-points/{p}", headers=h).status_code == 200
    signer = note.generate_signer("test.example/audit")
    site.log.register_key(signer.verifier, "test")
    site.log.checkpoint([signer])
    return signer


def _statement(site: Site, account: str, device: str, **q: str) -> Any:
    h = site.headers(account, device, "audit")
    return site.client.get("/v1/reports/statement", params={"from": DAY, "to": DAY, **q}, headers=h)


def test_statement_lists_only_own_customers_with_proofs(evidence_site: Site) -> None:
    site = evidence_site
    signer = _seed(site)
    got = {}
    for account, _, org, device in MANAGERS:
        r = _statement(site, account, device)
        assert r.status_code == 200, r.text
        got[org] = r.json()
    aff, ind = got[f"retail:{AFF}"], got[f"retail:{IND}"]
    assert [a["supply_point_ids"] for a in aff["accesses"]] == [[KASUMI]]
    assert [a["supply_point_ids"] for a in ind["accesses"]] == [[MINATO]]
    assert MINATO not in json.dumps(aff) and KASUMI not in json.dumps(ind)
    # affiliated and independent answers have the same structure
    assert aff.keys() == ind.keys()
    assert aff["accesses"][0].keys() == ind["accesses"][0].keys()
    # NW staff pseudonymised; each access provable against the embedded checkpoint
    for st in (aff, ind):
        cp = note.open_checkpoint(st["checkpoint"], [signer.verifier])
        for a in st["accesses"]:
            assert "nw-op" not in json.dumps(a) and "P-NW-OP" not in json.dumps(a)
            proof = [base64.b64decode(x) for x in a["inclusion_proof"]]
            leaf = base64.b64decode(a["leaf_hash"])
            assert merkle.verify_inclusion(leaf, a["index"], cp.size, proof, cp.root)


def test_another_retailers_statement_is_refused_and_audited(evidence_site: Site) -> None:
    site = evidence_site
    _seed(site)
    size = site.log.size()
    r = _statement(site, "aff-mgr", "T-AFF", retailer=IND)
    assert r.status_code == 403, r.text
    assert MINATO not in r.text
    events = [e for e in site.events_since(size) if e["screen"] == "api/report.statement"]
    assert len(events) == 1 and events[0]["decision"] == "deny"
    assert events[0]["account_id"] == "aff-mgr"
    # a call-centre agent of the retailer may not read even its own statement
    assert _statement(site, "aff-agent", "T-AFF").status_code == 403


def test_published_checkpoint_and_proofs(evidence_site: Site) -> None:
    site = evidence_site
    signer = _seed(site)
    r = site.client.get("/v1/audit/checkpoint")
    assert r.status_code == 200
    cp = note.open_checkpoint(r.text, [signer.verifier])
    assert cp.size == site.log.latest_checkpoint().size
    r = site.client.get("/v1/audit/proof", params={"index": 0})
    proof = [base64.b64decode(x) for x in r.text.split()]
    leaf = merkle.leaf_hash(site.log.entry(0))
    assert merkle.verify_inclusion(leaf, 0, cp.size, proof, cp.root)
    r = site.client.get("/v1/audit/consistency", params={"old": 1, "new": cp.size})
    assert r.status_code == 200
    cons = [base64.b64decode(x) for x in r.text.split()]
    assert merkle.verify_consistency(1, cp.size, cons, site.log.root(1), cp.root)
    bad = site.client.get("/v1/audit/consistency", params={"old": "x", "new": 1})
    assert bad.status_code == 400 and "old" in bad.text
