"""The CLI's store contract (issue 11 items 11 and 12).

* Every read-only command opens the store read-only: for a mistyped ``--db``, an empty
  SQLite file, an unmigrated or half-migrated store it exits 2 with one line naming the
  ``--db`` value and writes nothing (no file created, the file unchanged byte for byte).
* A store that cannot be reached exits 3 with one line, never a traceback, never the
  password; a writing command whose SQLite folder does not exist exits 2, nothing created.

The commands are found by walking the Typer app, so a new command is covered as soon as it
exists: :data:`CLASSES` must classify every one (the test fails on an unclassified or a
stale entry), and a command's class must agree with whether it takes ``--db``.
"""

from __future__ import annotations

import io
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
import typer.main
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from gridwall.app import cli
from gridwall.app.cli import main, stores

READ, WRITE, NONE = "read", "write", "none"

#: Every command of ``gridwall``: read-only (must never create or migrate the store),
#: writing (may create and migrate it) or none (takes no ``--db``).
CLASSES: dict[str, str] = {
    "agreement end": WRITE,
    "agreement list": READ,
    "agreement register": WRITE,
    "audit archive": WRITE,
    "audit checkpoint": WRITE,
    "audit consistency": READ,
    "audit export": READ,
    "audit keygen": WRITE,
    "audit prove": READ,
    "audit retention": READ,  # showing it; `--years N` writes (see test below)
    "audit rotate-key": WRITE,
    "audit verify": READ,
    "audit verify-export": NONE,
    "canary run": NONE,
    "canary setup": WRITE,
    # every case step is audited (a refusal too); `case open` writes cases
    "case confirm": WRITE,
    "case decide": WRITE,
    "case discipline": WRITE,
    "case escalate": WRITE,
    "case explain": WRITE,
    "case list": WRITE,
    "case open": WRITE,
    "case reopen": WRITE,
    "case reveal": WRITE,
    "case sample": WRITE,
    "case show": WRITE,
    # reading and acknowledging one's notifications is a case step, audited
    "notifications ack": WRITE,
    "notifications list": WRITE,
    "case signoff": WRITE,
    "change approve": WRITE,
    "change list": READ,
    "change reject": WRITE,
    "change request": WRITE,
    "consent issue": WRITE,
    "consent revoke": WRITE,
    "consent verify": READ,
    "demo": NONE,  # builds its own store in --dir
    "disaster approve": WRITE,
    "disaster attest-deletion": WRITE,
    "disaster declare": WRITE,
    "disaster end": WRITE,
    "disaster extend": WRITE,
    "disaster list": READ,
    "disaster report": READ,
    "export trace": READ,
    "export watermark": WRITE,
    "hr import": WRITE,
    "identity account create": WRITE,
    "identity account reactivate": WRITE,
    "identity account revoke": WRITE,
    "identity account set-password": WRITE,
    "identity account show": READ,
    "identity account totp-enroll": WRITE,
    "identity account unlock": WRITE,
    "identity alerts": READ,
    "identity client register": WRITE,
    "identity events": READ,
    "identity login": WRITE,
    "identity logout": WRITE,
    "identity person create": WRITE,
    "identity terminal enroll": WRITE,
    "identity terminal register": WRITE,
    "identity terminal revoke": WRITE,
    "identity terminal token": NONE,
    "identity watchlist": READ,
    "identity whoami": WRITE,  # authenticates: touches the session, audits a refusal
    "legacy audit": NONE,
    "legacy example": NONE,
    "load": WRITE,
    "lookup": WRITE,  # every lookup is audited; `lookup index` builds the index
    "monitor import-log": NONE,
    "monitor run": WRITE,
    "monitor rules": NONE,
    "monitor scan": NONE,
    "policy check": NONE,
    "policy explain": NONE,
    "report disaster": READ,
    "report periodic": READ,
    "report statement": READ,
    "report statements": READ,
    "review close": WRITE,
    "review grant": WRITE,
    "review owner": WRITE,
    "review recertify": WRITE,
    "review report": READ,
    "review start": WRITE,
    # a self-report and a receipt check each write their audit event (and the intake count)
    "selfreport identity": WRITE,
    "selfreport note": WRITE,
    "selfreport status": WRITE,
    "selfreport submit": WRITE,
    "serve": WRITE,
    "store check-wall": READ,
    "synth": NONE,
    "training attest": WRITE,
    # the witness keeps its own state file (--state), never a gridwall store
    "witness add-checkpoint": NONE,
    "witness add-log": NONE,
    "witness evidence": NONE,
    "witness init": NONE,
    "witness serve": NONE,
    "witness status": NONE,
}

#: Commands not yet going through gridwall.app.cli.stores (none left). Strict: a listed
#: command whose test passes fails the run, so the table cannot go stale.
NOT_YET: dict[str, str] = {}
NOT_YET_FOLDER: dict[str, str] = {}

POINT = "0" * 22


def _commands() -> dict[str, list[str]]:
    """Every leaf command of the app: its name and its options."""
    cli._load_plugins()
    out: dict[str, list[str]] = {}

    def walk(group: object, path: tuple[str, ...]) -> None:
        for name, sub in getattr(group, "commands", {}).items():
            if hasattr(sub, "commands"):
                walk(sub, (*path, name))
            else:
                out[" ".join((*path, name))] = [
                    o for p in sub.params for o in getattr(p, "opts", [])
                ]

    walk(typer.main.get_command(cli.app), ())
    return out


COMMANDS = _commands()
READ_ONLY = sorted(c for c in COMMANDS if CLASSES.get(c) == READ)
WRITING = sorted(c for c in COMMANDS if CLASSES.get(c) == WRITE)


def _args(command: str, tmp: Path) -> list[str]:
    """Arguments that get ``command`` past option parsing to the point where it opens the
    store (input files it reads first are made valid, in ``tmp``)."""
    key = tmp / "audit.key"
    if command in ("audit rotate-key", "audit checkpoint"):
        from gridwall.audit import note

        key.write_text(note.generate_signer("gridwall.test/audit").text() + "\n")
    if command in ("audit consistency", "export trace"):
        (tmp / "input.txt").write_text("a,b\n1,2\n")
    if command == "hr import":
        (tmp / "hr.csv").write_text("person_id,name,org,department,role,effective_at\n")
    if command in ("report statement", "report statements"):
        (tmp / "pseudonym.key").write_text("a test secret of more than sixteen bytes\n")
    if command == "export watermark":
        (tmp / "rows.csv").write_text("supply_point_id\n" + POINT + "\n")
    by = ["--by", "someone", "--password-stdin"]
    table: dict[str, list[str]] = {
        "agreement end": ["A1", *by],
        "agreement register": [
            "A1",
            "--counterparty",
            "contractor:c",
            "--purpose",
            "disaster_support",
            "--valid-from",
            "2026-01-01",
            *by,
        ],
        "audit archive": ["--to", "16", "--out", str(tmp / "archive.jsonl")],
        "audit checkpoint": ["--key", str(key)],
        "audit consistency": [str(tmp / "input.txt")],
        "audit export": ["--from", "0", "--to", "1", "--out", str(tmp / "export.jsonl")],
        "audit keygen": ["--key", str(key)],
        "audit prove": ["--index", "0"],
        "monitor run": ["--reference", str(tmp), "--work", str(tmp / "work")],
        "report disaster": ["--declaration", "D1", "--out", str(tmp / "r")],
        "report statements": [
            "--month",
            "2026-04",
            "--out",
            str(tmp / "r"),
            "--pseudonym-key",
            str(tmp / "pseudonym.key"),
        ],
        "report periodic": ["--from", "2026-04-01", "--to", "2026-04-30", "--out", str(tmp / "r")],
        "report statement": [
            "--retailer",
            "R1",
            "--from",
            "2026-04-01",
            "--to",
            "2026-04-30",
            "--out",
            str(tmp / "r"),
            "--pseudonym-key",
            str(tmp / "pseudonym.key"),
        ],
        "audit rotate-key": ["--key", str(key)],
        "case confirm": ["case-1", "--text", "t", *by],
        "case decide": ["case-1", "--decision", "no_issue", "--reason", "r", *by],
        "case discipline": ["case-1", "--outcome", "o", *by],
        "case escalate": by,
        "case explain": ["case-1", "--text", "t", *by],
        "case list": by,
        "case reopen": ["case-1", "--reason", "r", *by],
        "case reveal": ["case-1", "--reason", "r", *by],
        "case sample": by,
        "case show": ["case-1", *by],
        "notifications ack": ["1", *by],
        "notifications list": by,
        "case signoff": ["case-1", *by],
        "change approve": ["1", "--by", "p"],
        "change reject": ["1", "--by", "p"],
        "change request": ["--kind", "role", "--subject", "role:x", "--by", "p"],
        "consent issue": ["--point", POINT, "--retailer", "R1", "--days", "7", *by],
        "consent revoke": ["T1", *by],
        "consent verify": ["tok", "--point", POINT, "--retailer", "R1"],
        "disaster approve": ["D1", *by],
        "disaster attest-deletion": ["D1", "--org", "nw", "--copies", "1", *by],
        "disaster declare": [
            "D1",
            "--area",
            "大阪府",
            "--until",
            "+48h",
            "--max-hours",
            "72",
            *by,
        ],
        "disaster end": ["D1", *by],
        "disaster extend": ["D1", "--until", "+1h", *by],
        "disaster report": ["D1"],
        "export trace": [str(tmp / "input.txt")],
        "export watermark": [
            str(tmp / "rows.csv"),
            "--to",
            "contractor:c",
            "--agreement",
            "A1",
            "--purpose",
            "disaster_support",
            "--out",
            str(tmp / "out.csv"),
            "--by",
            "p",
        ],
        "hr import": [str(tmp / "hr.csv")],
        "identity account create": ["a1", "--person", "p"],
        "identity account reactivate": ["a1", "--by", "p"],
        "identity account revoke": ["a1"],
        "identity account set-password": ["a1", "--password-stdin"],
        "identity account show": ["a1"],
        "identity account totp-enroll": ["a1"],
        "identity account unlock": ["a1"],
        "identity client register": ["c1", "--org", "retail:R1"],
        "identity login": ["a1", "--terminal-key", str(key), "--password-stdin"],
        "identity logout": ["--token", "t"],
        "identity person create": ["p", "--name", "N", "--org", "nw", "--role", "takuso_operator"],
        "identity terminal enroll": ["d1"],
        "identity terminal register": ["d1", "--org", "nw", "--kind", "nw_terminal"],
        "identity terminal revoke": ["d1"],
        "identity whoami": ["--token", "t", "--terminal-key", str(key)],
        "load": [str(tmp)],
        "lookup": ["大阪府大阪市北区1-1"],
        "review close": ["c1", "--by", "p"],
        "review grant": ["a1", "--name", "n", "--owner", "p"],
        "review owner": ["a1", "--owner", "p"],
        "review recertify": ["c1", "a1", "--by", "p"],
        "review report": ["c1"],
        "review start": ["c1", "--deadline", "2026-12-31", "--by", "p"],
        "selfreport identity": ["SR-1", "--reason", "r", "--by", "p"],
        "selfreport note": ["SR-1", "--text", "t", "--by", "p"],
        "selfreport submit": ["--kind", "other", "--text", "t"],
        "serve": ["--port", "1"],
        "training attest": ["p", "--date", "2026-01-01", "--by", "q"],
    }
    return [*command.split(), *table.get(command, [])]


def _run(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, list[str]]:
    monkeypatch.setattr("sys.stdin", io.StringIO("a-password-long-enough\n123456\n"))
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    code = e.value.code
    assert isinstance(code, int)
    return code, [line for line in err.splitlines() if line.strip()]


def _files(root: Path, *, wal: bool = False) -> dict[str, bytes]:
    """Every file under ``root`` and its bytes. ``wal``: leave out the ``-wal``/``-shm``
    side files of a WAL-mode store, which SQLite creates (empty) for any reader."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not (wal and p.name.endswith(("-wal", "-shm")))
    }


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean working folder (the default store ./gridwall.db would land here)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GRIDWALL_DB", raising=False)
    monkeypatch.delenv("GRIDWALL_AUDIT_KEY", raising=False)
    return tmp_path


# -- the classification itself -------------------------------------------------------------


def test_every_command_is_classified() -> None:
    unclassified = sorted(set(COMMANDS) - set(CLASSES))
    stale = sorted(set(CLASSES) - set(COMMANDS))
    assert not unclassified, f"classify these commands in CLASSES: {unclassified}"
    assert not stale, f"these commands no longer exist: {stale}"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_class_agrees_with_the_db_option(command: str) -> None:
    takes_db = "--db" in COMMANDS[command]
    assert takes_db == (CLASSES[command] in (READ, WRITE)), command


def test_the_walk_finds_nested_commands() -> None:
    # the walk must reach sub-sub-commands, or new nested commands would go unchecked
    assert "identity account show" in COMMANDS
    assert len(READ_ONLY) >= 15
    assert len(WRITING) >= 40


# -- read-only commands never create, migrate or change a store ----------------------------


@pytest.mark.parametrize("command", READ_ONLY)
def test_read_only_command_on_a_mistyped_sqlite_path(
    command: str, here: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = _args(command, here)
    before = _files(here)
    typo = here / "gridwal.db"
    code, lines = _run([*argv, "--db", f"sqlite:///{typo}"], capsys, monkeypatch)
    assert code == 2, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith("gridwall: error: --db ") and str(typo) in lines[0]
    assert _files(here) == before  # no file created (nor -wal, -shm, --out …)


@pytest.mark.parametrize("command", READ_ONLY)
def test_read_only_command_on_the_default_store_when_there_is_none(
    command: str, here: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = _args(command, here)
    before = _files(here)
    code, lines = _run(argv, capsys, monkeypatch)
    assert code == 2 and len(lines) == 1, lines
    assert "gridwall.db" in lines[0]
    assert _files(here) == before


@pytest.mark.parametrize("command", READ_ONLY)
def test_read_only_command_on_an_empty_sqlite_file(
    command: str, here: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = _args(command, here)
    db = here / "empty.db"
    db.write_bytes(b"")
    before, mtime = _files(here), db.stat().st_mtime_ns
    code, lines = _run([*argv, "--db", f"sqlite:///{db}"], capsys, monkeypatch)
    assert code == 2 and len(lines) == 1, lines
    assert str(db) in lines[0] and "not a gridwall store" in lines[0]
    assert _files(here) == before and db.stat().st_mtime_ns == mtime


@pytest.mark.parametrize("command", READ_ONLY)
def test_read_only_command_on_a_file_that_is_not_a_database(
    command: str, here: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = _args(command, here)
    db = here / "notes.db"
    db.write_bytes(b"this is not an SQLite database, it is a text file\n" * 100)
    before = _files(here)
    code, lines = _run([*argv, "--db", f"sqlite:///{db}"], capsys, monkeypatch)
    assert code == 2 and len(lines) == 1, lines
    assert str(db) in lines[0]
    assert _files(here) == before


@pytest.fixture(scope="module")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store migrated to the latest schema (copied by each test that changes it)."""
    from gridwall.store import upgrade

    path = tmp_path_factory.mktemp("template") / "gridwall.db"
    upgrade(f"sqlite:///{path}")
    with closing(sqlite3.connect(path)) as c:  # all in the main file (still WAL mode, as in use)
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def _heads(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as c:
        return [r[0] for r in c.execute("SELECT version_num FROM alembic_version")]


@pytest.mark.parametrize("schema", ["behind", "foreign"])
@pytest.mark.parametrize("command", READ_ONLY)
def test_read_only_command_on_a_store_not_at_the_latest_schema(
    command: str,
    schema: str,
    here: Path,
    migrated_template: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Half-migrated (a branch missing) or migrated by another version (an unknown
    revision): refused before anything is read or migrated."""
    argv = _args(command, here)
    db = here / "old.db"
    shutil.copy(migrated_template, db)
    heads = _heads(db)
    assert len(heads) > 1  # several capability branches
    with closing(sqlite3.connect(db)) as c, c:  # closed: no -wal or -shm left beside it
        if schema == "behind":
            c.execute("DELETE FROM alembic_version WHERE version_num = ?", (heads[0],))
        else:
            c.execute("UPDATE alembic_version SET version_num = 'ffffffffffff' WHERE "
                      "version_num = ?", (heads[0],))  # fmt: skip
    before = _files(here)
    code, lines = _run([*argv, "--db", f"sqlite:///{db}"], capsys, monkeypatch)
    assert code == 2 and len(lines) == 1, lines
    assert str(db) in lines[0]
    want = "not migrated to the latest schema" if schema == "behind" else "another gridwall"
    assert want in lines[0]
    assert _files(here, wal=True) == before


@pytest.mark.parametrize("command", READ_ONLY)
def test_read_only_command_reads_a_migrated_store_without_changing_it(
    command: str,
    here: Path,
    migrated_template: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a real store the command gets past the door (whatever its answer about the
    empty store) and the database file is left exactly as it was."""
    argv = _args(command, here)
    db = here / "gridwall.db"
    shutil.copy(migrated_template, db)
    before = db.read_bytes()
    code, lines = _run([*argv, "--db", f"sqlite:///{db}"], capsys, monkeypatch)
    assert not any("Traceback" in line for line in lines)
    assert not any("not a gridwall store" in line or "no such file" in line for line in lines)
    assert code in (0, 1, 2), lines
    assert db.read_bytes() == before


@pytest.mark.parametrize("command", ["consent verify", "export trace"])
def test_readers_of_grant_keys_never_create_one(
    command: str,
    here: Path,
    migrated_template: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without a key nothing was ever signed or marked: the answer is "no" (exit 1), and
    the key is not created on the way (it used to be, by a read)."""
    db = here / "gridwall.db"
    shutil.copy(migrated_template, db)
    code, lines = _run([*_args(command, here), "--db", f"sqlite:///{db}"], capsys, monkeypatch)
    assert code == 1 and len(lines) == 1, lines
    with closing(sqlite3.connect(db)) as c:
        assert c.execute("SELECT count(*) FROM grant_keys").fetchone() == (0,)


@pytest.mark.postgres
@pytest.mark.parametrize("command", READ_ONLY)
def test_read_only_command_on_an_unmigrated_postgresql_database(
    command: str,
    here: Path,
    pg_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv = _args(command, here)
    code, lines = _run([*argv, "--db", pg_url], capsys, monkeypatch)
    assert code == 2 and len(lines) == 1, lines
    assert "not a gridwall store" in lines[0]
    eng = create_engine(pg_url)
    try:
        with eng.connect() as c:
            tables = c.execute(
                text("SELECT table_name FROM information_schema.tables "
                     "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')")
            ).all()  # fmt: skip
    finally:
        eng.dispose()
    assert tables == []  # nothing migrated, nothing written


@pytest.mark.postgres
def test_the_read_only_engine_refuses_writes_on_postgresql(pg_url: str) -> None:
    from gridwall.store import upgrade

    upgrade(pg_url)
    eng = stores.read_only_engine(stores.existing_store(pg_url))
    try:
        with pytest.raises(Exception, match="read-only") as e, eng.begin() as c:
            c.execute(text("DELETE FROM alembic_version"))
        assert stores.store_error(e.value) is not None
    finally:
        eng.dispose()


def test_the_read_only_engine_refuses_writes_on_sqlite(migrated_template: Path) -> None:
    before = migrated_template.read_bytes()
    eng = stores.read_only_engine(f"sqlite:///{migrated_template}")
    try:
        with pytest.raises(Exception, match="readonly"), eng.begin() as c:
            c.execute(text("DELETE FROM alembic_version"))
    finally:
        eng.dispose()
    assert migrated_template.read_bytes() == before


def test_audit_retention_with_years_is_a_writing_command(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{here / 'new.db'}"
    for argv in (
        ["audit", "retention", "--years", "7", "--db", db],
        ["audit", "retention", "--db", db],
    ):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 0
        assert "retention: 7 years" in capsys.readouterr().out


# -- a store that cannot be reached: exit 3, one line, no password -------------------------

CLOSED = "postgresql://gridwall:s3cr3t-pw@127.0.0.1:1/gridwall"


def _strict_xfail(command: str, why: dict[str, str]) -> object:
    if command in why:
        return pytest.param(command, marks=pytest.mark.xfail(reason=why[command], strict=True))
    return command


@pytest.mark.parametrize("command", [_strict_xfail(c, NOT_YET) for c in READ_ONLY + WRITING])
def test_unreachable_postgresql_exits_3_with_one_line(
    command: str, here: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = _args(command, here)
    before = _files(here)
    code, lines = _run([*argv, "--db", CLOSED], capsys, monkeypatch)
    assert len(lines) == 1, lines
    assert lines[0].startswith("gridwall: error: ")
    assert "127.0.0.1" in lines[0] and "s3cr3t-pw" not in lines[0]
    assert code == 3, lines
    assert _files(here) == before  # nothing half-written (key files, outputs …)


def test_unreachable_store_shows_the_traceback_only_with_verbose(here: Path) -> None:
    """With --verbose the error propagates (Python prints the traceback), the driver's
    error chained under the diagnostic."""
    from sqlalchemy.exc import OperationalError

    create = ["identity", "person", "create", "p", "--name", "N", "--org", "nw", "--role", "x"]
    for argv in (["identity", "events"], create):  # a read-only and a writing command
        with pytest.raises(stores.StoreUnreachable) as e:
            main(["--verbose", *argv, "--db", CLOSED])
        assert isinstance(e.value.__cause__, OperationalError)


@pytest.mark.postgres
def test_missing_postgresql_database_is_bad_input(
    here: Path, pg_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = pg_url.rsplit("/", 1)[0] + "/gw_no_such_database"
    create = ["identity", "person", "create", "p", "--name", "N", "--org", "nw", "--role", "x"]
    for argv in (["identity", "alerts"], create):
        code, lines = _run([*argv, "--db", url], capsys, monkeypatch)
        assert code == 2 and len(lines) == 1, lines
        assert "no such database" in lines[0]


@pytest.mark.postgres
def test_postgresql_authentication_failure_exits_3(
    here: Path, pg_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.engine import make_url

    url = (
        make_url(pg_url)
        .set(username="gw_no_such_role", password="pw-1234")
        .render_as_string(hide_password=False)
    )
    code, lines = _run(["identity", "alerts", "--db", url], capsys, monkeypatch)
    assert code == 3 and len(lines) == 1, lines
    assert "pw-1234" not in lines[0]


# -- writing commands: a bad --db is refused before anything is created --------------------


@pytest.mark.parametrize("command", [_strict_xfail(c, NOT_YET_FOLDER) for c in WRITING])
def test_writing_command_into_a_missing_folder_exits_2(
    command: str, here: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = _args(command, here)
    before = _files(here)
    db = here / "no" / "such" / "folder" / "gridwall.db"
    code, lines = _run([*argv, "--db", f"sqlite:///{db}"], capsys, monkeypatch)
    assert len(lines) == 1, lines
    assert str(db) in lines[0] and "does not exist" in lines[0]
    assert code == 2, lines
    assert _files(here) == before and not (here / "no").exists()


@pytest.mark.parametrize("command", ["identity person create", "audit keygen", "consent revoke"])
def test_writing_command_on_a_store_of_another_version_exits_2(
    command: str,
    here: Path,
    migrated_template: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A writing command migrates, but never a store whose schema it does not know."""
    argv = _args(command, here)
    db = here / "future.db"
    shutil.copy(migrated_template, db)
    with closing(sqlite3.connect(db)) as c, c:
        c.execute("UPDATE alembic_version SET version_num = 'ffffffffffff' WHERE "
                  "version_num = ?", (_heads(db)[0],))  # fmt: skip
    before = _files(here)
    code, lines = _run([*argv, "--db", f"sqlite:///{db}"], capsys, monkeypatch)
    assert code == 2 and len(lines) == 1, lines
    assert str(db) in lines[0] and "another gridwall version" in lines[0]
    assert _files(here, wal=True) == before


@pytest.mark.parametrize(
    "url",
    ["gridwall.db", "nosuchdialect://x/y", "mysql://u:pw-9@h/d", "sqlite:///:memory:", "sqlite://"],
)
@pytest.mark.parametrize("command", ["identity alerts", "identity person create"])
def test_bad_url_exits_2_naming_it(
    command: str,
    url: str,
    here: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv = _args(command, here)
    code, lines = _run([*argv, "--db", url], capsys, monkeypatch)
    assert code == 2 and len(lines) == 1, lines
    assert "--db" in lines[0] and "pw-9" not in lines[0]
    assert _files(here) == {}


# -- classifying errors and redacting URLs -------------------------------------------------


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("unable to open database file", 3),
        ("disk I/O error", 3),
        ("database is locked", 3),
        ("attempt to write a readonly database", 3),
        ("no such table: idn_alerts", 2),
        ("no such column: x", 2),
    ],
)
def test_sqlite_errors_are_classified(message: str, code: int) -> None:
    from sqlalchemy.exc import OperationalError

    raw = sqlite3.OperationalError(message)
    for e in (raw, OperationalError("SELECT 1", {}, raw)):
        err = stores.store_error(e)
        assert err is not None and err.exit_code == code
        assert "\n" not in err.diagnostics() and message in err.diagnostics()


def test_sqlite_not_a_database_is_bad_input() -> None:
    err = stores.store_error(sqlite3.DatabaseError("file is not a database"))
    assert err is not None and err.exit_code == 2


def test_other_errors_are_not_store_errors() -> None:
    assert stores.store_error(ValueError("x")) is None
    assert stores.store_error(KeyError("x")) is None


_PW = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")), min_size=1
).filter(lambda s: "/" not in s and not s.isspace())


@given(password=_PW, user=st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True))
def test_redact_hides_every_password(password: str, user: str) -> None:
    for scheme, rest in (("postgresql", "db.example:5432/gw"), ("postgresql+psycopg", "h/gw?a=b")):
        url = f"{scheme}://{user}:{password}@{rest}"
        shown = stores.redact(f"--db {url}: cannot reach the store: refused")
        assert shown == f"--db {scheme}://{user}:***@{rest}: cannot reach the store: refused"


def test_redact_keeps_urls_without_password() -> None:
    for url in ("sqlite:////var/lib/gridwall.db", "postgresql://postgres@127.0.0.1/gw"):
        assert stores.redact(url) == url


@pytest.fixture(autouse=True)
def _forget_store() -> Iterator[None]:
    yield
    stores.forget()
