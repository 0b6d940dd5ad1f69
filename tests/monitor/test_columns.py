"""Data minimisation: the monitor reads exactly the columns its rules declare, and never a
customer's (or staff member's) non-public data."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pytest

from gridwall.dataset import TABLES
from gridwall.monitor import _columns, _input, _run, _scan
from gridwall.monitor._columns import NEVER_READ, SCAN_READS, source_columns
from gridwall.monitor._run import scan
from gridwall.monitor.rules import RULES, Reference, Rule

from . import world

SENTINEL = "SENTINEL-非公開-0001"


def _quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The real schemas of the enriched rows and of every reference relation (empty tables)."""
    empty = tmp_path_factory.mktemp("empty")
    duck = _run._connect()
    _input.register_reference(duck, empty)
    with _scan.open_engine("duckdb", duck) as eng:
        ev = eng.provide("ev", _input.events_sql(duck, []))
        t = {n: eng.con.table(f"ref_{n}") for n in _input.REFERENCE_NAMES}
        en = _scan.enrich(ev, t["accounts"], t["persons"], t["devices"], t["contracts"], RULES)
        out = {"rows": en.rows.schema()}
        switching = t["switching"].mutate(applied_s=ibis.literal(0, "int64"))
        areas = t["disaster_areas"].mutate(
            start_s=ibis.literal(0, "int64"), end_s=ibis.literal(0, "int64")
        )
        out |= {n: t[n].schema() for n in t} | {
            "switching": switching.schema(),
            "disaster_areas": areas.schema(),
        }
    duck.close()
    return out


def _restricted(name: str, schema: Any, keep: frozenset[str]) -> ir.Table:
    return ibis.table({c: schema[c] for c in schema.names if c in keep}, name=name)


def _undeclared(rule: Rule, schemas: dict[str, Any]) -> str | None:
    """Build the rule's expressions over tables holding only what it declares (plus what
    every scan reads): a read of anything else fails to build. Returns the error, if any."""
    rows = _restricted("rows", schemas["rows"], rule.reads | SCAN_READS)
    rels = {
        f: _restricted(f, schemas[f], rule.reference.get(f, frozenset()))
        for f in Reference.__dataclass_fields__
        if f != "granted_keys"  # computed by the scan from the rows (None: by the rule)
    }
    try:
        rule.flag(rows)
        if rule.confirm is not None:
            rule.confirm(rows, Reference(**rels))
    except (AttributeError, ibis.common.exceptions.IbisError) as e:
        return f"{type(e).__name__}: {e}"
    return None


@pytest.mark.parametrize("rule", [r for r in RULES if isinstance(r, Rule)], ids=lambda r: r.id)
def test_every_rule_reads_only_what_it_declares(rule: Rule, schemas: dict[str, Any]) -> None:
    assert _undeclared(rule, schemas) is None
    # and declares only columns that exist (a typo would silently widen nothing)
    assert rule.reads <= set(_columns.ENRICHED), rule.reads - set(_columns.ENRICHED)
    for rel, cols in rule.reference.items():
        assert cols <= set(_columns.REFERENCE[rel]), (rel, cols)


def test_the_check_catches_an_undeclared_read(schemas: dict[str, Any]) -> None:
    """The check above can fail: a rule reading a column it does not declare, in its flag
    or in its confirm step (a row column or a reference column), is caught."""
    base = next(r for r in RULES if r.id == "C2-foreign-terminal")
    assert isinstance(base, Rule)
    sneaky_flag = Rule(**{**base.__dict__, "flag": lambda e: e.d_owner != e.p_role})
    assert _undeclared(sneaky_flag, schemas) is not None

    def confirm_row(rows: ir.Table, ref: Reference) -> ir.Table:
        return rows.filter(rows.recipient_org.isnull())

    def confirm_ref(rows: ir.Table, ref: Reference) -> ir.Table:
        return rows.semi_join(ref.switching, rows.supply_point_id == ref.switching.supply_point_id)

    for confirm in (confirm_row, confirm_ref):
        assert _undeclared(Rule(**{**base.__dict__, "confirm": confirm}), schemas) is not None


def test_no_rule_makes_the_reader_touch_non_public_data() -> None:
    for rule in RULES:
        projected = {(t, c) for t, cols in source_columns((rule,)).items() for c in cols}
        assert not projected & NEVER_READ, (rule.id, projected & NEVER_READ)
    everything = {(t, c) for t, cols in source_columns(RULES).items() for c in cols}
    assert not everything & NEVER_READ
    # the projection is a real subset: no table is read whole by accident
    tables = (*TABLES.values(), _input.CONSENTS)
    assert everything < {(t.name, c.name) for t in tables for c in t.columns}


def _with_sentinels(d: Path) -> None:
    """Put a recognisable value into every non-public column the world has."""
    for table, col in NEVER_READ:
        path = d / f"{table}.csv"
        if not path.exists():
            continue
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows or col not in rows[0]:
            continue
        for r in rows:
            r[col] = SENTINEL
        with path.open("w", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


def test_no_non_public_value_reaches_duckdb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end: after a full scan with a state file, no table, view or state holds a
    sentinel placed in contract_name, phone, address parts, names or search texts."""
    d = world.write(tmp_path / "ds")
    _with_sentinels(d)
    assert SENTINEL in (d / "supply_points.csv").read_text(encoding="utf-8")
    assert SENTINEL in (d / "events.csv").read_text(encoding="utf-8")  # the query column
    seen: list[str] = []
    close = _scan.Engine.close

    def dump_then_close(self: _scan.Engine) -> None:
        rels = self.duck.execute(
            "SELECT table_name FROM duckdb_tables() WHERE temporary "
            "UNION ALL SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal"
        ).fetchall()
        for (name,) in rels:
            rows = self.duck.execute(f'SELECT * FROM "{name}"').fetchall()
            seen.append(json.dumps(rows, default=str, ensure_ascii=False))
        close(self)

    monkeypatch.setattr(_scan.Engine, "close", dump_then_close)
    state = tmp_path / "state.duckdb"
    alerts = scan(d, state=state, say=_quiet).alerts
    assert alerts and len(seen) > 10
    assert not [s for s in seen if SENTINEL in s]
    import duckdb

    st = duckdb.connect(str(state), read_only=True)
    for (name,) in st.execute("SELECT table_name FROM duckdb_tables()").fetchall():
        rows = st.execute(f'SELECT * FROM "{name}"').fetchall()
        assert SENTINEL not in json.dumps(rows, default=str, ensure_ascii=False), name
    st.close()
    # the check can fail: reading every column does bring the sentinels in
    seen.clear()
    every = {t.name: frozenset(t.column_names) for t in TABLES.values()}
    monkeypatch.setattr(_run, "source_columns", lambda rules: every)
    scan(d, say=_quiet)
    assert [s for s in seen if SENTINEL in s]


def test_projection_changes_no_alert(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading every column gives the same alerts as reading the projection: nothing a rule
    needs was left out of the provenance map."""
    d = world.write(tmp_path / "ds")
    minimal = scan(d, say=_quiet).alerts
    every = {t.name: frozenset(t.column_names) for t in (*TABLES.values(), _input.CONSENTS)}
    monkeypatch.setattr(_run, "source_columns", lambda rules: every)
    assert scan(d, say=_quiet).alerts == minimal
    # and for each rule alone (its own projection only)
    monkeypatch.undo()
    # (in the full scan a rule's findings on events a more specific type leads are listed as
    # that alert's related findings; together they are what the rule finds alone)
    found: dict[tuple[str, str], set[str]] = {}
    for a in minimal:
        found.setdefault((a["rule"], a["account_id"]), set()).update(a["event_ids"])
        for r in a["related"]:
            found.setdefault((r["rule"], a["account_id"]), set()).update(r["event_ids"])
    for rule in RULES:
        alone = scan(d, say=_quiet, only=(rule.id,)).alerts
        assert all(not a["related"] for a in alone), rule.id
        got = {(a["rule"], a["account_id"]): set(a["event_ids"]) for a in alone}
        assert got == {k: v for k, v in found.items() if k[0] == rule.id}, rule.id
