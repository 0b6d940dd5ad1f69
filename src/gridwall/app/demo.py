"""``gridwall demo``: a synthetic operator served by the composed application, with real logins.

Steps: generate the operator dated around today (``gridwall.synth.generate`` with today's
JST date as the window's start, so that the last 13 months of usage exist; a dataset of an
earlier day is regenerated, and its store kept aside), load it
(``gridwall.gateway.load_dataset``), index the lookup, compose the server
(:func:`gridwall.app.create_server_app`: real audit log, identity, grants, policy), then
create one personal account for every kind of user (NW 託送 operator, affiliated and
independent retailer agents, NW manager, compliance, internal auditor, regulator (offline,
and a demo-only console account on a regulator terminal), a demo-only NW system
administrator, contractor, and two disaster-terminal responders — one of the affiliated
retailer, one of an independent retailer holding a ``disaster_support`` agreement) with
passwords, TOTP secrets, training attestations and enrolled terminals. Over the API, as
those users, it then registers the agreements the examples need, declares and approves a
demo disaster, issues a customer-consent token, and self-checks that every example request
answers as documented before printing anything.

Credentials (passwords, TOTP secrets, session tokens, terminal keys) are written, mode 600,
under the demo folder (``credentials/``, ``keys/``) and never printed: the printed commands
read them from there. Every printed command runs as printed from the project root
(``./dev gridwall …``, ``.venv/bin/python``); ``tests/integration/test_demo_commands.py``
runs each one against a live server.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from gridwall import dataset
from gridwall.errors import CheckFailed, UsageError

JST_OFFSET = timedelta(hours=9)
#: how every printed ``gridwall`` command is run (bare ``gridwall`` is not on PATH)
GRIDWALL = "./dev gridwall"
#: the project's interpreter (created by ``./dev``), for the TOTP helper
PYTHON = ".venv/bin/python"
#: the fields of the disaster view (I4), and the point's ID
DISASTER_VIEW = ("address", "contract_name", "phone", "supply_point_id")
#: the contractor's agreement: maintenance of the equipment and contract records
CONTRACTOR_FIELDS = ("contract", "equipment")


#: each kind of user's console pages (the demo prints them, with the sign-in steps)
CONSOLE_STEPS = (
    ("demo-nw", "/console/search  (search, open a supply point, its usage)"),
    ("demo-aff", "/console/customers  (own current customers)"),
    ("demo-ind", "/console/customers  (own current customers)"),
    ("demo-mgr", "/console/manager  (access reviews, two-person approvals)"),
    ("demo-mgr", "/console/cases  (cases about your staff: evidence, deadline, confirm/explain)"),
    ("demo-compliance", "/console/compliance  (alerts, rule catalogue, dashboard)"),
    ("demo-compliance", "/console/cases  (decide, outcome, reveal; deadlines by line)"),
    ("demo-auditor", "/console/audit  (audit-log explorer, verification)"),
    ("demo-auditor", "/console/cases/sample  (sample of closed cases: sign off, reopen)"),
    ("demo-admin", "/console/admin  (persons, accounts, terminals, HR import preview)"),
    ("demo-reg-console", "/console/audit/verify  (checkpoints, public key, verification)"),
    ("demo-contractor", "/console/search  (equipment and contract records)"),
    ("demo-aff-ds", "/console/search  (disaster view, during the demo disaster)"),
    ("demo-ind-ds", "/console/search  (disaster view, during the demo disaster)"),
)


@dataclass
class DemoUser:
    label: str
    account_id: str
    person_id: str
    org: str
    role: str
    #: None: the user works offline and has no terminal (the regulator)
    device_id: str | None
    device_kind: str
    purpose: str
    password: str = ""
    totp_secret: str = ""
    key_file: Path | None = None
    token: str = ""
    #: folder of the user's credential files (``<account>.password|.totp|.token``)
    credentials: Path | None = None

    def file(self, suffix: str) -> Path:
        assert self.credentials is not None
        return self.credentials / f"{self.account_id}.{suffix}"


@dataclass(frozen=True)
class Call:
    """One example HTTP request, made by ``user`` (an account id) on their terminal."""

    method: str
    path: str
    user: str
    purpose: str | None = None
    body: dict[str, Any] | None = None
    #: a file holding the customer-consent token (``X-Gridwall-Consent``)
    consent_file: Path | None = None


@dataclass(frozen=True)
class Example:
    """One printed example: an HTTP call (printed as curl) or a gridwall command, with the
    outcome it is documented to have. ``nonempty`` names a JSON key whose value must not be
    empty (``.``: the whole answer); ``keys``: the exact keys of the JSON object; ``contains``:
    text the output must contain."""

    user: str
    what: str
    call: Call | None = None
    argv: tuple[str, ...] = ()
    #: a command of the demo folder (its login script), printed as it is
    shell: str | None = None
    status: int = 200
    exit_code: int = 0
    nonempty: str | None = None
    keys: tuple[str, ...] = ()
    contains: str | None = None


@dataclass
class Demo:
    app: Any
    users: list[DemoUser]
    example_point: str
    affiliated_code: str
    independent_code: str
    db_url: str
    directory: Path
    seen: list[int] = field(default_factory=list)
    other_point: str = ""
    contractor_org: str = ""
    disaster_id: str = ""
    disaster_end: str = ""
    examples: list[Example] = field(default_factory=list)
    #: when the accounts last logged in (a TOTP code is used once: the next login waits
    #: for the next 30-second step)
    logged_in_at: datetime | None = None

    def user(self, account_id: str) -> DemoUser:
        return next(u for u in self.users if u.account_id == account_id)

    def close(self) -> None:
        self.app.state.server.close()


def _independent_with_customers(data: Path, kinds: dict[str, str]) -> str:
    """An independent retailer (新電力) that supplies at least one point today."""
    path = dataset.find_table_file(data, dataset.SUPPLY_CONTRACTS)
    today = (datetime.now(UTC) + JST_OFFSET).date()
    counts: dict[str, int] = {}
    if path is not None:
        for _, r in dataset.iter_rows(path, dataset.SUPPLY_CONTRACTS):
            code = r["retailer_code"]
            if kinds.get(code) != "independent" or r["kind"] != "retail":
                continue
            start, end = r["start_date"], r["end_date"]
            if start is not None and start <= today and (end is None or end > today):
                counts[code] = counts.get(code, 0) + 1
    if not counts:
        raise CheckFailed("the demo operator has no independent customer; use more --supply-points")
    return max(sorted(counts), key=lambda c: counts[c])


def _write_private(path: Path, text: str) -> None:
    """Write a credential file with mode 600 (created so, never world-readable)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    path.chmod(0o600)


def _ensure(svc: Any, u: DemoUser, attester: str | None, now: datetime, keys: Path) -> None:
    """Person, account, password, TOTP, training and terminal key (re-issued on re-runs);
    the password and TOTP secret go to the user's credential files."""
    from gridwall.identity import attest_training

    before = now - timedelta(days=1)
    try:
        svc.create_person(u.person_id, u.label, u.org, u.role, before, valid_from=before)
    except UsageError as e:
        if "already exists" not in str(e):
            raise
    try:
        svc.create_account(u.account_id, u.person_id, before)
    except UsageError as e:
        if "already exists" not in str(e):
            raise
    u.password = secrets.token_urlsafe(18)  # random, 24 characters
    svc.set_password(u.account_id, u.password, now)
    u.totp_secret, _ = svc.enroll_totp(u.account_id, now)
    _write_private(u.file("password"), u.password + "\n")
    _write_private(u.file("totp"), u.totp_secret + "\n")
    if attester is not None:
        attest_training(svc, u.person_id, (now + JST_OFFSET).date(), attester, now)
    if u.device_id is None:
        return
    try:
        svc.register_terminal(u.device_id, u.org, u.device_kind, before, location="demo")
    except UsageError as e:
        if "already exists" not in str(e):
            raise
    u.key_file = keys / f"{u.device_id}.key"
    _write_private(u.key_file, svc.enroll_terminal(u.device_id, now))


def _login(svc: Any, u: DemoUser, now: datetime) -> None:
    import pyotp

    from gridwall.identity import terminal_token

    assert u.key_file is not None
    key_text = u.key_file.read_text(encoding="utf-8")
    u.token = svc.login(
        u.account_id, u.password, pyotp.TOTP(u.totp_secret).now(),
        terminal_token(key_text, now), now,
    ).token  # fmt: skip
    _write_private(u.file("token"), u.token + "\n")


def _ensure_audit_key(keys: Path) -> Path:
    """The demo's audit signing key (``keys/audit.key``, 0600) and its public key (``.pub``)."""
    from gridwall.audit import note

    path = keys / "audit.key"
    if not path.exists():
        signer = note.generate_signer("gridwall.demo/audit")
        _write_private(path, signer.text() + "\n")
        path.with_name("audit.key.pub").write_text(signer.verifier.text() + "\n", encoding="utf-8")
    return path


def _demo_users(aff: str, ind: str, contractor: str) -> list[DemoUser]:
    """Every kind of user, in the order the demo prints them."""
    return [
        DemoUser("NW 託送 operator", "demo-nw", "DEMO-NW", "nw", "takuso_operator",
                 "DEMO-NW-T1", "nw_terminal", "takuso"),
        DemoUser("affiliated-retailer agent", "demo-aff", "DEMO-AFF", f"retail:{aff}",
                 "call_center", "DEMO-AFF-T1", "retail_terminal", "customer_service"),
        DemoUser("independent-retailer agent", "demo-ind", "DEMO-IND", f"retail:{ind}",
                 "call_center", "DEMO-IND-T1", "retail_terminal", "customer_service"),
        DemoUser("NW manager", "demo-mgr", "DEMO-MGR", "nw", "manager",
                 "DEMO-NW-T2", "nw_terminal", "takuso"),
        DemoUser("NW compliance officer", "demo-compliance", "DEMO-COMP", "nw", "compliance",
                 "DEMO-NW-T3", "nw_terminal", "audit"),
        DemoUser("internal auditor", "demo-auditor", "DEMO-AUD", "nw", "auditor",
                 "DEMO-NW-T4", "nw_terminal", "audit"),
        DemoUser("regulator (offline: export + public key)", "demo-regulator", "DEMO-REG",
                 "regulator", "auditor", None, "", "audit"),
        DemoUser("NW system administrator (demo only)", "demo-admin", "DEMO-ADM", "nw",
                 "it_maintenance", "DEMO-NW-T5", "nw_terminal", "system_maintenance"),
        DemoUser("regulator at the console (demo only)", "demo-reg-console", "DEMO-REG-C",
                 "regulator", "auditor", "DEMO-REG-T1", "regulator_terminal", "audit"),
        DemoUser("contractor engineer", "demo-contractor", "DEMO-CON", contractor,
                 "it_maintenance", "DEMO-CON-T1", "contractor_terminal", "system_maintenance"),
        DemoUser("disaster terminal (affiliated retailer)", "demo-aff-ds", "DEMO-AFF-DS",
                 f"retail:{aff}", "call_center", "DEMO-AFF-D1", "disaster_terminal",
                 "disaster_support"),
        DemoUser("independent retailer with a disaster_support agreement", "demo-ind-ds",
                 "DEMO-IND-DS", f"retail:{ind}", "call_center", "DEMO-IND-D1",
                 "disaster_terminal", "disaster_support"),
    ]  # fmt: skip


def _dataset(directory: Path, supply_points: int, seed: int, days: int, progress: bool) -> Path:
    """The demo's dataset, dated around today: its window ends today (JST), so usage covers
    the 14 months before it. A dataset of another day, size or seed is regenerated, and the
    store loaded from it is kept aside as ``gridwall-demo.<old start>.db`` (its audit log
    is evidence; a store cannot take a second operator)."""
    from gridwall.synth import generate

    data = directory / "dataset"
    today = (datetime.now(UTC) + JST_OFFSET).date()
    start = today - timedelta(days=days - 1)
    meta_file = data / "synth.json"
    meta: dict[str, Any] = {}
    if meta_file.exists():
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    wanted = {"start": start.isoformat(), "supply_points": supply_points, "seed": seed}
    if any(meta.get(k) != v for k, v in wanted.items()):
        db = directory / "gridwall-demo.db"
        if meta and db.exists():
            kept = db.with_name(f"gridwall-demo.{meta.get('start', 'old')}.db")
            db.rename(kept)
            print(f"demo: the earlier operator's store is kept as {kept}", file=sys.stderr)
        print(f"demo: generating {supply_points} supply points in {data} …", file=sys.stderr)
        generate(data, supply_points, days, seed, start=start, progress=progress,
                 force=data.exists())  # fmt: skip
    return data


def _contractor_org(data: Path) -> str:
    """The contractor holding a system_maintenance agreement (the synthetic world's C01)."""
    path = dataset.find_table_file(data, dataset.AGREEMENTS)
    if path is not None:
        for _, r in dataset.iter_rows(path, dataset.AGREEMENTS):
            if r["purpose"] == "system_maintenance":
                return str(r["counterparty_org"])
    return "contractor:C01"


def build_demo(
    directory: Path,
    *,
    supply_points: int = 50_000,
    seed: int = 2026,
    days: int = 1,
    progress: bool = True,
) -> Demo:
    """Generate (or reuse), load, index and compose the demo operator; self-check it."""
    from fastapi.testclient import TestClient

    from gridwall.app.server import create_server_app
    from gridwall.app.wiring import load_dataset
    from gridwall.gateway import retailer_kinds
    from gridwall.store import make_engine, upgrade

    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    data = _dataset(directory, supply_points, seed, days, progress)
    db_url = f"sqlite:///{directory / 'gridwall-demo.db'}"
    engine = make_engine(db_url)
    try:
        upgrade(db_url, engine)
        print(f"demo: loading into {db_url} …", file=sys.stderr)
        load_dataset(data, engine, progress=progress)  # also builds/refreshes the lookup index
        kinds = retailer_kinds(engine)
    finally:
        engine.dispose()
    affiliated = sorted(c for c, k in kinds.items() if k == "affiliated")
    if not affiliated:
        raise CheckFailed("the demo operator has no affiliated retailer")
    aff, ind = affiliated[0], _independent_with_customers(data, kinds)

    keys = directory / "keys"
    keys.mkdir(exist_ok=True)
    credentials = directory / "credentials"
    credentials.mkdir(exist_ok=True)
    credentials.chmod(0o700)
    audit_key = _ensure_audit_key(keys)
    # The server signs a checkpoint every 30 s and on close, so `gridwall audit verify` works.
    app = create_server_app(db_url, migrate=False, audit_key=audit_key, checkpoint_seconds=30.0)
    server = app.state.server
    try:
        svc = server.identity
        now = datetime.now(UTC)
        users = _demo_users(aff, ind, _contractor_org(data))
        for u in users:
            u.credentials = credentials
        by_id = {u.account_id: u for u in users}
        compliance, manager = by_id["demo-compliance"], by_id["demo-mgr"]
        _ensure(svc, compliance, None, now, keys)
        for u in users:
            if u is not compliance:
                _ensure(svc, u, compliance.person_id, now, keys)
        # compliance's own training, attested by another person (nobody attests their own)
        _ensure_training(svc, compliance, manager, now)
        for u in users:
            if u.device_kind not in ("", "disaster_terminal"):  # those log in after the
                _login(svc, u, now)  # declaration: a disaster terminal works only during one
        demo = Demo(app, users, "", aff, ind, db_url, directory, logged_in_at=now)
        demo.contractor_org = by_id["demo-contractor"].org
        _stage(demo, TestClient(app), svc)
        _self_check(demo, TestClient(app))
        _regulator_export(demo)
        _write_login_script(demo)
        return demo
    except BaseException:
        server.close()
        raise


def _ensure_training(svc: Any, u: DemoUser, attester: DemoUser, now: datetime) -> None:
    from gridwall.identity import attest_training

    attest_training(svc, u.person_id, (now + JST_OFFSET).date(), attester.person_id, now)


def _headers(u: DemoUser, purpose: str | None) -> dict[str, str]:
    from gridwall.identity import terminal_token

    assert u.key_file is not None
    term = terminal_token(u.key_file.read_text(encoding="utf-8"), datetime.now(UTC))
    h = {"Authorization": f"Bearer {u.token}", "X-Gridwall-Terminal": term}
    if purpose is not None:
        h["X-Gridwall-Purpose"] = purpose
    return h


def _send(client: Any, demo: Demo, c: Call) -> Any:
    h = _headers(demo.user(c.user), c.purpose)
    if c.consent_file is not None:
        h["X-Gridwall-Consent"] = c.consent_file.read_text(encoding="utf-8").strip()
    return client.request(c.method, c.path, headers=h, json=c.body)


def _ok(r: Any, what: str, status: int = 200) -> Any:
    if r.status_code != status:
        raise CheckFailed(f"demo: {what} answered {r.status_code}, not {status}: {r.text[:300]}")
    return r.json()


def _ensure_agreement(
    client: Any, demo: Demo, org: str, purpose: str, fields: tuple[str, ...], today: date
) -> None:
    """A valid agreement of ``org`` for ``purpose`` (registered by the NW manager if none)."""
    listed = _ok(_send(client, demo, Call("GET", "/v1/grants/agreements", "demo-mgr")),
                 "listing agreements")  # fmt: skip
    for a in listed:
        if (a["counterparty_org"] == org and a["purpose"] == purpose and a["status"] == "valid"
                and set(fields) <= set(a["fields"]) and not a["area"]):  # fmt: skip
            return
    body = {"agreement_id": f"DEMO-{purpose[:2].upper()}-{org.split(':')[-1]}-{today:%Y%m%d}",
            "counterparty_org": org, "purpose": purpose, "fields": list(fields),
            "valid_from": today.isoformat()}  # fmt: skip
    _ok(_send(client, demo, Call("POST", "/v1/grants/agreements", "demo-mgr", body=body)),
        f"registering {body['agreement_id']}", 201)  # fmt: skip


def _stage(demo: Demo, client: Any, svc: Any) -> None:
    """As the demo users, over the API: pick the example points, register the agreements,
    declare and approve a demo disaster over the example point's city, log in the disaster
    terminals, issue a consent token, and leave one identity alert for the manager."""
    now = datetime.now(UTC)
    today = (now + JST_OFFSET).date()
    # the example point: one of the independent agent's own customers (自社顧客)
    listed = _ok(
        _send(client, demo, Call("GET", "/v1/customers?limit=50", "demo-ind", "customer_service")),
        "the independent's customers",
    )
    named = [p for p in listed.get("results", []) if "contract_name" in p]
    if not named:
        raise CheckFailed("demo self-check: the independent agent lists no customer")
    demo.example_point = str(named[0]["supply_point_id"])
    # the other point: a customer of the affiliated retailer, for consent usage and export
    listed = _ok(
        _send(client, demo, Call("GET", "/v1/customers?limit=50", "demo-aff", "customer_service")),
        "the affiliated's customers",
    )
    others = [str(p["supply_point_id"]) for p in listed.get("results", [])]
    if not others:
        raise CheckFailed("demo self-check: the affiliated agent lists no customer")

    for org, purpose, fields in (
        (f"retail:{demo.affiliated_code}", "disaster_support", ()),
        (f"retail:{demo.independent_code}", "disaster_support", ()),
        (demo.contractor_org, "system_maintenance", CONTRACTOR_FIELDS),
    ):
        _ensure_agreement(client, demo, org, purpose, fields, today)

    # 非常災害: declared by the NW operator, approved by the manager (a second person)
    point = _ok(_send(client, demo, Call("GET", f"/v1/supply-points/{demo.example_point}",
                                         "demo-nw", "takuso")), "the NW view")  # fmt: skip
    area = [f"{point['address']['pref']}/{point['address']['city']}"]
    active = [d for d in _ok(_send(client, demo, Call("GET", "/v1/grants/disasters", "demo-mgr")),
                             "listing disasters")
              if d["disaster_id"].startswith("DEMO-") and d["status"] == "active"
              and d["area"] == area]  # fmt: skip
    if active:
        demo.disaster_id, demo.disaster_end = active[0]["disaster_id"], active[0]["effective_end"]
    else:
        demo.disaster_id = f"DEMO-{now:%Y%m%d-%H%M%S}"
        body = {"disaster_id": demo.disaster_id, "title": "デモ災害 (demo disaster)",
                "area": area, "planned_end": (now + timedelta(hours=24)).isoformat(),
                "max_hours": 72}  # fmt: skip
        _ok(_send(client, demo, Call("POST", "/v1/grants/disasters", "demo-nw", body=body)),
            "declaring the demo disaster", 201)  # fmt: skip
        d = _ok(_send(client, demo, Call(
            "POST", f"/v1/grants/disasters/{demo.disaster_id}/approve", "demo-mgr", body={})),
            "approving the demo disaster")  # fmt: skip
        demo.disaster_end = str(d.get("effective_end", ""))
    # a new grant reaches the server's grant snapshot within its refresh period (0.5 s)
    deadline = time.monotonic() + 10
    while not svc.disaster_active(datetime.now(UTC)):
        if time.monotonic() > deadline:
            raise CheckFailed(f"demo: the disaster {demo.disaster_id} did not become active")
        time.sleep(0.1)
    for u in demo.users:
        if u.device_kind == "disaster_terminal":
            _login(svc, u, datetime.now(UTC))
    demo.logged_in_at = datetime.now(UTC)

    # a consent token (使用量照会) for an affiliated customer whose usage the consent opens
    consent = demo.directory / "credentials" / "consent.token"
    for pid in others[:10]:
        body = {"supply_point_id": pid, "retailer_code": demo.independent_code, "days": 31,
                "months": 13}  # fmt: skip
        issued = _ok(
            _send(client, demo, Call("POST", "/v1/grants/consents", "demo-nw", body=body)),
            "issuing a consent",
            201,
        )
        _write_private(consent, str(issued["token"]) + "\n")
        r = _send(client, demo, Call("GET", f"/v1/supply-points/{pid}/usage", "demo-ind",
                                     "consent_usage", consent_file=consent))  # fmt: skip
        if r.status_code == 200 and r.json().get("usage"):
            demo.other_point = pid
            break
    if not demo.other_point:
        raise CheckFailed("demo self-check: no consent read returned usage; use more points")

    # one identity alert for the manager's own staff (C③): the NW operator's session token
    # presented from another NW terminal (the manager's) is refused and raises an alert
    op = demo.user("demo-nw")
    h = _headers(demo.user("demo-mgr"), None)
    h["Authorization"] = f"Bearer {op.token}"
    if client.get("/v1/identity/session", headers=h).status_code != 403:
        raise CheckFailed("demo self-check: a session token was accepted on another terminal")
    demo.examples = _examples(demo)


def _examples(d: Demo) -> list[Example]:
    """Every printed example, with its documented outcome."""
    pid, other = d.example_point, d.other_point
    db, pub = d.db_url, str(d.directory / "keys" / "audit.key.pub")
    consent = d.directory / "credentials" / "consent.token"
    point = f"/v1/supply-points/{pid}"
    ex: list[Example] = [
        Example(
            "demo-nw",
            "every 託送 field but FIT (NW staff, 託送 purpose, NW terminal)",
            Call("GET", point, "demo-nw", "takuso"),
            nonempty="contract_name",
        ),
        Example(
            "demo-aff",
            "exactly as for a nonexistent point (another retailer's customer)",
            Call("GET", point, "demo-aff", "customer_service"),
            status=404,
        ),
        Example(
            "demo-ind",
            "its own customer (自社顧客)",
            Call("GET", point, "demo-ind", "customer_service"),
            nonempty="contract_name",
        ),
        Example(
            "demo-ind",
            f"usage of {other}, an affiliated customer, with the customer's "
            "consent token (≤ 13 months; usage only)",
            Call(
                "GET",
                f"/v1/supply-points/{other}/usage",
                "demo-ind",
                "consent_usage",
                consent_file=consent,
            ),
            nonempty="usage",
        ),
        Example(
            "demo-mgr",
            f"every access made under the demo disaster {d.disaster_id}",
            Call("GET", f"/v1/grants/disasters/{d.disaster_id}/report", "demo-mgr"),
            nonempty=".",
        ),
        Example(
            "demo-mgr",
            "identity alerts; the NW rows are the manager's own staff (the "
            "demo left one: demo-nw's token presented from another terminal, C3)",
            argv=("identity", "alerts", "--db", db),
            contains='"account_id": "demo-nw"',
        ),
        Example(
            "demo-compliance",
            "every agreement and its status now (disaster support, maintenance)",
            Call("GET", "/v1/grants/agreements", "demo-compliance"),
            nonempty=".",
            contains="disaster_support",
        ),
        Example(
            "demo-auditor",
            "auditors never see customer data (I12): as nonexistent",
            Call("GET", point, "demo-auditor", "audit"),
            status=404,
        ),
        Example(
            "demo-auditor",
            "recompute the Merkle log, check the signed checkpoint",
            argv=("audit", "verify", "--db", db, "--public-key", pub),
            contains="OK:",
        ),
        Example(
            "demo-auditor",
            "inclusion proof of entry 0 against the signed checkpoint",
            argv=("audit", "prove", "--index", "0", "--db", db),
            contains='"leaf_hash"',
        ),
        Example(
            "demo-regulator",
            "the regulator checks the operator's export with only the "
            "file and the public key (no database, nothing written)",
            argv=("audit", "verify-export", str(_regulator_file(d)), "--public-key", pub),
        ),
        Example(
            "demo-admin",
            "the demo-only administrator's session: its work is the console's /console/admin",
            Call("GET", "/v1/identity/session", "demo-admin"),
            contains='"demo-admin"',
        ),
        Example(
            "demo-reg-console",
            "the regulator's console account, on a regulator terminal: its session (the "
            "console's /console/audit/verify checks the log)",
            Call("GET", "/v1/identity/session", "demo-reg-console"),
            contains='"demo-reg-console"',
        ),
        Example(
            "demo-contractor",
            f"only what agreement names ({', '.join(CONTRACTOR_FIELDS)})",
            Call("GET", point, "demo-contractor", "system_maintenance"),
            keys=(*CONTRACTOR_FIELDS, "supply_point_id"),
        ),
        Example(
            "demo-contractor",
            f"the NW operator exports {other} to {d.contractor_org} "
            "under its agreement (watermarked)",
            Call(
                "POST",
                "/v1/exports",
                "demo-nw",
                "takuso",
                body={
                    "recipient_org": d.contractor_org,
                    "supply_point_ids": [other],
                    "fields": list(CONTRACTOR_FIELDS),
                },
            ),
            nonempty="rows",
        ),
        Example(
            "demo-aff-ds",
            f"name, address, phone only, while {d.disaster_id} covers it",
            Call("GET", point, "demo-aff-ds", "disaster_support"),
            keys=DISASTER_VIEW,
        ),
        Example(
            "demo-ind-ds",
            "the same answer as the affiliated retailer's (equal footing)",
            Call("GET", point, "demo-ind-ds", "disaster_support"),
            keys=DISASTER_VIEW,
        ),
    ]
    ex.append(Example(
        "demo-nw", "log in again, as any account of the table (sessions end after 15 idle "
        "minutes; a TOTP code works once: wait for the next 30-second code); the new "
        "session token replaces credentials/<account>.token",
        shell=f"{_q(str(login_script(d)))} demo-nw",
    ))  # fmt: skip
    return ex


def _self_check(demo: Demo, client: Any) -> None:
    """Every example HTTP request answers as documented (before anything is printed)."""
    for ex in demo.examples:
        if ex.call is None:
            continue
        r = _send(client, demo, ex.call)
        demo.seen.append(r.status_code)
        problem = outcome_problem(ex, r.status_code, r.text)
        if problem is not None:
            raise CheckFailed(f"demo self-check failed: {ex.user}: {ex.what}: {problem}")


def outcome_problem(ex: Example, status: int, body: str) -> str | None:
    """Why an HTTP answer is not the documented outcome of ``ex`` (None: it is)."""
    if status != ex.status:
        return f"HTTP {status}, expected {ex.status}: {body[:300]}"
    if ex.contains is not None and ex.contains not in body:
        return f"the answer lacks {ex.contains!r}"
    if ex.nonempty is None and not ex.keys:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return f"not JSON: {body[:200]}"
    if ex.nonempty is not None:
        value = data if ex.nonempty == "." else data.get(ex.nonempty)
        if not value:
            return f"{ex.nonempty!r} is empty: {body[:300]}"
    if ex.keys and sorted(data) != sorted(ex.keys):
        return f"fields {sorted(data)}, expected exactly {sorted(ex.keys)}"
    return None


def _regulator_file(demo: Demo) -> Path:
    return demo.directory / "regulator" / "audit-export.jsonl"


def _regulator_export(demo: Demo) -> None:
    """Sign a checkpoint now and hand the regulator an export of the log up to it."""
    from gridwall.audit._export import export

    size = demo.app.state.server.checkpoint()
    if size is None:
        raise CheckFailed("demo: the server signed no checkpoint")
    out = _regulator_file(demo)
    out.parent.mkdir(exist_ok=True)
    export(demo.db_url, 0, size, out, "jsonl")


# ---------------------------------------------------------------------------- printing


def _q(text: str) -> str:
    return shlex.quote(text)


def login_script(demo: Demo) -> Path:
    return demo.directory / "login.sh"


def _write_login_script(demo: Demo) -> None:
    """``login.sh ACCOUNT``: log a demo account in again on its terminal (run from the
    project root). Password and TOTP secret are read from the credential files; the TOTP
    code is computed by the project's interpreter (pyotp); the token replaces
    ``credentials/ACCOUNT.token`` only when the login succeeds."""
    code = "import pyotp,sys; print(pyotp.TOTP(open(sys.argv[1]).read().strip()).now())"
    cases = [f"  {_q(u.account_id)}) key={_q(str(u.key_file))} ;;"
             for u in demo.users if u.key_file is not None]  # fmt: skip
    names = " ".join(u.account_id for u in demo.users if u.key_file is not None)
    creds = _q(str(demo.directory / "credentials"))
    text = "\n".join([
        "#!/usr/bin/env bash",
        "# Log a gridwall demo account in again on its terminal. Run from the project root.",
        "set -euo pipefail",
        '[ -x ./dev ] || { echo "login.sh: run me from the gridwall project root" >&2; exit 2; }',
        'case "${1:-}" in',
        *cases,
        f'  *) echo "usage: $0 ACCOUNT (one of: {names})" >&2; exit 2 ;;',
        "esac",
        f"creds={creds}",
        f'{GRIDWALL} identity login "$1" --terminal-key "$key" --password-stdin \\',
        f"  --db {_q(demo.db_url)} \\",
        f'  --totp "$({PYTHON} -c {_q(code)} "$creds/$1.totp")" \\',
        '  < "$creds/$1.password" > "$creds/$1.token.new"',
        'mv "$creds/$1.token.new" "$creds/$1.token"',
        'echo "login.sh: $1 logged in; session token in $creds/$1.token" >&2',
        "",
    ])  # fmt: skip
    path = login_script(demo)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o700)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    path.chmod(0o700)


def command(demo: Demo, ex: Example, base: str) -> str:
    """The shell command of an example, as printed (lines joined by `` \\``)."""
    if ex.shell is not None:
        return ex.shell
    if ex.call is None:
        lines = [GRIDWALL]
        for a in ex.argv:
            if a.startswith("--"):
                lines.append(_q(a))
            else:
                lines[-1] += " " + _q(a)
        return " \\\n      ".join(lines)
    c = ex.call
    u = demo.user(c.user)
    assert u.key_file is not None
    term = f"{GRIDWALL} identity terminal token --key {_q(str(u.key_file))}"
    lines = [
        f"curl -s -w '\\nHTTP %{{http_code}}\\n' -X {c.method} {base}{c.path}",
        f'-H "Authorization: Bearer $(cat {_q(str(u.file("token")))})"',
        f'-H "X-Gridwall-Terminal: $({term})"',
    ]
    if c.purpose is not None:
        lines.append(f"-H 'X-Gridwall-Purpose: {c.purpose}'")
    if c.consent_file is not None:
        lines.append(f'-H "X-Gridwall-Consent: $(cat {_q(str(c.consent_file))})"')
    if c.body is not None:
        lines.append("-H 'Content-Type: application/json' -d " + _q(json.dumps(c.body)))
    return " \\\n      ".join(lines)


def expectation(ex: Example) -> str:
    """The printed outcome line (``tests/integration/test_demo_commands.py`` parses it)."""
    parts = [f"HTTP {ex.status}" if ex.call is not None else f"exit {ex.exit_code}"]
    if ex.nonempty is not None:
        parts.append(f'non-empty "{ex.nonempty}"')
    if ex.keys:
        parts.append(f'fields "{",".join(ex.keys)}"')
    if ex.contains is not None:
        parts.append(f"contains {json.dumps(ex.contains)}")
    return ", ".join(parts)


def describe(demo: Demo, port: int) -> str:
    base = f"http://127.0.0.1:{port}"
    creds = demo.directory / "credentials"
    lines = [
        "",
        "gridwall demo — the composed system: gateway + identity + grants + lookup + audit log",
        f"  store and audit log: {demo.db_url}",
        f"  API docs:            {base}/docs",
        f"  web console:         {base}/console/ (sign in with an account below; load its "
        f"terminal's keys/<terminal>.key as 端末鍵ファイル, a demo-only step)",
        f"  credentials:         {creds}/<account>.password|.totp|.token and "
        f"{demo.directory / 'keys'}/<terminal>.key (mode 600; never printed)",
        f"  example supply point {demo.example_point}: a customer of {demo.independent_code} "
        f"(independent); the affiliated retailer is {demo.affiliated_code}",
        f"  demo disaster {demo.disaster_id} (declared by demo-nw, approved by demo-mgr) covers "
        f"its city until {demo.disaster_end}; ./dev demo reuses it, or declares a new one",
        "  The server signs an audit checkpoint every 30 s and when it stops. Run every command",
        "  below from the project root; each prints the answer, then its documented outcome is",
        "  shown under it. Terminal tokens are signed per request from the key file (5 min).",
        "",
        f"  {'account':<16} {'organisation':<20} {'role':<16} {'terminal':<12} purpose",
    ]
    for u in demo.users:
        term = u.device_id or "(none)"
        lines.append(f"  {u.account_id:<16} {u.org:<20} {u.role:<16} {term:<12} {u.purpose}")
    lines.append("")
    code = "import pyotp,sys; print(pyotp.TOTP(open(sys.argv[1]).read().strip()).now())"
    lines += [
        "  console sign-in, for every account with a terminal (demo-only steps):",
        f"    1. open {base}/console/ in a browser; you land on the sign-in page",
        f"    2. 端末鍵ファイル: choose {demo.directory / 'keys'}/<terminal>.key (the account's",
        "       terminal above), press 端末鍵をこのブラウザに読み込む (once per browser profile)",
        f"    3. アカウントID: the account; パスワード: the line of {creds}/<account>.password",
        f"    4. ワンタイムコード（TOTP）: $ {PYTHON} -c {_q(code)} {creds}/<account>.totp",
        "       (a code is good once: wait for the next one to sign in the same account again)",
        "  console pages by account (after signing in at /console/):",
    ]
    for account, what in CONSOLE_STEPS:
        if any(u.account_id == account and u.key_file is not None for u in demo.users):
            lines.append(f"    {account:<16} {base}{what}")
    lines.append("")
    order = {u.account_id: i for i, u in enumerate(demo.users)}
    current = ""
    for ex in sorted(demo.examples, key=lambda e: order[e.user]):  # stable: user by user
        if ex.user != current:
            current = ex.user
            u = demo.user(ex.user)
            lines.append(f"[{u.label}] {u.account_id}")
        lines += [f"  # {ex.what}", f"  $ {command(demo, ex, base)}",
                  f"    expect: {expectation(ex)}"]  # fmt: skip
    lines += [
        "",
        'Also: POST /v1/lookup {"address": "…"} with purpose switching (the same for both '
        "retailers),",
        "      GET /v1/customers (retailers), GET /v1/grants/disasters, GET /v1/identity/session.",
    ]
    return "\n".join(lines)


def run_demo(directory: Path, *, supply_points: int, port: int, seed: int, serve: bool) -> None:
    """``gridwall demo``: build, print the users and examples, serve until stopped."""
    d = build_demo(directory, supply_points=supply_points, seed=seed)
    try:
        print(describe(d, port))
        sys.stdout.flush()
        if serve:
            import uvicorn

            d.app.state.server.start()
            uvicorn.run(d.app, host="127.0.0.1", port=port, log_level="warning")
    finally:
        d.close()
