"""Wiring for :mod:`gridwall.reports`: the audit log as a :class:`~gridwall.reports.LogView`,
the gateway's supply periods as :data:`~gridwall.reports.SupplyPeriods`, the operator's
pseudonym secret, the disaster after-action report (declarations from grants, points placed
inside or outside the area through the gateway) and writing report files all or nothing.

The statement learns which points a retailer supplied only through
:func:`gridwall.gateway.retailer_supply` (the gateway is the only reader of customer
tables), and only that retailer's.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from gridwall.errors import UsageError
from gridwall.reports import Supply

#: the file holding the operator's pseudonym secret (NW staff pseudonyms in statements)
SECRET_ENV = "GRIDWALL_PSEUDONYM_KEY"
#: the folder where after-action reports are written when a declaration ends
REPORT_DIR_ENV = "GRIDWALL_REPORT_DIR"

log = logging.getLogger("gridwall.reports")


class AuditLogView:
    """The audit log of one store, read for a report (nothing is written)."""

    def __init__(self, url: str) -> None:
        from gridwall.audit._db import Conn
        from gridwall.audit._log import AuditLog

        self.log = AuditLog(url)
        self._conn = Conn(url)

    def checkpoint(self) -> tuple[int, bytes, str]:
        cp = self.log.latest_checkpoint()
        if cp is None:
            raise UsageError(
                "the audit log has no signed checkpoint yet; run `gridwall audit checkpoint`"
            )
        return cp.size, cp.root, cp.note

    def entries(self, lo: int, hi: int) -> Iterable[tuple[int, bytes]]:
        got = self._conn.entries(lo, hi)
        if len(got) != hi - lo:
            have = {i for i, _ in got}
            miss = next(i for i in range(lo, hi) if i not in have)
            raise UsageError(f"audit entry {miss} is not in the database (archived?)")
        return got

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return self.log.inclusion_proof(index, size)

    def inclusion_proofs(self, indices: Sequence[int], size: int) -> list[list[bytes]]:
        from gridwall.audit._proofs import inclusion_proofs

        self._check_size(size)
        return inclusion_proofs(self._conn, indices, size)

    def multiproof(self, indices: Sequence[int], size: int) -> list[bytes]:
        from gridwall.audit._proofs import multiproof

        self._check_size(size)
        return multiproof(self._conn, indices, size)

    def _check_size(self, size: int) -> None:
        if size > self._conn.size():
            raise UsageError(f"tree size {size} is larger than the log")

    def close(self) -> None:
        self._conn.close()
        self.log.close()


def supply_periods(engine: Engine) -> Any:
    """:data:`gridwall.reports.SupplyPeriods` answered by the gateway."""
    from gridwall.gateway import retailer_supply

    def periods(code: str, first: date, last: date) -> list[Supply]:
        return [Supply(p, s, e) for p, s, e in retailer_supply(engine, code, first, last)]

    return periods


def read_secret(path: Path | None) -> bytes:
    """The pseudonym secret: ``path``, else the file named by ``$GRIDWALL_PSEUDONYM_KEY``."""
    if path is None:
        env = os.environ.get(SECRET_ENV)
        if not env:
            raise UsageError(
                f"--pseudonym-key: no secret given (use --pseudonym-key FILE or {SECRET_ENV})"
            )
        path = Path(env)
    try:
        data = path.read_bytes().strip()
    except OSError as e:
        raise UsageError(f"--pseudonym-key {path}: cannot read it ({e.strerror})") from e
    if len(data) < 16:
        raise UsageError(f"--pseudonym-key {path}: the secret must be at least 16 bytes")
    return data


# -- writing report files ----------------------------------------------------


def dump_json(obj: Any) -> str:
    """A report's JSON text (stable: the same object gives the same bytes)."""
    return json.dumps(obj, ensure_ascii=False, indent=1) + "\n"


def write_files(out: Path, files: Mapping[str, str | bytes], *, option: str = "--out") -> None:
    """Write every file or none (each through a temporary name, fsynced, renamed at the end)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"{option} {out}: cannot create the folder ({e.strerror})") from e
    tmps = []
    try:
        for name, text in files.items():
            tmp = out / f".{name}.partial"
            data = text.encode("utf-8") if isinstance(text, str) else text
            with tmp.open("wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            tmps.append((tmp, out / name))
    except OSError as e:
        for tmp, _ in tmps:
            tmp.unlink(missing_ok=True)
        raise UsageError(f"{option} {out}: cannot write ({e.strerror})") from e
    for tmp, final in tmps:
        tmp.replace(final)


# -- the disaster after-action report -------------------------------------------


def disaster_stem(disaster_id: str) -> str:
    """The files' name without extension: ``disaster-<ID>``."""
    return f"disaster-{disaster_id}"


def _desk(engine: Engine, now: datetime) -> Any:
    from gridwall.grants import DisasterDesk

    class _NoWrites:  # the report only reads declarations and attestations
        def record(self, event: Any) -> None:
            raise RuntimeError("the after-action report writes no grant step")

    return DisasterDesk(engine, _NoWrites(), lambda: now)


def _classifier(
    engine: Engine, decl: Mapping[str, Any], others: Sequence[Mapping[str, Any]]
) -> Any:
    """Each point INSIDE the declaration's area, inside an OTHER declaration's area, or
    OUTSIDE (also when the store does not hold it), by its address (read by the gateway)."""
    from gridwall.gateway import lookup_records
    from gridwall.grants import parse_area
    from gridwall.reports import INSIDE, OTHER, OUTSIDE

    area = parse_area(";".join(decl["area"]), validate=False)
    other_areas = [parse_area(";".join(d["area"]), validate=False) for d in others]

    def classify(points: Sequence[str]) -> dict[str, str]:
        with engine.connect() as conn:
            place = {r.supply_point_id: (r.pref, r.city) for r in lookup_records(conn, points)}
        out = {}
        for p in points:
            if p not in place:
                out[p] = OUTSIDE
            elif area.contains(*place[p]):
                out[p] = INSIDE
            elif any(a.contains(*place[p]) for a in other_areas):
                out[p] = OTHER
            else:
                out[p] = OUTSIDE
        return out

    return classify


def build_disaster(url: str, engine: Engine, disaster_id: str, now: datetime) -> dict[str, Any]:
    """The after-action report of ``disaster_id`` over the store's audit log up to its latest
    signed checkpoint (:func:`gridwall.reports.build_disaster_report`)."""
    from gridwall.grants import GrantRefused, parse_area
    from gridwall.interfaces.clock import parse_instant
    from gridwall.reports import build_disaster_report

    desk = _desk(engine, now)
    try:
        decl = desk.get(disaster_id)
        attestations = desk.report(disaster_id, [])["attestations"]
    except GrantRefused:
        raise UsageError(f"--declaration: no declaration {disaster_id!r} in the store") from None
    if not decl["active_from"]:
        raise UsageError(f"--declaration {disaster_id}: it was never active ({decl['status']})")
    start = parse_instant(decl["active_from"], "active_from")
    end = parse_instant(decl["effective_end"], "effective_end")
    area = parse_area(";".join(decl["area"]), validate=False)
    others, later = [], []
    for d in desk.list():
        if d["disaster_id"] == disaster_id or not d["active_from"]:
            continue
        if parse_instant(d["effective_end"], "effective_end") > start:
            others.append(d)  # active at some time after this one started
        d_start = parse_instant(d["active_from"], "active_from")
        if d_start >= end and area.overlaps(parse_area(";".join(d["area"]), validate=False)):
            later.append(d_start)  # from then on, disaster accesses here are under it
    view = AuditLogView(url)
    try:
        return build_disaster_report(
            view, decl, attestations, _classifier(engine, decl, others),
            next_start=min(later) if later else None, generated_at=now,
        )  # fmt: skip
    finally:
        view.close()


def disaster_files(rep: Mapping[str, Any]) -> dict[str, str | bytes]:
    """The report's three files: JSON appendix, HTML and PDF."""
    from gridwall.reports import disaster_html, disaster_pdf

    stem = disaster_stem(str(rep["declaration"]["disaster_id"]))
    return {
        f"{stem}.json": dump_json(rep),
        f"{stem}.html": disaster_html(rep),
        f"{stem}.pdf": disaster_pdf(rep),
    }


def write_disaster(url: str, engine: Engine, disaster_id: str, out: Path, now: datetime) -> Path:
    """Build and write the after-action report of ``disaster_id`` into ``out``."""
    rep = build_disaster(url, engine, disaster_id, now)
    write_files(out, disaster_files(rep))
    return out / f"{disaster_stem(disaster_id)}.json"


def due_disasters(url: str, engine: Engine, out: Path, now: datetime) -> list[tuple[str, str, str]]:
    """Write the after-action report of every declaration that has ended and has none in
    ``out`` yet: ``(disaster_id, "written" | "waiting", path or why)`` for each due one. A
    report waits while the latest signed checkpoint does not reach past the end (the next
    run writes it); a report already in ``out`` is never rewritten here."""
    done: list[tuple[str, str, str]] = []
    for d in _desk(engine, now).list():
        did = str(d["disaster_id"])
        if d["status"] != "ended" or not d["active_from"]:
            continue  # still running, or never active (cancelled / expired unapproved)
        if (out / f"{disaster_stem(did)}.json").exists():
            continue
        try:
            path = write_disaster(url, engine, did, out, now)
        except UsageError as e:
            done.append((did, "waiting", str(e)))
            continue
        done.append((did, "written", str(path)))
    return done


def report_dir(path: Path | None) -> Path | None:
    """The after-action report folder: ``path``, else ``$GRIDWALL_REPORT_DIR``, else none."""
    if path is not None:
        return path
    env = os.environ.get(REPORT_DIR_ENV)
    return Path(env) if env else None


# -- the monthly statement file -------------------------------------------------


class PinnedLogView(AuditLogView):
    """The audit log read at one earlier signed checkpoint (``note``), not the latest."""

    def __init__(self, url: str, note: str) -> None:
        super().__init__(url)
        found = [cp for cp in self.log.checkpoints() if cp.note == note]
        if not found:
            self.close()
            raise UsageError("the checkpoint the earlier run used is not in the audit log")
        self._cp = found[-1]

    def checkpoint(self) -> tuple[int, bytes, str]:
        return self._cp.size, self._cp.root, self._cp.note


def _last_ts(view: AuditLogView, size: int) -> datetime | None:
    from gridwall.interfaces.clock import parse_instant

    if size == 0:
        return None
    got = list(view.entries(size - 1, size))
    try:
        return parse_instant(str(json.loads(got[0][1])["event"]["ts"]), "ts")
    except (ValueError, KeyError, TypeError, IndexError):
        return None


def statement_stem(retailer: str, first: date, last: date) -> str:
    """The name of a statement's files (the same for ``report statement`` and the month)."""
    return f"statement-{retailer}-{first.isoformat()}-{last.isoformat()}"


def write_monthly(
    url: str, engine: Engine, month: str, out: Path, secret: bytes, now: datetime
) -> tuple[str, dict[str, Any]]:
    """Write every retailer's statement for ``month`` into ``out``, plus
    ``statements-<month>-index.json``; ``("written" | "unchanged", index)``.

    Issued once: the first run uses the latest signed checkpoint, which must reach past the
    month's end (the month must be over). A rerun reads the earlier index and rebuilds
    against the same checkpoint with the same ``generated_at``, so it gives the same bytes
    (nothing is rewritten); if anything came out different (the store's supply periods or
    the pseudonym secret changed), it refuses and names the file, writing nothing."""
    from gridwall.gateway import retailer_kinds
    from gridwall.interfaces.clock import day_end_jst
    from gridwall.reports import monthly_statements, parse_month, statement_html
    from gridwall.reports._monthly import sha256_hex

    first, last = parse_month(month)
    month = f"{first.year:04d}-{first.month:02d}"
    end = day_end_jst(last)
    if now < end:
        raise UsageError(f"--month {month}: the month has not ended yet (ends {end.isoformat()})")
    index_name = f"statements-{month}-index.json"
    earlier: dict[str, Any] | None = None
    if (out / index_name).exists():
        try:
            earlier = json.loads((out / index_name).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise UsageError(f"--out {out / index_name}: unreadable earlier index ({e})") from e
    generated = now
    if earlier is not None:
        view: AuditLogView = PinnedLogView(url, str(earlier.get("checkpoint", "")))
        generated = datetime.fromisoformat(str(earlier["generated_at"]))
    else:
        view = AuditLogView(url)
    try:
        size = view.checkpoint()[0]
        last_ts = _last_ts(view, size)
        if last_ts is None or last_ts < end:
            raise UsageError(
                f"--month {month}: the latest signed checkpoint (size {size}) does not reach "
                f"past the month's end; sign one (`gridwall audit checkpoint`) and run again"
            )
        statements, index = monthly_statements(
            view, supply_periods(engine), retailer_kinds(engine), month,
            secret=secret, generated_at=generated,
        )  # fmt: skip
    finally:
        view.close()
    files: dict[str, bytes] = {}
    for row in index["retailers"]:
        st = statements[row["retailer"]]
        stem = statement_stem(row["retailer"], first, last)
        for name, data in (
            (f"{stem}.json", dump_json(st).encode()),
            (f"{stem}.html", statement_html(st).encode()),
        ):
            files[name] = data
            row.setdefault("files", []).append({"name": name, "sha256": sha256_hex(data)})
    files[index_name] = dump_json(index).encode()
    differ = [
        n for n, data in files.items() if (out / n).exists() and (out / n).read_bytes() != data
    ]
    if differ:
        raise UsageError(
            f"--out {out / differ[0]}: already issued for {month} with different content; "
            "the monthly file is not overwritten (move the folder away to reissue)"
        )
    missing = {n: d for n, d in files.items() if not (out / n).exists()}
    if not missing:
        return "unchanged", index
    write_files(out, missing)
    return "written", index
