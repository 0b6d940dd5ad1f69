"""Legacy logs → the ``events`` layout, through a declarative mapping file (YAML).

A mapping names the source format and, for each ``events`` column, where its value comes
from: one or more source columns (joined), a constant, a time format, a value map, a list
separator. It is compiled to one DuckDB query that streams the log; rows that cannot be mapped
(a required value missing, a time that does not parse, a value the map does not know) are
written to a rejects file with their line number and reason, and counted — never dropped
silently. Example::

    source: {format: csv, delimiter: ",", header: true}
    columns:
      event_id:   {from: LOG_NO, prefix: "legacy-"}
      ts:         {from: [ACCESS_DATE, ACCESS_TIME], join: " ",
                   format: "%Y/%m/%d %H:%M:%S", tz: "+09:00"}
      system:     {value: takuso_legacy}
      account_id: {from: USER_ID}
      action:     {from: OPERATION, map: {照会: view, 検索: search, 出力: export}}
      supply_point_ids: {from: SPID, split: "|"}
      fields:     {from: SCREEN_ID, map: {KY010: "contract_name;address", KY020: usage},
                   split: ";"}
      decision:   {value: allow}

A mistake in the mapping itself raises an :class:`~gridwall.errors.InputError` naming the
mapping file, its line and the field.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gridwall.dataset import EVENTS
from gridwall.errors import InputError, Location, UsageError
from gridwall.monitor._input import q

_TARGETS = {c.name: c for c in EVENTS.columns}
_SPEC_KEYS = {"from", "value", "join", "format", "tz", "map", "default", "split", "prefix"}
_SOURCE_KEYS = {"format", "delimiter", "header", "quote", "encoding"}
_TZ = re.compile(r"^[+-]\d\d:\d\d$")


@dataclass
class ColumnSpec:
    target: str
    line: int
    sources: list[str] = field(default_factory=list)
    value: str | None = None
    join: str = " "
    format: str | None = None
    tz: str = "+09:00"
    mapping: dict[str, str] | None = None
    default: str | None = None
    split: str | None = None
    prefix: str = ""


@dataclass
class Mapping:
    path: Path
    fmt: str
    delimiter: str
    header: bool
    quote: str
    encoding: str
    columns: dict[str, ColumnSpec]


@dataclass
class ImportResult:
    accepted: int
    rejected: int


def _node_map(node: yaml.Node, path: Path, what: str) -> dict[str, tuple[yaml.Node, int]]:
    if not isinstance(node, yaml.MappingNode):
        raise InputError(f"{what} must be a mapping", Location(str(path), node.start_mark.line + 1))
    out: dict[str, tuple[yaml.Node, int]] = {}
    for k, v in node.value:
        out[str(k.value)] = (v, k.start_mark.line + 1)
    return out


def _scalar(node: yaml.Node, path: Path, line: int, fld: str) -> str:
    if not isinstance(node, yaml.ScalarNode):
        raise InputError("must be a single value", Location(str(path), line, fld))
    return str(node.value)


def load_mapping(path: Path) -> Mapping:
    """Parse and check a mapping file; every problem names the file, line and field."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"--mapping: cannot read {path}: {e.strerror}") from None
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InputError(
            f"not valid YAML ({getattr(e, 'problem', e)})", Location(name, line)
        ) from None
    if root is None:
        raise InputError("empty mapping file", Location(name, 1))
    top = _node_map(root, path, "the mapping")
    for k, (_n, line) in top.items():
        if k not in ("source", "columns", "system"):
            raise InputError("unknown key (source, columns, system)", Location(name, line, k))
    src: dict[str, str] = {}
    src_lines: dict[str, int] = {}
    if "source" in top:
        for k, (n, line) in _node_map(top["source"][0], path, "source").items():
            if k not in _SOURCE_KEYS:
                raise InputError(
                    f"unknown source key ({', '.join(sorted(_SOURCE_KEYS))})",
                    Location(name, line, f"source.{k}"),
                )
            src[k] = _scalar(n, path, line, f"source.{k}")
            src_lines[k] = line
    fmt = src.get("format", "csv")
    if fmt not in ("csv", "jsonl"):
        raise InputError(
            "format must be csv or jsonl", Location(name, src_lines.get("format"), "source.format")
        )
    if "columns" not in top:
        raise InputError("a mapping needs 'columns'", Location(name, 1, "columns"))
    cols: dict[str, ColumnSpec] = {}
    for target, (n, line) in _node_map(top["columns"][0], path, "columns").items():
        fld = f"columns.{target}"
        if target not in _TARGETS:
            raise InputError(
                f"not an events column ({', '.join(_TARGETS)})", Location(name, line, fld)
            )
        spec = ColumnSpec(target, line)
        klines: dict[str, int] = {}
        for k, (v, kline) in _node_map(n, path, fld).items():
            klines[k] = kline
            where = Location(name, kline, f"{fld}.{k}")
            if k not in _SPEC_KEYS:
                raise InputError(f"unknown key ({', '.join(sorted(_SPEC_KEYS))})", where)
            if k == "from":
                if isinstance(v, yaml.SequenceNode):
                    spec.sources = [_scalar(x, path, kline, f"{fld}.from") for x in v.value]
                else:
                    spec.sources = [_scalar(v, path, kline, f"{fld}.from")]
            elif k == "map":
                m = _node_map(v, path, f"{fld}.map")
                spec.mapping = {
                    mk: _scalar(mv, path, ml, f"{fld}.map.{mk}") for mk, (mv, ml) in m.items()
                }
            else:
                setattr(spec, k, _scalar(v, path, kline, f"{fld}.{k}"))
        if not spec.sources and spec.value is None:
            raise InputError("needs 'from' (source column) or 'value'", Location(name, line, fld))
        col = _TARGETS[target]
        if spec.format is not None and col.type not in ("ts", "date"):
            raise InputError("'format' only applies to times and dates", Location(name, line, fld))
        if not _TZ.match(spec.tz):
            raise InputError(
                "tz must look like +09:00", Location(name, klines.get("tz", line), f"{fld}.tz")
            )
        if spec.split is not None and col.type != "list":
            raise InputError("'split' only applies to list columns", Location(name, line, fld))
        cols[target] = spec
    if "system" in top and "system" not in cols:
        cols["system"] = ColumnSpec(
            "system",
            top["system"][1],
            value=_scalar(top["system"][0], path, top["system"][1], "system"),
        )
    for c in EVENTS.columns:
        if c.required and c.name not in cols:
            raise InputError(
                f"required events column {c.name} is not mapped", Location(name, None, "columns")
            )
    return Mapping(
        path,
        fmt,
        src.get("delimiter", ","),
        src.get("header", "true").lower() in ("true", "yes", "1"),
        src.get("quote", '"'),
        src.get("encoding", "utf-8"),
        cols,
    )


def _qi(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _expr(spec: ColumnSpec, header: list[str], m: Mapping) -> tuple[str, list[tuple[str, str]]]:
    """SQL for one target column, and (condition, reason) pairs that reject a row."""
    col = _TARGETS[spec.target]
    problems: list[tuple[str, str]] = []
    for s in spec.sources:
        if s not in header:
            raise InputError(
                f"source column {s!r} is not in the log (has: {', '.join(header[:12])})",
                Location(str(m.path), spec.line, f"columns.{spec.target}.from"),
            )
    if spec.value is not None and not spec.sources:
        base = q(spec.value)
    elif len(spec.sources) == 1:
        base = f"NULLIF(trim(CAST(src.{_qi(spec.sources[0])} AS VARCHAR)), '')"
    else:
        parts = ", ".join(f"trim(CAST(src.{_qi(s)} AS VARCHAR))" for s in spec.sources)
        base = f"NULLIF(concat_ws({q(spec.join)}, {parts}), '')"
    raw = base
    if spec.mapping is not None:
        cases = " ".join(f"WHEN {q(k)} THEN {q(v)}" for k, v in spec.mapping.items())
        default = q(spec.default) if spec.default is not None else "NULL"
        base = f"(CASE {raw} {cases} ELSE {default} END)"
        if spec.default is None:
            problems.append(
                (
                    f"{raw} IS NOT NULL AND {base} IS NULL",
                    f"{spec.target}: value not in the mapping's map",
                )
            )
    if spec.prefix:
        base = f"({q(spec.prefix)} || {base})"
    if col.type == "ts":
        if spec.format:
            # a local wall time in the mapping's time zone → an absolute time
            parsed = f"try_strptime({base}, {q(spec.format)})"
            expr = f"CAST(strftime({parsed}, '%Y-%m-%dT%H:%M:%S') || {q(spec.tz)} AS TIMESTAMPTZ)"
            problems.append(
                (f"{base} IS NOT NULL AND {parsed} IS NULL", f"ts: does not match {spec.format}")
            )
        else:
            expr = f"TRY_CAST({base} AS TIMESTAMPTZ)"
            problems.append((f"{base} IS NOT NULL AND {expr} IS NULL", "ts: not an RFC 3339 time"))
    elif col.type == "date":
        expr = (
            f"CAST(try_strptime({base}, {q(spec.format)}) AS DATE)"
            if spec.format
            else f"TRY_CAST({base} AS DATE)"
        )
        problems.append((f"{base} IS NOT NULL AND {expr} IS NULL", f"{spec.target}: not a date"))
    elif col.type == "int":
        expr = f"TRY_CAST({base} AS BIGINT)"
        problems.append(
            (f"{base} IS NOT NULL AND {expr} IS NULL", f"{spec.target}: not an integer")
        )
    elif col.type == "list":
        sep = spec.split or ";"
        expr = (
            f"CASE WHEN {base} IS NULL THEN []::VARCHAR[] ELSE "
            f"list_filter(string_split({base}, {q(sep)}), lambda x: x <> '') END"
        )
        if spec.mapping is not None and sep != ";":
            # mapped values are ;-separated lists of their own
            expr = (
                f"CASE WHEN {base} IS NULL THEN []::VARCHAR[] ELSE "
                f"list_filter(string_split(replace({base}, {q(sep)}, ';'), ';'), "
                f"lambda x: x <> '') END"
            )
    else:
        expr = base
    if col.required:
        problems.append((f"{expr} IS NULL", f"{spec.target}: required value missing"))
    if col.choices:
        allowed = ", ".join(q(c) for c in col.choices)
        problems.append(
            (
                f"{expr} IS NOT NULL AND {expr} NOT IN ({allowed})",
                f"{spec.target}: must be one of {', '.join(col.choices)}",
            )
        )
    return expr, problems


def _reader(log: Path, m: Mapping, con: Any) -> tuple[str, list[str]]:
    p = q(str(log))
    if m.fmt == "csv":
        enc = m.encoding.lower().replace("_", "-")
        reader = (
            f"read_csv({p}, header={'true' if m.header else 'false'}, delim={q(m.delimiter)}, "
            f"quote={q(m.quote)}, all_varchar=true, auto_detect=true, encoding={q(enc)})"
        )
    else:
        reader = f"read_json({p}, format='newline_delimited', union_by_name=true)"
    try:
        header = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()]
    except Exception as e:  # duckdb raises many kinds; all mean the log is unreadable
        raise InputError(f"cannot read the log: {e}", Location(str(log))) from None
    return reader, header


def import_log(log: Path, m: Mapping, out: Path, rejects: Path) -> ImportResult:
    """Map ``log`` to an events file ``out`` (.parquet or .csv); rejected rows to ``rejects``."""
    import duckdb

    if not log.exists():
        raise UsageError(f"LOG: no such file: {log}")
    if out.suffix not in (".parquet", ".csv"):
        raise UsageError(f"--out: must end in .parquet or .csv, got {out.name}")
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    reader, header = _reader(log, m, con)
    selects, problems = [], []
    for c in EVENTS.columns:
        spec = m.columns.get(c.name)
        if spec is None:
            null = "[]::VARCHAR[]" if c.type == "list" else "NULL"
            selects.append(f"{null} AS {_qi(c.name)}")
            continue
        expr, probs = _expr(spec, header, m)
        selects.append(f"{expr} AS {_qi(c.name)}")
        problems += probs
    reason = "CASE " + " ".join(f"WHEN {c} THEN {q(r)}" for c, r in problems) + " ELSE NULL END"
    first_line = 2 if (m.fmt == "csv" and m.header) else 1
    con.execute(
        f"CREATE TEMP TABLE mapped AS SELECT row_number() OVER () + {first_line - 1} AS _line, "
        f"{', '.join(selects)}, {reason} AS _reason, to_json(src) AS _raw FROM {reader} src"
    )
    cols = ", ".join(_qi(c.name) for c in EVENTS.columns)
    tmp = out.with_name(out.name + ".tmp")
    fmt = "(FORMAT parquet)" if out.suffix == ".parquet" else "(FORMAT csv, HEADER true)"
    if out.suffix == ".csv":
        cols = ", ".join(
            f"array_to_string({_qi(c.name)}, ';') AS {_qi(c.name)}"
            if c.type == "list"
            else (
                f"strftime({_qi(c.name)}, '%Y-%m-%dT%H:%M:%S+00:00') AS {_qi(c.name)}"
                if c.type == "ts"
                else _qi(c.name)
            )
            for c in EVENTS.columns
        )
    con.execute(
        f"COPY (SELECT {cols} FROM mapped WHERE _reason IS NULL ORDER BY _line) "
        f"TO {q(str(tmp))} {fmt}"
    )
    counted = con.execute("SELECT count(*) FROM mapped WHERE _reason IS NULL").fetchone()
    accepted = counted[0] if counted else 0
    bad = con.execute(
        "SELECT _line, _reason, _raw FROM mapped WHERE _reason IS NOT NULL ORDER BY _line"
    ).fetchall()
    rtmp = rejects.with_name(rejects.name + ".tmp")
    with rtmp.open("w", encoding="utf-8") as f:
        for line, why, raw in bad:
            f.write(
                json.dumps(
                    {"file": log.name, "line": int(line), "reason": why, "row": json.loads(raw)},
                    ensure_ascii=False,
                )
                + "\n"
            )
    os.replace(tmp, out)
    os.replace(rtmp, rejects)
    return ImportResult(int(accepted), len(bad))
