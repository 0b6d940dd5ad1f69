"""What a monitoring rule is (監視ルール), and the shared vocabulary rules are written in.

A rule is declarative and written once, as ibis expressions, so the same rule runs on DuckDB
and on Spark:

* :class:`Rule` — ``flag`` is a boolean ibis expression over one *enriched access row* (an
  event joined with the reference state valid at its time, one row per supply point it
  touched; columns in :data:`HIT_COLUMNS`). It may use window functions partitioned within one
  account and one JST day. ``confirm`` (optional) narrows the flagged rows of all days using
  reference tables that may still grow (switching applications, disasters, agreements); it
  returns a subset of its input rows.
* :class:`BaselineRule` — behavioural baselines (``ANOMALY``): ``detect`` reads the per-account
  daily aggregates of every day so far and returns *evidence keys* for the open days
  (``account_id``, ``day``, ``screen`` or null for every screen, ``off_only``); the scan turns
  all rules' keys into evidence events in one pass.

Both kinds return *evidence rows*; the scan groups them into one alert per rule and account.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir

#: Columns of an enriched access row (a "hit" once flagged).
HIT_COLUMNS: tuple[str, ...] = (
    "row_key",  # event_id|supply_point_id: unique per row
    "event_id",
    "ts",
    "ts_s",
    "day",
    "hour",
    "system",
    "account_id",
    "device_id",
    "source_ip",
    "session_id",
    "action",
    "screen",
    "purpose",
    "fields",
    "query",
    "result_count",
    "recipient_org",
    "decision",
    "n_points",
    "reads_non_public",  # the fields list holds a strictly non-public field
    "reads_fit",
    "reads_lrs",
    "supply_point_id",
    "a_kind",
    "a_org",
    "a_holder",
    "a_revoked_s",  # the account (accounts.csv)
    "person_id",
    "p_org",
    "p_role",  # the holder's HR assignment at that day
    "org",
    "p_kind",
    "p_retailer",
    "peer",  # effective organisation, its kind, retailer code
    "d_owner",
    "d_kind",  # the terminal
    "rec_retailer",
    "rec_kind",  # retailer of record of the point at that day
)

#: 非公開情報 that a retail principal must never receive for another retailer's point.
#: (``address`` is left out: the equal-footing lookup returns it as the typed search key.)
STRICT_NON_PUBLIC: tuple[str, ...] = (
    "contract_name",
    "phone",
    "usage",
    "retailer",
    "switching_history",
    "contract",
    "lrs",
    "fit",
)
DISASTER_FIELDS: tuple[str, ...] = ("contract_name", "address", "phone")
DAY_S = 86400


@dataclass(frozen=True)
class Reference:
    """Normalised reference tables (see :mod:`gridwall.monitor._input`) as ibis tables."""

    switching: ir.Table  # + applied_s (epoch seconds)
    contracts: ir.Table  # supply_point_id, retailer_code, kind, start_date, valid_until
    supply_points: ir.Table  # supply_point_id, pref, city
    disaster_areas: ir.Table  # disaster_id, start_s, end_s, pref, city
    agreements: ir.Table  # agreement_id, counterparty_org, purpose, valid_from, valid_until
    agreement_fields: ir.Table  # agreement_id, field
    agreement_areas: ir.Table  # agreement_id, pref, city
    consents: ir.Table  # token_id, supply_point_id, retailer_code, from_s, until_s
    #: ``row_key`` of every flagged row a grant permits, computed once per scan (granting is
    #: row-local, so it is the same for any subset); None: computed where asked
    granted_keys: ir.Table | None = None


@dataclass(frozen=True)
class Baselines:
    """What a baseline rule sees: aggregates of all days, events of the open days."""

    daily: ir.Table  # account_id, day, peer, n, n_off  (every day so far)
    screens: ir.Table  # account_id, screen, peer, first_day  (first non-public read ever)
    open_from: Any  # first open day (a date); days before it were decided by earlier runs


@dataclass(frozen=True)
class Rule:
    """One detector: metadata for people, ``flag`` and ``confirm`` for the engines."""

    id: str
    incident_type: str
    severity: int  # 1 (low) – 5 (critical)
    description_ja: str
    description_en: str
    #: why the rule exists and what it flags, in English (``rationale``) and Japanese
    rationale: str
    flag: Callable[[ir.Table], ir.BooleanValue]
    confirm: Callable[[ir.Table, Reference], ir.Table] | None = None
    #: enriched columns ``flag`` and ``confirm`` read beyond what every scan reads
    #: (:data:`gridwall.monitor._columns.SCAN_READS`); the reader projects only these
    reads: frozenset[str] = frozenset()
    #: per :class:`Reference` relation, the columns ``confirm`` reads
    reference: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: the rationale in Japanese (the console's rule catalogue shows both)
    rationale_ja: str = ""


@dataclass(frozen=True)
class BaselineRule:
    """A behavioural-baseline detector (``ANOMALY``)."""

    id: str
    incident_type: str
    severity: int
    description_ja: str
    description_en: str
    rationale: str
    detect: Callable[[Baselines], ir.Table]
    #: baselines read only the scan's own daily aggregates (built from ``SCAN_READS``)
    reads: frozenset[str] = frozenset()
    reference: Mapping[str, frozenset[str]] = field(default_factory=dict)
    rationale_ja: str = ""


AnyRule = Rule | BaselineRule


# ---------------------------------------------------------------------------
# Vocabulary shared by rules


def needs(*parts: frozenset[str] | str) -> frozenset[str]:
    """A column set from names and other sets (for ``Rule.reads``)."""
    out: set[str] = set()
    for p in parts:
        out |= {p} if isinstance(p, str) else set(p)
    return frozenset(out)


def refs(
    *parts: Mapping[str, frozenset[str]], **relations: frozenset[str] | tuple[str, ...]
) -> dict[str, frozenset[str]]:
    """A reference-column declaration (for ``Rule.reference``): the union of its parts."""
    out: dict[str, set[str]] = {}
    for p in (*parts, relations):
        for rel, cols in p.items():
            out.setdefault(rel, set()).update(cols)
    return {rel: frozenset(c) for rel, c in out.items()}


def has_any(arr: ir.ArrayValue, names: tuple[str, ...]) -> ir.BooleanValue:
    """The list column holds at least one of ``names``."""
    out: ir.BooleanValue = ibis.literal(False)
    for n in names:
        out = out | arr.contains(n)
    return out


def non_public(e: ir.Table) -> ir.BooleanValue:
    """The row shows (or asked for) a strictly non-public field (precomputed once per event
    as ``has_any(fields, STRICT_NON_PUBLIC)``)."""
    return e.reads_non_public


READS_POINT = needs("supply_point_id", "action")


def reads_point(e: ir.Table) -> ir.BooleanValue:
    return e.supply_point_id.notnull() & e.action.isin(["view", "search", "export", "update"])


DISASTER_SUPPORT = needs("a_kind", "purpose", "d_kind")
RETAIL_OTHER = needs(
    READS_POINT, DISASTER_SUPPORT, "p_kind", "reads_non_public", "rec_retailer", "p_retailer"
)


def retail_other(e: ir.Table) -> ir.BooleanValue:
    """A retail principal touching non-public data of a point it does not supply now.

    Covers another retailer's customer, a vacant point and a last-resort-supply point alike
    (equal footing: affiliated and independent retailers are treated the same). Disaster
    support is left to the B rule, which knows the declared windows and areas.
    """
    return (
        (e.p_kind == "retail")
        & reads_point(e)
        & non_public(e)
        & (e.rec_retailer.isnull() | (e.rec_retailer != e.p_retailer))
        & ~disaster_support(e)
    )


def disaster_support(e: ir.Table) -> ir.BooleanValue:
    """Access made as disaster support (judged by the B rule against the declarations)."""
    return (
        (e.a_kind == "disaster_support")
        | (e.purpose == "disaster_support")
        | (e.d_kind == "disaster_terminal")
    ).fill_null(False)


def within(a: ir.IntegerValue, lo: ir.IntegerValue, hi: ir.IntegerValue) -> ir.BooleanValue:
    return (a >= lo) & (a <= hi)


def area_covers(pref: Any, city: Any, row_pref: Any, row_city: Any) -> ir.BooleanValue:
    """An area entry (``pref`` or ``pref/city``) covers the row's point."""
    return (pref == row_pref) & (city.isnull() | (city == row_city))


WITH_POINT_AREA = needs("supply_point_id")
POINT_AREA_REF = refs(supply_points=("supply_point_id", "pref", "city"))


def with_point_area(rows: ir.Table, ref: Reference) -> ir.Table:
    """Add ``sp_pref``/``sp_city`` of the row's point."""
    sp = ref.supply_points.select(
        _sp=ref.supply_points.supply_point_id,
        sp_pref=ref.supply_points.pref,
        sp_city=ref.supply_points.city,
    )
    j = rows.left_join(sp, rows.supply_point_id == sp._sp)
    return j.select(*rows.columns, "sp_pref", "sp_city")


def by_keys(rows: ir.Table, keep: ir.Table) -> ir.Table:
    """Rows of ``rows`` whose ``row_key`` is in ``keep``."""
    k = keep.select(_k=keep.row_key).distinct()
    return rows.semi_join(k, rows.row_key == k._k)


def without_keys(rows: ir.Table, drop: ir.Table) -> ir.Table:
    """Rows of ``rows`` whose ``row_key`` is not in ``drop``."""
    k = drop.select(_k=drop.row_key).distinct()
    return rows.anti_join(k, rows.row_key == k._k)


# ---------------------------------------------------------------------------
# Grants in force at the event's time (what the policy respects, the rules respect too)

#: agreement purposes whose grant is judged by a rule of its own (B knows the declarations)
_OWN_RULE_PURPOSES = ("disaster_support",)
GRANT_READS = needs(
    WITH_POINT_AREA,
    "row_key",
    "org",
    "day",
    "purpose",
    "fields",
    "rec_kind",
    "ts_s",
    "p_retailer",
)
#: what a consent yields (I9): the usage of its point, and nothing else
_CONSENT_BEYOND = tuple(
    f for f in (*STRICT_NON_PUBLIC, "address", "equipment", "meter") if f != "usage"
)
GRANT_REF = refs(
    POINT_AREA_REF,
    agreements=(
        "agreement_id",
        "counterparty_org",
        "purpose",
        "valid_from",
        "valid_until",
        "whole_area",
    ),
    agreement_fields=("agreement_id", "field"),
    agreement_areas=("agreement_id", "pref", "city"),
    consents=("supply_point_id", "retailer_code", "from_s", "until_s"),
)


def granted(rows: ir.Table, ref: Reference) -> ir.Table:
    """Rows an agreement in force that day permits (policy I3, I14): the principal's
    organisation is its counterparty, the event was made for the agreement's purpose, the
    point lies in its area, it names every field read, and an ``lrs_operations`` agreement
    opens only points under last-resort supply that day. Purpose-bound: an event without a
    purpose is covered by no agreement. A customer's consent in force (issued, not expired, not
    revoked at the event's second) lets its retailer read the usage of its point for the
    consent purpose, and nothing else (I9). Disaster support is the B rule's (it knows the
    declarations)."""
    if ref.granted_keys is not None:
        return by_keys(rows, ref.granted_keys)
    a = ref.agreements.filter(~ref.agreements.purpose.isin(_OWN_RULE_PURPOSES))
    r = with_point_area(rows, ref)
    cand = r.join(
        a,
        [
            a.counterparty_org == r.org,
            a.valid_from <= r.day,
            r.day < a.valid_until,
            a.purpose == r.purpose,
            (a.purpose != "lrs_operations") | (r.rec_kind == "lrs").fill_null(False),
        ],
    ).select("row_key", "agreement_id", "whole_area", "sp_pref", "sp_city", "fields")
    aa = ref.agreement_areas
    in_area = (
        cand.filter(cand.whole_area)
        .select("row_key", "agreement_id", "fields")
        .union(
            cand.semi_join(
                aa,
                [
                    aa.agreement_id == cand.agreement_id,
                    area_covers(aa.pref, aa.city, cand.sp_pref, cand.sp_city),
                ],
            ).select("row_key", "agreement_id", "fields")
        )
    )
    exploded = in_area.unnest("fields").rename(field="fields")
    af = ref.agreement_fields
    uncovered = (
        exploded.anti_join(
            af, [af.agreement_id == exploded.agreement_id, af.field == exploded.field]
        )
        .select("row_key", "agreement_id")
        .distinct()
    )
    good = (
        in_area.select("row_key", "agreement_id")
        .distinct()
        .anti_join(uncovered, ["row_key", "agreement_id"])
    )
    c = ref.consents
    consented = rows.filter(
        (rows.purpose == "consent_usage") & ~has_any(rows.fields, _CONSENT_BEYOND)
    )
    consented = consented.semi_join(
        c,
        [
            c.supply_point_id == consented.supply_point_id,
            c.retailer_code == consented.p_retailer,
            c.from_s <= consented.ts_s,
            consented.ts_s < c.until_s,
        ],
    )
    return by_keys(rows, good).union(consented)


def ungranted(rows: ir.Table, ref: Reference) -> ir.Table:
    """Rows no agreement in force permits (see :func:`granted`)."""
    return without_keys(rows, granted(rows, ref))
