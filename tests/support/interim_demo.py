"""``gridwall demo``: a small synthetic operator in SQLite, served on 127.0.0.1.

Steps: generate the operator with :func:`gridwall.synth.generate` (reused if the
folder already holds it), load it with :func:`load_dataset`, open the real audit
log (:func:`gridwall.audit.open_log`) and the real grant resolver
(:class:`gridwall.grants.StoreGrantResolver`), and issue demo credentials with the
INTERIM :class:`TokenAuthenticator` for three people taken from the dataset's
``persons.csv``: an NW 託送 operator, an affiliated-retailer agent and an
independent-retailer agent. Before serving, the same three requests the printed
``curl`` examples make are run in-process as a self-check.
"""

from __future__ import annotations

import secrets
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, or_, select

from gridwall import dataset
from gridwall.app.wiring import load_dataset
from gridwall.errors import CheckFailed
from gridwall.gateway import Gateway, NotVisible
from gridwall.interfaces import AuditSink, GrantResolver, Principal
from gridwall.interfaces.clock import JST
from gridwall.interfaces.facts import (
    AccountKind,
    AccountState,
    DeviceKind,
    OrgKind,
    PrincipalFacts,
    RetailerKind,
    Role,
)
from gridwall.policy import default_engine
from gridwall.store.customer import Retailer, SupplyContract, SupplyPoint
from support.doubles import TokenAuthenticator


@dataclass
class DemoUser:
    label: str
    account_id: str
    person_name: str
    org: str
    purpose: str
    token: str = ""
    terminal: str = ""
    device_id: str = ""


@dataclass
class Demo:
    gateway: Gateway
    users: list[DemoUser]
    example_point: str
    supplier_code: str
    affiliated_code: str
    db_url: str
    audit_path: Path
    closers: list[Any] = field(default_factory=list)

    def close(self) -> None:
        for c in self.closers:
            c()


def _rows(directory: Path, table: dataset.Table) -> list[dict[str, Any]]:
    path = dataset.find_table_file(directory, table)
    if path is None:
        return []
    return [r for _, r in dataset.iter_rows(path, table)]


def _pick_point(engine: Engine, today: Any) -> tuple[str, str, str]:
    """An active point supplied now by an independent retailer, and the affiliated code."""
    sp, sc, rt = SupplyPoint.__table__, SupplyContract.__table__, Retailer.__table__
    with engine.connect() as conn:
        aff = conn.execute(
            select(rt.c.retailer_code).where(rt.c.kind == "affiliated").limit(1)
        ).scalar_one_or_none()
        row = conn.execute(
            select(sp.c.supply_point_id, sc.c.retailer_code)
            .join(sc, sc.c.supply_point_id == sp.c.supply_point_id)
            .join(rt, rt.c.retailer_code == sc.c.retailer_code)
            .where(
                sp.c.status == "active",
                rt.c.kind == "independent",
                sc.c.kind == "retail",
                sc.c.start_date <= today,
                or_(sc.c.end_date.is_(None), sc.c.end_date > today),
                sp.c.contract_name.is_not(None),
            )
            .order_by(sp.c.supply_point_id)
            .limit(1)
        ).first()
    if aff is None or row is None:
        raise CheckFailed(
            "the demo operator has no affiliated retailer or no independent customer; "
            "use more --supply-points"
        )
    return str(row[0]), str(row[1]), str(aff)


def _person(
    persons: list[dict[str, Any]], org: str, roles: tuple[str, ...], fallback: str
) -> tuple[str, str]:
    for p in persons:
        if p["org"] == org and p["valid_to"] is None and (not roles or p["role"] in roles):
            return str(p["person_id"]), str(p["name"])
    for p in persons:
        if p["org"] == org and p["valid_to"] is None:
            return str(p["person_id"]), str(p["name"])
    return fallback, fallback


def _device(devices: list[dict[str, Any]], org: str, kind: str, fallback: str) -> str:
    for d in devices:
        if d["owner_org"] == org and d["kind"] == kind and d["valid_to"] is None:
            return str(d["device_id"])
    return fallback


def build_demo(
    directory: Path,
    *,
    supply_points: int = 50_000,
    seed: int = 2026,
    days: int = 1,
    progress: bool = True,
    audit: AuditSink | None = None,
    grants: GrantResolver | None = None,
) -> Demo:
    """Generate (or reuse), load and wire the demo operator; self-check the examples."""
    from gridwall.store import make_engine, upgrade
    from gridwall.synth import generate

    directory.mkdir(parents=True, exist_ok=True)
    data = directory / "dataset"
    if not (data / "synth.json").exists():
        print(f"demo: generating {supply_points} supply points in {data} …", file=sys.stderr)
        generate(data, supply_points, days, seed, progress=progress, force=data.exists())
    db_url = f"sqlite:///{directory / 'gridwall-demo.db'}"
    engine = make_engine(db_url)
    upgrade(db_url, engine)
    print(f"demo: loading into {db_url} …", file=sys.stderr)
    load_dataset(data, engine, progress=progress)
    closers: list[Any] = [engine.dispose]
    audit_path = directory / "audit.db"
    if audit is None:
        from gridwall.audit import open_log

        log = open_log(audit_path)
        closers.insert(0, log.close)
        audit = log
    if grants is None:
        from gridwall.grants import StoreGrantResolver

        grants = StoreGrantResolver(engine)

    now = datetime.now(UTC)
    point, supplier, affiliated = _pick_point(engine, now.astimezone(JST).date())
    persons = _rows(data, dataset.PERSONS)
    devices = _rows(data, dataset.DEVICES)
    auth = TokenAuthenticator(secrets.token_bytes(32))
    specs = (
        ("NW 託送 operator", "nw", Role.TAKUSO_OPERATOR, RetailerKind.NONE, "takuso",
         ("takuso_operator",), "nw_terminal"),
        ("affiliated-retailer agent", f"retail:{affiliated}", Role.CALL_CENTER,
         RetailerKind.AFFILIATED, "customer_service", ("call_center", "sales"),
         "retail_terminal"),
        ("independent-retailer agent", f"retail:{supplier}", Role.CALL_CENTER,
         RetailerKind.INDEPENDENT, "customer_service", ("call_center", "sales"),
         "retail_terminal"),
    )  # fmt: skip
    users = []
    for label, org, role, rkind, purpose, roles, dkind in specs:
        pid, name = _person(persons, org, roles, f"demo-{org}")
        account = f"demo-{pid}"
        facts = PrincipalFacts(
            OrgKind(org.split(":", 1)[0]), rkind, role, AccountKind.PERSONAL,
            AccountState.ACTIVE, True,
        )  # fmt: skip
        token = auth.register(Principal(account, pid, org, facts, session_id=f"demo-{pid}"))
        dev = _device(devices, org, dkind, f"DEMO-{org}")
        term = auth.enroll_terminal(dev, org, DeviceKind(dkind))
        users.append(DemoUser(label, account, name, org, purpose, token, term, dev))
    gw = Gateway(engine, default_engine(), auth=auth, grants=grants, audit=audit)
    demo = Demo(gw, users, point, supplier, affiliated, db_url, audit_path, closers)
    self_check(demo)
    return demo


def self_check(demo: Demo) -> None:
    """NW and the supplying retailer see the example point; the other retailer gets 404."""
    gw = demo.gateway
    seen = []
    for u in demo.users:
        ctx = gw.authenticate(u.token, u.terminal, u.purpose)
        try:
            v = gw.read_point(ctx, demo.example_point, screen="demo self-check")
            seen.append("contract_name" in v)
        except NotVisible:
            seen.append(False)
    if seen != [True, False, True]:
        raise CheckFailed(f"demo self-check failed: visibility {seen}, expected NW, -, supplier")


def describe(demo: Demo, port: int) -> str:
    base = f"http://127.0.0.1:{port}"
    lines = [
        "",
        "gridwall demo — firewall gateway (INTERIM demo tokens; identity logins come later)",
        f"  store: {demo.db_url}",
        f"  audit log: {demo.audit_path}   (verify: gridwall audit verify)",
        f"  API docs: {base}/docs",
        f"  example supply point {demo.example_point}: supplied by {demo.supplier_code} "
        f"(independent); the affiliated retailer is {demo.affiliated_code}",
        "",
    ]
    expect = ("200: every 託送 field but FIT", "404: exactly as for a nonexistent point",
              "200: its own customer")  # fmt: skip
    for u, what in zip(demo.users, expect, strict=True):
        lines += [
            f"[{u.label}] {u.person_name} ({u.org}, account {u.account_id}, "
            f"terminal {u.device_id}, purpose {u.purpose}) → {what}",
            f"  curl -s {base}/v1/supply-points/{demo.example_point} \\",
            f"    -H 'Authorization: Bearer {u.token}' \\",
            f"    -H 'X-Gridwall-Terminal: {u.terminal}' \\",
            f"    -H 'X-Gridwall-Purpose: {u.purpose}'",
            "",
        ]
    lines.append("Also: GET /v1/customers (retailers), GET /v1/supply-points?town=… (search).")
    return "\n".join(lines)
