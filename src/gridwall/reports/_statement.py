"""The retailer transparency statement (小売電気事業者向けアクセス開示).

For one retailer and one period (JST calendar days, both included): every audit-log entry
in which someone **outside** that retailer touched the non-public data of a point the
retailer supplied **at the time of the access** — allowed or refused — with

* when, the caller's organisation kind and organisation, the declared purpose, the action,
  the field groups shown (non-public ones), the decision and the legal basis it rests on
  (託送 work, FIT work, disaster declaration, last-resort supply, customer consent, an
  agreement — or none, for a refusal);
* the entry's index in the log, its leaf hash and the RFC 9162 inclusion proof against
  the signed checkpoint embedded in the statement, so the retailer can check with the
  operator's public key that each listed access is in the signed log.

What it never shows: another retailer's points (an entry naming several points lists only
the retailer's own), the search text, the result count (both may describe other points),
NW staff identities (a stable pseudonym per period: HMAC-SHA-256 with an operator secret
over the period and the person), terminals and addresses.

Which retailer supplied a point on a day comes from :data:`SupplyPeriods`, which the app
layer answers through the gateway (the only reader of customer tables), for this retailer
only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from gridwall.errors import UsageError
from gridwall.interfaces.clock import JST, parse_instant
from gridwall.interfaces.facts import NON_PUBLIC

FORMAT = "gridwall-retailer-statement/1"

#: how a statement proves its rows: ``full`` (each row its RFC 9162 inclusion proof) or
#: ``compact`` (one multiproof for all rows: see :mod:`gridwall.audit.multiproof`)
PROOF_FORMS = ("full", "compact")
#: the tag of the compact form (the same as ``gridwall.audit.multiproof.MULTIPROOF_FORMAT``)
MULTIPROOF_FORM = "rfc9162-multiproof/1"

#: actions that read customer data (logins, updates and grant steps read none)
DATA_ACTIONS = frozenset({"view", "search", "export"})

#: legal basis → (English, Japanese) label
LEGAL_BASES: dict[str, tuple[str, str]] = {
    "takuso": ("託送 work (transmission service)", "託送業務"),
    "fit": ("FIT work (Renewable Energy Act)", "再エネ特措法業務"),
    "disaster": ("disaster declaration", "非常災害"),
    "last_resort": ("last-resort supply", "最終保障供給"),
    "consent": ("customer consent", "需要家の同意"),
    "agreement": ("outsourcing agreement", "業務委託契約"),
    "lookup": ("equal-footing lookup (name match only)", "供給地点照会 (名義照合)"),
    "none": ("none: refused", "なし (拒否)"),
}

_BY_PURPOSE = {
    "takuso": "takuso",
    "fit": "fit",
    "disaster_support": "disaster",
    "lrs_operations": "last_resort",
    "consent_usage": "consent",
    "system_maintenance": "agreement",
    "meter_reading": "agreement",
}


def legal_basis(event: Mapping[str, Any]) -> str:
    """The legal basis an access rests on: ``none`` for a refusal; else from the declared
    purpose the policy allowed it for (an equal-footing lookup with name verification is
    ``lookup``)."""
    if event.get("decision") != "allow":
        return "none"
    if str(event.get("screen")) == "lookup":
        return "lookup"
    return _BY_PURPOSE.get(str(event.get("purpose")), "none")


@dataclass(frozen=True, slots=True)
class Supply:
    """The retailer supplied ``supply_point_id`` from ``start`` until before ``end``."""

    supply_point_id: str
    start: date
    end: date | None


#: ``(retailer_code, first_day, last_day) -> the retailer's own supply periods overlapping
#: those days`` (retail contracts only; never another retailer's)
SupplyPeriods = Callable[[str, date, date], Sequence[Supply]]


class LogView(Protocol):
    """What the statement reads of the audit log (the app layer adapts the audit package)."""

    def checkpoint(self) -> tuple[int, bytes, str]:
        """The latest signed checkpoint: (tree size, root hash, signed note text)."""
        ...

    def entries(self, lo: int, hi: int) -> Iterable[tuple[int, bytes]]:
        """Entries lo … hi-1 as (index, canonical bytes), in order."""
        ...

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 inclusion proof of entry ``index`` in the tree of ``size``."""
        ...

    def inclusion_proofs(self, indices: Sequence[int], size: int) -> list[list[bytes]]:
        """The inclusion proofs of many entries at once (the same as one by one)."""
        ...

    def multiproof(self, indices: Sequence[int], size: int) -> list[bytes]:
        """The compact proof of ``indices`` (strictly increasing): see
        :func:`gridwall.audit.multiproof.multiproof`."""
        ...


_KEY = b'"supply_point_ids"'
#: the key and its list when that holds nothing but plain strings (no quote or backslash
#: inside an item: so the items are exactly the text between ``","``)
_LIST = re.compile(rb'"supply_point_ids":\[((?:"[^"\\]*"(?:,"[^"\\]*")*)?)\]')
_EMPTY: frozenset[str] = frozenset()


def named_points(raw: bytes) -> frozenset[str] | None:
    """The supply points an entry's event names, read from its canonical bytes without
    parsing the JSON: empty when the entry names none, ``None`` when the bytes alone
    cannot tell (the key twice, a list that is not plain strings, escapes, another
    layout) — then the entry must be parsed.

    Sound for every entry whatever it holds: the key's text occurs only once, so it is the
    event's own key or the event has none (a string value holding the same text has its
    quotes escaped); the list is read only when it is a list of strings without quotes or
    backslashes inside, so splitting between its items is exact."""
    i = raw.find(_KEY)
    if i < 0:
        return _EMPTY
    if raw.find(_KEY, i + 1) >= 0:
        return None
    m = _LIST.match(raw, i)
    if m is None:
        return None
    body = m.group(1)
    if not body:
        return _EMPTY
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return frozenset(text[1:-1].split('","'))


def pseudonym(secret: bytes, period: str, person: str) -> str:
    """A stable pseudonym for ``person`` within ``period`` (a different one in the next)."""
    mac = hmac.new(secret, f"{period}\n{person}".encode(), hashlib.sha256).hexdigest()
    return f"NW-{mac[:12]}"


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _touched_fields(ev: Mapping[str, Any]) -> list[str] | None:
    """The non-public field groups ``ev`` shows, [] for a refusal, None when the event
    touches no non-public data (e.g. a lookup without a name match)."""
    if str(ev.get("screen")) == "lookup":
        return ["contract_name"] if ev.get("name_verification") == "checked" else None
    if ev.get("action") not in DATA_ACTIONS:
        return None
    shown = sorted(str(f) for f in ev.get("fields") or [] if str(f) in NON_PUBLIC)
    if ev.get("decision") != "allow":
        return []
    return shown or None


def build_statement(
    log: LogView,
    supplies: SupplyPeriods,
    retailer: str,
    first_day: date,
    last_day: date,
    *,
    secret: bytes,
    generated_at: datetime,
    batch: int = 50_000,
    proofs: str = "full",
) -> dict[str, Any]:
    """The statement for ``retailer`` over ``first_day`` … ``last_day`` (JST, included),
    against the latest signed checkpoint (entries after it are for the next statement).

    ``proofs="compact"``: rows carry no inclusion proof each; the statement carries one
    ``multiproof`` (the sibling hashes for all rows' indices together)."""
    if proofs not in PROOF_FORMS:
        raise UsageError(f"--proofs: expected one of {', '.join(PROOF_FORMS)}, got {proofs!r}")
    if not retailer or ":" in retailer:
        raise UsageError(f"--retailer: {retailer!r} is not a retailer code")
    if last_day < first_day:
        raise UsageError(f"--to {last_day} is before --from {first_day}")
    if len(secret) < 16:
        raise UsageError("the pseudonym secret must be at least 16 bytes")
    size, root, note = log.checkpoint()
    period = f"{first_day.isoformat()}..{last_day.isoformat()}"
    own_org = f"retail:{retailer}"
    by_point: dict[str, list[Supply]] = {}
    for s in supplies(retailer, first_day, last_day):
        by_point.setdefault(s.supply_point_id, []).append(s)

    def supplied(pid: str, day: date) -> bool:
        return any(s.start <= day and (s.end is None or day < s.end) for s in by_point.get(pid, ()))

    mine = frozenset(by_point)  # set against set: isdisjoint walks the smaller one
    accesses: list[dict[str, Any]] = []
    for lo in range(0, size, batch):
        for idx, raw in log.entries(lo, min(size, lo + batch)):
            named = named_points(raw)
            if named is not None and mine.isdisjoint(named):
                continue  # names none of the retailer's points: not parsed at all
            item = _item(raw, own_org, first_day, last_day, supplied, secret, period)
            if item is None:
                continue
            item["index"] = idx
            item["leaf_hash"] = _b64(hashlib.sha256(b"\x00" + raw).digest())
            accesses.append(item)
    indices = [a["index"] for a in accesses]
    compact: dict[str, Any] | None = None
    if proofs == "compact":
        hashes = log.multiproof(indices, size) if indices else []
        compact = {"form": MULTIPROOF_FORM, "hashes": [_b64(h) for h in hashes]}
    else:
        # all rows' proofs in one pass over the tiles (shared upper nodes read once)
        for a, proof in zip(accesses, log.inclusion_proofs(indices, size), strict=True):
            a["inclusion_proof"] = [_b64(h) for h in proof]
    by_basis: dict[str, int] = {}
    for a in accesses:
        by_basis[a["legal_basis"]] = by_basis.get(a["legal_basis"], 0) + 1
    out: dict[str, Any] = {
        "format": FORMAT,
        "retailer": retailer,
        "period": {"from": first_day.isoformat(), "to": last_day.isoformat(), "zone": "JST"},
        "generated_at": generated_at.isoformat(),
        "tree_size": size,
        "root_hash": _b64(root),
        "checkpoint": note,
        "pseudonyms": "NW staff: HMAC-SHA-256(operator secret, period + person), per period",
        "count": len(accesses),
        "by_legal_basis": dict(sorted(by_basis.items())),
        "accesses": accesses,
    }
    if compact is not None:
        out["multiproof"] = compact
    return out


def _item(
    raw: bytes,
    own_org: str,
    first_day: date,
    last_day: date,
    supplied: Callable[[str, date], bool],
    secret: bytes,
    period: str,
) -> dict[str, Any] | None:
    try:
        ev = json.loads(raw)["event"]
        ts = parse_instant(str(ev["ts"]), "ts")
    except (ValueError, KeyError, TypeError):
        return None  # not an event entry (the verifier, not the statement, judges those)
    if ev.get("canary") is True:
        return None  # gridwall's own canary requests (marked by the server; issue 17)
    org = str(ev.get("org") or "")
    if org == own_org:
        return None  # the retailer's own staff
    day = ts.astimezone(JST).date()
    if not first_day <= day <= last_day:
        return None
    fields = _touched_fields(ev)
    if fields is None:
        return None
    points = sorted({str(p) for p in ev.get("supply_point_ids") or [] if supplied(str(p), day)})
    if not points:
        return None
    kind = org.split(":", 1)[0] if org else "unknown"
    who = str(ev.get("person_id") or ev.get("account_id") or "")
    return {
        "ts": ts.isoformat(),
        "org_kind": kind,
        "org": org or None,
        "actor": pseudonym(secret, period, who) if kind == "nw" else (who or None),
        "purpose": ev.get("purpose"),
        "action": ev.get("action"),
        "fields": fields,
        "decision": ev.get("decision"),
        "legal_basis": legal_basis(ev),
        "recipient_org": ev.get("recipient_org"),
        "supply_point_ids": points,
    }


def statement_html(st: Mapping[str, Any]) -> str:
    """The statement as one self-contained HTML page (Japanese with English headings)."""
    e = html.escape
    rows = []
    for a in st["accesses"]:
        basis = LEGAL_BASES.get(a["legal_basis"], (a["legal_basis"], ""))
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{e(str(v))}</td>"
                for v in (
                    a["index"],
                    a["ts"],
                    a["org_kind"],
                    a["org"] or "",
                    a["actor"] or "",
                    a["purpose"] or "",
                    a["action"],
                    ", ".join(a["fields"]) or "—",
                    a["decision"],
                    f"{basis[1]} / {basis[0]}",
                    ", ".join(a["supply_point_ids"]),
                )
            )
            + "</tr>"
        )
    head = (
        "<tr><th>log index</th><th>時刻 when</th><th>組織種別 org kind</th>"
        "<th>組織 org</th><th>担当 actor</th><th>目的 purpose</th><th>操作 action</th>"
        "<th>項目 field groups</th><th>判定 decision</th><th>根拠 legal basis</th>"
        "<th>供給地点 supply points</th></tr>"
    )
    p = st["period"]
    return f"""<!doctype html>
<html lang="ja"><head><meta charset="utf-8">
<title>アクセス開示 Transparency statement {e(st["retailer"])} {e(p["from"])}–{e(p["to"])}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #999;padding:2px 6px;font-size:90%}}pre{{background:#eee}}</style>
</head><body>
<h1>アクセス開示 — Retailer transparency statement</h1>
<p>小売電気事業者 Retailer: <b>{e(st["retailer"])}</b> ·
期間 Period: {e(p["from"])} – {e(p["to"])} (JST) · 件数 Accesses: {st["count"]}</p>
<p>Every access by anyone outside your organisation to the non-public data of the points you
supplied at the time, allowed or refused. NW staff appear under a pseudonym stable within
this period. Each row's log index and inclusion proof (JSON file) can be checked against
the signed checkpoint below with the operator's public key.</p>
<h2>Accesses</h2>
<table>{head}{"".join(rows)}</table>
<h2>Checkpoint (署名付きチェックポイント)</h2>
<pre>{e(st["checkpoint"])}</pre>
</body></html>
"""
