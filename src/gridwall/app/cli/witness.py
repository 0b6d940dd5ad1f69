"""``gridwall witness …``: run a checkpoint witness (c2sp.org/tlog-witness) for a log.

The regulator or a retailer runs it on its own machine: ``init`` makes the witness key
and state file, ``add-log`` trusts an operator's log public key, ``serve`` answers
``add-checkpoint`` over HTTP (or ``add-checkpoint`` answers one request from a file),
``status`` shows the latest checkpoint cosigned per log and ``evidence`` lists split
views (exit 1 if there are any). Exit codes: 0 ok, 1 refused / evidence found, 2 bad input.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

import typer

from gridwall.errors import CheckFailed, UsageError

sub = typer.Typer(
    name="witness",
    help="A witness for the operator's audit log: cosigns consistent checkpoints, "
    "reports split views (C2SP tlog-witness / tlog-cosignature).",
    no_args_is_help=True,
)

STATE_HELP = "The witness's state file (SQLite); default $GRIDWALL_WITNESS_STATE."


def register(app: typer.Typer) -> None:
    """Add the ``witness`` sub-command group to the ``gridwall`` app."""
    app.add_typer(sub, name="witness")


def _state(state: Path | None) -> Path:
    if state is not None:
        return state
    env = os.environ.get("GRIDWALL_WITNESS_STATE")
    if not env:
        raise UsageError("--state: no witness state given (--state FILE or GRIDWALL_WITNESS_STATE)")
    return Path(env)


def _open(state: Path | None) -> Any:
    from gridwall.audit._witness import Witness

    return Witness.open(_state(state))


@sub.command("init")
def init(
    name: str = typer.Option(..., "--name", help="Witness name (a schema-less URL)."),
    key_out: Path = typer.Option(..., "--key-out", help="Write the witness key here (0600)."),
    state: Path = typer.Option(None, "--state", help=STATE_HELP),
) -> None:
    """Create a witness key (Ed25519, cosignature/v1) and an empty state file."""
    from gridwall.audit import cosignature, note
    from gridwall.audit._witness import Witness

    st = _state(state)
    if key_out.exists():
        raise UsageError(f"--key-out {key_out}: already exists (never overwritten)")
    if st.exists():
        raise UsageError(f"--state {st}: already exists")
    for opt, p in (("--key-out", key_out), ("--state", st)):
        if not p.parent.is_dir():
            raise UsageError(f"{opt} {p}: folder {p.parent} does not exist")
    try:
        key = cosignature.generate_cosigner(name)
    except note.NoteError as e:
        raise UsageError(f"--name: {e}") from e
    try:
        fd = os.open(key_out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        raise UsageError(f"--key-out {key_out}: cannot create ({e.strerror})") from e
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(key.text() + "\n")
        f.flush()
        os.fsync(f.fileno())
    vk = key.verifier.text()
    pub = key_out.with_name(key_out.name + ".pub")
    try:
        pub.write_text(vk + "\n", encoding="utf-8")
        Witness.create(st, key_out)
    except (OSError, sqlite3.Error) as e:  # nothing half-made: no key without its state
        key_out.unlink(missing_ok=True)
        pub.unlink(missing_ok=True)
        st.unlink(missing_ok=True)
        raise UsageError(f"--state {st}: cannot create the witness state ({e})") from e
    print(f"witness key written to {key_out} (keep it secret)", file=sys.stderr)
    print(f"public key written to {key_out}.pub (give it to everyone who checks)", file=sys.stderr)
    print(vk)


@sub.command("add-log")
def add_log(
    public_key: list[str] = typer.Option(..., "--public-key", help="The log's public key."),
    origin: str = typer.Option(None, "--origin", help="The log's origin (default: key name)."),
    state: Path = typer.Option(None, "--state", help=STATE_HELP),
) -> None:
    """Trust a log's public key(s) for its origin line."""
    from gridwall.audit import note
    from gridwall.audit.standalone import _load_keys

    try:
        keys = _load_keys(public_key)
    except (note.NoteError, OSError) as e:
        raise UsageError(f"--public-key: {e}") from e
    o = _open(state).add_log(keys, origin)
    print(f"witnessing {o!r} with {len(keys)} key(s)")


@sub.command("add-checkpoint")
def add_checkpoint(
    request: Path = typer.Argument(..., help="An add-checkpoint request body ('-': stdin)."),
    state: Path = typer.Option(None, "--state", help=STATE_HELP),
) -> None:
    """Answer one add-checkpoint request: print the cosignature or refuse (exit 1)."""
    from gridwall.audit._witness import WitnessRefusal

    w = _open(state)
    try:
        body = sys.stdin.buffer.read() if str(request) == "-" else request.read_bytes()
    except OSError as e:
        raise UsageError(f"{request}: cannot read ({e.strerror})") from e
    try:
        sys.stdout.write(w.add_checkpoint(body))
    except WitnessRefusal as r:
        raise CheckFailed(f"refused ({r.status}): {r.message}") from r


@sub.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8766, "--port", help="Port."),
    state: Path = typer.Option(None, "--state", help=STATE_HELP),
) -> None:
    """Serve POST /add-checkpoint (and GET /evidence) over HTTP."""
    if not 1 <= port <= 65535:
        raise UsageError("--port: 1..65535")
    w = _open(state)
    import uvicorn

    from gridwall.app.http.witness import create_witness_app

    print(f"gridwall witness {w.key.name}: http://{host}:{port}/add-checkpoint", file=sys.stderr)
    uvicorn.run(
        create_witness_app(w), host=host, port=port, log_level="warning", server_header=False
    )


@sub.command("status")
def status(state: Path = typer.Option(None, "--state", help=STATE_HELP)) -> None:
    """The logs witnessed and the latest checkpoint cosigned for each (JSON)."""
    w = _open(state)
    out = []
    for origin in w.logs():
        latest = w.latest(origin)
        out.append(
            {"origin": origin, "size": latest[0] if latest else 0,
             "checkpoint": latest[2] if latest else None}
        )  # fmt: skip
    print(json.dumps({"witness": w.key.verifier.text(), "logs": out}, ensure_ascii=False, indent=1))


@sub.command("evidence")
def evidence(state: Path = typer.Option(None, "--state", help=STATE_HELP)) -> None:
    """List split views and inconsistent checkpoints (JSON); exit 1 if there are any."""
    ev = _open(state).evidence()
    print(json.dumps([e.as_json() for e in ev], ensure_ascii=False, indent=1))
    if ev:
        kinds = sorted({e.kind for e in ev})
        raise CheckFailed(f"{len(ev)} piece(s) of evidence against a log: {', '.join(kinds)}")
