"""What each Cedar policy can observe: a walk over its typed syntax tree (PST).

For every dimension of ``_space.DIMS`` a policy reads, we collect its *atoms*:
the sets of literal values it compares that dimension with (``x == v``,
``x != v``, ``x in [v, w]``, ``[v, w].contains(x)``, scope constraints). A
dimension used in any other way (a boolean tested directly, the principal
compared as a whole, ``resource.non_public`` …) is marked ``FULL``: every value
may matter. Two values of a dimension that lie in the same atoms can never be
told apart by the policy, whatever its boolean structure — that is the soundness
argument for evaluating each policy once per *class* of values (docs/policy.md).

``in`` is read as equality: no gridwall entity has a parent (the Principal and
Field entities are built without parents and enumerated entities cannot have
any), so ``x in E`` is ``x == E`` and ``x in [E, F]`` is membership.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cedarpy import pst

from gridwall.policy._space import DIMS

#: marker: the policy may distinguish every value of the dimension
FULL = None

_BY_PATH: dict[tuple[str, ...], str] = {d.cedar_path: d.name for d in DIMS}

Atoms = list[frozenset[Any]] | None
_Paths = Mapping[tuple[str, ...], str]


class UnanalysablePolicy(Exception):
    """The policy refers to an input the request space does not model."""


def analyse(
    tpl: pst.Template,
    by_path: Mapping[tuple[str, ...], str] | None = None,
    resource_dim: str = "field",
) -> dict[str, Atoms]:
    """Dimension name → atoms (``FULL`` for any value) that ``tpl`` reads.

    ``by_path`` maps Cedar input paths to dimension names (default: the access space
    of ``_space.DIMS``; the grant-management space passes its own) and
    ``resource_dim`` names the dimension a ``resource == E`` scope reads.
    """
    paths = _BY_PATH if by_path is None else by_path
    reads: dict[str, Atoms] = {}
    _scope(tpl, reads, paths, resource_dim)
    for clause in tpl.clauses:
        _visit(clause.expr, reads, paths)
    return reads


def _add(reads: dict[str, Atoms], dim: str, atom: frozenset[Any]) -> None:
    cur = reads.get(dim, [])
    if cur is FULL:
        return
    reads[dim] = [*cur, atom]


def _full(reads: dict[str, Atoms], prefix: tuple[str, ...], paths: _Paths) -> None:
    """Mark FULL every dimension whose Cedar path starts with, or is a prefix of, ``prefix``."""
    hit = False
    for path, name in paths.items():
        if path[: len(prefix)] == prefix or prefix[: len(path)] == path:
            reads[name] = FULL
            hit = True
    if not hit:
        raise UnanalysablePolicy(f"reads {'.'.join(prefix)}, which no request fact provides")


def _scope(tpl: pst.Template, reads: dict[str, Atoms], paths: _Paths, resource_dim: str) -> None:
    if not isinstance(tpl.principal, pst.ScopeAny):
        _full(reads, ("principal",), paths)
    act = tpl.action
    if isinstance(act, pst.ActionEq):
        _add(reads, "action", frozenset({act.entity.id}))
    elif isinstance(act, pst.ActionIn):
        _add(reads, "action", frozenset(e.id for e in act.entities))
    elif not isinstance(act, pst.ScopeAny):
        _full(reads, ("action",), paths)
    res = tpl.resource
    if isinstance(res, pst.ScopeEq) and isinstance(res.entity, pst.EntityUid):
        _add(reads, resource_dim, frozenset({res.entity.id}))
    elif not isinstance(res, pst.ScopeAny):
        _full(reads, ("resource",), paths)


def _path(e: Any) -> tuple[str, ...] | None:
    attrs: list[str] = []
    while isinstance(e, pst.GetAttr):
        attrs.append(e.attr)
        e = e.base
    if isinstance(e, pst.Var):
        return (e.name, *reversed(attrs))
    return None


def _dim(e: Any, paths: _Paths) -> str | None:
    p = _path(e)
    return paths.get(p) if p is not None else None


_NOLIT = object()


def _lit(e: Any) -> Any:
    if isinstance(e, pst.EntityLit):
        return e.value.id
    if isinstance(e, (pst.BoolLit, pst.StringLit, pst.LongLit)):
        return e.value
    return _NOLIT


def _lits(e: Any) -> frozenset[Any] | None:
    if isinstance(e, pst.Set):
        vals = [_lit(x) for x in e.elements]
        return None if any(v is _NOLIT for v in vals) else frozenset(vals)
    v = _lit(e)
    return None if v is _NOLIT else frozenset({v})


def _visit(e: Any, reads: dict[str, Atoms], paths: _Paths) -> None:
    if isinstance(e, pst.BinaryOp):
        if e.op in ("eq", "not_eq"):
            for a, b in ((e.left, e.right), (e.right, e.left)):
                d, v = _dim(a, paths), _lit(b)
                if d is not None and v is not _NOLIT:
                    _add(reads, d, frozenset({v}))
                    return
        elif e.op == "in":
            d, vs = _dim(e.left, paths), _lits(e.right)
            if d is not None and vs is not None:
                _add(reads, d, vs)
                return
        elif e.op == "contains":
            d, vs = _dim(e.right, paths), _lits(e.left)
            if d is not None and vs is not None and isinstance(e.left, pst.Set):
                _add(reads, d, vs)
                return
        _visit(e.left, reads, paths)
        _visit(e.right, reads, paths)
    elif isinstance(e, (pst.GetAttr, pst.Var)):
        p = _path(e)
        if p is None:  # attribute of a computed value: walk into it
            _visit(e.base if isinstance(e, pst.GetAttr) else None, reads, paths)
        else:
            _full(reads, p, paths)
    elif isinstance(e, pst.UnaryOp):
        _visit(e.arg, reads, paths)
    elif isinstance(e, pst.IfThenElse):
        for x in (e.cond, e.then_expr, e.else_expr):
            _visit(x, reads, paths)
    elif isinstance(e, (pst.HasAttr, pst.Like)):
        _visit(e.base, reads, paths)
    elif isinstance(e, pst.Is):
        _visit(e.base, reads, paths)
        if e.in_expr is not None:
            _visit(e.in_expr, reads, paths)
    elif isinstance(e, pst.Set):
        for x in e.elements:
            _visit(x, reads, paths)
    elif isinstance(e, pst.Record):
        for x in e.fields.values():
            _visit(x, reads, paths)
    elif e is None or _lit(e) is not _NOLIT:
        return
    else:  # an extension call or a node this walk does not know: refuse
        raise UnanalysablePolicy(f"cannot analyse expression {type(e).__name__}")
