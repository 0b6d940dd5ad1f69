"""Loading the dataset's persons, accounts and devices: idempotent, strict, never weakening."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from gridwall.dataset import ACCOUNTS, DEVICES, PERSONS, iter_rows
from gridwall.errors import InputError
from gridwall.identity import IdentityConfig, IdentityService, LoginRefused, load_reference
from gridwall.identity._keys import TERMINAL_PREFIX, load_key_file, sign_token
from gridwall.identity._models import Account, Assignment, LegacyAccount, Person
from gridwall.identity._models import Terminal as TerminalRow
from gridwall.identity._passwords import TEST_PARAMS
from gridwall.store import make_engine, upgrade

from .conftest import T0, RecordingSink

PERSONS_CSV = """person_id,name,org,department,role,valid_from,valid_to
P001,山田 太郎,nw,託送部,takuso_operator,2020-04-01,2026-03-01
P001,山田 太郎,retail:A0001,営業部,sales,2026-03-01,
P002,佐藤 花子,retail:B0002,営業部,call_center,2021-04-01,
P003,鈴木 一郎,contractor:IT01,保守,it_maintenance,2022-01-01,
"""
ACCOUNTS_CSV = """account_id,system,holder_person_id,kind,org,created_at,revoked_at
nw-p001,takuso,P001,personal,nw,2020-04-01T09:00:00+09:00,
ret-p002,gridwall,P002,personal,retail:B0002,2021-04-01T09:00:00+09:00,
SHARED01,takuso,,shared,nw,2019-01-01T09:00:00+09:00,
DSUP01,takuso,,disaster_support,retail:A0001,2019-01-01T09:00:00+09:00,
"""
DEVICES_CSV = """device_id,owner_org,kind,location,valid_from,valid_to
T-NW-1,nw,nw_terminal,本店3F,2020-01-01,
T-RT-1,retail:A0001,retail_terminal,営業所,2020-01-01,
T-DS-1,retail:B0002,disaster_terminal,災害対策室,2020-01-01,2030-01-01
"""


def _write(
    d: Path, persons: str = PERSONS_CSV, accounts: str = ACCOUNTS_CSV, devices: str = DEVICES_CSV
) -> None:
    (d / "persons.csv").write_text(persons, "utf-8")
    (d / "accounts.csv").write_text(accounts, "utf-8")
    (d / "devices.csv").write_text(devices, "utf-8")


def _load(engine: Engine, d: Path) -> int:
    n = 0
    with engine.begin() as conn:  # the gateway loader's single transaction
        for table in (PERSONS, ACCOUNTS, DEVICES):
            path = d / f"{table.name}.csv"
            n += load_reference(conn, table.name, path.name, iter_rows(path, table))
    return n


def _snapshot(engine: Engine) -> list[object]:
    out: list[object] = []
    with engine.connect() as c:
        for t in (
            "idn_persons",
            "idn_assignments",
            "idn_accounts",
            "idn_legacy_accounts",
            "idn_terminals",
            "idn_entitlements",
        ):
            rows = c.execute(text(f"SELECT * FROM {t}")).all()
            out.append(sorted(tuple(str(x) for x in r) for r in rows))
    return out


@pytest.fixture
def engine(db_url: str) -> Engine:
    upgrade(db_url)
    return make_engine(db_url)


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Engine:
    upgrade(sqlite_url)
    return make_engine(sqlite_url)


def test_load_is_idempotent_and_flags_shared_ids(engine: Engine, tmp_path: Path) -> None:
    _write(tmp_path)
    assert _load(engine, tmp_path) > 0
    snap = _snapshot(engine)
    assert _load(engine, tmp_path) == 0
    assert _snapshot(engine) == snap
    with Session(engine) as s:
        assert {a.account_id for a in s.scalars(select(Account))} == {"nw-p001", "ret-p002"}
        legacy = {a.account_id: a for a in s.scalars(select(LegacyAccount))}
        assert set(legacy) == {"SHARED01", "DSUP01"}
        assert "never usable" in legacy["DSUP01"].flag
        assert len(list(s.scalars(select(Assignment).where(Assignment.person_id == "P001")))) == 2
        assert s.get(Person, "P001").name == "山田 太郎"  # type: ignore[union-attr]
        assert s.get(TerminalRow, "T-DS-1").valid_to is not None  # type: ignore[union-attr]


def test_loaded_accounts_follow_hr_history(engine: Engine, tmp_path: Path) -> None:
    _write(tmp_path)
    _load(engine, tmp_path)
    svc = IdentityService(
        engine,
        RecordingSink(),
        IdentityConfig(hash_params=TEST_PARAMS),
        retailer_kinds={"A0001": "affiliated", "B0002": "independent"},
    )
    svc.set_password("nw-p001", "a sufficiently long passphrase", T0)
    svc.set_password("ret-p002", "a sufficiently long passphrase", T0)
    keys = {d: svc.enroll_terminal(d, T0) for d in ("T-NW-1", "T-RT-1")}
    svc.config = IdentityConfig(hash_params=TEST_PARAMS, require_totp=False)

    def term(d: str) -> str:
        _, _, k = load_key_file(keys[d])
        return sign_token(TERMINAL_PREFIX, k, d, T0)

    # P001 moved from NW to the affiliated retailer on 2026-03-01: the NW ID is dead
    with pytest.raises(LoginRefused) as e:
        svc.login("nw-p001", "a sufficiently long passphrase", None, term("T-NW-1"), T0)
    assert "transferred" in e.value.reason
    # shared legacy IDs never log in
    with pytest.raises(LoginRefused) as e:
        svc.login("SHARED01", "a sufficiently long passphrase", None, term("T-NW-1"), T0)
    assert "legacy" in e.value.reason
    # an independent retailer's agent on the affiliated retailer's terminal: refused (C②)
    with pytest.raises(LoginRefused) as e:
        svc.login("ret-p002", "a sufficiently long passphrase", None, term("T-RT-1"), T0)
    assert "belongs to retail:A0001" in e.value.reason


def test_reload_never_revives_a_revoked_account(engine: Engine, tmp_path: Path) -> None:
    _write(tmp_path)
    _load(engine, tmp_path)
    svc = IdentityService(engine, RecordingSink(), IdentityConfig(hash_params=TEST_PARAMS))
    svc.revoke_account("ret-p002", T0, "admin")
    _load(engine, tmp_path)
    with Session(engine) as s:
        a = s.get(Account, "ret-p002")
        assert a is not None and a.revoked_at == T0


@pytest.mark.parametrize(
    ("table", "csv_text", "line", "field", "words"),
    [
        (
            "persons",
            PERSONS_CSV + "P002,佐藤 花子,nw,x,sales,2023-01-01,\n",
            6,
            "valid_from",
            "overlap",
        ),
        ("persons", PERSONS_CSV + "P009,X,somewhere,x,sales,2023-01-01,\n", 6, "org", "must be"),
        (
            "persons",
            PERSONS_CSV + "P009,X,nw,x,sales,2023-01-01,2022-01-01\n",
            6,
            "valid_to",
            "before valid_from",
        ),
        (
            "accounts",
            ACCOUNTS_CSV + "nobody-1,takuso,,personal,nw,,\n",
            6,
            "holder_person_id",
            "needs a holder",
        ),
        (
            "accounts",
            ACCOUNTS_CSV + "x-1,takuso,P404,personal,nw,,\n",
            6,
            "holder_person_id",
            "unknown person",
        ),
        (
            "accounts",
            ACCOUNTS_CSV + "nw-p001,takuso,P002,personal,nw,,\n",
            6,
            "account_id",
            "repeated",
        ),
        (
            "devices",
            DEVICES_CSV + "T-X,retail:A0001,nw_terminal,,2020-01-01,\n",
            5,
            "owner_org",
            "cannot belong",
        ),
    ],
)
def test_bad_rows_name_file_line_field(
    sqlite_engine: Engine,
    tmp_path: Path,
    table: str,
    csv_text: str,
    line: int,
    field: str,
    words: str,
) -> None:
    engine = sqlite_engine
    _write(tmp_path, **{table: csv_text})
    with pytest.raises(InputError) as e:
        _load(engine, tmp_path)
    assert e.value.where is not None
    assert (e.value.where.file, e.value.where.line, e.value.where.field) == (
        f"{table}.csv",
        line,
        field,
    )
    assert words in str(e.value)
    with Session(engine) as s:  # all or nothing
        assert s.scalars(select(Person)).first() is None


def test_account_cannot_change_holder(engine: Engine, tmp_path: Path) -> None:
    _write(tmp_path)
    _load(engine, tmp_path)
    _write(tmp_path, accounts=ACCOUNTS_CSV.replace("nw-p001,takuso,P001", "nw-p001,takuso,P002"))
    with pytest.raises(InputError, match="never re-issued"):
        _load(engine, tmp_path)


def test_overlap_with_stored_assignment(engine: Engine, tmp_path: Path) -> None:
    _write(tmp_path)
    _load(engine, tmp_path)
    extra = PERSONS_CSV.replace("2021-04-01,\n", "2021-04-01,\n", 1)
    extra += "P001,山田 太郎,nw,託送部,takuso_operator,2026-06-01,\n"
    _write(tmp_path, persons=extra)
    with pytest.raises(InputError, match="overlap"):
        _load(engine, tmp_path)


def test_valid_to_is_the_last_day_and_reload_after_hr_change(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    from gridwall.identity import apply_hr_changes
    from gridwall.identity._hr import HrRow
    from gridwall.identity._state import assignment_at

    persons = PERSONS_CSV.replace("2020-04-01,2026-03-01\n", "2020-04-01,2026-02-28\n")
    _write(tmp_path, persons=persons)
    _load(sqlite_engine, tmp_path)
    with Session(sqlite_engine) as s:
        # inclusive last day: still NW at 23:59 JST on 2026-02-28, retail from 00:00 03-01
        last = datetime(2026, 2, 28, 14, 59, tzinfo=UTC)
        assert assignment_at(s, "P001", last).org == "nw"  # type: ignore[union-attr]
        first = datetime(2026, 2, 28, 15, 0, tzinfo=UTC)
        assert assignment_at(s, "P001", first).org == "retail:A0001"  # type: ignore[union-attr]
    # HR then moves P002; re-loading the older extract neither fails nor undoes the move
    svc = IdentityService(sqlite_engine, RecordingSink(), IdentityConfig(hash_params=TEST_PARAMS))
    eff = datetime(2026, 5, 1, tzinfo=UTC)
    apply_hr_changes(
        svc, [HrRow(2, "P002", None, "retail:A0001", None, "sales", eff, "transfer")], "hr.csv", T0
    )
    before = _snapshot(sqlite_engine)
    _load(sqlite_engine, tmp_path)
    assert _snapshot(sqlite_engine) == before
