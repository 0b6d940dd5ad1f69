"""Crash safety: a writer SIGKILLed at random points loses no acknowledged entry.

The writer acknowledges an entry once it is sequenced (committed) and integrates it into
the tree afterwards; the second test holds integration back so that the kills land
between the two steps, and checks the next ``open_log`` integrates the tail first.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from gridwall.audit import merkle, note, open_log
from gridwall.audit._db import Conn
from gridwall.audit._log import AuditLog
from gridwall.audit._verify import verify_log

WRITER = r"""
import sys, threading
from gridwall.audit._log import AuditLog
log = AuditLog(sys.argv[1], integrate_min=int(sys.argv[3]))
run = sys.argv[2]
lock = threading.Lock()
def work(t):
    n = 0
    while True:
        if n % 3 == 0:
            evs = [{"event_id": f"{run}-{t}-{n}-{k}"} for k in range(1 + n % 40)]
            idx = log.record_many(evs)
        else:
            evs = [{"event_id": f"{run}-{t}-{n}"}]
            idx = [log.append(evs[0])]
        with lock:
            for i, e in zip(idx, evs):
                sys.stdout.write(f"ACK {i} {e['event_id']}\n")
            sys.stdout.flush()
        n += 1
first = log.append({"event_id": f"{run}-warmup"})  # connected and writing before READY
sys.stdout.write(f"ACK {first} {run}-warmup\nREADY\n")
sys.stdout.flush()
threads = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(4)]
for th in threads: th.start()
for th in threads: th.join()
"""


def _kill_writer_repeatedly(
    url: str, script: Path, rng: random.Random, runs: int, integrate_min: int
) -> tuple[dict[int, str], list[tuple[int, int]]]:
    """Start and SIGKILL the writer ``runs`` times; the acks read, and after each kill
    (size, integrated frontier) of the database."""
    acked: dict[int, str] = {}
    states: list[tuple[int, int]] = []
    for run in range(runs):
        p = subprocess.Popen(
            [sys.executable, str(script), url, f"r{run}", str(integrate_min)],
            stdout=subprocess.PIPE,
        )
        assert p.stdout is not None
        fd = p.stdout.fileno()
        raw = b""
        while b"READY\n" not in raw:  # unbuffered reads only: nothing may hide in a buffer
            chunk = os.read(fd, 1 << 16)
            assert chunk, "the writer died before it was ready"
            raw += chunk
        deadline = time.monotonic() + rng.uniform(0.05, 0.5)
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.01)
            if ready:
                raw += os.read(fd, 1 << 16)
        p.send_signal(signal.SIGKILL)
        p.wait()
        while chunk := os.read(fd, 1 << 16):  # what was written before the kill
            raw += chunk
        p.stdout.close()
        buf = raw.decode()
        for line in buf.split("\n")[:-1]:  # complete lines only: a torn one is no ack
            parts = line.split()
            if len(parts) == 3 and parts[0] == "ACK":
                acked[int(parts[1])] = parts[2]
        c = Conn(url)
        try:
            states.append((c.size(), c.frontier()))
        finally:
            c.close()
    return acked, states


def _check_after_crashes(url: str, acked: dict[int, str], signer: note.Signer) -> None:
    with open_log(url, migrate=False) as log:
        c = Conn(url)
        try:  # recovered: every full tile of the sequenced entries is stored
            assert c.frontier() == (c.size() // 16) * 16
        finally:
            c.close()
        for i, eid in acked.items():
            assert json.loads(log.entry(i))["event"]["event_id"] == eid
        # and the log keeps working after the crashes
        log.record({"event_id": "after"})
        log.checkpoint([signer])
    rep = verify_log(url, [signer.verifier], workers=1)
    assert rep.ok, rep.problems


def test_sigkill_loses_no_acknowledged_entry(tmp_path: Path, signer: note.Signer) -> None:
    db = tmp_path / "crash.db"
    url = f"sqlite:///{db}"
    open_log(db).close()  # schema
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    acked, _ = _kill_writer_repeatedly(url, script, random.Random(20261125), 6, 1)
    assert len(acked) > 100, "the writer should have acknowledged entries"
    _check_after_crashes(url, acked, signer)


def test_sigkill_between_sequencing_and_integration(
    db_url: str, tmp_path: Path, signer: note.Signer
) -> None:
    """Kills land while acknowledged entries wait for integration; a read-only reader
    proves over the unintegrated tail, and the next writer integrates it before use."""
    open_log(db_url).close()  # schema
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    rng = random.Random(20261207)
    acked, states = _kill_writer_repeatedly(db_url, script, rng, 4, rng.randint(300, 3000))
    assert len(acked) > 100, "the writer should have acknowledged entries"
    assert any(f < (n // 16) * 16 for n, f in states), f"no kill left a tail: {states}"
    c = Conn(db_url)
    try:
        n = c.size()
        leaves = [merkle.leaf_hash(e) for _, e in c.entries(0, n)]
    finally:
        c.close()
    reader = AuditLog(db_url)  # no recovery: the tail's nodes come from the entries
    try:
        assert reader.root(n) == merkle.root(leaves)
        i = rng.randrange(states[-1][1], n) if states[-1][1] < n else n - 1
        proof = reader.inclusion_proof(i, n)
        assert merkle.verify_inclusion(leaves[i], i, n, proof, merkle.root(leaves))
        reader.checkpoint([signer])  # signed over the tail: verification must agree
    finally:
        reader.close()
    rep = verify_log(db_url, [signer.verifier], workers=1)
    assert rep.ok, rep.problems
    if states[-1][1] < (n // 16) * 16:  # the last kill left a tail: verify names it
        assert any("not yet integrated" in m for m in rep.notes), rep.notes
    _check_after_crashes(db_url, acked, signer)
