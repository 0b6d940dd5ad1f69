"""Which dataset columns a scan reads: the union of what its rules declare, and no more.

Data minimisation (issue 10, item 5): the monitor must not hold 非公開情報 it does not need —
customer names, phone numbers, street addresses, search texts. Each rule declares the enriched
columns it reads (``Rule.reads``) and the reference columns its confirm step reads
(``Rule.reference``); the scan adds what it needs itself (evidence, baselines, validation).
This module maps those names back to the source columns they are computed from
(*provenance*, including the join keys of the time-aware joins), and the reader
(:mod:`gridwall.monitor._input`) projects exactly that union from every file. A column outside
it is never copied into DuckDB: it appears, if at all, as a typed NULL.

The provenance below is written by hand next to the enrichment it describes
(:func:`gridwall.monitor._scan.enrich` and ``_input._NORMALISE``); the tests check both that
every rule reads only what it declares and that scanning with this projection gives the same
alerts as scanning every column.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gridwall.monitor.rules import AnyRule

Source = tuple[str, str]  # (dataset table, column)


def _cols(table: str, *names: str) -> frozenset[Source]:
    return frozenset((table, n) for n in names)


_EV = "events"
_ACC_JOIN = _cols(_EV, "account_id") | _cols("accounts", "account_id")
_PERSON_JOIN = (
    _ACC_JOIN
    | _cols(_EV, "ts")
    | _cols("accounts", "holder_person_id")
    | _cols("persons", "person_id", "valid_from", "valid_to")
)
_DEVICE_JOIN = _cols(_EV, "device_id", "ts") | _cols(
    "devices", "device_id", "valid_from", "valid_to"
)
_CONTRACT_JOIN = _cols(_EV, "supply_point_ids", "ts") | _cols(
    "supply_contracts", "supply_point_id", "start_date", "end_date"
)
_ORG = _PERSON_JOIN | _cols("persons", "org") | _cols("accounts", "org")

#: Enriched column (an access row, :data:`rules.HIT_COLUMNS`, or an event of ``work``) →
#: the source columns it is computed from.
ENRICHED: Mapping[str, frozenset[Source]] = {
    **{
        c: _cols(_EV, c)
        for c in (
            "event_id",
            "ts",
            "system",
            "account_id",
            "device_id",
            "source_ip",
            "session_id",
            "action",
            "screen",
            "purpose",
            "query",
            "fields",
            "result_count",
            "recipient_org",
            "decision",
        )
    },
    "row_key": _cols(_EV, "event_id", "supply_point_ids"),
    "ts_s": _cols(_EV, "ts"),
    "day": _cols(_EV, "ts"),
    "hour": _cols(_EV, "ts"),
    "off_hours": _cols(_EV, "ts"),
    "n_points": _cols(_EV, "supply_point_ids"),
    "supply_point_id": _cols(_EV, "supply_point_ids"),
    "reads_non_public": _cols(_EV, "fields"),
    "reads_fit": _cols(_EV, "fields"),
    "reads_lrs": _cols(_EV, "fields"),
    "a_kind": _ACC_JOIN | _cols("accounts", "kind"),
    "a_org": _ACC_JOIN | _cols("accounts", "org"),
    "a_holder": _ACC_JOIN | _cols("accounts", "holder_person_id"),
    "person_id": _ACC_JOIN | _cols("accounts", "holder_person_id"),
    "a_revoked_s": _ACC_JOIN | _cols("accounts", "revoked_at"),
    "p_org": _PERSON_JOIN | _cols("persons", "org"),
    "p_role": _PERSON_JOIN | _cols("persons", "role"),
    "org": _ORG,
    "p_kind": _ORG,
    "p_retailer": _ORG,
    "peer": _ORG | _cols("persons", "role") | _cols("accounts", "kind"),
    "d_owner": _DEVICE_JOIN | _cols("devices", "owner_org"),
    "d_kind": _DEVICE_JOIN | _cols("devices", "kind"),
    "rec_retailer": _CONTRACT_JOIN | _cols("supply_contracts", "retailer_code"),
    "rec_kind": _CONTRACT_JOIN | _cols("supply_contracts", "kind"),
}

_AGREEMENT = "agreements"
#: Normalised reference relation and column (:class:`rules.Reference`) → source columns.
REFERENCE: Mapping[str, Mapping[str, frozenset[Source]]] = {
    "switching": {
        **{
            c: _cols("switching", c)
            for c in (
                "application_id",
                "supply_point_id",
                "kind",
                "from_retailer",
                "to_retailer",
                "applied_at",
                "effective_date",
            )
        },
        "applied_s": _cols("switching", "applied_at"),
    },
    "contracts": {
        "supply_point_id": _cols("supply_contracts", "supply_point_id"),
        "retailer_code": _cols("supply_contracts", "retailer_code"),
        "kind": _cols("supply_contracts", "kind"),
        "start_date": _cols("supply_contracts", "start_date"),
        "valid_until": _cols("supply_contracts", "supply_point_id", "start_date", "end_date"),
    },
    "supply_points": {
        c: _cols("supply_points", "supply_point_id", c) for c in ("supply_point_id", "pref", "city")
    },
    "disaster_areas": {
        "disaster_id": _cols("disasters", "disaster_id"),
        "pref": _cols("disasters", "disaster_id", "area"),
        "city": _cols("disasters", "disaster_id", "area"),
        "start_s": _cols("disasters", "start_at"),
        "end_s": _cols("disasters", "end_at"),
    },
    "agreements": {
        "agreement_id": _cols(_AGREEMENT, "agreement_id"),
        "counterparty_org": _cols(_AGREEMENT, "counterparty_org"),
        "purpose": _cols(_AGREEMENT, "purpose"),
        "valid_from": _cols(_AGREEMENT, "valid_from"),
        "valid_until": _cols(_AGREEMENT, "valid_to"),
        "whole_area": _cols(_AGREEMENT, "area"),
    },
    "agreement_fields": {
        "agreement_id": _cols(_AGREEMENT, "agreement_id"),
        "field": _cols(_AGREEMENT, "agreement_id", "fields"),
    },
    "agreement_areas": {
        "agreement_id": _cols(_AGREEMENT, "agreement_id"),
        "pref": _cols(_AGREEMENT, "agreement_id", "area"),
        "city": _cols(_AGREEMENT, "agreement_id", "area"),
    },
    "consents": {
        "token_id": _cols("consents", "token_id"),
        "supply_point_id": _cols("consents", "supply_point_id"),
        "retailer_code": _cols("consents", "retailer_code"),
        "from_s": _cols("consents", "issued_at"),
        "until_s": _cols("consents", "expires_at", "revoked_at"),
    },
}

#: What the scan itself reads of every row, whatever the rules: the evidence of an alert
#: (:data:`_scan.EVIDENCE_COLUMNS`), the per-account daily aggregates of the baselines and
#: the validation of the rows it reads.
SCAN_READS: frozenset[str] = frozenset(
    {
        "row_key",
        "event_id",
        "account_id",
        "person_id",
        "org",
        "ts",
        "day",
        "supply_point_id",
        "screen",
        "action",
        "decision",
        "reads_non_public",
        "off_hours",
        "peer",
    }
)

#: Customer and staff data the monitor must never read (the gateway's business): a test
#: checks that no rule set can make the reader project one of them.
NEVER_READ: frozenset[Source] = frozenset(
    {
        ("supply_points", "contract_name"),
        ("supply_points", "phone"),
        ("supply_points", "town"),
        ("supply_points", "banchi"),
        ("supply_points", "building"),
        ("supply_points", "room"),
        ("supply_points", "meter_id"),
        ("fit_contracts", "generator_name"),
        ("persons", "name"),
        ("events", "query"),  # a search text may be a customer's name or address
    }
)


def source_columns(rules: Iterable[AnyRule]) -> dict[str, frozenset[str]]:
    """Per dataset table, the columns a scan with these rules reads (the projection)."""
    out: dict[str, set[str]] = {}

    def add(sources: Iterable[Source]) -> None:
        for table, col in sources:
            out.setdefault(table, set()).add(col)

    names: set[str] = set(SCAN_READS)
    for rule in rules:
        names |= rule.reads
        for rel, cols in rule.reference.items():
            for c in cols:
                add(REFERENCE[rel][c])
    for n in names:
        add(ENRICHED[n])
    return {t: frozenset(c) for t, c in out.items()}
