"""Every command ``gridwall demo`` prints runs, as printed, from the project root, against a
live demo server, and has the outcome printed under it (issue 11 item 17).

The demo is built small in a temporary folder and served by uvicorn on a free port in a
thread; each printed ``$ …`` command (continued over lines ending in ``\\``) is run by bash
from the project root, exactly as a reader would paste it, and its ``expect:`` line is
parsed and checked: the HTTP status (curl prints it last) or the exit code, and the data
promised (a non-empty key, the exact fields, a text). A command that does not run as
printed (a bare ``gridwall``, a missing helper, a stale path) fails here.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn

from gridwall.app.demo import Demo, build_demo, describe
from gridwall.synth import JST

ROOT = Path(__file__).resolve().parents[2]
EXPECT = re.compile(
    r"^expect: (?:HTTP (?P<status>\d{3})|exit (?P<exit>\d+))"
    r'(?:, non-empty "(?P<nonempty>[^"]+)")?'
    r'(?:, fields "(?P<fields>[^"]+)")?'
    r"(?:, contains (?P<contains>\".*\"))?$"
)
#: every kind of user the demo must include (issue 11 item 17)
KINDS = {
    "demo-nw", "demo-aff", "demo-ind", "demo-mgr", "demo-compliance", "demo-auditor",
    "demo-regulator", "demo-contractor", "demo-aff-ds", "demo-ind-ds", "demo-admin",
    "demo-reg-console",
}  # fmt: skip


@dataclass(frozen=True)
class Printed:
    user: str
    command: str
    expect: str


def printed_commands(text: str) -> list[Printed]:
    """The ``$ `` commands of the demo's output, each with the ``expect:`` line under it."""
    lines = text.splitlines()
    out: list[Printed] = []
    user = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if m := re.match(r"^\[.*\] (\S+)$", line):
            user = m.group(1)
        if line.startswith("  $ "):
            cmd = [line[4:]]
            while cmd[-1].endswith("\\"):
                i += 1
                cmd.append(lines[i])
            i += 1
            expect = lines[i].strip()
            assert expect.startswith("expect: "), f"no outcome printed under {cmd[0]!r}"
            out.append(Printed(user, "\n".join(cmd), expect))
        i += 1
    return out


def _fresh_shell_env() -> dict[str, str]:
    """The environment of a reader's shell: the project's virtualenv is not activated (the
    tests run inside it, so its ``gridwall`` would otherwise be on PATH)."""
    venv_bin = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if p and p != venv_bin
    )
    return env


def run(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=180,
        env=_fresh_shell_env(),
    )  # fmt: skip


def problem(p: Printed, out: subprocess.CompletedProcess[str]) -> str | None:
    """Why the outcome is not the one printed under the command (None: it is)."""
    m = EXPECT.match(p.expect)
    assert m is not None, f"unparsable outcome {p.expect!r}"
    body = out.stdout
    if m.group("status") is not None:
        head, _, last = body.rstrip("\n").rpartition("\n")
        if out.returncode != 0 or last != f"HTTP {m.group('status')}":
            return f"rc {out.returncode}, last line {last!r}: {body[-300:]} {out.stderr[-500:]}"
        body = head
    elif out.returncode != int(m.group("exit")):
        return f"exit {out.returncode}: {out.stdout[-300:]} {out.stderr[-800:]}"
    if (want := m.group("contains")) is not None and json.loads(want) not in body:
        return f"output lacks {json.loads(want)!r}: {body[:300]}"
    if m.group("nonempty") is None and m.group("fields") is None:
        return None
    data = json.loads(body)
    key = m.group("nonempty")
    if key is not None and not (data if key == "." else data.get(key)):
        return f"{key!r} is empty: {body[:300]}"
    fields = m.group("fields")
    if fields is not None and sorted(data) != sorted(fields.split(",")):
        return f"fields {sorted(data)}, printed {fields}"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Demo, int]]:
    demo = build_demo(
        tmp_path_factory.mktemp("demo") / "d", supply_points=300, seed=3, progress=False
    )
    port = _free_port()
    demo.app.state.server.start()
    server = uvicorn.Server(uvicorn.Config(demo.app, host="127.0.0.1", port=port,
                                           log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the demo server did not start"
        time.sleep(0.05)
    try:
        yield demo, port
    finally:
        server.should_exit = True
        thread.join(30)
        demo.close()


@pytest.mark.timeout(600)
def test_every_printed_command_runs_as_printed(served: tuple[Demo, int]) -> None:
    demo, port = served
    text = describe(demo, port)
    printed = printed_commands(text)
    assert len(printed) == len(demo.examples)
    # every kind of user is there, with at least one example each
    assert {p.user for p in printed} == KINDS == {u.account_id for u in demo.users}
    for p in printed:  # a bare `gridwall` is not on PATH
        assert not re.search(r"(^|[\s(])gridwall ", p.command.replace("./dev gridwall ", ""))
    # no credential reaches the console: the commands read them from the demo folder
    for u in demo.users:
        assert u.password and u.totp_secret and (u.token or u.key_file is None)
        for secret in (u.password, u.totp_secret, u.token):
            assert not secret or secret not in text
        assert u.file("password").stat().st_mode & 0o077 == 0
        assert u.key_file is None or u.key_file.stat().st_mode & 0o077 == 0

    logins = [p for p in printed if "login.sh" in p.command]
    assert len(logins) == 1
    failures = []
    for p in printed:
        if p in logins:
            continue
        if (why := problem(p, run(p.command))) is not None:
            failures.append(f"{p.user}: {p.command.splitlines()[0]} … : {why}")
    assert not failures, "\n".join(failures)

    # the printed log-in: a TOTP code works once, so wait for the step after the demo's
    assert demo.logged_in_at is not None
    step = int(demo.logged_in_at.timestamp() // 30)
    while int(time.time() // 30) <= step:
        time.sleep(0.5)
    login = logins[0]
    again = [login.command, login.command.replace(" demo-nw", " demo-ind-ds")]  # any account
    for command, who in zip(again, ("demo-nw", "demo-ind-ds"), strict=True):
        u = demo.user(who)
        why = problem(login, run(command))
        assert why is None, f"{who}: {why}"
        token = u.file("token").read_text(encoding="utf-8").strip()
        assert token.startswith("gws1_") and token != u.token
        # the fresh session serves the user's printed request
        first = next(p for p in printed if p.user == who and p.command.startswith("curl "))
        why = problem(first, run(first.command))
        assert why is None, f"{who}: {why}"
    bad = run(login.command.replace(" demo-nw", " nobody"))
    assert bad.returncode == 2 and "usage" in bad.stderr


def test_a_broken_printed_command_is_caught(served: tuple[Demo, int]) -> None:
    """The checker above fails a command that does not run as printed (here: a bare
    ``gridwall``, as the demo printed before, or a mistyped purpose)."""
    demo, port = served
    p = printed_commands(describe(demo, port))[0]
    assert p.command.startswith("curl ") and p.expect.startswith("expect: HTTP 200")
    for broken in (
        p.command.replace("./dev gridwall", "gridwall"),
        p.command.replace("X-Gridwall-Purpose: takuso", "X-Gridwall-Purpose: sales"),
    ):
        assert problem(Printed(p.user, broken, p.expect), run(broken)) is not None


def test_demo_is_dated_around_today(served: tuple[Demo, int]) -> None:
    """The operator's window ends today (JST), so the usage of the last 13 months exists."""
    demo, _ = served
    meta = json.loads((demo.directory / "dataset" / "synth.json").read_text(encoding="utf-8"))
    assert meta["start"] == datetime.now(UTC).astimezone(JST).date().isoformat()


def test_a_dataset_of_another_day_is_regenerated_and_its_store_kept(tmp_path: Path) -> None:
    from gridwall.app.demo import _dataset

    data = _dataset(tmp_path, 100, 1, 1, progress=False)
    meta = json.loads((data / "synth.json").read_text(encoding="utf-8"))
    assert _dataset(tmp_path, 100, 1, 1, progress=False) == data  # reused as it is
    assert json.loads((data / "synth.json").read_text(encoding="utf-8")) == meta
    meta["start"] = "2025-01-01"
    (data / "synth.json").write_text(json.dumps(meta), encoding="utf-8")
    (tmp_path / "gridwall-demo.db").write_text("the old store", encoding="utf-8")
    _dataset(tmp_path, 100, 1, 1, progress=False)
    fresh = json.loads((data / "synth.json").read_text(encoding="utf-8"))
    assert fresh["start"] == datetime.now(UTC).astimezone(JST).date().isoformat()
    assert not (tmp_path / "gridwall-demo.db").exists()
    kept = tmp_path / "gridwall-demo.2025-01-01.db"
    assert kept.read_text(encoding="utf-8") == "the old store"
