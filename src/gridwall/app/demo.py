"""``gridwall demo``: a synthetic operator served by the composed application, with real logins.

Steps: generate the operator (``gridwall.synth.generate``; reused if the folder holds it),
load it (``gridwall.gateway.load_dataset``), index the lookup, compose the server
(:func:`gridwall.app.create_server_app`: real audit log, identity, grants, policy), then
create three personal accounts with passwords, TOTP secrets, training attestations and
enrolled terminals — an NW 託送 operator, an affiliated-retailer agent and an
independent-retailer agent — log each in on their own terminal, and self-check over HTTP
that the printed example requests answer as printed (NW 200, affiliated 404, independent
200 for one of the independent retailer's customers).
"""

from __future__ import annotations

import secrets
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gridwall import dataset
from gridwall.errors import CheckFailed, UsageError

JST_OFFSET = timedelta(hours=9)


@dataclass
class DemoUser:
    label: str
    account_id: str
    person_id: str
    org: str
    role: str
    device_id: str
    device_kind: str
    purpose: str
    password: str = ""
    totp_secret: str = ""
    key_file: Path | None = None
    token: str = ""


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


def _ensure(svc: Any, u: DemoUser, attester: str | None, now: datetime, keys: Path) -> None:
    """Person, account, password, TOTP, training and terminal key (re-issued on re-runs)."""
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
    if attester is not None:
        attest_training(svc, u.person_id, (now + JST_OFFSET).date(), attester, now)
    try:
        svc.register_terminal(u.device_id, u.org, u.device_kind, before, location="demo")
    except UsageError as e:
        if "already exists" not in str(e):
            raise
    u.key_file = keys / f"{u.device_id}.key"
    u.key_file.write_text(svc.enroll_terminal(u.device_id, now), encoding="utf-8")
    u.key_file.chmod(0o600)


def _ensure_audit_key(keys: Path) -> Path:
    """The demo's audit signing key (``keys/audit.key``, 0600) and its public key (``.pub``)."""
    from gridwall.audit import note

    path = keys / "audit.key"
    if not path.exists():
        signer = note.generate_signer("gridwall.demo/audit")
        path.touch(mode=0o600)
        path.write_text(signer.text() + "\n", encoding="utf-8")
        path.with_name("audit.key.pub").write_text(signer.verifier.text() + "\n", encoding="utf-8")
    return path


def build_demo(
    directory: Path,
    *,
    supply_points: int = 50_000,
    seed: int = 2026,
    days: int = 1,
    progress: bool = True,
) -> Demo:
    """Generate (or reuse), load, index and compose the demo operator; self-check it."""
    import pyotp
    from fastapi.testclient import TestClient

    from gridwall.app.server import create_server_app
    from gridwall.app.wiring import load_dataset
    from gridwall.gateway import retailer_kinds
    from gridwall.identity import terminal_token
    from gridwall.store import make_engine, upgrade
    from gridwall.synth import generate

    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    data = directory / "dataset"
    if not (data / "synth.json").exists():
        print(f"demo: generating {supply_points} supply points in {data} …", file=sys.stderr)
        generate(data, supply_points, days, seed, progress=progress, force=data.exists())
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
    audit_key = _ensure_audit_key(keys)
    # The server signs a checkpoint every 30 s and on close, so `gridwall audit verify` works.
    app = create_server_app(db_url, migrate=False, audit_key=audit_key, checkpoint_seconds=30.0)
    server = app.state.server
    try:
        svc = server.identity
        now = datetime.now(UTC)
        compliance = DemoUser("デモ 監査子", "demo-compliance", "DEMO-COMP", "nw", "compliance",
                              "DEMO-NW-T1", "nw_terminal", "audit")  # fmt: skip
        users = [
            DemoUser("NW 託送 operator", "demo-nw", "DEMO-NW", "nw", "takuso_operator",
                     "DEMO-NW-T1", "nw_terminal", "takuso"),
            DemoUser("affiliated-retailer agent", "demo-aff", "DEMO-AFF", f"retail:{aff}",
                     "call_center", "DEMO-AFF-T1", "retail_terminal", "customer_service"),
            DemoUser("independent-retailer agent", "demo-ind", "DEMO-IND", f"retail:{ind}",
                     "call_center", "DEMO-IND-T1", "retail_terminal", "customer_service"),
        ]  # fmt: skip
        _ensure(svc, compliance, None, now, keys)
        for u in users:
            _ensure(svc, u, compliance.person_id, now, keys)
            assert u.key_file is not None
            key_text = u.key_file.read_text(encoding="utf-8")
            u.token = svc.login(
                u.account_id,
                u.password,
                pyotp.TOTP(u.totp_secret).now(),
                terminal_token(key_text, now),
                now,
            ).token
        client = TestClient(app)

        def headers(u: DemoUser) -> dict[str, str]:
            assert u.key_file is not None
            term = terminal_token(u.key_file.read_text(encoding="utf-8"), datetime.now(UTC))
            return {"Authorization": f"Bearer {u.token}", "X-Gridwall-Terminal": term,
                    "X-Gridwall-Purpose": u.purpose}  # fmt: skip

        # the example point: one of the independent agent's own customers (自社顧客)
        r = client.get("/v1/customers", params={"limit": 50}, headers=headers(users[2]))
        named = [p for p in r.json().get("results", []) if "contract_name" in p]
        if r.status_code != 200 or not named:
            raise CheckFailed(
                f"demo self-check: the independent agent lists no customer ({r.status_code})"
            )
        point = str(named[0]["supply_point_id"])
        demo = Demo(app, users, point, aff, ind, db_url, directory)
        for u in users:
            r = client.get(f"/v1/supply-points/{point}", headers=headers(u))
            demo.seen.append(r.status_code)
        if demo.seen != [200, 404, 200]:
            raise CheckFailed(
                f"demo self-check failed: {demo.seen}, expected NW 200, affiliated 404, "
                "independent 200"
            )
        return demo
    except BaseException:
        server.close()
        raise


def describe(demo: Demo, port: int) -> str:
    base = f"http://127.0.0.1:{port}"
    term = "$(gridwall identity terminal token --key {key})"
    lines = [
        "",
        "gridwall demo — the composed system: gateway + identity + grants + lookup + audit log",
        f"  store and audit log: {demo.db_url}",
        f"  verify the log:      gridwall audit verify --db {demo.db_url} \\",
        f"                         --public-key {demo.directory / 'keys' / 'audit.key.pub'}",
        "                       (the server signs a checkpoint every 30 s and when it stops)",
        f"  API docs:            {base}/docs",
        f"  example supply point {demo.example_point}: a customer of {demo.independent_code} "
        f"(independent); the affiliated retailer is {demo.affiliated_code}",
        "  Terminal credentials are signed per request from the terminal's key file (valid 5 min);",
        "  sessions end after 15 idle minutes — log in again as shown under each user.",
        "",
    ]
    expect = (
        "200: every 託送 field but FIT (NW staff, declared 託送 purpose, NW terminal)",
        "404: exactly as for a nonexistent point (another retailer's customer)",
        "200: its own customer (自社顧客)",
    )
    for u, what in zip(demo.users, expect, strict=True):
        key = term.format(key=u.key_file)
        lines += [
            f"[{u.label}] account {u.account_id} ({u.org}, {u.role}) on terminal {u.device_id}",
            f"  password: {u.password}   TOTP secret: {u.totp_secret}   key file: {u.key_file}",
            f"  session token: {u.token}",
            f"  → GET the example point with purpose {u.purpose}: {what}",
            f"  curl -s {base}/v1/supply-points/{demo.example_point} \\",
            f"    -H 'Authorization: Bearer {u.token}' \\",
            f'    -H "X-Gridwall-Terminal: {key}" \\',
            f"    -H 'X-Gridwall-Purpose: {u.purpose}'",
            f"  log in again: echo '{u.password}' | gridwall identity login {u.account_id} \\",
            f"    --terminal-key {u.key_file} --password-stdin --db {demo.db_url} \\",
            f"    --totp $(python -c 'import pyotp; print(pyotp.TOTP(\"{u.totp_secret}\").now())')",
            "",
        ]
    lines += [
        'Also: POST /v1/lookup {"address": "…"} with purpose switching (the same for both '
        "retailers),",
        "      GET /v1/customers (retailers), GET /v1/grants/disasters, GET /v1/identity/session.",
    ]
    return "\n".join(lines)


def run_demo(directory: Path, *, supply_points: int, port: int, seed: int, serve: bool) -> None:
    """``gridwall demo``: build, print the credentials and examples, serve until stopped."""
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
