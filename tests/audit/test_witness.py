"""The witness (C2SP tlog-witness) and its cosignatures (C2SP tlog-cosignature).

The cosignature layout is checked by an independent reading of the spec written here
with only hashlib, base64 and cryptography; the witness is driven with checkpoints of
in-memory Merkle trees, honest and forked.
"""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridwall.audit import cosignature, merkle, note
from gridwall.audit._witness import (
    SIZE_CONTENT_TYPE,
    Witness,
    WitnessRefusal,
    format_request,
    parse_request,
)

ORIGIN = "op.example/audit"
T0 = 1_790_000_000


def _leaves(n: int, fork_at: int | None = None) -> list[bytes]:
    """n leaf hashes; from ``fork_at`` on, another history (a forked log)."""
    return [
        merkle.leaf_hash(f"{'forked' if fork_at is not None and i >= fork_at else 'e'}{i}".encode())
        for i in range(n)
    ]


def _cp(signer: note.Signer, leaves: list[bytes]) -> str:
    return note.sign_note(note.checkpoint_body(ORIGIN, len(leaves), merkle.root(leaves)), [signer])


class Log:
    """An in-memory log that signs checkpoints and proves consistency (or lies)."""

    def __init__(self, signer: note.Signer, fork_at: int | None = None) -> None:
        self.signer = signer
        self.fork_at = fork_at

    def leaves(self, n: int) -> list[bytes]:
        return _leaves(n, self.fork_at)

    def checkpoint(self, n: int) -> str:
        return _cp(self.signer, self.leaves(n))

    def request(self, old: int, n: int) -> bytes:
        proof = merkle.consistency_proof(self.leaves(n), old, n) if 0 < old < n else []
        return format_request(old, proof, self.checkpoint(n))


@pytest.fixture
def wkey() -> cosignature.CosignerKey:
    return cosignature.generate_cosigner("witness.example/w1")


@pytest.fixture
def witness(tmp_path: Path, wkey: cosignature.CosignerKey, signer: note.Signer) -> Witness:
    kf = tmp_path / "w.key"
    kf.write_text(wkey.text() + "\n")
    Witness.create(tmp_path / "w.db", kf)
    clock = iter(range(T0, T0 + 10_000))
    w = Witness.open(tmp_path / "w.db")
    w.clock = lambda: float(next(clock))
    w.add_log([signer.verifier], ORIGIN)
    return w


def _independent_verify(line: str, body: str, name: str, pub: bytes) -> int:
    """tlog-cosignature read afresh: returns the timestamp or raises."""
    assert line.startswith("\u2014 ") and line.endswith("\n")
    got_name, b64 = line[2:-1].split(" ")
    assert got_name == name
    raw = base64.b64decode(b64, validate=True)
    assert len(raw) == 4 + 8 + 64
    key_id = hashlib.sha256(name.encode() + b"\x0a" + b"\x04" + pub).digest()[:4]
    assert raw[:4] == key_id
    ts = int.from_bytes(raw[4:12], "big")
    message = b"cosignature/v1\n" + b"time " + str(ts).encode() + b"\n" + body.encode()
    Ed25519PublicKey.from_public_bytes(pub).verify(raw[12:], message)  # raises if bad
    return ts


def test_cosignature_layout_matches_the_spec(wkey: cosignature.CosignerKey) -> None:
    body = f"{ORIGIN}\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    line = cosignature.cosign(wkey, body, 1679315147)
    assert _independent_verify(line, body, wkey.name, wkey.public_key) == 1679315147
    # the vkey: name + hex key ID + base64(0x04 ‖ public key)
    name, hid, b64 = wkey.verifier.text().split("+", 2)
    assert base64.b64decode(b64) == b"\x04" + wkey.public_key
    assert hid == hashlib.sha256(name.encode() + b"\n\x04" + wkey.public_key).digest()[:4].hex()
    assert cosignature.CosignerVerifier.parse(wkey.verifier.text()) == wkey.verifier
    assert cosignature.CosignerKey.parse(wkey.text()) == wkey
    # a witness key is not a log key, and the other way round (the type byte differs)
    with pytest.raises(note.NoteError):
        note.Signer.parse(wkey.text())
    with pytest.raises(note.NoteError):
        cosignature.CosignerVerifier.parse(note.generate_signer("x").verifier.text())


def test_cosigned_checkpoint_verifies_and_tampering_fails(
    signer: note.Signer, wkey: cosignature.CosignerKey
) -> None:
    cp = _cp(signer, _leaves(9))
    body = cp[: cp.rfind("\n\n") + 1]
    cosigned = cp + cosignature.cosign(wkey, body, T0)
    # still a valid log checkpoint: the cosignature is an unknown key to the log verifier
    assert note.open_checkpoint(cosigned, [signer.verifier]).size == 9
    got = cosignature.require_quorum(cosigned, [wkey.verifier], now=T0)
    assert [(c.witness, c.timestamp) for c in got] == [(wkey.verifier, T0)]
    # the cosignature line does not pass as the log's signature
    with pytest.raises(note.NoteError):
        note.open_checkpoint(cp[: cp.rfind("\n\n") + 2] + cosigned.splitlines(True)[-1], [])
    # a changed timestamp (the signature covers it) or root fails
    raw = bytearray(base64.b64decode(cosigned.splitlines()[-1].split(" ")[2]))
    raw[11] ^= 1
    bad_ts = cp + f"\u2014 {wkey.name} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(note.NoteError, match="does not verify"):
        cosignature.open_cosignatures(bad_ts, [wkey.verifier], now=T0 + 10)
    # no cosignature at all, or another witness's: quorum not met
    with pytest.raises(cosignature.WitnessQuorumError):
        cosignature.require_quorum(cp, [wkey.verifier])
    other = cosignature.generate_cosigner("witness.example/w2")
    with pytest.raises(cosignature.WitnessQuorumError, match=r"missing: witness\.example/w2"):
        cosignature.require_quorum(cosigned, [wkey.verifier, other.verifier], now=T0)
    assert len(cosignature.require_quorum(cosigned, [wkey.verifier, other.verifier], 1)) == 1
    # dated in the future beyond the allowed skew
    future = cp + cosignature.cosign(wkey, body, int(time.time()) + 3600)
    with pytest.raises(note.NoteError, match="future"):
        cosignature.open_cosignatures(future, [wkey.verifier])


def test_witness_accepts_a_consistent_sequence(
    witness: Witness, signer: note.Signer, wkey: cosignature.CosignerKey
) -> None:
    log = Log(signer)
    old = 0
    for n in (1, 5, 5, 13, 16, 64, 100):
        line = witness.add_checkpoint(log.request(old, n))
        cp = log.checkpoint(n)
        body = cp[: cp.rfind("\n\n") + 1]
        assert _independent_verify(line, body, wkey.name, wkey.public_key) >= T0
        assert cosignature.require_quorum(cp + line, [wkey.verifier], now=T0 + 100)
        latest = witness.latest(ORIGIN)
        assert latest is not None and latest[0] == n and latest[2] == cp
        old = n
    assert witness.evidence() == []


def _refused(witness: Witness, body: bytes, status: int) -> WitnessRefusal:
    with pytest.raises(WitnessRefusal) as e:
        witness.add_checkpoint(body)
    assert e.value.status == status, e.value.message
    return e.value


def test_witness_refuses_an_inconsistent_checkpoint(witness: Witness, signer: note.Signer) -> None:
    honest, forked = Log(signer), Log(signer, fork_at=10)
    witness.add_checkpoint(honest.request(0, 13))
    # the forked tree's own (valid for it) proof does not connect to what the witness saw
    _refused(witness, forked.request(13, 20), 422)
    # an honest-looking proof for the forked root fails too
    proof = merkle.consistency_proof(honest.leaves(20), 13, 20)
    _refused(witness, format_request(13, proof, forked.checkpoint(20)), 422)
    assert witness.latest(ORIGIN)[0] == 13  # type: ignore[index]
    ev = witness.evidence()
    assert [e.kind for e in ev] == ["inconsistent"]  # the same pair of checkpoints: once
    assert ev[0].witnessed_note == honest.checkpoint(13)
    assert ev[0].offered_note == forked.checkpoint(20)
    # the honest log still goes on
    witness.add_checkpoint(honest.request(13, 20))


def test_witness_refuses_a_regressing_size(witness: Witness, signer: note.Signer) -> None:
    log = Log(signer)
    witness.add_checkpoint(log.request(0, 13))
    r = _refused(witness, log.request(5, 5), 409)
    assert (r.body, r.content_type) == ("13\n", SIZE_CONTENT_TYPE)
    _refused(witness, format_request(13, [], log.checkpoint(5)), 400)  # old above its size
    # a stale old size is answered with the witness's size, so the client can retry
    r = _refused(witness, log.request(5, 20), 409)
    assert r.body == "13\n"
    witness.add_checkpoint(log.request(13, 20))
    assert witness.evidence() == []


def test_witness_detects_a_split_view(witness: Witness, signer: note.Signer) -> None:
    honest, forked = Log(signer), Log(signer, fork_at=3)
    witness.add_checkpoint(honest.request(0, 5))
    witness.add_checkpoint(honest.request(5, 13))
    # shown another tree of a size it cosigned: the latest one, and an older one
    _refused(witness, forked.request(13, 13), 409)
    _refused(witness, forked.request(5, 5), 409)
    ev = witness.evidence()
    assert [(e.kind, e.size) for e in ev] == [("split-view", 13), ("split-view", 5)]
    for e in ev:  # the evidence convinces anyone holding the log's public key
        a = note.open_checkpoint(e.witnessed_note, [signer.verifier])
        b = note.open_checkpoint(e.offered_note, [signer.verifier])
        assert a.origin == b.origin and a.size == b.size == e.size and a.root != b.root
    _refused(witness, forked.request(13, 13), 409)  # shown again: recorded once
    assert len(witness.evidence()) == 2
    assert witness.latest(ORIGIN)[0] == 13  # type: ignore[index]


def test_witness_refusals_follow_the_spec(
    witness: Witness, signer: note.Signer, tmp_path: Path
) -> None:
    log = Log(signer)
    stranger = note.generate_signer("elsewhere.example/log")
    other_cp = note.sign_note(
        note.checkpoint_body("elsewhere.example/log", 1, b"\0" * 32), [stranger]
    )
    _refused(witness, format_request(0, [], other_cp), 404)  # unknown origin
    impostor = Log(note.generate_signer(ORIGIN))  # same name, another key
    _refused(witness, impostor.request(0, 3), 403)
    _refused(witness, b"old 0\n" + log.checkpoint(3).encode(), 400)  # no empty line
    _refused(witness, b"old 01\n\n" + log.checkpoint(3).encode(), 400)
    _refused(witness, b"new 0\n\n" + log.checkpoint(3).encode(), 400)
    _refused(witness, b"old 0\nnot-base64!\n\n" + log.checkpoint(3).encode(), 400)
    too_long = format_request(0, [b"\1" * 32] * 64, log.checkpoint(3))
    _refused(witness, too_long, 400)
    _refused(witness, format_request(0, [b"\1" * 32], log.checkpoint(3)), 422)  # proof from 0
    assert witness.latest(ORIGIN) is None
    assert parse_request(log.request(0, 3))[0:2] == (0, [])


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    offers=st.lists(st.tuples(st.booleans(), st.integers(1, 70)), min_size=1, max_size=8),
    fork=st.integers(0, 69),
)
def test_witness_cosigns_only_one_append_only_history(
    tmp_path_factory: pytest.TempPathFactory,
    wkey: cosignature.CosignerKey,
    signer: note.Signer,
    offers: list[tuple[bool, int]],
    fork: int,
) -> None:
    """Whatever a log offers (honest or forked trees, any sizes, proofs from the witness's
    size), everything the witness cosigns is one append-only history, and showing it
    another tree of a size it cosigned is recorded as a split view."""
    d = tmp_path_factory.mktemp("w")
    kf = d / "w.key"
    kf.write_text(wkey.text())
    Witness.create(d / "w.db", kf)
    w = Witness.open(d / "w.db")
    w.add_log([signer.verifier], ORIGIN)
    logs = {False: Log(signer), True: Log(signer, fork_at=fork)}
    accepted: list[list[bytes]] = []
    split = False
    for is_fork, n in offers:
        cur = len(accepted[-1]) if accepted else 0
        leaves = logs[is_fork].leaves(n)
        try:
            w.add_checkpoint(logs[is_fork].request(cur, n))
        except WitnessRefusal:
            if any(len(a) == n and a != leaves for a in accepted):
                split = True
            continue
        assert n >= cur
        assert all(leaves[: len(a)] == a for a in accepted)  # extends everything cosigned
        accepted.append(leaves)
    assert bool([e for e in w.evidence() if e.kind == "split-view"]) == split
