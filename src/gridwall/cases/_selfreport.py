"""Self-reports (自主申告): anyone reports misuse or a control gap; it becomes a case.

Anyone — with an account or without one — reports their own or observed misuse, or a gap in
the controls (a screen that shows too much, a shared password, a terminal left open). A
report may be anonymous towards everyone but compliance: the reporter's account, person and
organisation are stored in ``selfreports`` and returned only by :func:`queue` with
``identity=True`` (the app asks Cedar, step ``selfreport.identity``, before it passes that);
every other view says ``anonymous``.

Each report gets a one-time **receipt code** ``<lookup>-<secret>``: the lookup half (48
random bits) finds the row, the secret half (192 random bits) is stored only as an Argon2id
hash. With the code, and without an account, the reporter follows progress
(:func:`follow`): the public status and the public notes compliance wrote for them — never
the reporter, the subject or the case's decision. A wrong code reveals nothing: the same
``None`` whether the lookup half is unknown or the secret is wrong, after the same hashing
work (a dummy hash is verified for an unknown lookup).

A report opens a case (``source`` ``self_report``, incident type ``self_report``) that
starts in compliance's queue (second line): the reporter may be anonymous, so there is no
line manager to route it to. Its subject is the reporter's person for an identified report
of their own misuse, the person named as observed if one was given, and otherwise the
placeholder ``selfreport:<report id>`` (an anonymous reporter of their own misuse is not
made the subject: that would name them). Everything is append-only (database triggers).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import text as sql_text
from sqlalchemy.engine import Connection

from gridwall.cases._core import CLOSED, SECOND, SELF_REPORT, SIGNED_OFF, CaseError, Entry, fold
from gridwall.cases._store import append_entries, load_entries

#: what a report is about (the reporter picks one)
REPORT_KINDS = (
    "own_misuse",
    "observed_misuse",
    "shows_too_much",
    "shared_password",
    "terminal_left_open",
    "other",
)
#: longest report text, contact and subject accepted (characters)
MAX_TEXT = 4000
MAX_CONTACT = 200
MAX_SUBJECT = 128
#: what every view but compliance's identity view shows for an anonymous reporter
ANONYMOUS = "anonymous"

# The secret half has 192 random bits: nobody guesses it, so the hash need not be slow to
# stop guessing; Argon2id keeps a stolen table from yielding working receipts.
_HASHER = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
_DUMMY = _HASHER.hash("not-a-receipt")

_META = sa.MetaData()
SELFREPORTS = sa.Table(
    "selfreports",
    _META,
    sa.Column("report_id", sa.String(40), primary_key=True),
    sa.Column("lookup", sa.String(32), nullable=False, unique=True),
    sa.Column("receipt_hash", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("anonymous", sa.Boolean(), nullable=False),
    sa.Column("reporter_account", sa.String(128)),
    sa.Column("reporter_person", sa.String(128)),
    sa.Column("reporter_org", sa.String(128)),
    sa.Column("contact", sa.String(200)),
    sa.Column("subject", sa.String(128)),
    sa.Column("case_id", sa.String(40), nullable=False),
    sa.Column("submitted_at", sa.String(40), nullable=False),
)
NOTES = sa.Table(
    "selfreport_notes",
    _META,
    sa.Column("report_id", sa.String(40), primary_key=True),
    sa.Column("seq", sa.Integer(), primary_key=True),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
)


INTAKE = sa.Table(
    "selfreport_intake",
    _META,
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("source_key", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("bucket", sa.BigInteger(), nullable=False),
)
#: the channels the intake counter limits
CHANNELS = ("submit", "status")
#: PostgreSQL advisory lock ordering the intake counter's writers ("srint")
_INTAKE_LOCK = 0x7372_696E_74


class SelfReportError(CaseError):
    """A self-report that cannot be taken; names the field."""


@dataclass(frozen=True)
class Reporter:
    """Who reported, when they did so signed in (None: no account)."""

    account_id: str
    person_id: str | None
    org: str | None


@dataclass(frozen=True)
class Submitted:
    """A taken report. ``receipt`` is shown once to the reporter and stored nowhere."""

    report_id: str
    case_id: str
    receipt: str


@dataclass(frozen=True)
class Progress:
    """What a receipt shows: the public status and notes, nothing about who."""

    report_id: str
    kind: str
    submitted_at: str
    status: str
    notes: tuple[tuple[str, str], ...]


def _clean(value: str | None, name: str, limit: int, *, required: bool = False) -> str | None:
    if value is None or not value.strip():
        if required:
            raise SelfReportError(f"self-report field '{name}': required")
        return None
    if len(value) > limit:
        raise SelfReportError(f"self-report field '{name}': at most {limit} characters")
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise SelfReportError(f"self-report field '{name}': control characters are not allowed")
    return value.strip()


def submit(
    conn: Connection,
    *,
    kind: str,
    text: str,
    at: datetime,
    reporter: Reporter | None = None,
    anonymous: bool = True,
    contact: str | None = None,
    subject: str | None = None,
) -> Submitted:
    """Take a report and open its case, in the caller's transaction (nothing half-written)."""
    if kind not in REPORT_KINDS:
        raise SelfReportError(f"self-report field 'kind': {kind!r} is not one of {REPORT_KINDS}")
    body = _clean(text, "text", MAX_TEXT, required=True)
    contact = _clean(contact, "contact", MAX_CONTACT)
    subject = _clean(subject, "subject", MAX_SUBJECT)
    if reporter is None and not anonymous:
        raise SelfReportError(
            "self-report field 'anonymous': a report without an account is anonymous "
            "(give a contact if compliance may reach you)"
        )
    report_id = "SR-" + secrets.token_hex(8)
    lookup, secret = secrets.token_hex(6), secrets.token_urlsafe(24)
    if subject is None and reporter is not None and not anonymous and kind == "own_misuse":
        subject = reporter.person_id or reporter.account_id
    case_id = "case-" + report_id.lower()
    opened = Entry(
        case_id, 1, "opened", "selfreport", at,
        {"alert_id": report_id, "subject": subject or f"selfreport:{report_id}",
         "incident_type": SELF_REPORT, "source": SELF_REPORT, "report_kind": kind},
    )  # fmt: skip
    conn.execute(
        sa.insert(SELFREPORTS).values(
            report_id=report_id,
            lookup=lookup,
            receipt_hash=_HASHER.hash(secret),
            kind=kind,
            text=body,
            anonymous=anonymous,
            reporter_account=reporter.account_id if reporter else None,
            reporter_person=reporter.person_id if reporter else None,
            reporter_org=reporter.org if reporter else None,
            contact=contact,
            subject=subject,
            case_id=case_id,
            submitted_at=at.isoformat(),
        )
    )
    append_entries(conn, [opened])
    return Submitted(report_id, case_id, f"{lookup}-{secret}")


def _public_status(conn: Connection, case_id: str) -> str:
    entries = load_entries(conn, case_id).get(case_id, [])
    if not entries:
        return "received"
    state = fold(entries)
    if state.status in (CLOSED, SIGNED_OFF):
        return "closed"
    if state.status == SECOND and state.entries == 1:
        return "received"
    return "in_review"


def follow(conn: Connection, receipt: str) -> Progress | None:
    """The progress a receipt code shows, or None for any code that is not one (an unknown
    lookup half and a wrong secret look alike, and cost the same hashing work)."""
    lookup, _, secret = receipt.strip().partition("-")
    row = None
    if 0 < len(lookup) <= 32 and secret and len(secret) <= 64:
        row = conn.execute(sa.select(SELFREPORTS).where(SELFREPORTS.c.lookup == lookup)).first()
    try:
        _HASHER.verify(row.receipt_hash if row is not None else _DUMMY, secret or "-")
    except (VerificationError, InvalidHashError):
        return None
    if row is None:  # pragma: no cover - the dummy hash matches no secret
        return None
    notes = conn.execute(
        sa.select(NOTES.c.at, NOTES.c.text)
        .where(NOTES.c.report_id == row.report_id)
        .order_by(NOTES.c.seq)
    ).all()
    return Progress(
        report_id=row.report_id,
        kind=row.kind,
        submitted_at=row.submitted_at,
        status=_public_status(conn, row.case_id),
        notes=tuple((n.at, n.text) for n in notes),
    )


def add_note(conn: Connection, report_id: str, actor: str, text: str, at: datetime) -> int:
    """Append a public note (what the reporter sees with the receipt); returns its number."""
    body = _clean(text, "text", MAX_TEXT, required=True)
    found = conn.execute(
        sa.select(SELFREPORTS.c.report_id).where(SELFREPORTS.c.report_id == report_id)
    ).first()
    if found is None:
        raise SelfReportError(f"self-report {report_id!r}: no such report")
    seq = 1 + int(
        conn.execute(
            sa.select(sa.func.count()).select_from(NOTES).where(NOTES.c.report_id == report_id)
        ).scalar_one()
    )
    conn.execute(
        sa.insert(NOTES).values(
            report_id=report_id, seq=seq, actor=actor, at=at.isoformat(), text=body
        )
    )
    return seq


def queue(conn: Connection, *, identity: bool) -> list[dict[str, object]]:
    """Every self-report, oldest first, with its case and status. The reporter is shown
    only with ``identity`` (compliance, after a Cedar decision) or when the reporter chose
    not to be anonymous; otherwise ``anonymous``."""
    out: list[dict[str, object]] = []
    for r in conn.execute(sa.select(SELFREPORTS).order_by(SELFREPORTS.c.submitted_at)):
        shown = identity or not r.anonymous
        out.append(
            {
                "report_id": r.report_id,
                "case_id": r.case_id,
                "kind": r.kind,
                "text": r.text,
                "submitted_at": r.submitted_at,
                "status": _public_status(conn, r.case_id),
                "anonymous": bool(r.anonymous),
                "reporter": (r.reporter_account or "no account") if shown else ANONYMOUS,
                "reporter_person": r.reporter_person if shown else None,
                "reporter_org": r.reporter_org if shown else None,
                "contact": r.contact if shown else None,
                "subject": r.subject,
            }
        )
    return out


def reports_of_cases(conn: Connection) -> dict[str, dict[str, object]]:
    """Each self-report's case id → what the case's readers see of the report: its id,
    kind, text and time (never the reporter or the contact: see :func:`queue`)."""
    t = SELFREPORTS
    rows = conn.execute(sa.select(t.c.case_id, t.c.report_id, t.c.kind, t.c.text, t.c.submitted_at))
    return {
        str(r.case_id): {"report_id": r.report_id, "kind": r.kind, "text": r.text,
                         "submitted_at": r.submitted_at}
        for r in rows
    }  # fmt: skip


def counts(conn: Connection) -> dict[str, int]:
    """Self-reports per kind (voluntary reports: counted apart from detected misuse)."""
    rows = conn.execute(
        sa.select(SELFREPORTS.c.kind, sa.func.count()).group_by(SELFREPORTS.c.kind)
    ).all()
    return {str(k): int(n) for k, n in rows}


def source_key(key: bytes, address: str | None) -> str:
    """The keyed hash the intake counter keeps instead of a source address (HMAC-SHA256
    under the store's secret, domain-separated: not the case pseudonyms' values)."""
    msg = b"selfreport-intake\0" + (address or "(no address)").encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def take_slot(
    conn: Connection, source: str, channel: str, now: datetime, *, limit: int, window: int
) -> float | None:
    """Count one attempt of ``source`` (a :func:`source_key`) on ``channel`` in the fixed
    window of ``window`` seconds that ``now`` falls in, in the caller's transaction. Returns
    None when it is within ``limit``, else the seconds until the next window (the attempt is
    then not counted). Rows of earlier windows are pruned."""
    if channel not in CHANNELS:
        raise SelfReportError(f"self-report intake channel {channel!r} is not one of {CHANNELS}")
    if limit < 1 or window < 1:
        raise SelfReportError("self-report intake: limit and window must be at least 1")
    if conn.dialect.name == "postgresql":
        conn.execute(sql_text("SELECT pg_advisory_xact_lock(:k)"), {"k": _INTAKE_LOCK})
    t = INTAKE
    epoch = now.timestamp()
    bucket = math.floor(epoch / window)
    conn.execute(sa.delete(t).where(t.c.channel == channel, t.c.bucket < bucket))
    used = conn.execute(
        sa.select(sa.func.count())
        .select_from(t)
        .where(t.c.source_key == source, t.c.channel == channel, t.c.bucket == bucket)
    ).scalar_one()
    if int(used) >= limit:
        return max(1.0, (bucket + 1) * window - epoch)
    conn.execute(sa.insert(t).values(source_key=source, channel=channel, bucket=bucket))
    return None
