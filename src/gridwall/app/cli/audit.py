"""``gridwall audit …``: keys, checkpoints, verification, proofs, exports, retention.

Exit codes: 0 ok, 1 a check failed, 2 bad usage or input or an unusable store, 3 the store
cannot be reached. The read-only commands (verify, prove, consistency, export, retention
without --years) never create or migrate the store. The signing key is a file
outside the database (``--key`` or ``GRIDWALL_AUDIT_KEY``); its public half is
printed by ``keygen`` and can be published for anyone to verify checkpoints.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import typer

from gridwall.errors import CheckFailed, UsageError

sub = typer.Typer(
    name="audit",
    help="The tamper-evident audit log (監査ログ): checkpoints, verification, proofs, exports.",
    no_args_is_help=True,
)

DB_HELP = "SQLAlchemy URL of the store (default: $GRIDWALL_DB or ./gridwall.db)."
KEY_HELP = "Signing key file (PRIVATE+KEY+… note format); default $GRIDWALL_AUDIT_KEY."
PUB_HELP = "Trusted verifier key (text or file; repeatable). Default: keys recorded in the DB."
WKEY_HELP = "A witness's public key (cosignature/v1 vkey, text or file; repeatable)."
QUORUM_HELP = "How many of the --witness-key witnesses must have cosigned (default: all)."


def register(app: typer.Typer) -> None:
    """Add the ``audit`` sub-command group to the ``gridwall`` app."""
    app.add_typer(sub, name="audit")


def _log(db: str | None) -> Any:
    """The audit log of a store a writing command may create or migrate."""
    from gridwall.app.cli.stores import writable_store
    from gridwall.audit._log import open_log

    return open_log(writable_store(db), migrate=False)


def _reader(db: str | None) -> Any:
    """The audit log of an existing, migrated store, for a read-only command: nothing is
    created or migrated (a mistyped ``--db`` is refused with exit 2)."""
    from gridwall.app.cli.stores import existing_store
    from gridwall.audit._log import open_log

    return open_log(existing_store(db), migrate=False, recover=False)


def _key_path(key: Path | None) -> Path:
    if key is not None:
        return key
    env = os.environ.get("GRIDWALL_AUDIT_KEY")
    if not env:
        raise UsageError("--key: no signing key given (use --key FILE or GRIDWALL_AUDIT_KEY)")
    return Path(env)


def _read_signer(path: Path) -> Any:
    from gridwall.audit import note

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"--key {path}: cannot read the signing key ({e.strerror})") from e
    try:
        return note.Signer.parse(text)
    except note.NoteError as e:
        raise UsageError(f"--key {path}: {e}") from e


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text + "\n")
        f.flush()
        os.fsync(f.fileno())


def _verifiers(values: list[str] | None) -> Any:
    from gridwall.audit import note
    from gridwall.audit.standalone import _load_keys

    if not values:
        return None
    try:
        return _load_keys(values)
    except (note.NoteError, OSError) as e:
        raise UsageError(f"--public-key: {e}") from e


def _witness_keys(values: list[str] | None, quorum: int | None) -> Any:
    """The ``--witness-key`` verifiers (or None), with ``--witness-quorum`` checked."""
    from gridwall.audit import note
    from gridwall.audit.standalone import _load_witness_keys

    if not values:
        if quorum is not None:
            raise UsageError("--witness-quorum: needs --witness-key")
        return None
    try:
        keys = _load_witness_keys(values)
    except (note.NoteError, OSError) as e:
        raise UsageError(f"--witness-key: {e}") from e
    distinct = len({k.public_key for k in keys})
    if quorum is not None and not 1 <= quorum <= distinct:
        raise UsageError(f"--witness-quorum {quorum}: must be between 1 and {distinct}")
    return keys


def _err(msg: str) -> None:
    print(msg, file=sys.stderr)


@sub.command("keygen")
def keygen(
    key: Path = typer.Option(None, "--key", help=KEY_HELP),
    name: str = typer.Option("gridwall.local/audit", "--name", help="Key name (log origin)."),
    db: str = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Create a signing key file (0600) and print its public verifier key."""
    from gridwall.audit import note

    path = _key_path(key)
    if path.exists():
        raise UsageError(f"--key {path}: already exists (use `audit rotate-key` to replace it)")
    try:
        signer = note.generate_signer(name)
    except note.NoteError as e:
        raise UsageError(f"--name: {e}") from e
    log = _log(db)  # an unusable store is refused before the key file is written
    _write_secret(path, signer.text())
    vk = signer.verifier.text()
    path.with_name(path.name + ".pub").write_text(vk + "\n", encoding="utf-8")
    log.register_key(signer.verifier, "keygen")
    _err(f"signing key written to {path} (keep it secret, outside the database)")
    _err(f"public key written to {path}.pub (publish it)")
    print(vk)


@sub.command("rotate-key")
def rotate_key(
    key: Path = typer.Option(None, "--key", help=KEY_HELP),
    name: str = typer.Option(None, "--name", help="New key name (default: keep the old one)."),
    db: str = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Replace the signing key; the hand-over checkpoint is signed by both keys."""
    from gridwall.audit import note

    path = _key_path(key)
    old = _read_signer(path)
    try:
        new = note.generate_signer(name or old.name)
    except note.NoteError as e:
        raise UsageError(f"--name: {e}") from e
    log = _log(db)
    log.register_key(new.verifier, "rotate")
    cp = log.checkpoint([old, new], origin=old.name)
    retired = path.with_name(f"{path.name}.retired-{old.id.hex()}")
    tmp = path.with_name(path.name + ".new")
    _write_secret(tmp, new.text())
    os.replace(path, retired)
    os.replace(tmp, path)
    path.with_name(path.name + ".pub").write_text(new.verifier.text() + "\n", encoding="utf-8")
    _err(f"old key kept as {retired}; hand-over checkpoint #{cp.id} signed by both keys")
    print(new.verifier.text())


@sub.command("checkpoint")
def checkpoint(
    key: Path = typer.Option(None, "--key", help=KEY_HELP),
    out: Path = typer.Option(None, "--out", help="Also write the signed note to this file."),
    witness: list[str] = typer.Option(
        None,
        "--witness",
        help="Ask this witness to cosign (http(s) URL of its add-checkpoint prefix, or a "
        "witness state file); repeatable. Needs --witness-key.",
    ),
    witness_key: list[str] = typer.Option(None, "--witness-key", help=WKEY_HELP),
    db: str = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Sign a checkpoint of the log as it is now, store it, print it.

    With ``--witness``: submit it to each witness with a consistency proof, check every
    cosignature against ``--witness-key``, store and print the cosigned checkpoint. If a
    witness refuses, nothing cosigned is stored (the signed checkpoint is) and exit is 1.
    """
    from gridwall.audit._witnessing import cosign_checkpoint, store_cosigned

    signer = _read_signer(_key_path(key))
    wkeys = _witness_keys(witness_key, None)
    if witness and not wkeys:
        raise UsageError("--witness: give each witness's public key with --witness-key")
    if wkeys and not witness:
        raise UsageError("--witness-key: give the witnesses to ask with --witness")
    log = _log(db)
    cp = log.checkpoint([signer])
    text, cid = cp.note, cp.id
    if witness:
        text = cosign_checkpoint(log, cp.note, cp.size, list(witness), wkeys)
        cid = store_cosigned(log.url, text, [signer.verifier])
    if out is not None:
        out.write_text(text, encoding="utf-8")
    _err(f"checkpoint #{cid}: {cp.size} entries" + (" (cosigned)" if witness else ""))
    sys.stdout.write(text)


@sub.command("verify")
def verify(
    public_key: list[str] = typer.Option(None, "--public-key", help=PUB_HELP),
    workers: int = typer.Option(None, "--workers", help="Processes (default: all cores)."),
    witness_key: list[str] = typer.Option(None, "--witness-key", help=WKEY_HELP),
    witness_quorum: int = typer.Option(None, "--witness-quorum", help=QUORUM_HELP),
    db: str = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Recompute the whole tree from the entries; check it against the latest signed checkpoint.

    With ``--witness-key``: also require a checkpoint cosigned by the witness quorum; the
    answer names the size up to which the log is witnessed.
    """
    from rich.progress import Progress

    from gridwall.app.cli.stores import existing_store
    from gridwall.audit._verify import verify_log

    wkeys = _witness_keys(witness_key, witness_quorum)
    url = existing_store(db)  # present and migrated; nothing written
    with Progress(transient=True, console=_stderr_console()) as bar:
        task = bar.add_task("verifying entries", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        rep = verify_log(url, _verifiers(public_key), workers=workers, progress=progress)
    for n in rep.notes:
        _err(f"note: {n}")
    rate = rep.size / rep.seconds if rep.seconds else 0.0
    if not rep.ok:
        for p in rep.problems[:20]:
            _err(f"  {p}")
        first = "" if rep.first_bad is None else f"first bad entry index {rep.first_bad}; "
        print(f"FAILED: {first}{len(rep.problems)} problem(s)")
        raise CheckFailed(f"audit log verification failed: {first}{rep.problems[0]}")
    witnessed = ""
    if wkeys:
        witnessed = _witnessed(url, _verifiers(public_key), wkeys, witness_quorum)
    print(
        f"OK: {rep.size} entries; checkpoint size {rep.checkpoint_size} root "
        f"{base64.b64encode(rep.root).decode()} verified ({rate:,.0f} leaves/s){witnessed}"
    )


def _witnessed(url: str, keys: Any, wkeys: Any, quorum: int | None) -> str:
    """The newest stored checkpoint with the witness quorum (``verify`` has shown every
    stored checkpoint is a prefix of the verified tree); CheckFailed if there is none."""
    from gridwall.audit import cosignature, note

    with _reader_url(url) as log:
        keys = keys or log.keys()
        rows, size = log.checkpoints(), log.size()
    why = "no checkpoint is stored"
    for row in reversed(rows):
        try:
            cp = note.open_checkpoint(row.note, keys)
            got = cosignature.require_quorum(row.note, wkeys, quorum)
        except note.NoteError as e:
            why = str(e)
            continue
        if (cp.size, cp.root) != (row.size, row.root):
            continue
        names = ", ".join(c.witness.name for c in got)
        if cp.size < size:
            _err(f"note: entries {cp.size}..{size - 1} are not witnessed yet")
        return f"; witnessed at size {cp.size} by {names}"
    print("FAILED: no checkpoint carries the cosignatures of the configured witnesses")
    raise CheckFailed(f"no witnessed checkpoint: {why}")


def _reader_url(url: str) -> Any:
    from gridwall.audit._log import open_log

    return open_log(url, migrate=False)


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


@sub.command("prove")
def prove(
    index: int = typer.Option(..., "--index", help="Entry index."),
    size: int = typer.Option(None, "--size", help="Tree size (default: latest checkpoint)."),
    db: str = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Print the inclusion proof of one entry against a (signed) tree size, as JSON."""
    from gridwall.audit import merkle

    log = _reader(db)
    cp = log.latest_checkpoint()
    if size is None:
        if cp is None:
            raise UsageError("--size: no checkpoint yet; give --size or run audit checkpoint")
        size = cp.size
    if not 0 <= index < size:
        raise UsageError(f"--index {index}: must be below the tree size {size}")
    entry = log.entry(index)
    leaf = merkle.leaf_hash(entry)
    proof = log.inclusion_proof(index, size)
    root = log.root(size)
    ok = merkle.verify_inclusion(leaf, index, size, proof, root)
    out: dict[str, Any] = {
        "index": index,
        "tree_size": size,
        "entry": entry.decode("utf-8"),
        "leaf_hash": base64.b64encode(leaf).decode(),
        "proof": [base64.b64encode(p).decode() for p in proof],
        "root": base64.b64encode(root).decode(),
        "checkpoint": cp.note if cp is not None and cp.size == size else None,
    }
    print(json.dumps(out, ensure_ascii=False, indent=1))
    if not ok or (cp is not None and cp.size == size and cp.root != root):
        raise CheckFailed(f"entry {index}: the proof does not verify against the stored root")


@sub.command("consistency")
def consistency(
    old_checkpoint: Path = typer.Argument(..., help="A signed checkpoint note kept earlier."),
    public_key: list[str] = typer.Option(None, "--public-key", help=PUB_HELP),
    db: str = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Prove that an old checkpoint is a prefix of the latest one (nothing rewritten)."""
    from gridwall.audit import merkle, note

    log = _reader(db)
    keys = _verifiers(public_key) or log.keys()
    try:
        old = note.open_checkpoint(old_checkpoint.read_text(encoding="utf-8"), keys)
    except OSError as e:
        raise UsageError(f"{old_checkpoint}: cannot read ({e.strerror})") from e
    except note.NoteError as e:
        raise CheckFailed(f"{old_checkpoint}: {e}") from e
    cp = log.latest_checkpoint()
    if cp is None:
        raise UsageError("no checkpoint in the database yet")
    new = note.open_checkpoint(cp.note, keys)
    if old.size > new.size:
        raise CheckFailed(f"{old_checkpoint}: size {old.size} is beyond the log's {new.size}")
    proof = log.consistency_proof(old.size, new.size)
    ok = merkle.verify_consistency(old.size, new.size, proof, old.root, new.root)
    print(
        json.dumps(
            {
                "old_size": old.size,
                "new_size": new.size,
                "proof": [base64.b64encode(p).decode() for p in proof],
                "new_checkpoint": cp.note,
                "consistent": ok,
            },
            ensure_ascii=False,
            indent=1,
        )
    )
    if not ok:
        raise CheckFailed(
            f"{old_checkpoint}: NOT consistent with checkpoint #{cp.id}: the log was rewritten"
        )


@sub.command("export")
def export(
    from_: int = typer.Option(..., "--from", help="First entry index."),
    to: int = typer.Option(..., "--to", help="One past the last entry index."),
    fmt: str = typer.Option("jsonl", "--format", help="jsonl or parquet."),
    out: Path = typer.Option(..., "--out", help="Output file."),
    witness_key: list[str] = typer.Option(
        None, "--witness-key", help=WKEY_HELP + " Use a checkpoint they cosigned."
    ),
    witness_quorum: int = typer.Option(None, "--witness-quorum", help=QUORUM_HELP),
    db: str = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Export entries with the covering signed checkpoint and their range proof.

    With ``--witness-key``: the newest covering checkpoint cosigned by the witness quorum.
    """
    from gridwall.app.cli.stores import existing_store
    from gridwall.audit import cosignature, note
    from gridwall.audit._export import export as do_export

    wkeys = _witness_keys(witness_key, witness_quorum)
    accept = None
    if wkeys:

        def accept(text: str) -> bool:
            try:
                cosignature.require_quorum(text, wkeys, witness_quorum)
            except note.NoteError:
                return False
            return True

    url = existing_store(db)
    t = time.perf_counter()
    h = do_export(url, from_, to, out, fmt, accept)
    _err(f"exported entries {from_}..{to - 1} to {out} in {time.perf_counter() - t:.1f}s")
    print(json.dumps({"file": str(out), "from": from_, "to": to, "tree_size": h["tree_size"]}))


@sub.command("verify-export")
def verify_export(
    export_file: Path = typer.Argument(..., help="An export or archive file."),
    public_key: list[str] = typer.Option(..., "--public-key", help="Trusted verifier key."),
    witness_key: list[str] = typer.Option(None, "--witness-key", help=WKEY_HELP),
    witness_quorum: int = typer.Option(None, "--witness-quorum", help=QUORUM_HELP),
) -> None:
    """Verify an export with only the file and the public key (no database)."""
    from gridwall.audit import standalone

    keys = _verifiers(public_key)
    wkeys = _witness_keys(witness_key, witness_quorum)
    try:
        rep = standalone.verify_export(export_file, keys)
        if wkeys:
            rep = standalone.check_witnessed(rep, wkeys, witness_quorum)
    except (standalone.ExportError, OSError) as e:
        raise UsageError(f"{export_file}: {e}") from e
    if standalone.report(rep):
        first = "" if rep.first_bad is None else f"first bad entry index {rep.first_bad}: "
        raise CheckFailed(f"export verification failed: {first}{rep.problems[0]}")


@sub.command("retention")
def retention(
    years: int = typer.Option(None, "--years", help="Raise retention to this many years (≥ 5)."),
    db: str = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Show the retention period, or raise it (never below five years)."""
    log = _reader(db) if years is None else _log(db)  # showing it writes nothing
    if years is not None:
        log.set_retention_years(years)
    print(f"retention: {log.retention_years()} years")


@sub.command("archive")
def archive(
    to: int = typer.Option(..., "--to", help="Archive entries below this index (multiple of 16)."),
    out: Path = typer.Option(..., "--out", help="Archive file (an export)."),
    db: str = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Move entries older than the retention period to an archive file with their proof."""
    from gridwall.app.cli.stores import writable_store
    from gridwall.audit._export import archive as do_archive

    lo, hi, digest = do_archive(writable_store(db), to, out, now=time.time())
    print(json.dumps({"file": str(out), "from": lo, "to": hi, "sha256": digest}))
