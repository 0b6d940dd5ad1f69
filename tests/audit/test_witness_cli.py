"""Witnessed checkpoints end to end: ``gridwall witness``, ``audit checkpoint --witness``,
``audit verify --witness-key`` and the standalone verifier's ``--witness-key``."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import typer

from gridwall.audit import cosignature, note, open_log, standalone
from gridwall.errors import GridwallError

CliRun = Callable[..., int]


@pytest.fixture
def wit() -> CliRun:
    """Run ``gridwall witness …`` in-process; return the exit code like the real CLI."""
    from gridwall.app.cli.witness import register

    def run(*args: str) -> int:
        app = typer.Typer(pretty_exceptions_enable=False)

        @app.callback()
        def _root() -> None:
            pass

        register(app)
        try:
            app(args=["witness", *args], standalone_mode=False)
        except GridwallError as e:
            print(f"gridwall: error: {e.diagnostics()}")
            return e.exit_code
        except SystemExit as e:
            return int(e.code or 0)
        return 0

    return run


def _witness(tmp_path: Path, wit: CliRun, name: str, log_pub: Path) -> tuple[Path, Path]:
    state, key = tmp_path / f"{name}.db", tmp_path / f"{name}.key"
    assert (
        wit("init", "--name", f"{name}.example/w", "--key-out", str(key), "--state", str(state))
        == 0
    )
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert wit("add-log", "--state", str(state), "--public-key", str(log_pub)) == 0
    return state, key.with_name(key.name + ".pub")


def test_witnessed_checkpoints_end_to_end(
    tmp_path: Path,
    db_url: str,
    key_file: Path,
    signer: note.Signer,
    gw: CliRun,
    wit: CliRun,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pub = key_file.with_name("audit.key.pub")
    w1, w1pub = _witness(tmp_path, wit, "w1", pub)
    w2, w2pub = _witness(tmp_path, wit, "w2", pub)
    with open_log(db_url) as log:
        log.record_many([{"event_id": f"e{i}"} for i in range(40)])
    db = ["--db", db_url, "--key", str(key_file)]
    ask = ["--witness", str(w1), "--witness-key", str(w1pub)]
    capsys.readouterr()
    # the operator needs each witness's key to check what it answers
    assert gw("checkpoint", *db, "--witness", str(w1)) == 2
    capsys.readouterr()
    assert gw("checkpoint", *db, *ask, "--out", str(tmp_path / "cp1.txt")) == 0
    cosigned = capsys.readouterr().out
    assert cosigned == (tmp_path / "cp1.txt").read_text()
    assert note.open_checkpoint(cosigned, [signer.verifier]).size == 40
    wv1 = cosignature.CosignerVerifier.parse(w1pub.read_text())
    assert [c.witness for c in cosignature.require_quorum(cosigned, [wv1])] == [wv1]
    # the log grows; the second request starts from 0, learns size 40 (409), proves 40 → 65
    with open_log(db_url, migrate=False) as log:
        log.record_many([{"event_id": f"f{i}"} for i in range(25)])
    assert gw("checkpoint", *db, *ask) == 0
    assert gw("checkpoint", *db, *ask) == 0  # again, not grown: the same tree is cosigned again
    assert json.loads(_out(wit, capsys, "status", "--state", str(w1)))["logs"][0]["size"] == 65
    assert gw("verify", "--db", db_url, "--public-key", str(pub), "--witness-key", str(w1pub)) == 0
    assert "witnessed at size 65 by w1.example/w" in capsys.readouterr().out
    # w2 never cosigned: verify with both witnesses fails, with a quorum of one passes
    both = ["--witness-key", str(w1pub), "--witness-key", str(w2pub)]
    assert gw("verify", "--db", db_url, "--public-key", str(pub), *both) == 1
    assert gw("verify", "--db", db_url, *both, "--witness-quorum", "1") == 0
    assert gw("verify", "--db", db_url, *both, "--witness-quorum", "3") == 2
    # an export of the witnessed checkpoint: standalone verify needs the cosignature
    out = tmp_path / "export.jsonl"
    assert gw("export", "--db", db_url, "--from", "0", "--to", "65", "--out", str(out)) == 0
    capsys.readouterr()
    args = [str(out), "--public-key", str(pub)]
    assert standalone.main([*args, "--witness-key", str(w1pub)]) == 0
    assert "cosigned by w1.example/w" in capsys.readouterr().out
    assert standalone.main([*args, "--witness-key", str(w2pub)]) == 1
    assert "missing: w2.example/w" in capsys.readouterr().out
    assert standalone.main([*args, "--witness-key", str(w1pub), "--witness-key", str(w2pub)]) == 1
    assert standalone.main([*args, *both, "--witness-quorum", "1"]) == 0
    assert standalone.main([*args, *both, "--witness-quorum", "0"]) == 2
    assert gw("verify-export", str(out), "--public-key", str(pub), "--witness-key", str(w1pub)) == 0
    assert gw("verify-export", str(out), "--public-key", str(pub), "--witness-key", str(w2pub)) == 1
    # a new checkpoint nobody witnessed: exports of it fail the witnessed check
    with open_log(db_url, migrate=False) as log:
        log.record_many([{"event_id": "g"}])
    assert gw("checkpoint", *db) == 0
    assert gw("export", "--db", db_url, "--from", "0", "--to", "66", "--out", str(out)) == 0
    capsys.readouterr()
    assert standalone.main(args) == 0  # the log signature alone still verifies
    assert standalone.main([*args, "--witness-key", str(w1pub)]) == 1
    # an export asked for with the witness key uses the newest witnessed checkpoint
    wout = ["--out", str(out), "--witness-key", str(w1pub)]
    assert gw("export", "--db", db_url, "--from", "0", "--to", "66", *wout) == 2  # none covers
    assert gw("export", "--db", db_url, "--from", "0", "--to", "60", *wout) == 0
    capsys.readouterr()
    assert standalone.main([*args, "--witness-key", str(w1pub)]) == 0
    assert "signed at size 65, cosigned by w1.example/w" in capsys.readouterr().out
    # verify still finds the older witnessed checkpoint, and says what is not witnessed
    assert gw("verify", "--db", db_url, "--public-key", str(pub), "--witness-key", str(w1pub)) == 0
    cap = capsys.readouterr()
    assert "witnessed at size 65" in cap.out and "entries 65..65 are not witnessed" in cap.err
    # a second witness joins later: it starts from 0 and cosigns the current tree
    two = ["--witness", str(w1), "--witness", str(w2), *both]
    assert gw("checkpoint", *db, *two) == 0
    capsys.readouterr()
    assert gw("verify", "--db", db_url, "--public-key", str(pub), *both) == 0
    assert wit("evidence", "--state", str(w1)) == 0


def test_verify_fails_without_any_witnessed_checkpoint(
    tmp_path: Path, sqlite_url: str, key_file: Path, gw: CliRun, wit: CliRun
) -> None:
    pub = key_file.with_name("audit.key.pub")
    _, w1pub = _witness(tmp_path, wit, "w1", pub)
    with open_log(sqlite_url) as log:
        log.record_many([{"event_id": "a"}])
    assert gw("checkpoint", "--db", sqlite_url, "--key", str(key_file)) == 0
    assert gw("verify", "--db", sqlite_url, "--public-key", str(pub)) == 0
    assert gw("verify", "--db", sqlite_url, "--witness-key", str(w1pub)) == 1
    assert gw("verify", "--db", sqlite_url, "--witness-quorum", "1") == 2
    assert gw("verify", "--db", sqlite_url, "--witness-key", "not a key") == 2


def _out(run: CliRun, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert run(*args) == 0
    return capsys.readouterr().out


def test_witness_refusal_stores_nothing_cosigned(
    tmp_path: Path,
    sqlite_url: str,
    key_file: Path,
    signer: note.Signer,
    gw: CliRun,
    wit: CliRun,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A log that rolls back is refused by the witness; the operator stores no cosigned
    copy, and the split view the witness was shown is in its evidence (exit 1)."""
    pub = key_file.with_name("audit.key.pub")
    w1, w1pub = _witness(tmp_path, wit, "w1", pub)
    other = tmp_path / "other.db"  # a second copy of the log with another history
    for url, tag in ((sqlite_url, "a"), (f"sqlite:///{other}", "b")):
        with open_log(url) as log:
            log.record_many([{"event_id": f"{tag}{i}"} for i in range(10)])
    ask = ["--key", str(key_file), "--witness", str(w1), "--witness-key", str(w1pub)]
    assert gw("checkpoint", "--db", sqlite_url, *ask) == 0
    capsys.readouterr()
    assert gw("checkpoint", "--db", f"sqlite:///{other}", *ask) == 1
    assert "refused (409)" in capsys.readouterr().out
    with open_log(f"sqlite:///{other}", migrate=False) as log:
        assert [cosignature.open_cosignatures(c.note, [cosignature.CosignerVerifier.parse(
            w1pub.read_text())]) for c in log.checkpoints()] == [[]]  # fmt: skip
    assert wit("evidence", "--state", str(w1)) == 1
    out = capsys.readouterr().out
    assert out.endswith("gridwall: error: 1 piece(s) of evidence against a log: split-view\n")
    ev = json.loads(out[: out.rindex("]") + 1])
    assert [e["kind"] for e in ev] == ["split-view"]
    a = note.open_checkpoint(ev[0]["witnessed_checkpoint"], [signer.verifier])
    b = note.open_checkpoint(ev[0]["offered_checkpoint"], [signer.verifier])
    assert a.size == b.size == 10 and a.root != b.root


def test_witness_add_checkpoint_from_a_file(
    tmp_path: Path, signer: note.Signer, wit: CliRun, capsys: pytest.CaptureFixture[str]
) -> None:
    from gridwall.audit import merkle
    from gridwall.audit._witness import format_request

    pub = tmp_path / "log.pub"
    pub.write_text(signer.verifier.text() + "\n")
    w1, w1pub = _witness(tmp_path, wit, "w1", pub)
    leaves = [merkle.leaf_hash(b"x%d" % i) for i in range(3)]
    cp = note.sign_note(note.checkpoint_body(signer.name, 3, merkle.root(leaves)), [signer])
    req = tmp_path / "req"
    req.write_bytes(format_request(0, [], cp))
    line = _out(wit, capsys, "add-checkpoint", str(req), "--state", str(w1))
    assert cosignature.require_quorum(
        cp + line, [cosignature.CosignerVerifier.parse(w1pub.read_text())]
    )
    req.write_bytes(format_request(0, [], cp))  # stale old size now
    assert wit("add-checkpoint", str(req), "--state", str(w1)) == 1
    assert "refused (409)" in capsys.readouterr().out
    again = ["--key-out", str(tmp_path / "w1.key"), "--state", str(tmp_path / "n.db")]
    assert wit("init", "--name", "x", *again) == 2  # the key file exists: never overwritten
    assert wit("status", "--state", str(tmp_path / "missing.db")) == 2
    nowhere = ["--key-out", str(tmp_path / "new.key"), "--state", str(tmp_path / "no" / "s.db")]
    assert wit("init", "--name", "x", *nowhere) == 2
    assert not (tmp_path / "new.key").exists()  # nothing half-made
    (tmp_path / "junk.db").write_text("not a database")
    assert wit("status", "--state", str(tmp_path / "junk.db")) == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def http_witness(
    tmp_path: Path, signer: note.Signer
) -> Iterator[tuple[str, cosignature.CosignerKey]]:
    """A witness served over real HTTP (uvicorn on a free port)."""
    import uvicorn

    from gridwall.app.http.witness import create_witness_app
    from gridwall.audit._witness import Witness

    key = cosignature.generate_cosigner("http.example/w")
    kf = tmp_path / "hw.key"
    kf.write_text(key.text())
    Witness.create(tmp_path / "hw.db", kf)
    w = Witness.open(tmp_path / "hw.db")
    w.add_log([signer.verifier])
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_witness_app(w), host="127.0.0.1", port=port, log_level="warning")
    )
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}", key
    finally:
        server.should_exit = True
        t.join(5)


def test_checkpoint_cosigned_over_http(
    sqlite_url: str,
    signer: note.Signer,
    http_witness: tuple[str, cosignature.CosignerKey],
) -> None:
    import urllib.request

    from gridwall.audit._witnessing import cosign_checkpoint, store_cosigned

    url, key = http_witness
    with open_log(sqlite_url) as log:
        for n in (7, 30):
            log.record_many([{"i": i} for i in range(n)])
            cp = log.checkpoint([signer])
            cosigned = cosign_checkpoint(log, cp.note, cp.size, [url], [key.verifier])
            assert cosignature.require_quorum(cosigned, [key.verifier])
            store_cosigned(log.url, cosigned, [signer.verifier])
        assert log.latest_checkpoint().note == cosigned  # type: ignore[union-attr]
        # a stale request over HTTP: 409 with the witness's size as text/x.tlog.size
        from gridwall.audit._witness import format_request

        req = urllib.request.Request(url + "/add-checkpoint", data=format_request(0, [], cp.note))
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code == 409
        assert e.value.headers["Content-Type"].startswith("text/x.tlog.size")
        assert e.value.read() == b"37\n"
        with urllib.request.urlopen(url + "/evidence", timeout=10) as r:
            assert json.loads(r.read()) == []
