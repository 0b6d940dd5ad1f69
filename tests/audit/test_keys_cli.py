"""Keys, checkpoints and proofs from the CLI; the signed-note format."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gridwall.audit import merkle, note, open_log


def test_signed_note_format(signer: note.Signer) -> None:
    body = note.checkpoint_body("example.com/log", 12, b"\x01" * 32)
    root_b64 = base64.b64encode(b"\x01" * 32).decode()
    assert body == f"example.com/log\n12\n{root_b64}\n"
    signed = note.sign_note(body, [signer])
    text, sigs = signed.split("\n\n")[0] + "\n", signed.split("\n\n")[1]
    assert text == body
    assert sigs.startswith("\u2014 test.example/audit ") and sigs.endswith("\n")
    raw = base64.b64decode(sigs.split(" ")[2])
    expected_id = hashlib.sha256(b"test.example/audit\n\x01" + signer.public_key).digest()[:4]
    assert raw[:4] == expected_id and len(raw) == 68
    vk = signer.verifier.text()
    name, hid, key = vk.split("+", 2)
    assert (name, hid) == ("test.example/audit", expected_id.hex())
    assert base64.b64decode(key) == b"\x01" + signer.public_key
    assert note.Verifier.parse(vk) == signer.verifier
    assert note.Signer.parse(signer.text()) == signer
    cp = note.open_checkpoint(signed, [signer.verifier])
    assert (cp.origin, cp.size, cp.root) == ("example.com/log", 12, b"\x01" * 32)


def test_go_sumdb_note_vector() -> None:
    """The verifier key and signed note from golang.org/x/mod/sumdb/note's documentation."""
    vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    signed = (
        "If you think cryptography is the answer to your problem,\n"
        "then you don't know what your problem is.\n\n"
        "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNX"
        "gKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
    )
    v = note.Verifier.parse(vkey)
    text, good = note.open_note(signed, [v])
    assert good == [v] and text.startswith("If you think")
    with pytest.raises(note.NoteError):
        note.open_note(signed.replace("answer", "Answer"), [v])


@pytest.mark.parametrize(
    "bad",
    [
        "no blank line",
        "text\n\n\u2014 name AAAA\n",  # unknown key only
        "text\n\n- name AAAA\n",  # not an em dash
        "text\n\n\u2014 name !!!!\n",
        "text\n\n\u2014 name\n",
        "text\x01\n\n\u2014 name AAAA\n",
    ],
)
def test_malformed_notes_are_refused(bad: str, signer: note.Signer) -> None:
    with pytest.raises(note.NoteError):
        note.open_note(bad, [signer.verifier])


def test_keygen_checkpoint_prove_rotate(
    tmp_path: Path, gw: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    key = tmp_path / "k" / "audit.key"
    key.parent.mkdir()
    assert gw("keygen", "--db", url, "--key", str(key), "--name", "op.example/audit") == 0
    vkey = capsys.readouterr().out.strip()
    assert oct(os.stat(key).st_mode & 0o777) == "0o600"
    assert note.Verifier.parse(vkey).name == "op.example/audit"
    assert gw("keygen", "--db", url, "--key", str(key)) == 2  # never overwritten
    assert gw("keygen", "--db", url, "--key", str(tmp_path / "x"), "--name", "a b") == 2
    with open_log(url, migrate=False) as log:
        log.record_many([{"n": i} for i in range(77)])
    capsys.readouterr()
    assert gw("checkpoint", "--db", url, "--key", str(key)) == 0
    signed = capsys.readouterr().out
    cp = note.open_checkpoint(signed, [note.Verifier.parse(vkey)])
    assert cp.size == 77
    assert gw("prove", "--db", url, "--index", "41") == 0
    proof = json.loads(capsys.readouterr().out)
    assert merkle.verify_inclusion(
        merkle.leaf_hash(proof["entry"].encode()),
        41,
        77,
        [base64.b64decode(p) for p in proof["proof"]],
        cp.root,
    )
    assert proof["checkpoint"] == signed
    assert gw("prove", "--db", url, "--index", "77") == 2
    capsys.readouterr()
    # rotation: the hand-over checkpoint carries both signatures; old key retired
    assert gw("rotate-key", "--db", url, "--key", str(key)) == 0
    new_vkey = capsys.readouterr().out.strip()
    assert new_vkey != vkey
    retired = list(key.parent.glob("audit.key.retired-*"))
    assert len(retired) == 1
    with open_log(url, migrate=False) as log:
        hand_over = log.latest_checkpoint()
        assert hand_over is not None
    old_v, new_v = note.Verifier.parse(vkey), note.Verifier.parse(new_vkey)
    assert note.open_note(hand_over.note, [old_v, new_v])[1] == [old_v, new_v]
    assert gw("checkpoint", "--db", url, "--key", str(key)) == 0
    capsys.readouterr()
    assert gw("verify", "--db", url, "--public-key", new_vkey) == 0
    assert gw("verify", "--db", url, "--public-key", vkey) == 1  # latest is new-key only
    assert gw("checkpoint", "--db", url, "--key", str(tmp_path / "missing")) == 2
