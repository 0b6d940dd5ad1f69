"""The second wall (issue 17 item 1): PostgreSQL row-level security on the customer tables.

Every test runs on the real PostgreSQL server as an application role that is no superuser,
has NOBYPASSRLS and owns nothing, and calls the gateway's store read path directly with a
deliberately wrong "decision" (the settings of another caller than the rows belong to):
no foreign row ever comes back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, create_engine, exc, text

from gateway import tiny
from gridwall.app.wiring import load_dataset
from gridwall.gateway import _store
from gridwall.interfaces.facts import CANARY_POINT_ID_STEM
from gridwall.store import make_engine, rls, upgrade

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
TODAY = date(2026, 11, 25)
ALL_CLASSES = {(a, b) for a in (False, True) for b in (False, True)}
EVERY_POINT = [tiny.P_AFF, tiny.P_IND, tiny.P_VACANT, tiny.P_LRS, tiny.P_FIT, tiny.P_FORMER,
               tiny.P_MOVED, tiny.P_OTHER_AREA]  # fmt: skip


@pytest.fixture
def walled(pg_url: str, tmp_path: Path) -> Iterator[tuple[Engine, Engine, str]]:
    """(owner engine, application engine, application role) over the tiny operator."""
    upgrade(pg_url)
    owner = make_engine(pg_url)
    load_dataset(tiny.write(tmp_path / "ds"), owner, progress=False)
    role = f"gw_app_{uuid.uuid4().hex[:10]}"
    with owner.begin() as c:
        c.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE')
        rls.grant_app_role(c, role)
    base, db = pg_url.rsplit("/", 1)
    app = create_engine(base.replace("postgres@", f"{role}@") + "/" + db)
    try:
        yield owner, app, role
    finally:
        app.dispose()
        with owner.begin() as c:
            c.exec_driver_sql(f'DROP OWNED BY "{role}"')
        owner.dispose()
        admin = create_engine(base + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
        admin.dispose()


def scope(kind: str, purpose: str, code: str | None = None) -> rls.Scope:
    org = f"retail:{code}" if kind == "retail" else kind
    return rls.Scope(kind, org, code, purpose, TODAY, NOW)


def every_read(conn: Connection) -> set[str]:
    """The points any read route of the gateway returns rows of, asked for every point."""
    seen: set[str] = set()
    for pid in [*EVERY_POINT, tiny.MISSING]:
        for read in (_store.probe_point, _store.fetch_point, _store.fetch_point_detail):
            r = read(conn, pid, TODAY)
            if r is not None:
                seen.add(pid)
        history, fit = _store.fetch_extras(conn, pid, history=True, fit=True)
        if history or fit:
            seen.add(pid)
        if _store.usage(conn, pid, "0000-00"):
            seen.add(pid)
        if _store.last_holder_change(conn, pid, TODAY) is not None:
            seen.add(pid)
    seen.update(r.supply_point_id for r in _store.fetch_points(conn, EVERY_POINT, TODAY))
    for pref in ("宮城県", "福島県", "東京都"):
        found = _store.search_points(
            conn, _store.SearchCriteria(pref=pref), TODAY, classes=ALL_CLASSES,
            own_retailer=None, limit=100,
        )  # fmt: skip
        seen.update(r.supply_point_id for r in found)
    for code in (tiny.AFF, tiny.IND, tiny.IND2, tiny.NW_CODE):
        rows = _store.list_customers(conn, code, TODAY, after=None, limit=100)
        seen.update(r.supply_point_id for r in rows)
    for t in rls.CUSTOMER_TABLES:
        seen.update(conn.execute(text(f"SELECT supply_point_id FROM {t}")).scalars())
    return seen


def read_as(app: Engine, sc: rls.Scope | None) -> set[str]:
    with app.connect() as conn:
        if sc is not None:
            rls.set_scope(conn, sc)
        return every_read(conn)


def test_the_wall_stands_for_the_application_role(walled: tuple[Engine, Engine, str]) -> None:
    _, app, role = walled
    with app.connect() as c:
        assert rls.check_wall(c) == []
        assert rls.check_wall(c, role) == []


def test_a_retailer_sees_only_the_points_it_supplies_now(
    walled: tuple[Engine, Engine, str],
) -> None:
    _, app, _ = walled
    assert read_as(app, scope("retail", "customer_service", tiny.AFF)) == {
        tiny.P_AFF, tiny.P_OTHER_AREA}  # fmt: skip
    # retailer B's settings asking for retailer A's points (a wrong decision): none of them
    ind = read_as(app, scope("retail", "sales", tiny.IND))
    assert ind == {tiny.P_IND, tiny.P_FORMER, tiny.P_MOVED}
    assert tiny.P_AFF not in ind and tiny.P_OTHER_AREA not in ind


@pytest.mark.parametrize(
    "sc",
    [
        None,  # settings unset
        scope("retail", "takuso", tiny.AFF),  # a retailer declaring NW's purpose
        scope("retail", "customer_service", None),  # a retailer without a code
        scope("retail", "consent_usage", tiny.AFF),  # no consent in the grants tables
        scope("retail", "disaster_support", tiny.AFF),  # no declaration, no agreement
        scope("nw", "sales"),  # NW with a purpose that is not NW's
        scope("nw", "customer_service"),
        scope("contractor", "system_maintenance"),  # no agreement
        scope("regulator", "audit"),
        scope("nobody", "takuso"),
    ],
    ids=lambda s: "unset" if s is None else f"{s.org_kind}-{s.purpose}-{s.org_code}",
)
def test_no_rows_without_a_scope_that_may_see_them(
    walled: tuple[Engine, Engine, str], sc: rls.Scope | None
) -> None:
    _, app, _ = walled
    assert read_as(app, sc) == set()


def test_nw_takuso_sees_every_point_and_settings_end_with_the_transaction(
    walled: tuple[Engine, Engine, str],
) -> None:
    _, app, _ = walled
    with app.connect() as conn:
        rls.set_scope(conn, scope("nw", "takuso"))
        assert every_read(conn) == set(EVERY_POINT)
        conn.rollback()  # what the pool does when the connection goes back
        assert every_read(conn) == set()


def test_a_weakened_policy_is_caught(walled: tuple[Engine, Engine, str]) -> None:
    owner, app, role = walled
    with owner.begin() as c:  # a migration that "simplifies" the policy
        c.exec_driver_sql(f"ALTER POLICY {rls.POLICY_NAME} ON usage_monthly USING (true)")
        c.exec_driver_sql("CREATE POLICY open_up ON supply_points FOR SELECT USING (true)")
        c.exec_driver_sql("ALTER TABLE fit_contracts NO FORCE ROW LEVEL SECURITY")
        c.exec_driver_sql("ALTER TABLE switching_applications DISABLE ROW LEVEL SECURITY")
    with app.connect() as c:
        problems = rls.check_wall(c, role)
    text_ = "\n".join(problems)
    assert "usage_monthly: policy gridwall_wall: USING (true)" in text_
    assert "supply_points: policy open_up: not gridwall's" in text_
    assert "fit_contracts: row-level security is not forced" in text_
    assert "switching_applications: row-level security is disabled" in text_
    # and the behaviour shows it: foreign rows leak to retailer B's settings
    assert tiny.P_AFF in read_as(app, scope("retail", "sales", tiny.IND))


def test_a_changed_point_function_is_caught(walled: tuple[Engine, Engine, str]) -> None:
    owner, app, role = walled
    with owner.begin() as c:
        c.exec_driver_sql(
            f"CREATE OR REPLACE FUNCTION public.{rls.POINT_FUNCTION}(pid varchar) "
            "RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER AS $$ SELECT true $$"
        )
    with app.connect() as c:
        assert any("body differs" in p for p in rls.check_wall(c, role))


def test_a_role_that_bypasses_is_named(walled: tuple[Engine, Engine, str]) -> None:
    owner, _, _ = walled
    with owner.connect() as c:  # the tests' owner is the superuser
        problems = rls.check_wall(c)
    assert any("superuser" in p for p in problems)
    assert any("BYPASSRLS" in p for p in problems)


@pytest.mark.parametrize(
    "stmt",
    [
        "SET ROLE postgres",
        f"ALTER POLICY {rls.POLICY_NAME} ON supply_points USING (true)",
        "ALTER TABLE supply_points DISABLE ROW LEVEL SECURITY",
        "ALTER TABLE supply_points NO FORCE ROW LEVEL SECURITY",
        "DROP POLICY gridwall_wall ON supply_contracts",
        "CREATE POLICY mine ON supply_points FOR SELECT USING (true)",
        f"CREATE OR REPLACE FUNCTION public.{rls.POINT_FUNCTION}(pid varchar) RETURNS boolean "
        "LANGUAGE sql AS $$ SELECT true $$",
        "UPDATE supply_contracts SET retailer_code = 'B0001'",
        "INSERT INTO supply_contracts (supply_point_id, retailer_code, start_date, kind) "
        "VALUES ('0100000000000000000001', 'B0001', '2026-11-01', 'retail')",
        "CREATE TABLE public.supply_contracts_shadow (x int)",
    ],
)
def test_the_application_role_cannot_take_the_wall_down(
    walled: tuple[Engine, Engine, str], stmt: str
) -> None:
    _, app, _ = walled
    with app.connect() as c:
        rls.set_scope(c, scope("retail", "sales", tiny.IND))
        with pytest.raises(exc.ProgrammingError):
            c.exec_driver_sql(stmt)


def test_the_probe_seeks_the_key_under_the_wall(walled: tuple[Engine, Engine, str]) -> None:
    """Under row-level security the probe must still seek the primary key: a condition the
    planner cannot prove leakproof is applied after the policy, i.e. on every row of the
    table (the 53× regression measured in bench/gateway/rls.py)."""
    _, app, _ = walled
    stmt = _store._POINT_PROBE["postgresql"].compile(dialect=app.dialect)
    params = {**stmt.params, "pid": tiny.P_AFF, "today": TODAY}
    with app.connect() as c:
        rls.set_scope(c, scope("retail", "customer_service", tiny.AFF))
        c.exec_driver_sql("SET LOCAL enable_seqscan = off")  # tiny tables: force the choice
        plan = "\n".join(r[0] for r in c.exec_driver_sql(f"EXPLAIN {stmt}", params))
        lines = [ln.strip() for ln in plan.splitlines()]
        seeks = [
            i for i, ln in enumerate(lines)
            if ln.split(" (")[0].rstrip().endswith(" on supply_points") and "Index" in ln
            and i + 1 < len(lines) and lines[i + 1].startswith("Index Cond:")
            and "supply_point_id" in lines[i + 1] and ">=" not in lines[i + 1]
        ]  # fmt: skip
        assert seeks, plan
        c.exec_driver_sql("SET LOCAL enable_seqscan = on")
        assert _store.probe_point(c, tiny.P_AFF, TODAY) is not None


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from gridwall.app.cli import main

    with pytest.raises(SystemExit) as e:
        main(argv)
    out = capsys.readouterr()
    code = e.value.code
    assert isinstance(code, int)
    return code, out.out + out.err


def test_check_wall_cli_passes_then_names_a_weakening(
    walled: tuple[Engine, Engine, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`gridwall store check-wall`: exit 0 on a standing wall, exit 1 naming each weakening."""
    owner, app, _ = walled
    app_url = app.url.render_as_string(hide_password=False)
    code, out = _cli(["store", "check-wall", "--db", app_url], capsys)
    assert code == 0, out
    assert "the wall stands" in out
    with owner.begin() as c:
        c.exec_driver_sql("ALTER TABLE fit_contracts NO FORCE ROW LEVEL SECURITY")
    code, out = _cli(["store", "check-wall", "--db", app_url], capsys)
    assert code == 1
    assert "weak: table fit_contracts: row-level security is not forced" in out
    # the owner (the tests' superuser) is a role that can bypass the wall
    owner_url = owner.url.render_as_string(hide_password=False)
    code, out = _cli(["store", "check-wall", "--db", owner_url], capsys)
    assert code == 1 and "superuser" in out


def test_check_wall_cli_refuses_sqlite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    upgrade(url)
    code, out = _cli(["store", "check-wall", "--db", url], capsys)
    assert code == 1 and "no row-level security" in out


def test_an_owner_subject_to_the_wall_is_named(walled: tuple[Engine, Engine, str]) -> None:
    """The wall's SECURITY DEFINER functions read the forced tables as their owner: an owner
    without BYPASSRLS is named (its reads would be filtered by the policy calling them)."""
    owner, app, role = walled
    weak = f"gw_weak_{uuid.uuid4().hex[:8]}"
    with owner.begin() as c:
        c.exec_driver_sql(f'CREATE ROLE "{weak}" NOSUPERUSER NOBYPASSRLS')
        c.exec_driver_sql(f'ALTER FUNCTION public.{rls.POINT_FUNCTION}(varchar) OWNER TO "{weak}"')
    try:
        with app.connect() as c:
            problems = rls.check_wall(c, role)
        assert any(
            f"function {rls.POINT_FUNCTION}: its owner {weak} is subject" in p for p in problems
        ), problems
    finally:
        with owner.begin() as c:
            c.exec_driver_sql(
                f"ALTER FUNCTION public.{rls.POINT_FUNCTION}(varchar) OWNER TO postgres"
            )
            c.exec_driver_sql(f'DROP ROLE "{weak}"')


def test_the_upgrade_from_0003_keeps_the_wall(walled: tuple[Engine, Engine, str]) -> None:
    from alembic import command

    from gridwall.store.db import alembic_config

    owner, app, role = walled
    url = owner.url.render_as_string(hide_password=False)
    with owner.begin() as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "customer_0003")
    with owner.connect() as c:
        qual = c.exec_driver_sql("SELECT qual FROM pg_policies WHERE tablename = 'supply_points'")
        assert rls.ALL_FUNCTION in str(qual.scalar_one())
    upgrade(url, owner)
    with app.connect() as c:
        assert rls.check_wall(c, role) == []
    assert read_as(app, scope("retail", "sales", tiny.IND)) == {
        tiny.P_IND, tiny.P_FORMER, tiny.P_MOVED}  # fmt: skip
    assert read_as(app, None) == set()


def _point_function_calls(conn: Connection) -> int:
    """Calls of the point function so far in this transaction (``track_functions``)."""
    n = conn.execute(
        text(
            "SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions "
            "WHERE schemaname = 'public' AND funcname = :f"
        ),
        {"f": rls.POINT_FUNCTION},
    ).scalar_one()
    return int(n)


def test_a_probe_calls_the_point_function_once(walled: tuple[Engine, Engine, str]) -> None:
    """A retailer's read of its own customer: the current contract row tests itself
    (``customer_0005``), so the probe calls the point function once — for the point's
    ``supply_points`` row — not once more in each of its four current-contract subqueries.
    Counted, not timed: the figure cannot drift with the machine's load."""
    owner, app, role = walled
    with owner.begin() as c:  # track_functions is for superusers to set; the owner sets it
        c.exec_driver_sql(f"ALTER ROLE \"{role}\" SET track_functions = 'all'")
    with app.connect() as conn:
        rls.set_scope(conn, scope("retail", "customer_service", tiny.AFF))
        before = _point_function_calls(conn)
        assert _store.probe_point(conn, tiny.P_AFF, TODAY) is not None
        assert _point_function_calls(conn) - before == 1
        # a point it does not supply: the contract rows fall through to the function, which
        # says no (the answer is the wall's, the shortcut only spares calls)
        before = _point_function_calls(conn)
        assert _store.probe_point(conn, tiny.P_IND, TODAY) is None
        assert _point_function_calls(conn) - before >= 1


def test_a_weakened_own_row_shortcut_is_caught(walled: tuple[Engine, Engine, str]) -> None:
    """A migration that "simplifies" the contract rows' own test (no date check: any
    contract the retailer ever held) fails ``check_wall``, and the behaviour shows why:
    the former supplier sees the contract rows of a customer that has left it."""
    owner, app, role = walled
    weak = rls.POLICY_USING_CONTRACTS.replace(rls.OWN_ROW_CURRENT, "")
    assert weak != rls.POLICY_USING_CONTRACTS
    with owner.begin() as c:
        c.exec_driver_sql(f"ALTER POLICY {rls.POLICY_NAME} ON supply_contracts USING {weak}")
    with app.connect() as c:
        problems = rls.check_wall(c, role)
    assert any(
        p.startswith("table supply_contracts: policy gridwall_wall: USING") for p in problems
    )
    assert tiny.P_FORMER in read_as(app, scope("retail", "customer_service", tiny.AFF))


def test_the_downgrade_to_0004_and_back_keeps_the_wall(walled: tuple[Engine, Engine, str]) -> None:
    from alembic import command

    from gridwall.store.db import alembic_config

    owner, app, role = walled
    url = owner.url.render_as_string(hide_password=False)
    expected = {tiny.P_IND, tiny.P_FORMER, tiny.P_MOVED}
    with owner.begin() as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "customer_0004")
    with owner.connect() as c:
        qual = c.exec_driver_sql(
            "SELECT qual FROM pg_policies WHERE tablename = 'supply_contracts'"
        ).scalar_one()
    assert "retailer_code" not in str(qual)  # customer_0004's policy again
    assert read_as(app, scope("retail", "sales", tiny.IND)) == expected
    upgrade(url, owner)
    with app.connect() as c:
        assert rls.check_wall(c, role) == []
    assert read_as(app, scope("retail", "sales", tiny.IND)) == expected
    assert read_as(app, None) == set()


CANARY_POINT = f"{CANARY_POINT_ID_STEM}001"


def test_the_canary_fence_holds_in_sql(walled: tuple[Engine, Engine, str]) -> None:
    """Canary rows are fenced in SQL too: a canary point (copied from a real one, supplied
    by the same retailer) is read by canary callers only, and a canary caller reads no real
    row, whatever its organisation, purpose or contracts — even NW 託送, which sees every
    point. A transaction that does not say whether its caller is a canary reads nothing."""
    owner, app, _ = walled
    cols = "pref, city, town, banchi, building, room, contract_name, phone, voltage, status"
    with owner.begin() as c:
        c.execute(
            text(
                f"INSERT INTO supply_points (supply_point_id, meter_id, {cols}) "
                f"SELECT :cid, 'CNRY-M-TEST', {cols} FROM supply_points WHERE supply_point_id = :p"
            ),
            {"cid": CANARY_POINT, "p": tiny.P_AFF},
        )
        c.execute(
            text(
                "INSERT INTO supply_contracts (supply_point_id, retailer_code, start_date, "
                "end_date, kind) SELECT :cid, retailer_code, start_date, end_date, kind "
                "FROM supply_contracts WHERE supply_point_id = :p"
            ),
            {"cid": CANARY_POINT, "p": tiny.P_AFF},
        )
    nw, aff = scope("nw", "takuso"), scope("retail", "customer_service", tiny.AFF)
    assert read_as(app, nw) == set(EVERY_POINT)
    assert read_as(app, aff) == {tiny.P_AFF, tiny.P_OTHER_AREA}
    assert read_as(app, replace(nw, canary=True)) == {CANARY_POINT}
    assert read_as(app, replace(aff, canary=True)) == {CANARY_POINT}
    assert read_as(app, replace(scope("retail", "sales", tiny.IND), canary=True)) == set()
    with app.connect() as conn:  # the canary setting left out: no row at all
        rls.set_scope(conn, nw)
        conn.exec_driver_sql("SELECT set_config('gridwall.canary', '', true)")
        assert every_read(conn) == set()
