"""A legacy system's permission matrix (権限マトリクス), read from YAML or JSON.

The documented format is in ``docs/legacy-audit.md``; an example ("type A", a shared
託送/営業 system) ships as ``gridwall/policy/legacy_examples/type_a.yaml``. A matrix
has four lists:

* ``organisations``: who holds roles (kind, retailer kind, optional terminal and the
  field groups a valid agreement of theirs names);
* ``roles``: each legacy role, the gridwall role and purpose it corresponds to, and
  the organisations whose staff hold it;
* ``screens``: each legacy screen, report, export or table, and which gridwall field
  group each of its columns carries (masked columns are listed separately);
* ``grants``: the matrix itself, one row per legacy role × screen with the operations
  the legacy system permits and whether it filters to the holder's own customers; or
  ``grants_csv``, the same rows as a CSV sheet (the grid exported from a spreadsheet).

Why a hand-written walk over PyYAML's node tree rather than a schema library: every
error must name the file, the line and the field, and only the composed node tree
(``yaml.compose``) keeps line numbers. JSON is read by the same parser (JSON written
with spaces is YAML). All errors of a file are collected and raised together as
:class:`~gridwall.errors.InputErrors`; nothing is audited from a bad matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

import yaml

from gridwall.errors import InputError, InputErrors, Location
from gridwall.interfaces.facts import (
    FIELDS,
    Action,
    DeviceKind,
    OrgKind,
    Purpose,
    Recipient,
    RetailerKind,
    Role,
)

#: Actions a legacy grant may name (``read_audit`` reads no supply point).
LEGACY_ACTIONS: tuple[Action, ...] = (
    Action.VIEW,
    Action.SEARCH,
    Action.LIST,
    Action.EXPORT,
    Action.LOOKUP,
)

_MAX_ERRORS = 50

E = TypeVar("E", bound=StrEnum)


class Scope(StrEnum):
    """Which supply points a grant reaches, for a retailer's staff."""

    ALL = "all"  # the legacy screen does not filter by retailer of record
    OWN = "own"  # the legacy screen shows only the holder's own customers


@dataclass(frozen=True)
class Organisation:
    id: str
    name: str
    kind: OrgKind
    retailer_kind: RetailerKind
    terminal: DeviceKind
    #: field groups a valid in-scope agreement of this organisation names (None: none)
    agreement_fields: frozenset[str] | None
    line: int


@dataclass(frozen=True)
class LegacyRole:
    id: str
    role: Role
    purpose: Purpose
    held_by: tuple[str, ...]
    line: int
    #: whether its holders' compliance training is current (the legacy system does not ask)
    trained: bool = True


@dataclass(frozen=True)
class Screen:
    id: str
    #: legacy column → gridwall field group
    columns: Mapping[str, str]
    masked: frozenset[str]
    includes_lrs: bool
    fit_only: bool
    line: int

    @property
    def shown(self) -> dict[str, tuple[str, ...]]:
        """Field group → the unmasked legacy columns that show it."""
        out: dict[str, list[str]] = {}
        for col, fg in self.columns.items():
            if col not in self.masked:
                out.setdefault(fg, []).append(col)
        return {fg: tuple(sorted(cols)) for fg, cols in out.items()}


@dataclass(frozen=True)
class Grant:
    role: str
    screen: str
    operations: tuple[Action, ...]
    scope: Scope
    recipient: Recipient | None
    line: int


@dataclass(frozen=True)
class Matrix:
    system: str
    source: str
    organisations: Mapping[str, Organisation]
    roles: Mapping[str, LegacyRole]
    screens: Mapping[str, Screen]
    grants: tuple[Grant, ...]


#: An organisation's usual terminal when the matrix does not name one.
DEFAULT_TERMINAL: dict[OrgKind, DeviceKind] = {
    OrgKind.NW: DeviceKind.NW_TERMINAL,
    OrgKind.RETAIL: DeviceKind.RETAIL_TERMINAL,
    OrgKind.CONTRACTOR: DeviceKind.CONTRACTOR_TERMINAL,
    OrgKind.REGULATOR: DeviceKind.CONTRACTOR_TERMINAL,  # any non-NW terminal: all denied
}


class _Reader:
    """Walks the composed YAML tree, collecting located errors."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[InputError] = []

    def error(self, node: yaml.Node | None, field: str, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else None
        if len(self.errors) < _MAX_ERRORS:
            self.errors.append(InputError(message, Location(self.source, line, field)))

    def mapping(
        self,
        node: yaml.Node,
        field: str,
        required: tuple[str, ...],
        optional: tuple[str, ...] = (),
    ) -> dict[str, yaml.Node] | None:
        if not isinstance(node, yaml.MappingNode):
            self.error(node, field, "expected a mapping (key: value)")
            return None
        out: dict[str, yaml.Node] = {}
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else None
            where = f"{field}.{key}" if field else str(key)
            if key is None:
                self.error(k, field, "keys must be plain names")
            elif key in out:
                self.error(k, where, "duplicate key")
            elif key not in required and key not in optional:
                allowed = ", ".join((*required, *optional))
                self.error(k, where, f"unknown key {key!r} (expected one of: {allowed})")
            else:
                out[key] = v
        for key in required:
            if key not in out:
                self.error(node, f"{field}.{key}" if field else key, "missing required key")
        return out

    def seq(self, node: yaml.Node, field: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, field, "expected a list")
            return []
        return list(node.value)

    def text(self, node: yaml.Node, field: str) -> str | None:
        if not isinstance(node, yaml.ScalarNode) or node.value.strip() == "":
            self.error(node, field, "expected a non-empty text value")
            return None
        return str(node.value).strip()

    def enum(self, node: yaml.Node, field: str, enum: type[E]) -> E | None:
        value = self.text(node, field)
        if value is None:
            return None
        try:
            return enum(value)
        except ValueError:
            allowed = ", ".join(e.value for e in enum)
            self.error(node, field, f"unknown value {value!r} (expected one of: {allowed})")
            return None

    def boolean(self, node: yaml.Node, field: str) -> bool | None:
        value = self.text(node, field)
        if value is None:
            return None
        if value.lower() in ("true", "yes"):
            return True
        if value.lower() in ("false", "no"):
            return False
        self.error(node, field, f"expected true or false, not {value!r}")
        return None

    def field_group(self, node: yaml.Node, field: str) -> str | None:
        value = self.text(node, field)
        if value is not None and value not in FIELDS:
            self.error(
                node, field, f"unknown field group {value!r} (expected one of: {', '.join(FIELDS)})"
            )
            return None
        return value

    def texts(self, node: yaml.Node, field: str) -> list[tuple[yaml.Node, str]]:
        out: list[tuple[yaml.Node, str]] = []
        for i, item in enumerate(self.seq(node, field)):
            value = self.text(item, f"{field}[{i}]")
            if value is not None:
                out.append((item, value))
        return out

    def unique(
        self,
        items: list[yaml.Node],
        field: str,
        parse: Callable[[yaml.Node, str], tuple[str, object] | None],
    ) -> dict[str, object]:
        """Parse each item; ids must be unique."""
        out: dict[str, object] = {}
        lines: dict[str, int] = {}
        for i, item in enumerate(items):
            parsed = parse(item, f"{field}[{i}]")
            if parsed is None:
                continue
            key, value = parsed
            if key in out:
                self.error(
                    item, f"{field}[{i}].id", f"duplicate id {key!r} (first on line {lines[key]})"
                )
                continue
            out[key] = value
            lines[key] = item.start_mark.line + 1
        return out


def _organisation(r: _Reader, node: yaml.Node, field: str) -> tuple[str, object] | None:
    m = r.mapping(node, field, ("id", "kind"), ("name", "retailer_kind", "terminal", "agreement"))
    if m is None:
        return None
    oid = r.text(m["id"], f"{field}.id") if "id" in m else None
    kind = r.enum(m["kind"], f"{field}.kind", OrgKind) if "kind" in m else None
    name = r.text(m["name"], f"{field}.name") if "name" in m else oid
    rk: RetailerKind | None = RetailerKind.NONE
    if kind is OrgKind.RETAIL:
        if "retailer_kind" not in m:
            r.error(
                node,
                f"{field}.retailer_kind",
                "missing required key: a retailer is affiliated or independent",
            )
            rk = None
        else:
            rk = r.enum(m["retailer_kind"], f"{field}.retailer_kind", RetailerKind)
            if rk is RetailerKind.NONE:
                r.error(
                    m["retailer_kind"],
                    f"{field}.retailer_kind",
                    "a retailer needs affiliated or independent",
                )
                rk = None
    elif "retailer_kind" in m and kind is not None:
        r.error(
            m["retailer_kind"], f"{field}.retailer_kind", f"only retailers have one, not {kind}"
        )
        rk = None
    terminal: DeviceKind | None = DEFAULT_TERMINAL[kind] if kind is not None else None
    if "terminal" in m:
        terminal = r.enum(m["terminal"], f"{field}.terminal", DeviceKind)
    agreement: frozenset[str] | None = None
    if "agreement" in m:
        fgs = [
            r.field_group(n, f"{field}.agreement[{i}]")
            for i, n in enumerate(r.seq(m["agreement"], f"{field}.agreement"))
        ]
        agreement = frozenset(f for f in fgs if f is not None)
    if oid is None or kind is None or rk is None or terminal is None or name is None:
        return None
    return oid, Organisation(oid, name, kind, rk, terminal, agreement, node.start_mark.line + 1)


def _role(r: _Reader, node: yaml.Node, field: str) -> tuple[str, object] | None:
    m = r.mapping(node, field, ("id", "role", "purpose", "held_by"), ("trained",))
    if m is None:
        return None
    rid = r.text(m["id"], f"{field}.id") if "id" in m else None
    role = r.enum(m["role"], f"{field}.role", Role) if "role" in m else None
    purpose = r.enum(m["purpose"], f"{field}.purpose", Purpose) if "purpose" in m else None
    held = r.texts(m["held_by"], f"{field}.held_by") if "held_by" in m else []
    trained = r.boolean(m["trained"], f"{field}.trained") if "trained" in m else True
    if rid is None or role is None or purpose is None or "held_by" not in m or trained is None:
        return None
    return rid, (
        LegacyRole(
            rid, role, purpose, tuple(v for _, v in held), node.start_mark.line + 1, trained
        ),
        held,
        m["held_by"],
        field,
    )


def _screen(r: _Reader, node: yaml.Node, field: str) -> tuple[str, object] | None:
    m = r.mapping(node, field, ("id", "columns"), ("masked", "includes_lrs", "fit_only"))
    if m is None:
        return None
    sid = r.text(m["id"], f"{field}.id") if "id" in m else None
    columns: dict[str, str] = {}
    ok = True
    if "columns" in m:
        cnode = m["columns"]
        if not isinstance(cnode, yaml.MappingNode):
            r.error(cnode, f"{field}.columns", "expected a mapping (legacy column: field group)")
            ok = False
        elif not cnode.value:
            r.error(cnode, f"{field}.columns", "a screen needs at least one column")
            ok = False
        else:
            for k, v in cnode.value:
                col = r.text(k, f"{field}.columns")
                if col is None:
                    ok = False
                    continue
                fg = r.field_group(v, f"{field}.columns.{col}")
                if col in columns:
                    r.error(k, f"{field}.columns.{col}", "duplicate column")
                    ok = False
                elif fg is None:
                    ok = False
                else:
                    columns[col] = fg
    masked: set[str] = set()
    if "masked" in m:
        for i, (item, col) in enumerate(r.texts(m["masked"], f"{field}.masked")):
            if col not in columns:
                r.error(item, f"{field}.masked[{i}]", f"masks {col!r}, which is not a column")
                ok = False
            masked.add(col)
    lrs = r.boolean(m["includes_lrs"], f"{field}.includes_lrs") if "includes_lrs" in m else True
    fit = r.boolean(m["fit_only"], f"{field}.fit_only") if "fit_only" in m else False
    if sid is None or not ok or lrs is None or fit is None or "columns" not in m:
        return None
    return sid, Screen(sid, columns, frozenset(masked), lrs, fit, node.start_mark.line + 1)


#: the keys of a grant (and the columns of a grants CSV)
GRANT_REQUIRED = ("role", "screen", "operations")
GRANT_OPTIONAL = ("scope", "recipient")


def _grant(r: _Reader, node: yaml.Node, field: str) -> Grant | None:
    pre = f"{field}." if field else ""  # a CSV row names bare columns
    m = r.mapping(node, field, GRANT_REQUIRED, GRANT_OPTIONAL)
    if m is None:
        return None
    role = r.text(m["role"], f"{pre}role") if "role" in m else None
    screen = r.text(m["screen"], f"{pre}screen") if "screen" in m else None
    ops: list[Action] = []
    ok = "operations" in m
    if "operations" in m:
        items = r.seq(m["operations"], f"{pre}operations")
        if not items and isinstance(m["operations"], yaml.SequenceNode):
            r.error(m["operations"], f"{pre}operations", "name at least one operation")
            ok = False
        for i, item in enumerate(items):
            op = r.enum(item, f"{pre}operations[{i}]", Action)
            if op is not None and op not in LEGACY_ACTIONS:
                r.error(item, f"{pre}operations[{i}]", f"{op} reads no supply point")
                op = None
            if op is None:
                ok = False
            elif op in ops:
                r.error(item, f"{pre}operations[{i}]", f"duplicate operation {op}")
                ok = False
            else:
                ops.append(op)
    scope = r.enum(m["scope"], f"{pre}scope", Scope) if "scope" in m else Scope.ALL
    recipient: Recipient | None = None
    if "recipient" in m:
        recipient = r.enum(m["recipient"], f"{pre}recipient", Recipient)
        if recipient is None:
            ok = False
        elif recipient is Recipient.NONE:
            r.error(m["recipient"], f"{pre}recipient", "an export goes to someone")
            ok = False
        elif Action.EXPORT not in ops:
            r.error(m["recipient"], f"{pre}recipient", "only an export has a recipient")
            ok = False
    if role is None or screen is None or not ok or scope is None:
        return None
    return Grant(role, screen, tuple(ops), scope, recipient, node.start_mark.line + 1)


def parse_matrix(text: str, source: str, base: Path | None = None) -> Matrix:
    """Parse a matrix document; ``source`` names it in every error. A ``grants_csv`` file
    is read relative to ``base`` (the matrix file's folder)."""
    r = _Reader(source)
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InputError(
            f"not valid YAML/JSON: {getattr(e, 'problem', e)}", Location(source, line)
        ) from None
    if root is None:
        raise InputError("empty matrix", Location(source))
    top = r.mapping(
        root, "", ("system", "organisations", "roles", "screens"), ("grants", "grants_csv")
    )
    if top is None:
        raise InputErrors(r.errors)
    if ("grants" in top) == ("grants_csv" in top):
        r.error(root, "grants", "give exactly one of grants (a list) and grants_csv (a file)")
    system = r.text(top["system"], "system") if "system" in top else None

    def items(key: str) -> list[yaml.Node]:
        return r.seq(top[key], key) if key in top else []

    orgs = {
        k: v
        for k, v in r.unique(
            items("organisations"), "organisations", lambda n, f: _organisation(r, n, f)
        ).items()
        if isinstance(v, Organisation)
    }
    raw_roles = r.unique(items("roles"), "roles", lambda n, f: _role(r, n, f))
    roles: dict[str, LegacyRole] = {}
    for rid, value in raw_roles.items():
        assert isinstance(value, tuple)
        lrole, held, held_node, rfield = value
        seen: set[str] = set()
        for i, (hnode, oid) in enumerate(held):
            where = f"{rfield}.held_by[{i}]"
            if oid in seen:
                r.error(hnode, where, f"organisation {oid!r} listed twice")
            elif oid not in orgs and not _declared(items("organisations"), oid):
                r.error(hnode, where, f"unknown organisation {oid!r}")
            seen.add(oid)
        if not held and isinstance(held_node, yaml.SequenceNode):
            r.error(held_node, f"{rfield}.held_by", "name at least one organisation")
        roles[rid] = lrole
    screens = {
        k: v
        for k, v in r.unique(items("screens"), "screens", lambda n, f: _screen(r, n, f)).items()
        if isinstance(v, Screen)
    }
    # each grant row with the reader that reports on it and its field prefix
    rows: list[tuple[_Reader, yaml.Node, str]] = [
        (r, node, f"grants[{i}]") for i, node in enumerate(items("grants"))
    ]
    csv_reader: _Reader | None = None
    if "grants_csv" in top:
        name = r.text(top["grants_csv"], "grants_csv")
        if name is not None:
            path = (base or Path(".")) / name
            csv_reader = _Reader(str(path))
            rows += [(csv_reader, node, "") for node in _csv_rows(csv_reader, path)]
    grants: list[Grant] = []
    cells: dict[tuple[str, str, Action], int] = {}
    for rr, node, field in rows:
        pre = f"{field}." if field else ""
        g = _grant(rr, node, field)
        if g is None:
            continue
        bad = False
        if g.role not in roles and not _declared(items("roles"), g.role):
            rr.error(node, f"{pre}role", f"unknown role {g.role!r}")
            bad = True
        if g.screen not in screens and not _declared(items("screens"), g.screen):
            rr.error(node, f"{pre}screen", f"unknown screen {g.screen!r}")
            bad = True
        for op in g.operations:
            first = cells.setdefault((g.role, g.screen, op), g.line)
            if first != g.line:
                rr.error(
                    node,
                    f"{pre}operations",
                    f"duplicate cell {g.role} × {g.screen} × {op} (first on line {first})",
                )
                bad = True
        if not bad:
            grants.append(g)
    if csv_reader is not None:
        r.errors += csv_reader.errors
    if r.errors:
        raise InputErrors(sorted(r.errors, key=_order), truncated=len(r.errors) >= _MAX_ERRORS)
    assert system is not None
    return Matrix(system, source, orgs, roles, screens, tuple(grants))


def _csv_rows(r: _Reader, path: Path) -> list[yaml.Node]:
    """The rows of a grants CSV as mapping nodes marked with their CSV line, so that the
    YAML grant rules (and their errors) apply unchanged; the field an error names is the
    column. ``operations`` holds operations separated by spaces, commas or semicolons."""
    import csv

    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        r.error(None, "", "no such file (grants_csv)")
        return []
    except (OSError, UnicodeDecodeError) as e:
        r.error(None, "", f"cannot read: {e}")
        return []
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if not header:
        r.error(None, "", "empty file: expected a header row")
        return []
    bad_header = False
    known = GRANT_REQUIRED + GRANT_OPTIONAL
    for col in header:
        if col not in GRANT_REQUIRED and col not in GRANT_OPTIONAL:
            r.errors.append(
                InputError(
                    f"unknown column {col!r} (expected: {', '.join(known)})",
                    Location(r.source, 1, col),
                )
            )
            bad_header = True
    for col in GRANT_REQUIRED:
        if col not in header:
            r.errors.append(InputError("missing required column", Location(r.source, 1, col)))
            bad_header = True
    if len(set(header)) != len(header):
        r.errors.append(InputError("duplicate column", Location(r.source, 1)))
        bad_header = True
    if bad_header:
        return []

    def mark(line: int) -> yaml.Mark:
        return yaml.Mark(r.source, 0, line - 1, 0, None, 0)

    def scalar(value: str, line: int) -> yaml.ScalarNode:
        return yaml.ScalarNode("tag:yaml.org,2002:str", value, mark(line), mark(line))

    nodes: list[yaml.Node] = []
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue  # blank lines between blocks of a sheet
        if len(values) != len(header):
            r.errors.append(
                InputError(
                    f"{len(values)} cells, the header has {len(header)}", Location(r.source, line)
                )
            )
            continue
        pairs: list[tuple[yaml.Node, yaml.Node]] = []
        for col, value in zip(header, values, strict=True):
            if value.strip() == "" and col in GRANT_OPTIONAL:
                continue  # an empty optional cell means "the default"
            node: yaml.Node = scalar(value, line)
            if col == "operations":
                ops = value.replace(",", " ").replace(";", " ").split()
                node = yaml.SequenceNode(
                    "tag:yaml.org,2002:seq", [scalar(o, line) for o in ops], mark(line), mark(line)
                )
            pairs.append((scalar(col, line), node))
        nodes.append(yaml.MappingNode("tag:yaml.org,2002:map", pairs, mark(line), mark(line)))
    return nodes


def _declared(nodes: list[yaml.Node], ident: str) -> bool:
    """Whether an item with this id exists (it may have failed to parse: then the
    reference is not a second error)."""
    for n in nodes:
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                if getattr(k, "value", None) == "id" and getattr(v, "value", None) == ident:
                    return True
    return False


def _order(e: InputError) -> tuple[int, str]:
    w = e.where
    return ((w.line or 0) if w else 0, (w.field or "") if w else "")


def load_matrix(path: Path) -> Matrix:
    """Read and parse a matrix file (``.yaml``, ``.yml`` or ``.json``)."""
    if not path.is_file():
        raise InputError("no such file", Location(str(path)))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read: {e}", Location(str(path))) from None
    return parse_matrix(text, str(path), path.parent)
