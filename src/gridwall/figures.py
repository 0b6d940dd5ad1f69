"""Provable figures: a declarative query over audit-log entries, and its one evaluator.

A *figure* of a report is the answer of a small query (``where`` filter, ``group_by``
dimensions, one ``measure``) over the entries of the audit log in an index range. The query
is data, written into the report beside the answer, so anyone holding an export of the log
can run it again (``python -m gridwall.audit.standalone report-check``) and compare.

This module is the only evaluator: the report builder (:mod:`gridwall.reports`) and the
regulator's checker (:mod:`gridwall.audit._report_check`) both call :func:`evaluate`, so a
figure differs only when the entries differ. It uses the standard library only (the
independent verifier ships it with ``standalone.py``).

Dimensions (the values a filter compares and a group-by key takes):

* the event's scalar keys: ``action``, ``screen``, ``decision``, ``purpose``, ``org``,
  ``system``, ``recipient_org``, ``reason``, ``grant_kind``, ``denial``,
  ``name_verification``, ``status``, ``grant_id``, ``report_kind`` (a self-report's kind),
  and who and where from: ``person_id``,
  ``account_id``, ``device_id`` (the terminal);
* derived: ``org_kind`` (``org`` up to ``:``: ``nw``, ``retail``, ``contractor``,
  ``regulator``), ``source`` (the ``event_id`` prefix: ``gw`` gateway, ``lk`` lookup,
  ``idn``/``cli`` identity, ``grants``, ``web`` …), ``day`` and ``month`` (the JST calendar
  day / month of ``ts``), ``canary`` (``"true"`` for an event the server marked as one of
  gridwall's own canary requests, else null);
* lists, one group per element: ``field`` (each of ``fields``), ``policy_id`` (each of
  ``policy_ids``) and ``supply_point`` (each of ``supply_point_ids``); an event without one
  falls in the group ``null``.

``where`` maps a dimension to a value or a list of values (any of them), plus the special
keys ``ts_from`` / ``ts_to`` (ISO 8601 instants, ``ts_from <= ts < ts_to``). ``measure`` is
``count`` (events), ``sum:result_count`` or ``distinct:<dimension>``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

FORMAT = "gridwall-figures/1"

JST = timezone(timedelta(hours=9), "JST")

SCALAR_DIMENSIONS = frozenset(
    {
        "action",
        "screen",
        "decision",
        "purpose",
        "org",
        "system",
        "recipient_org",
        "reason",
        "grant_kind",
        "denial",
        "name_verification",
        "status",
        "grant_id",
        "report_kind",
        "device_id",
        "person_id",
        "account_id",
    }
)
DERIVED_DIMENSIONS = frozenset({"org_kind", "source", "day", "month", "canary"})
LIST_DIMENSIONS = {"field": "fields", "policy_id": "policy_ids", "supply_point": "supply_point_ids"}
DIMENSIONS = SCALAR_DIMENSIONS | DERIVED_DIMENSIONS | frozenset(LIST_DIMENSIONS)
TIME_KEYS = frozenset({"ts_from", "ts_to"})
QUERY_KEYS = frozenset({"where", "group_by", "measure"})


class QueryError(ValueError):
    """A figure's query is not one this evaluator understands (names the part)."""


def parse_instant(text: Any, what: str) -> datetime:
    """An aware instant from ISO 8601 text (``Z`` allowed), or :class:`QueryError`."""
    if not isinstance(text, str):
        raise QueryError(f"{what}: expected an ISO 8601 instant, got {text!r}")
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as e:
        raise QueryError(f"{what}: not an ISO 8601 instant: {text!r}") from e
    if t.tzinfo is None:
        raise QueryError(f"{what}: the instant must carry its offset: {text!r}")
    return t.astimezone(UTC)


def check_query(query: Any, what: str = "query") -> None:
    """Raise :class:`QueryError` naming the first part of ``query`` that is not valid."""
    if not isinstance(query, Mapping):
        raise QueryError(f"{what}: must be an object")
    extra = sorted(set(query) - QUERY_KEYS)
    if extra:
        raise QueryError(f"{what}: unknown keys {extra}")
    where = query.get("where", {})
    if not isinstance(where, Mapping):
        raise QueryError(f"{what}.where: must be an object")
    for k, v in where.items():
        if k in TIME_KEYS:
            parse_instant(v, f"{what}.where.{k}")
        elif k not in DIMENSIONS:
            raise QueryError(f"{what}.where: unknown dimension {k!r}")
        elif isinstance(v, list):
            if not all(x is None or isinstance(x, str) for x in v):
                raise QueryError(f"{what}.where.{k}: values must be text or null")
        elif v is not None and not isinstance(v, str):
            raise QueryError(f"{what}.where.{k}: value must be text, null or a list")
    group_by = query.get("group_by", [])
    if not isinstance(group_by, list) or not all(isinstance(g, str) for g in group_by):
        raise QueryError(f"{what}.group_by: must be a list of dimension names")
    for g in group_by:
        if g not in DIMENSIONS:
            raise QueryError(f"{what}.group_by: unknown dimension {g!r}")
    measure = query.get("measure", "count")
    if measure in ("count", "sum:result_count"):
        return
    distinct_ok = DIMENSIONS | {"person_id", "account_id"}
    if (
        isinstance(measure, str)
        and measure.startswith("distinct:")
        and measure.removeprefix("distinct:") in distinct_ok
    ):
        return
    raise QueryError(f"{what}.measure: unknown measure {measure!r}")


def _values(event: Mapping[str, Any], dim: str) -> list[Any]:
    """Every value ``event`` takes for ``dim`` (one, or each element of a list)."""
    if dim in LIST_DIMENSIONS:
        items = event.get(LIST_DIMENSIONS[dim])
        if isinstance(items, list) and items:
            return sorted({str(x) for x in items})
        return [None]
    return [_scalar(event, dim)]


def _scalar(event: Mapping[str, Any], dim: str) -> Any:
    if dim == "org_kind":
        org = event.get("org")
        return str(org).split(":", 1)[0] if org else None
    if dim == "source":
        eid = event.get("event_id")
        return str(eid).split("-", 1)[0] if eid else None
    if dim == "canary":  # the server's mark of gridwall's own canary requests (issue 17)
        return "true" if event.get("canary") is True else None
    if dim in ("day", "month"):
        try:
            t = parse_instant(event.get("ts"), "ts").astimezone(JST)
        except QueryError:
            return None
        return t.strftime("%Y-%m-%d" if dim == "day" else "%Y-%m")
    v = event.get(dim)
    return v if v is None or isinstance(v, str) else str(v)


def _matches(event: Mapping[str, Any], where: Mapping[str, Any], lo: Any, hi: Any) -> bool:
    if lo is not None or hi is not None:
        try:
            t = parse_instant(event.get("ts"), "ts")
        except QueryError:
            return False
        if (lo is not None and t < lo) or (hi is not None and t >= hi):
            return False
    for k, want in where.items():
        if k in TIME_KEYS:
            continue
        allowed = want if isinstance(want, (list, frozenset)) else [want]
        if not any(v in allowed for v in _values(event, k)):
            return False
    return True


class Figure:
    """One figure's running answer: :meth:`add` each event, then :meth:`rows`."""

    def __init__(self, query: Mapping[str, Any]) -> None:
        check_query(query)
        # a list of values is matched as a set (a query may list thousands of points)
        self.where: Mapping[str, Any] = {
            k: frozenset(v) if isinstance(v, list) else v for k, v in query.get("where", {}).items()
        }
        self.group_by: list[str] = list(query.get("group_by", []))
        measure: str = query.get("measure", "count")
        self.measure = measure
        w = self.where
        self.lo = parse_instant(w["ts_from"], "ts_from") if "ts_from" in w else None
        self.hi = parse_instant(w["ts_to"], "ts_to") if "ts_to" in w else None
        self.distinct_dim = measure[len("distinct:") :] if measure.startswith("distinct:") else None
        self.counts: dict[tuple[Any, ...], int] = {}
        self.distinct: dict[tuple[Any, ...], set[Any]] = {}

    def add(self, ev: Mapping[str, Any]) -> None:
        if not _matches(ev, self.where, self.lo, self.hi):
            return
        keys: list[tuple[Any, ...]] = [()]
        for g in self.group_by:
            keys = [(*k, v) for k in keys for v in _values(ev, g)]
        dd = self.distinct_dim
        for key in keys:
            if dd is not None:
                vals = [ev.get(dd)] if dd in ("person_id", "account_id") else _values(ev, dd)
                self.distinct.setdefault(key, set()).update(v for v in vals if v is not None)
            elif self.measure == "sum:result_count":
                rc = ev.get("result_count")
                add = rc if isinstance(rc, int) and not isinstance(rc, bool) else 0
                self.counts[key] = self.counts.get(key, 0) + add
            else:
                self.counts[key] = self.counts.get(key, 0) + 1

    def rows(self) -> list[dict[str, Any]]:
        """``[{"key": [dimension values…], "value": n}, …]`` sorted by key."""
        counts = self.counts
        if self.distinct_dim is not None:
            counts = {k: len(v) for k, v in self.distinct.items()}
        out = [{"key": list(k), "value": v} for k, v in counts.items()]
        out.sort(key=lambda r: json.dumps(r["key"], ensure_ascii=False))
        return out


def evaluate(query: Mapping[str, Any], events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The figure of ``query`` over ``events`` (the ``event`` objects of audit entries)."""
    fig = Figure(query)
    for ev in events:
        fig.add(ev)
    return fig.rows()


def events_of(entries: Iterable[bytes | str]) -> Iterable[Mapping[str, Any]]:
    """The ``event`` of each canonical audit entry (entries that are not JSON objects with
    an ``event`` object are skipped: their figures then differ, which is the point)."""
    decode = _DECODER.decode
    for e in entries:
        try:
            # canonical entries start with '{"' so json.loads would read them as UTF-8:
            # decode them directly (json.loads' encoding detection costs a third of it)
            if isinstance(e, bytes) and e[:2] == b'{"':
                obj = decode(e.decode("utf-8"))
            else:
                obj = json.loads(e)
        except ValueError:
            continue
        ev = obj.get("event") if isinstance(obj, dict) else None
        if isinstance(ev, dict):
            yield ev


class Figures:
    """Every figure of a report over one stream of events, computed in one pass.

    The answer is exactly that of one :class:`Figure` per query fed every event, but an
    event is looked at once, not once per figure: it is reduced to its *signature* — the
    values of every dimension any query filters or groups on, in the normal form
    :func:`_values` compares (text, ``None``, sorted lists), plus whether its ``ts`` falls
    in each query's time window — and only the first event of each signature is evaluated
    by :class:`Figure`'s own rules (a report has a few thousand signatures over millions
    of events). The figures are then counts per signature. Sums and distinct values, the
    only measures that read more than the signature, are kept per signature.
    """

    def __init__(self, queries: Mapping[str, Mapping[str, Any]]) -> None:
        self.figs = {name: Figure(q) for name, q in queries.items()}
        dims: set[str] = set()
        windows: set[tuple[Any, Any]] = set()
        for f in self.figs.values():
            dims.update(k for k in f.where if k not in TIME_KEYS)
            dims.update(f.group_by)
            if f.lo is not None or f.hi is not None:
                windows.add((f.lo, f.hi))
        self.windows = sorted(windows, key=repr)
        self.scalars = sorted(d for d in dims if d in SCALAR_DIMENSIONS)
        self.lists = sorted(LIST_DIMENSIONS[d] for d in dims if d in LIST_DIMENSIONS)
        self.org_kind = "org_kind" in dims
        self.source = "source" in dims
        self.calendar = "day" in dims or "month" in dims
        #: the other derived dimensions, each taken by :func:`_scalar` itself, so a derived
        #: dimension added there is part of the signature without a change here
        self.derived = sorted(dims & (DERIVED_DIMENSIONS - {"org_kind", "source", "day", "month"}))
        self.need_ts = bool(self.windows) or self.calendar
        #: signature → [events, sum of result_count, {figure: distinct values}]
        self.seen: dict[tuple[Any, ...], list[Any]] = {}
        #: signature → [(figure, keys it adds to)] (from its first event)
        self.plans: dict[tuple[Any, ...], list[tuple[Figure, list[tuple[Any, ...]]]]] = {}

    def _signature(self, ev: Mapping[str, Any]) -> tuple[Any, ...]:
        sig: list[Any] = []
        if self.need_ts:
            try:
                t: datetime | None = parse_instant(ev.get("ts"), "ts")
            except QueryError:
                t = None
            for lo, hi in self.windows:
                sig.append(t is not None and (lo is None or t >= lo) and (hi is None or t < hi))
            if self.calendar:  # the JST calendar day decides both day and month
                sig.append(None if t is None else (t + _JST_OFFSET).toordinal())
        get = ev.get
        sig += [v if v is None or type(v) is str else str(v) for v in map(get, self.scalars)]
        if self.org_kind:
            org = get("org")
            sig.append(str(org).split(":", 1)[0] if org else None)
        if self.source:
            eid = get("event_id")
            sig.append(str(eid).split("-", 1)[0] if eid else None)
        sig += [_scalar(ev, d) for d in self.derived]
        for k in self.lists:
            items = get(k)
            if isinstance(items, list) and items:
                # every element text: the tuple itself is the signature (no two distinct
                # texts compare equal); otherwise their normal form
                try:  # every element text (join refuses anything else): the tuple
                    "".join(items)
                    sig.append(tuple(items))
                except TypeError:  # else their normal form (a frozenset never equals a tuple)
                    sig.append(frozenset(str(x) for x in items))
            else:
                sig.append(None)
        return tuple(sig)

    def add(self, ev: Mapping[str, Any]) -> None:
        sig = self._signature(ev)
        acc = self.seen.get(sig)
        if acc is None:
            plan = []
            for f in self.figs.values():
                if _matches(ev, f.where, f.lo, f.hi):
                    keys: list[tuple[Any, ...]] = [()]
                    for g in f.group_by:
                        keys = [(*k, v) for k in keys for v in _values(ev, g)]
                    plan.append((f, keys))
            self.plans[sig] = plan
            sums = any(f.measure == "sum:result_count" for f, _ in plan)
            distinct = [f for f, _ in plan if f.distinct_dim is not None]
            acc = self.seen[sig] = [0, 0, {id(f): set() for f in distinct}, sums, distinct]
        acc[0] += 1
        if acc[3]:
            rc = ev.get("result_count")
            acc[1] += rc if isinstance(rc, int) and not isinstance(rc, bool) else 0
        for f in acc[4]:
            dd = f.distinct_dim
            vals = [ev.get(dd)] if dd in ("person_id", "account_id") else _values(ev, dd)
            acc[2][id(f)].update(v for v in vals if v is not None)

    def rows(self) -> dict[str, list[dict[str, Any]]]:
        """Every figure's answer (as :meth:`Figure.rows`)."""
        for sig, (n, total, distinct, _, _) in self.seen.items():
            for f, keys in self.plans[sig]:
                for key in keys:
                    if f.distinct_dim is not None:
                        f.distinct.setdefault(key, set()).update(distinct.get(id(f), ()))
                    elif f.measure == "sum:result_count":
                        f.counts[key] = f.counts.get(key, 0) + total
                    else:
                        f.counts[key] = f.counts.get(key, 0) + n
        self.seen, self.plans = {}, {}
        return {name: f.rows() for name, f in self.figs.items()}


_JST_OFFSET = timedelta(hours=9)
_DECODER = json.JSONDecoder()


def compute_all(
    specs: Iterable[Mapping[str, Any]], entries: Iterable[bytes | str]
) -> dict[str, list[dict[str, Any]]]:
    """Every figure of ``specs`` (each ``{"name", "query"}``) in ONE pass over ``entries``."""
    specs = list(specs)
    queries: dict[str, Mapping[str, Any]] = {}
    for i, s in enumerate(specs):
        check_query(s.get("query"), f"figures[{i}] ({s.get('name')!r}).query")
        queries[str(s["name"])] = s["query"]
    figs = Figures(queries)
    for ev in events_of(entries):
        figs.add(ev)
    return figs.rows()
