"""A fast bulk dataset for the monitor benchmark: DuckDB ``range()`` straight into Parquet.

``gridwall synth`` renders every point and person faithfully and is far too slow for 10⁸
events; the benchmark needs volume with the right *shape*: 10⁶ supply points held by 40
retailers (0.1 % last-resort supply), 4 000 staff (half NW 託送, half retail), one account and
one terminal each, 30 days of time-ordered events — NW staff viewing and searching any point,
retail staff their own customers — and a sprinkle (1 in 10⁵) of retail views of other
retailers' customers so the rules have something to find.

    uv run python bench/monitor/gen.py OUT_DIR --events 10000000
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

POINTS = 1_000_000
RETAILERS = 40
STAFF = 4000  # persons 0..1999 NW, 2000..3999 retail (retailer = k % 40)
DAYS = 30


def generate(out: Path, events: int, *, threads: int = 2) -> None:
    import duckdb

    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"SET threads={threads}")
    con.execute("SET TimeZone='UTC'")
    con.execute("SET memory_limit='4GB'")
    rc = f"'A' || lpad(CAST(({{x}}) % {RETAILERS} AS VARCHAR), 4, '0')"

    def copy(name: str, sql: str) -> None:
        con.execute(f"COPY ({sql}) TO '{out / name}.parquet' (FORMAT parquet)")

    copy(
        "retailers",
        f"""
        SELECT {rc.format(x="i")} AS retailer_code, 'retailer ' || i AS name,
               CASE WHEN i = 0 THEN 'affiliated' ELSE 'independent' END AS kind
        FROM range({RETAILERS}) t(i)""",
    )
    copy(
        "supply_points",
        f"""
        SELECT '06' || lpad(CAST(i AS VARCHAR), 20, '0') AS supply_point_id, '大阪府' AS pref,
               '市' || (i % 30) AS city, '町' || (i % 500) AS town, '1-' || (i % 99) AS banchi,
               NULL AS building, NULL AS room, '名義' || i AS contract_name,
               '06-0000-0000' AS phone,
               'low' AS voltage, 'M' || i AS meter_id, 'active' AS status
        FROM range({POINTS}) t(i)""",
    )
    copy(
        "supply_contracts",
        f"""
        SELECT '06' || lpad(CAST(i AS VARCHAR), 20, '0') AS supply_point_id,
               CASE WHEN i % 1000 = 999 THEN 'N0006' ELSE {rc.format(x="i")} END AS retailer_code,
               DATE '2020-01-01' AS start_date, NULL::DATE AS end_date,
               CASE WHEN i % 1000 = 999 THEN 'lrs' ELSE 'retail' END AS kind
        FROM range({POINTS}) t(i)""",
    )
    copy(
        "switching",
        f"""
        SELECT 'SW' || i AS application_id, '06' || lpad(CAST(i AS VARCHAR), 20, '0')
               AS supply_point_id, 'switch' AS kind, {rc.format(x="i")} AS from_retailer,
               {rc.format(x="i + 1")} AS to_retailer,
               TIMESTAMPTZ '2026-04-01 10:00:00+09' + INTERVAL (i % {DAYS}) DAY AS applied_at,
               DATE '2026-05-15' AS effective_date
        FROM range(0, {POINTS}, 97) t(i)""",
    )
    org = f"CASE WHEN k < {STAFF // 2} THEN 'nw' ELSE 'retail:' || {rc.format(x='k')} END"
    copy(
        "persons",
        f"""
        SELECT 'P' || k AS person_id, 'person ' || k AS name, {org} AS org, 'dept' AS department,
               CASE WHEN k < {STAFF // 2} THEN
                    CASE WHEN k % 3 = 0 THEN 'call_center' ELSE 'takuso_operator' END
                    ELSE CASE WHEN k % 2 = 0 THEN 'call_center' ELSE 'sales' END END AS role,
               DATE '2015-04-01' AS valid_from, NULL::DATE AS valid_to
        FROM range({STAFF}) t(k)""",
    )
    copy(
        "accounts",
        f"""
        SELECT 'U' || k AS account_id, 'takuso' AS system, 'P' || k AS holder_person_id,
               'personal' AS kind, {org} AS org,
               TIMESTAMPTZ '2015-04-01 09:00:00+09' AS created_at, NULL::TIMESTAMPTZ AS revoked_at
        FROM range({STAFF}) t(k)""",
    )
    copy(
        "devices",
        f"""
        SELECT 'D' || k AS device_id, {org} AS owner_org,
               CASE WHEN k < {STAFF // 2} THEN 'nw_terminal' ELSE 'retail_terminal' END AS kind,
               'office' AS location, DATE '2015-04-01' AS valid_from, NULL::DATE AS valid_to
        FROM range({STAFF}) t(k)""",
    )
    copy(
        "agreements",
        """
        SELECT 'AG1' AS agreement_id, 'contractor:C02' AS counterparty_org,
               'meter_reading' AS purpose, ['contract_name', 'address'] AS fields,
               []::VARCHAR[] AS area, DATE '2024-04-01' AS valid_from, NULL::DATE AS valid_to""",
    )
    copy(
        "disasters",
        """
        SELECT 'DS1' AS disaster_id, ['大阪府/市1'] AS area,
               TIMESTAMPTZ '2025-11-10 06:00:00+09' AS start_at,
               TIMESTAMPTZ '2025-11-14 18:00:00+09' AS end_at""",
    )
    copy(
        "fit_contracts",
        f"""
        SELECT '06' || lpad(CAST(i AS VARCHAR), 20, '0') AS supply_point_id, 'gen' AS
               generator_name, 4.5 AS capacity_kw, DATE '2015-01-01' AS start_date,
               NULL::DATE AS end_date
        FROM range(0, {POINTS}, 500) t(i)""",
    )
    # events: time-ordered over 30 days of working hours (08:30–18:30 JST)
    span = DAYS * 36000
    point_nw = f"hash(i * 7 + 1) % {POINTS}"
    own0 = f"(hash(i * 7 + 1) % {POINTS // RETAILERS}) * {RETAILERS} + (k % {RETAILERS})"
    own = f"({own0}) - CASE WHEN ({own0}) % 1000 = 999 THEN {RETAILERS} ELSE 0 END"
    other = f"(hash(i * 7 + 1) % {POINTS})"
    pid = "'06' || lpad(CAST(({x}) AS VARCHAR), 20, '0')"
    con.execute(f"""
        COPY (
        WITH base AS (
            SELECT i, CAST(hash(i) % {STAFF} AS BIGINT) AS k, hash(i * 3 + 2) % 100 AS r,
                   CAST(i * {span} // {events} AS BIGINT) AS s
            FROM range({events}) t(i))
        SELECT 'e' || i AS event_id,
               TIMESTAMPTZ '2026-03-31 23:30:00+00' + INTERVAL (s // 36000) DAY
                   + INTERVAL (s % 36000) SECOND AS ts,
               'takuso' AS system, 'U' || k AS account_id, 'D' || k AS device_id,
               '10.0.' || (k // 250) || '.' || (k % 250) AS source_ip,
               'S' || k || '-' || (s // 36000) AS session_id,
               CASE WHEN r < 4 THEN 'login' WHEN r < 20 THEN 'search' ELSE 'view' END AS action,
               CASE WHEN r < 4 THEN 'login' WHEN r < 20 THEN 'point_search'
                    ELSE 'point_detail' END AS screen,
               CASE WHEN r < 4 THEN NULL WHEN k < {STAFF // 2} THEN 'takuso'
                    ELSE 'customer_service' END AS purpose,
               CASE WHEN r < 4 THEN []::VARCHAR[]
                    WHEN k < {STAFF // 2} THEN [{pid.format(x=point_nw)}]
                    WHEN hash(i * 11) % 100000 = 0 THEN [{pid.format(x=other)}]
                    ELSE [{pid.format(x=own)}] END AS supply_point_ids,
               NULL::VARCHAR AS query,
               CASE WHEN r < 4 THEN []::VARCHAR[]
                    WHEN k < {STAFF // 2} THEN ['contract_name', 'address', 'phone', 'retailer']
                    ELSE ['contract_name', 'usage'] END AS fields,
               CASE WHEN r < 4 THEN NULL ELSE 1 END AS result_count,
               NULL::VARCHAR AS recipient_org, 'allow' AS decision
        FROM base  -- range() order is kept (insertion order): time-ordered, no sort
        ) TO '{out / "events.parquet"}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)""")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--events", type=int, required=True)
    a = ap.parse_args()
    t0 = time.perf_counter()
    generate(a.out, a.events)
    print(f"gen: {a.events} events in {time.perf_counter() - t0:.1f} s → {a.out}")


if __name__ == "__main__":
    main()
