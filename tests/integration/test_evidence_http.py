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

from gridwall.audit import cosignature, merkle, note

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


@pytest.fixture
def witness_url(tmp_path: Path) -> Any:
    """A real witness over HTTP (uvicorn on a free port, in a thread)."""
    import socket
    import threading
    import time

    import uvicorn

    from gridwall.app.http.witness import create_witness_app
    from gridwall.audit import cosignature
    from gridwall.audit._witness import Witness

    key = cosignature.generate_cosigner("witness.example/w")
    kf = tmp_path / "witness.key"
    kf.write_text(key.text() + "\n")
    state = tmp_path / "witness.db"
    Witness.create(state, kf)
    w = Witness.open(state)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_witness_app(w), host="127.0.0.1", port=port, log_level="warning")
    )
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", key.verifier, w
    server.should_exit = True
    t.join(timeout=10)


def test_serve_has_new_checkpoints_cosigned_and_reports_a_fork(
    site: Site, witness_url: Any, tmp_path: Path
) -> None:
    from gridwall.app.canary import AlertOutbox

    url, wkey, witness = witness_url
    signer = note.generate_signer("test.example/audit")
    witness.add_log([signer.verifier])
    srv = site.server
    srv.signer, srv.witnesses, srv.witness_keys = signer, [url], [wkey]
    srv.alerts = AlertOutbox(tmp_path / "alerts.jsonl")
    site.log.register_key(signer.verifier, "test")
    site.client.get("/v1/audit/checkpoint")  # one event, so the log is not empty
    size = srv.checkpoint()
    assert size
    published = site.client.get("/v1/audit/checkpoint").text
    assert published.count("\u2014 witness.example/w ") == 1  # the witness's cosignature
    assert cosignature.require_quorum(published, [wkey])
    # the log grows: the next checkpoint extends the first, and is cosigned too
    site.client.get("/v1/audit/checkpoint")
    size2 = srv.checkpoint()
    assert size2 and size2 > size
    assert cosignature.require_quorum(site.client.get("/v1/audit/checkpoint").text, [wkey])
    assert not (tmp_path / "alerts.jsonl").exists()
    # a fork: another checkpoint of the same size with a different root
    forked = note.sign_note(note.checkpoint_body(signer.name, size2, b"\x01" * 32), [signer])
    before = site.log.size()
    assert srv.witness(forked, size2) is False
    alerts = [json.loads(x) for x in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert [a["rule"] for a in alerts] == ["witness"] and alerts[0]["severity"] == 5
    events = [json.loads(site.log.entry(i))["event"] for i in range(before, site.log.size())]
    assert [(e["screen"], e["decision"]) for e in events] == [("audit.witness", "deny")]
    assert witness.evidence()  # the witness kept both signed checkpoints of the fork
    # the published checkpoint is still the last cosigned one, not the fork
    assert "AQEBAQEB" not in site.client.get("/v1/audit/checkpoint").text


def test_witness_options_are_checked_before_anything_opens(sqlite_url: str) -> None:
    from gridwall.app import create_server_app
    from gridwall.errors import UsageError

    with pytest.raises(UsageError, match="--witness-url"):
        create_server_app(sqlite_url, witnesses=["http://127.0.0.1:1"])
    with pytest.raises(UsageError, match="--witness-key"):
        create_server_app(sqlite_url, witness_keys=["nonsense"])
