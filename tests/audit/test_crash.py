"""Crash safety: a writer SIGKILLed at random points loses no acknowledged entry."""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from gridwall.audit import note, open_log
from gridwall.audit._verify import verify_log

WRITER = r"""
import sys, threading
from gridwall.audit._log import AuditLog
log = AuditLog(sys.argv[1])
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


def test_sigkill_loses_no_acknowledged_entry(tmp_path: Path, signer: note.Signer) -> None:
    db = tmp_path / "crash.db"
    url = f"sqlite:///{db}"
    open_log(db).close()  # schema
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    rng = random.Random(20261125)
    acked: dict[int, str] = {}
    for run in range(6):
        p = subprocess.Popen([sys.executable, str(script), url, f"r{run}"], stdout=subprocess.PIPE)
        assert p.stdout is not None
        fd = p.stdout.fileno()
        raw = b""
        while b"READY\n" not in raw:  # unbuffered reads only: nothing may hide in a buffer
            raw += os.read(fd, 1 << 16)
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
    assert len(acked) > 100, "the writer should have acknowledged entries"
    with open_log(db, migrate=False) as log:
        import json

        for i, eid in acked.items():
            assert json.loads(log.entry(i))["event"]["event_id"] == eid
        # and the log keeps working after the crashes
        log.record({"event_id": "after"})
        log.checkpoint([signer])
    rep = verify_log(url, [signer.verifier], workers=1)
    assert rep.ok, rep.problems
