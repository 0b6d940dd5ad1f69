"""``gridwall lookup``: the equal-footing supply-point lookup from the command line.

* ``gridwall lookup ADDRESS [--name NAME] --json`` — one lookup (contract shape);
* ``gridwall lookup --batch FILE --json`` — one JSON object per input line, in order;
* ``gridwall lookup index [--db URL]`` — rebuild the index from the gateway's feed.

The index needs no separate step: ``gridwall load`` keeps it current, and a lookup on a store
whose index is missing or stale (built by another version) builds it first, with a progress
bar on stderr.

Without a caller this is the operator's own lookup (no retailer rate limit); it is audited
like every other lookup. Heavy imports stay inside the function (``gridwall --help`` is fast).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from collections.abc import Callable

    from gridwall.lookup._service import LookupService

_DB_HELP = "SQLAlchemy URL (default $GRIDWALL_DB or ./gridwall.db)."


def lookup(
    address: str | None = typer.Argument(
        None, help="The address to look up, or the word `index` to build the index."
    ),
    name: str | None = typer.Option(
        None, "--name", help="契約名義 to verify: answers only match / no match."
    ),
    batch: Path | None = typer.Option(
        None, "--batch", help="File with one address per line; one JSON line out per line."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (the contract shape)."),
    explain: bool = typer.Option(
        False, "--explain", help="Also print the normalised components to stderr."
    ),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Look up supply points by address (ID, equipment, normalised address; never a name)."""
    from gridwall.app.cli.stores import existing_store, writable_store
    from gridwall.errors import InputError, Location, UsageError

    if address == "index":
        if batch is not None or name is not None:
            raise UsageError("lookup index: --batch and --name do not apply")
        _index(writable_store(db), quiet)
        return
    if (address is None) == (batch is None):
        raise UsageError("lookup: give exactly one of ADDRESS or --batch FILE")
    if batch is not None and name is not None:
        raise UsageError("lookup: --name applies to a single ADDRESS, not to --batch")
    lines: list[str]
    if batch is not None:
        try:
            raw = batch.read_bytes()
        except OSError as e:
            raise InputError(f"cannot read: {e.strerror}", Location(str(batch))) from None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            bad = raw[: e.start].count(b"\n") + 1
            raise InputError("not UTF-8", Location(str(batch), bad)) from None
        lines = text.splitlines()
    else:
        assert address is not None
        lines = [address]
    # the store must exist and be migrated (a mistyped --db creates nothing); the lookup
    # then writes only its own index (built when missing or stale) and the audit log
    service, close = _service(existing_store(db), quiet)
    try:
        for i, line in enumerate(lines, start=1):
            out = _one(service, line, name, explain)
            if batch is None and "error" in out:
                raise UsageError(str(out["error"]))
            if batch is not None and "error" in out:
                print(f"gridwall lookup: {batch}:{i} [address]: {out['error']}", file=sys.stderr)
            _print(out, as_json)
    finally:
        close()


def _one(service: LookupService, line: str, name: str | None, explain: bool) -> dict[str, object]:
    from gridwall.errors import UsageError

    try:
        ans = service.lookup(line, name=name)
    except UsageError as e:
        return {"candidates": [], "name_match": None, "error": e.diagnostics()}
    if explain:
        q = ans.query
        # the typed form only: parts the parser inferred are named, never shown
        inferred = ", ".join(sorted(q.inferred)) or "-"
        print(
            f"gridwall lookup: normalised: {q.typed_form()} (inferred: {inferred}; "
            f"unmatched: {q.unmatched or '-'}; confident: {ans.confident})",
            file=sys.stderr,
        )
    return ans.to_json()


def _print(out: dict[str, object], as_json: bool) -> None:
    if as_json:
        print(json.dumps(out, ensure_ascii=False, separators=(",", ":")))
        return
    cands = out.get("candidates") or []
    assert isinstance(cands, list)
    if "error" in out:
        print(f"error: {out['error']}")
    for c in cands:
        eq = c["equipment"]
        print(f"{c['score']:.3f}  {c['supply_point_id']}  {c['address']}  "
              f"[{eq['voltage']}, meter {eq['meter_id']}]")  # fmt: skip
    if out.get("name_match") is not None:
        print("name: " + ("match" if out["name_match"] else "no match"))


def _service(url: str, quiet: bool = False) -> tuple[LookupService, Callable[[], None]]:
    from gridwall.app.cli.stores import redact, store_error
    from gridwall.app.wiring import ensure_lookup_index
    from gridwall.audit import open_log
    from gridwall.errors import UsageError
    from gridwall.lookup._index import ABSENT, LookupIndex, index_state
    from gridwall.lookup._service import LookupService
    from gridwall.store import make_engine

    shown = redact(url)
    engine = make_engine(url)
    try:
        state = index_state(engine)
        if state == ABSENT:
            raise UsageError(f"--db {shown}: no gridwall store here; run `gridwall load DIR` first")
        built = ensure_lookup_index(engine, progress=not quiet)
        if built is not None and not quiet:
            print(
                f"gridwall lookup: the index was {state}; built it: {built.points:,} points in "
                f"{built.places:,} places in {built.seconds:.1f} s",
                file=sys.stderr,
            )
        index = LookupIndex(engine)
    except UsageError:
        engine.dispose()
        raise
    except Exception as e:
        engine.dispose()
        err = store_error(e)  # unreachable (exit 3) or unusable (exit 2), one line
        if err is not None:
            raise err from e
        raise UsageError(
            f"--db {shown}: the lookup index cannot be read or built ({type(e).__name__}); "
            "run `gridwall load DIR` first"
        ) from None
    log = open_log(url, migrate=False)
    if index.size == 0 and not quiet:
        print("gridwall lookup: the store has no supply points to look up", file=sys.stderr)

    def names(spid: str, name: str) -> bool:
        from gridwall.gateway import holder_name_matches

        return holder_name_matches(engine, spid, name)

    def close() -> None:
        log.close()
        engine.dispose()

    return LookupService(index, log, name_checker=names), close


def _index(url: str, quiet: bool) -> None:
    from gridwall.gateway import lookup_feed
    from gridwall.lookup._index import build_index
    from gridwall.store import make_engine

    engine = make_engine(url)  # writable_store has migrated it
    try:

        def progress(n: int) -> None:
            if not quiet:
                print(f"\rgridwall lookup index: {n:,} points", end="", file=sys.stderr)

        rep = build_index(engine, lookup_feed(engine), progress=progress)
    finally:
        engine.dispose()
    if not quiet:
        print(file=sys.stderr)
    print(
        f"gridwall lookup index: {rep.points:,} points in {rep.places:,} places "
        f"({rep.unknown_towns:,} towns learnt from the operator's data, {rep.skipped:,} closed "
        f"points skipped) in {rep.seconds:.1f} s",
        file=sys.stderr,
    )


def register(app: typer.Typer) -> None:
    app.command("lookup")(lookup)
