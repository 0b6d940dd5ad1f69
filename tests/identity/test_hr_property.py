"""Property: no sequence of HR events leaves an NW account usable by someone not at NW now."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridwall.identity import IdentityConfig, IdentityService, LoginRefused, apply_hr_changes
from gridwall.identity._hr import HrRow
from gridwall.identity._passwords import TEST_PARAMS
from gridwall.interfaces.facts import AccountState, DeviceOwner
from gridwall.store import Base, make_engine

from .conftest import T0, RecordingSink, World

ORGS = ["nw", "retail:A0001", "retail:B0002", "contractor:C1", "regulator", None]  # None = leave
PEOPLE = 3
SPAN = 60 * 24 * 20  # minutes


def _world(tmp: str) -> World:
    engine = make_engine(f"sqlite:///{Path(tmp) / 'p.db'}")
    Base.metadata.create_all(
        engine, tables=[t for t in Base.metadata.sorted_tables if t.name.startswith("idn_")]
    )
    long = timedelta(days=1000)
    svc = IdentityService(
        engine,
        RecordingSink(),
        IdentityConfig(hash_params=TEST_PARAMS, idle_timeout=long, absolute_timeout=long),
        retailer_kinds={"A0001": "affiliated", "B0002": "independent"},
    )
    w = World(svc, svc.audit, engine)  # type: ignore[arg-type]
    w.add_terminal("t-nw", "nw", "nw_terminal")
    for i in range(PEOPLE):
        w.add_user(f"p{i}", "nw", "takuso_operator", f"a{i}")
    return w


events_st = st.lists(
    st.tuples(st.integers(0, PEOPLE - 1), st.sampled_from(ORGS), st.integers(1, SPAN)),
    max_size=10,
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=events_st,
    import_at=st.integers(0, SPAN),
    probes=st.lists(st.integers(0, SPAN + 10), min_size=1, max_size=6),
)
def test_random_hr_histories_never_leave_nw_access_to_non_nw_people(
    events: list[tuple[int, str | None, int]], import_at: int, probes: list[int]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        w = _world(tmp)
        tokens = {f"a{i}": w.login(f"a{i}", "t-nw") for i in range(PEOPLE)}
        # the model: each person's org over time (starts at NW); drop impossible events
        timeline: dict[int, list[tuple[datetime, str | None]]] = {
            i: [(T0 - timedelta(days=30), "nw")] for i in range(PEOPLE)
        }
        rows: list[HrRow] = []
        used: set[tuple[int, int]] = set()
        for line, (i, org, minute) in enumerate(sorted(events, key=lambda e: e[2]), start=2):
            if (i, minute) in used or (org is None and timeline[i][-1][1] is None):
                continue
            used.add((i, minute))
            at = T0 + timedelta(minutes=minute)
            timeline[i].append((at, org))
            rows.append(
                HrRow(
                    line,
                    f"p{i}",
                    None,
                    org,
                    None,
                    "sales" if org and org.startswith("retail") else "takuso_operator",
                    at,
                    "leave" if org is None else "transfer",
                )
            )
        apply_hr_changes(w.svc, rows, "hr.csv", T0 + timedelta(minutes=import_at))

        def org_at(i: int, t: datetime) -> str | None:
            return [o for at, o in timeline[i] if at <= t][-1]

        def always_nw(i: int, t: datetime) -> bool:
            return all(o == "nw" for at, o in timeline[i] if at <= t)

        for minute in sorted(probes):
            t = T0 + timedelta(minutes=minute)
            for i in range(PEOPLE):
                try:
                    p, term = w.svc.authenticate(tokens[f"a{i}"], w.term("t-nw", at=t), t)
                    usable = (
                        p.facts.account_state is AccountState.ACTIVE
                        and term.facts.owner is DeviceOwner.SAME_ORG
                        and term.facts.valid
                    )
                except LoginRefused:
                    usable = False
                assert not usable or org_at(i, t) == "nw", (i, t, timeline[i])
                assert usable == always_nw(i, t), (i, t, timeline[i])
        w.engine.dispose()
