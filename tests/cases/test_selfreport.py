"""Self-reports (自主申告): a report without an account reaches compliance's queue as a
case, its receipt shows progress and never the reporter, a wrong receipt shows nothing,
records are append-only, and only compliance sees who reported (Cedar, I15j)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest
import sqlalchemy as sa

from gridwall.cases import (
    ANONYMOUS,
    Entry,
    Reporter,
    SelfReportError,
    add_selfreport_note,
    append_entries,
    follow_selfreport,
    load_cases,
    selfreport_counts,
    selfreport_queue,
    submit_selfreport,
)
from gridwall.interfaces.facts import (
    AccountKind,
    AccountState,
    DeviceFacts,
    DeviceKind,
    DeviceOwner,
    GrantStep,
    ManageRequest,
    OrgKind,
    PrincipalFacts,
    RetailerKind,
    Role,
)
from gridwall.policy import ManagementEngine, check_management
from gridwall.policy._manage import ManagementBundle
from gridwall.store.db import make_engine, upgrade

T0 = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def _engine(url: str) -> sa.Engine:
    upgrade(url)
    return make_engine(url)


def test_anonymous_report_reaches_compliance_and_receipt_shows_progress(db_url: str) -> None:
    eng = _engine(db_url)
    with eng.begin() as c:
        sub = submit_selfreport(
            c, kind="shared_password", text="窓口でパスワードを共用しています", at=T0,
            contact="内線 1234",
        )  # fmt: skip
    assert re.fullmatch(r"[0-9a-f]{12}-[A-Za-z0-9_-]{32}", sub.receipt)
    with eng.connect() as c:
        # stored only as a hash: the secret half is nowhere in the table
        raw = " ".join(str(v) for r in c.execute(sa.text("SELECT * FROM selfreports")) for v in r)
        assert sub.receipt.split("-", 1)[1] not in raw
        (case,) = [k for k in load_cases(c) if k.case_id == sub.case_id]
        assert case.source == "self_report" and case.status == "second_line"
        shown = selfreport_queue(c, identity=False)
        assert shown[0]["reporter"] == ANONYMOUS and shown[0]["contact"] is None
        full = selfreport_queue(c, identity=True)
        assert full[0]["contact"] == "内線 1234" and full[0]["reporter"] == "no account"
        p = follow_selfreport(c, sub.receipt)
        assert p is not None and p.status == "received" and p.notes == ()
        assert selfreport_counts(c) == {"shared_password": 1}
    with eng.begin() as c:
        add_selfreport_note(c, sub.report_id, "nw-comp", "調査を開始しました", T0)
        append_entries(c, [Entry(sub.case_id, 2, "decided", "nw-comp", T0 + timedelta(days=1),
                                 {"decision": "violation", "incident_type": "C3",
                                  "rule": "ID共用の禁止"})])  # fmt: skip
    with eng.connect() as c:
        p = follow_selfreport(c, sub.receipt)
        assert p is not None and p.status == "closed"
        assert [t for _, t in p.notes] == ["調査を開始しました"]
        text = repr(p)
        assert "内線" not in text and "violation" not in text and "nw-comp" not in text
    eng.dispose()


def test_a_wrong_receipt_reveals_nothing(sqlite_url: str) -> None:
    eng = _engine(sqlite_url)
    with eng.begin() as c:
        sub = submit_selfreport(c, kind="other", text="x", at=T0)
    lookup, secret = sub.receipt.split("-", 1)
    with eng.connect() as c:
        for wrong in (f"{lookup}-{secret[:-1]}A", f"000000000000-{secret}", "", "-", lookup):
            assert follow_selfreport(c, wrong) is None, wrong
    eng.dispose()


def test_identified_own_misuse_names_the_reporter_only_when_not_anonymous(
    sqlite_url: str,
) -> None:
    eng = _engine(sqlite_url)
    me = Reporter("aff-agent", "P-AFF", "retail:A0001")
    with eng.begin() as c:
        anon = submit_selfreport(c, kind="own_misuse", text="a", at=T0, reporter=me)
        named = submit_selfreport(
            c, kind="own_misuse", text="b", at=T0, reporter=me, anonymous=False
        )
    with eng.connect() as c:
        cases = {k.case_id: k for k in load_cases(c)}
        assert cases[anon.case_id].subject == f"selfreport:{anon.report_id}"  # not the reporter
        assert cases[named.case_id].subject == "P-AFF"
        q = {r["report_id"]: r for r in selfreport_queue(c, identity=False)}
        assert q[anon.report_id]["reporter"] == ANONYMOUS
        assert q[named.report_id]["reporter"] == "aff-agent"
        q = {r["report_id"]: r for r in selfreport_queue(c, identity=True)}
        assert q[anon.report_id]["reporter"] == "aff-agent"
    eng.dispose()


def test_bad_reports_are_refused_naming_the_field_and_write_nothing(sqlite_url: str) -> None:
    eng = _engine(sqlite_url)
    bad = [
        ({"kind": "gossip", "text": "x"}, "'kind'"),
        ({"kind": "other", "text": "  "}, "'text': required"),
        ({"kind": "other", "text": "x" * 4001}, "'text': at most 4000"),
        ({"kind": "other", "text": "x", "contact": "a\x00b"}, "'contact': control"),
        ({"kind": "other", "text": "x", "anonymous": False}, "'anonymous'"),
    ]
    for kw, msg in bad:
        with pytest.raises(SelfReportError, match=msg), eng.begin() as c:
            submit_selfreport(c, at=T0, **kw)  # type: ignore[arg-type]
    with eng.connect() as c:
        assert selfreport_queue(c, identity=True) == [] and load_cases(c) == []
    eng.dispose()


def test_self_reports_are_append_only(db_url: str) -> None:
    eng = _engine(db_url)
    with eng.begin() as c:
        sub = submit_selfreport(c, kind="terminal_left_open", text="x", at=T0)
        add_selfreport_note(c, sub.report_id, "nw-comp", "n", T0)
    for stmt in (
        "UPDATE selfreports SET anonymous = false",
        "DELETE FROM selfreports",
        "UPDATE selfreport_notes SET text = 'y'",
        "DELETE FROM selfreport_notes",
    ):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), eng.begin() as c:
            c.execute(sa.text(stmt))
    eng.dispose()


# ------------------------------------------------------------------ Cedar (I15j)

_ROOT = resources.files("gridwall.policy") / "cedar" / "manage"
SCHEMA = (_ROOT / "schema.cedarschema").read_text(encoding="utf-8")
GRANTS = (_ROOT / "grants.cedar").read_text(encoding="utf-8")
SHIPPED = (_ROOT / "selfreport.cedar").read_text(encoding="utf-8")
NW_TERM = DeviceFacts(DeviceKind.NW_TERMINAL, DeviceOwner.SAME_ORG, True)


def _p(org: OrgKind, role: Role) -> PrincipalFacts:
    rk = RetailerKind.INDEPENDENT if org == OrgKind.RETAIL else RetailerKind.NONE
    return PrincipalFacts(org, rk, role, AccountKind.PERSONAL, AccountState.ACTIVE, True)


def test_only_compliance_sees_who_reported() -> None:
    eng = ManagementEngine()

    def may(p: PrincipalFacts, step: GrantStep) -> bool:
        return eng.decide(ManageRequest(p, NW_TERM, step)).allowed

    comp, aud = _p(OrgKind.NW, Role.COMPLIANCE), _p(OrgKind.NW, Role.AUDITOR)
    assert may(comp, GrantStep.SELFREPORT_IDENTITY) and may(comp, GrantStep.SELFREPORT_NOTE)
    assert may(aud, GrantStep.SELFREPORT_QUEUE) and not may(aud, GrantStep.SELFREPORT_IDENTITY)
    assert not may(_p(OrgKind.NW, Role.MANAGER), GrantStep.SELFREPORT_QUEUE)
    rterm = DeviceFacts(DeviceKind.RETAIL_TERMINAL, DeviceOwner.SAME_ORG, True)
    retail = _p(OrgKind.RETAIL, Role.COMPLIANCE)
    for step in (GrantStep.SELFREPORT_QUEUE, GrantStep.SELFREPORT_IDENTITY):
        assert not eng.decide(ManageRequest(retail, rterm, step)).allowed


def test_i15i_fails_on_a_policy_letting_internal_audit_see_reporters() -> None:
    start = SHIPPED.index('@id("manage-forbid-selfreport-identity-beyond-compliance")')
    broken = (
        SHIPPED[:start]
        + SHIPPED[SHIPPED.index("};", start) + 2 :]
        + (
            '\n@id("broken-audit-sees-reporters")\n'
            'permit (principal, action == Action::"manage",\n'
            '        resource == Step::"selfreport.identity")\n'
            'when { principal.org_kind == OrgKind::"nw" && principal.role == Role::"auditor" };\n'
        )
    )
    bundle = ManagementBundle(SCHEMA, {"grants.cedar": GRANTS, "selfreport.cedar": broken})
    report = check_management(ManagementEngine(bundle))
    res = {r.id: r for r in report.results}["I15j"]
    assert res.violations > 0 and res.counterexample is not None and not report.ok
    ok = check_management(
        ManagementEngine(ManagementBundle(SCHEMA, {"grants.cedar": GRANTS,
                                                   "selfreport.cedar": SHIPPED}))
    )  # fmt: skip
    assert {r.id: r for r in ok.results}["I15j"].violations == 0
