"""The second wall: PostgreSQL row-level security on the customer tables.

The gateway decides per field group in Python (Cedar). On PostgreSQL the customer tables
also carry row-level security, so that a bug in that path cannot hand a retailer a row of a
point it does not supply: every read the gateway makes runs in a transaction whose settings
(``set_config(..., true)``, gone at commit or rollback) name the caller — the same
authenticated facts the decision was made on, never the decision's output:

==========================  ====================================================
``gridwall.org_kind``       ``nw`` / ``retail`` / ``contractor`` / ``regulator``
``gridwall.org``            the organisation (``retail:R001``, ``contractor:IT1``)
``gridwall.org_code``       the retailer code of a retail caller
``gridwall.purpose``        the declared purpose
``gridwall.today``          the operator's calendar day (JST) of the request
``gridwall.now``            the request instant, naive UTC
``gridwall.canary``         ``yes`` for gridwall's own canary principals, else ``no``
==========================  ====================================================

and one function, :data:`POINT_FUNCTION` (``gridwall_rls_point``, PL/pgSQL), says which points
those settings may see at all (a coarse bound on what any permit in ``permits.cedar`` can release;
Cedar still decides the field groups):

* NW with a 託送 purpose (``takuso``, ``fit``, ``lrs_operations``): every point;
* a retailer for ``customer_service`` or ``sales``: the points it supplies today (a current
  ``retail`` contract with its code);
* a retailer for ``consent_usage``: the points for which the grants tables hold a live,
  unrevoked consent for that retailer;
* ``disaster_support`` (retailer or contractor): points in the prefecture of an approved
  declaration active now, while the organisation holds a live ``disaster_support``
  agreement covering that prefecture;
* a contractor for its agreement purposes: points in the prefectures of its live agreements
  for that purpose (an empty area is the whole service area);
* anything else, and settings that are unset: nothing.

Areas are checked at the prefecture level: the wall is coarser than the Python path (which
checks cities and wards), never finer, so it never refuses what the policy allows.

NW 託送 callers see every point, and the policy asks that first, written into the policy
itself (:data:`NW_ALL`), as an init plan evaluated once per table reference of a statement
(:data:`POLICY_USING`).

The policies (one ``SELECT`` policy per table, :data:`CUSTOMER_TABLES`) are created by the
migration ``customer_0002`` (re-installed faster by ``customer_0003``, ``customer_0004`` and
``customer_0005``, which lets a retailer's own current contract rows pass on a row-local test,
:data:`OWN_ROW`, so that a probe calls the point function once instead of five times),
which also ``FORCE``\\ s row-level security (the tables' owner is subject to it unless it has
``BYPASSRLS``; the role that owns the wall's functions and views must have it, or be a
superuser, because they read the tables as their owner) and creates the narrow views the
equal-footing lookup reads (:data:`LOOKUP_VIEW`, :data:`SUPPLY_VIEW`: no 契約名義, no phone, no
retailer) and the match-only holder-name check. No write policy exists: the application role
reads the customer tables, only the owner role (migrations, ``gridwall load``) writes them.

:func:`check_wall` inspects the catalogue (``pg_policies``, ``pg_class``, ``pg_roles``,
``pg_proc``) and names everything that would weaken the wall; :func:`grant_app_role` gives an
application role exactly the privileges it needs. SQLite has no such wall (one wall only).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, text

from gridwall.interfaces.facts import CANARY_POINT_ID_STEM

#: the tables whose rows the wall filters (each has a ``supply_point_id``)
CUSTOMER_TABLES = (
    "supply_points",
    "supply_contracts",
    "fit_contracts",
    "switching_applications",
    "usage_monthly",
)
#: the one policy each of them carries
POLICY_NAME = "gridwall_wall"
POINT_FUNCTION = "gridwall_rls_point"
ALL_FUNCTION = "gridwall_rls_all"
HOLDER_FUNCTION = "gridwall_holder_name_matches"
#: what the equal-footing lookup may read of every point (owner's view, no RLS filter)
LOOKUP_VIEW = "gridwall_lookup_points"
#: which contract kind a point is under, by day (no retailer code): for ``lrs_points``
SUPPLY_VIEW = "gridwall_point_supply"
#: the settings the gateway sets per transaction
SETTINGS = ("org_kind", "org", "org_code", "purpose", "today", "now", "canary")

NW_PURPOSES = ("takuso", "fit", "lrs_operations")
RETAIL_OWN_PURPOSES = ("customer_service", "sales")
CONTRACTOR_PURPOSES = ("system_maintenance", "meter_reading", "lrs_operations")


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


# The point function is PL/pgSQL, not SQL, for speed (measured in bench/gateway/rls.py): a
# non-inlinable SQL function starts an executor for its whole CASE — every branch's
# subqueries — on each call (≈ 55 µs a row here), while PL/pgSQL caches one small plan per
# branch and runs only the branch the caller's settings select. The settings are read
# once per call into variables; the queries below name those variables.
_VARS = """
DECLARE
  v_kind text := current_setting('gridwall.org_kind', true);
  v_org text := current_setting('gridwall.org', true);
  v_code text := coalesce(current_setting('gridwall.org_code', true), '');
  v_purpose text := current_setting('gridwall.purpose', true);
  v_today date := nullif(current_setting('gridwall.today', true), '')::date;
  v_now timestamp := nullif(current_setting('gridwall.now', true), '')::timestamp;
"""

# The point's prefecture, NFKC-normalised like the grants' area entries.
_PREF = (
    "(SELECT btrim(normalize(p.pref, NFKC)) FROM public.supply_points p "
    "WHERE p.supply_point_id = pid)"
)


def _agreement(purpose: str) -> str:
    return f"""EXISTS (
        SELECT 1 FROM public.grant_agreements a
        WHERE a.counterparty_org = v_org
          AND a.purpose = {purpose}
          AND a.valid_from <= v_today
          AND (a.valid_to IS NULL OR a.valid_to >= v_today)
          AND (a.ended_at IS NULL OR a.ended_at > v_now)
          AND (a.area = '' OR EXISTS (
                SELECT 1 FROM unnest(string_to_array(a.area, ';')) AS e(entry)
                WHERE split_part(e.entry, '/', 1) = {_PREF})))"""


_DISASTER = f"""EXISTS (
        SELECT 1 FROM public.grant_disasters d
        WHERE d.approved_at IS NOT NULL
          AND d.start_at <= v_now
          AND v_now < greatest(d.planned_end_at, d.hard_max_end_at)
          AND (d.ended_at IS NULL OR d.ended_at > v_now)
          AND EXISTS (
                SELECT 1 FROM unnest(string_to_array(d.area, ';')) AS e(entry)
                WHERE split_part(e.entry, '/', 1) = {_PREF}))
      AND {_agreement("'disaster_support'")}"""

_OWN = """EXISTS (
        SELECT 1 FROM public.supply_contracts c
        WHERE c.supply_point_id = pid
          AND c.retailer_code = v_code
          AND c.kind = 'retail'
          AND c.start_date <= v_today
          AND (c.end_date IS NULL OR c.end_date > v_today))"""

_CONSENT = """EXISTS (
        SELECT 1 FROM public.grant_consents k
        WHERE k.supply_point_id = pid
          AND k.retailer_code = v_code
          AND k.issued_at <= v_now
          AND v_now < k.expires_at
          AND (k.revoked_at IS NULL OR k.revoked_at > v_now))"""

#: the body of ``gridwall_rls_point(pid)``: may the transaction's caller see this point?
#: (NULL settings compare to NULL, and an IF on NULL takes no branch: unset reads nothing)
POINT_BODY = f"""{_VARS}
BEGIN
  IF v_kind = 'nw' THEN
    RETURN coalesce(v_purpose IN ({_in(NW_PURPOSES)}), false);
  ELSIF v_kind = 'retail' THEN
    IF v_code = '' THEN
      RETURN false;
    ELSIF v_purpose IN ({_in(RETAIL_OWN_PURPOSES)}) THEN
      RETURN {_OWN};
    ELSIF v_purpose = 'consent_usage' THEN
      RETURN {_CONSENT};
    ELSIF v_purpose = 'disaster_support' THEN
      RETURN {_DISASTER};
    END IF;
  ELSIF v_kind = 'contractor' THEN
    IF v_purpose IN ({_in(CONTRACTOR_PURPOSES)}) THEN
      RETURN {_agreement("v_purpose")};
    ELSIF v_purpose = 'disaster_support' THEN
      RETURN {_DISASTER};
    END IF;
  END IF;
  RETURN false;
END
"""

#: the body of ``gridwall_rls_all()`` (``customer_0002``/``customer_0003`` only; dropped by
#: ``customer_0004``): may the caller see every point (NW with a 託送 purpose)?
ALL_BODY = f"""
SELECT coalesce(current_setting('gridwall.org_kind', true) = 'nw'
  AND current_setting('gridwall.purpose', true) IN ({_in(NW_PURPOSES)}), false)
"""

#: may the caller see every point (NW with a 託送 purpose)? Written into the policy itself
#: (``customer_0004``): a policy is stored parsed, its functions and operators bound when it
#: is created, so nothing the caller sets (``search_path``) changes its meaning, and no
#: function is called for it. The policy asks it as ``(SELECT ...)``: an init plan, once per
#: table reference of a statement, so those reads skip the per-row point function entirely.
NW_ALL = (
    "coalesce(current_setting('gridwall.org_kind', true) = 'nw' AND "
    f"current_setting('gridwall.purpose', true) IN ({_in(NW_PURPOSES)}), false)"
)

#: the one policy expression of every customer table but ``supply_contracts`` (``customer_0004``)
POLICY_USING = f"((SELECT {NW_ALL}) OR public.{POINT_FUNCTION}(supply_point_id))"

#: is this ``supply_contracts`` row itself the caller's current retail contract, for a purpose
#: that shows a retailer its own customers? Then the point function would say yes too (its
#: ``_OWN`` branch finds this very row), so the policy need not call it: a row-local test, no
#: read (``customer_0005``). Every part is as in :data:`POINT_BODY` (``v_code = ''`` reads
#: nothing; an unset or empty day is NULL, and NULL is no), so it never allows a row the
#: function refuses. Ordered cheapest first: the row's own columns, then the settings.
_DAY = "nullif(current_setting('gridwall.today', true), '')::date"
OWN_ROW = (
    "(kind = 'retail' AND retailer_code = current_setting('gridwall.org_code', true) "
    "AND current_setting('gridwall.org_code', true) <> '' "
    "AND current_setting('gridwall.org_kind', true) = 'retail' "
    f"AND current_setting('gridwall.purpose', true) IN ({_in(RETAIL_OWN_PURPOSES)})"
    + (OWN_ROW_CURRENT := f" AND start_date <= {_DAY} AND (end_date IS NULL OR end_date > {_DAY})")
    + ")"
)
#: the policy expression of ``supply_contracts`` (``customer_0005``): the probe and every read
#: of a point's current contract read it in four subqueries, one contract row each; with
#: :data:`OWN_ROW` first a retailer's read of its own customer calls the point function once
#: per probe (for the ``supply_points`` row) instead of five times (measured in
#: ``bench/gateway/rls.py``; counted in ``tests/store/test_rls.py``)
POLICY_USING_CONTRACTS = (
    f"((SELECT {NW_ALL}) OR {OWN_ROW} OR public.{POINT_FUNCTION}(supply_point_id))"
)
#: the policy expression as ``customer_0002`` and ``customer_0003`` installed it: the NW
#: check was a SQL function with a pinned ``search_path``, which PostgreSQL cannot inline,
#: so each table reference of every read paid a function call (≈ 11 µs) for it
POLICY_USING_0003 = (
    f"((SELECT public.{ALL_FUNCTION}()) OR public.{POINT_FUNCTION}(supply_point_id))"
)

#: match-only check of a 契約名義 (never returns it): NFKC, no white space, lower case;
#: ``wanted`` comes normalised the same way by the caller
HOLDER_BODY = """
SELECT coalesce((
  SELECT lower(regexp_replace(normalize(p.contract_name, NFKC), '[[:space:]]', '', 'g')) = wanted
  FROM public.supply_points p WHERE p.supply_point_id = pid), false)
"""


def _point_function_sql() -> list[str]:
    return [
        # the point function reads the grants tables, which another branch creates
        "SET LOCAL check_function_bodies = false",
        f"CREATE OR REPLACE FUNCTION public.{POINT_FUNCTION}(pid varchar) RETURNS boolean "
        "LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER "
        f"SET search_path = pg_catalog, public AS $body${POINT_BODY}$body$",
        f"REVOKE ALL ON FUNCTION public.{POINT_FUNCTION}(varchar) FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION public.{POINT_FUNCTION}(varchar) TO PUBLIC",
    ]


def _all_function_sql() -> list[str]:
    return [
        f"CREATE OR REPLACE FUNCTION public.{ALL_FUNCTION}() RETURNS boolean "
        "LANGUAGE sql STABLE PARALLEL SAFE "
        f"SET search_path = pg_catalog, public AS $body${ALL_BODY}$body$",
        f"REVOKE ALL ON FUNCTION public.{ALL_FUNCTION}() FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION public.{ALL_FUNCTION}() TO PUBLIC",
    ]


def _objects_sql(using: str, overrides: Mapping[str, str] | None = None) -> list[str]:
    out = [
        f"CREATE OR REPLACE FUNCTION public.{HOLDER_FUNCTION}(pid varchar, wanted text) "
        "RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER "
        f"SET search_path = pg_catalog, public AS $body${HOLDER_BODY}$body$",
        f"CREATE OR REPLACE VIEW public.{LOOKUP_VIEW} AS SELECT supply_point_id, pref, city, "
        "town, banchi, building, room, voltage, meter_id, status FROM public.supply_points",
        f"CREATE OR REPLACE VIEW public.{SUPPLY_VIEW} AS SELECT supply_point_id, kind, "
        "start_date, end_date FROM public.supply_contracts",
    ]
    for t in CUSTOMER_TABLES:
        out += [
            f"ALTER TABLE public.{t} ENABLE ROW LEVEL SECURITY",
            f"ALTER TABLE public.{t} FORCE ROW LEVEL SECURITY",
            f"DROP POLICY IF EXISTS {POLICY_NAME} ON public.{t}",
            f"CREATE POLICY {POLICY_NAME} ON public.{t} AS PERMISSIVE FOR SELECT TO PUBLIC "
            f"USING {(overrides or {}).get(t, using)}",
        ]
    return out


#: the canary fence (``customer_0005``, issue 17): a canary caller (``gridwall.canary`` is
#: ``yes``) reads only the reserved canary points, any other caller (``no``) none of them, and a
#: transaction that did not say (unset, empty, anything else) reads no row at all. Row-local
#: (the row's own ID against the reserved range; IDs are 22 digits, checked at load), asked
#: before anything else, so no grant, contract or NW purpose lets a canary reach real data.
FENCE = (
    "(current_setting('gridwall.canary', true) = CASE WHEN starts_with(supply_point_id, "
    f"'{CANARY_POINT_ID_STEM}') THEN 'yes' ELSE 'no' END)"
)


def _fenced(using: str) -> str:
    return f"({FENCE} AND {using})"


#: the policies of the current wall (``customer_0005``): every table's is :data:`FENCE` and
#: :data:`POLICY_USING`, but ``supply_contracts``'s is :data:`FENCE` and
#: :data:`POLICY_USING_CONTRACTS`
POLICY_OVERRIDES = {
    **{t: _fenced(POLICY_USING) for t in CUSTOMER_TABLES},
    "supply_contracts": _fenced(POLICY_USING_CONTRACTS),
}


def install_sql() -> list[str]:
    """The statements that install the current wall (PostgreSQL only), in order: run by
    ``customer_0005``, over ``customer_0004``'s wall — every statement is idempotent; only
    the ``supply_contracts`` policy changes (:data:`POLICY_USING_CONTRACTS`)."""
    return [
        *_point_function_sql(),
        *_objects_sql(POLICY_USING, POLICY_OVERRIDES),
        f"DROP FUNCTION IF EXISTS public.{ALL_FUNCTION}()",
    ]


def install_sql_0004() -> list[str]:
    """The wall as ``customer_0004`` installed it (frozen: that migration, and
    ``customer_0005``'s downgrade, must keep installing exactly this): the NW check moves
    from the function ``gridwall_rls_all`` into the policies, which frees the function to
    be dropped."""
    return [
        *_point_function_sql(),
        *_objects_sql(POLICY_USING),
        f"DROP FUNCTION IF EXISTS public.{ALL_FUNCTION}()",
    ]


def install_sql_0003() -> list[str]:
    """The wall as ``customer_0002`` and ``customer_0003`` installed it (frozen: those
    migrations, and ``customer_0004``'s downgrade, must keep installing exactly this)."""
    return [*_point_function_sql(), *_all_function_sql(), *_objects_sql(POLICY_USING_0003)]


def uninstall_sql() -> list[str]:
    out = []
    for t in CUSTOMER_TABLES:
        out += [
            f"DROP POLICY IF EXISTS {POLICY_NAME} ON public.{t}",
            f"ALTER TABLE public.{t} NO FORCE ROW LEVEL SECURITY",
            f"ALTER TABLE public.{t} DISABLE ROW LEVEL SECURITY",
        ]
    out += [
        f"DROP VIEW IF EXISTS public.{SUPPLY_VIEW}",
        f"DROP VIEW IF EXISTS public.{LOOKUP_VIEW}",
        f"DROP FUNCTION IF EXISTS public.{HOLDER_FUNCTION}(varchar, text)",
        f"DROP FUNCTION IF EXISTS public.{ALL_FUNCTION}()",
        f"DROP FUNCTION IF EXISTS public.{POINT_FUNCTION}(varchar)",
    ]
    return out


def _digest(body: str) -> str:
    return hashlib.sha256(" ".join(body.split()).encode()).hexdigest()


# ---------------------------------------------------------------------------
# Per-transaction settings


@dataclass(frozen=True, slots=True)
class Scope:
    """Who a transaction reads for: the caller's authenticated facts and the request time."""

    org_kind: str
    org: str
    org_code: str | None
    purpose: str
    today: date
    now: datetime  # aware
    #: the caller is one of gridwall's canary principals (reads canary points only)
    canary: bool = False

    def settings(self) -> dict[str, str]:
        from datetime import UTC

        return {
            "org_kind": self.org_kind,
            "org": self.org,
            "org_code": self.org_code or "",
            "purpose": self.purpose,
            "today": self.today.isoformat(),
            "now": self.now.astimezone(UTC).replace(tzinfo=None).isoformat(),
            "canary": "yes" if self.canary else "no",
        }


_SET_SQL = text("SELECT " + ", ".join(f"set_config('gridwall.{k}', :{k}, true)" for k in SETTINGS))


def set_scope(conn: Connection, scope: Scope) -> None:
    """Set the transaction's settings (``set_config(..., true)``: gone at its end).

    Begins the transaction if none is open, so that every statement ``conn`` runs until
    commit or rollback reads under ``scope``. On psycopg with no transaction open (every
    connection fresh from the pool) the ``BEGIN`` and the settings go to the server as one
    simple-query message, ``BEGIN; SELECT set_config(...)``: the driver would send its own
    ``BEGIN`` before the first statement anyway, so the wall costs no round trip. The
    server runs the two statements in order and before any read is sent (the read is the
    next message), and the settings hold for the whole transaction, however many
    statements it runs: no ordering inside a statement is relied on. Values are quoted by
    libpq (``PQescapeLiteral``). Any other driver or state: one ``SELECT set_config(...)``
    through SQLAlchemy. Either way a failure raises, and nothing is read."""
    values = scope.settings()
    if not _begin_with_settings(conn, values):
        conn.execute(_SET_SQL, values)


def _begin_with_settings(conn: Connection, values: Mapping[str, str]) -> bool:
    """``BEGIN; SELECT set_config(...)`` in one round trip; False if the driver or the
    connection's state does not allow it (the caller then sets the settings the usual way)."""
    if conn.in_transaction() or conn.dialect.driver != "psycopg":
        return False
    driver: Any = conn.connection.driver_connection
    from psycopg import pq

    pg = driver.pgconn
    # psycopg begins with a plain BEGIN only under these defaults; anything else, its way
    if (
        driver.autocommit
        or driver.isolation_level is not None
        or driver.read_only is not None
        or driver.deferrable is not None
        or pg.transaction_status != pq.TransactionStatus.IDLE
    ):
        return False
    esc = pq.Escaping(pg)
    enc = driver.info.encoding
    sets = b", ".join(
        b"set_config('gridwall." + k.encode() + b"', " + esc.escape_literal(values[k].encode(enc))
        + b", true)"
        for k in SETTINGS
    )  # fmt: skip
    res = pg.exec_(b"BEGIN; SELECT " + sets)
    if res.status != pq.ExecStatus.TUPLES_OK or res.ntuples != 1:
        msg = (res.error_message or b"").decode(enc, "replace").strip()
        raise RuntimeError(f"row-level security settings not set: {msg or res.status}")
    if pg.transaction_status != pq.TransactionStatus.INTRANS:
        raise RuntimeError("row-level security settings: no transaction open after BEGIN")
    return True


def clear_scope_sql() -> str:
    return "SELECT " + ", ".join(f"set_config('gridwall.{k}', '', true)" for k in SETTINGS)


# ---------------------------------------------------------------------------
# Roles and the catalogue check


def app_role_grants(role: str) -> list[str]:
    """What an application role needs: read the customer tables (and the lookup views),
    read and write every other gridwall table. Run by the owner role."""
    _check_ident(role)
    tables = ", ".join(f"public.{t}" for t in CUSTOMER_TABLES)
    return [
        f'GRANT USAGE ON SCHEMA public TO "{role}"',
        f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"',
        f'REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {tables}, public.retailers FROM "{role}"',
        f'GRANT SELECT ON public.{LOOKUP_VIEW}, public.{SUPPLY_VIEW} TO "{role}"',
        f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"',
        f'GRANT EXECUTE ON FUNCTION public.{HOLDER_FUNCTION}(varchar, text) TO "{role}"',
        f'REVOKE CREATE ON SCHEMA public FROM "{role}"',
    ]


def grant_app_role(conn: Connection, role: str) -> None:
    """Give ``role`` the application's privileges (see :func:`app_role_grants`)."""
    for stmt in app_role_grants(role):
        conn.exec_driver_sql(stmt)


def _check_ident(role: str) -> None:
    if not role or not all(ch.isalnum() or ch == "_" for ch in role) or role[0].isdigit():
        raise ValueError(f"role: {role!r} is not a plain identifier (letters, digits, _)")


# how pg_policies renders POLICY_USING
_NW_QUAL = (
    "COALESCE(((current_setting('gridwall.org_kind'::text, true) = 'nw'::text) AND "
    "(current_setting('gridwall.purpose'::text, true) = ANY (ARRAY["
    + ", ".join(f"'{p}'::text" for p in NW_PURPOSES)
    + "]))), false)"
)
_EXPECTED_QUAL = f'(( SELECT {_NW_QUAL} AS "coalesce") OR {POINT_FUNCTION}(supply_point_id))'
_TODAY_QUAL = "(NULLIF(current_setting('gridwall.today'::text, true), ''::text))::date"
#: how pg_policies renders OWN_ROW
_OWN_ROW_QUAL = (
    "(((kind)::text = 'retail'::text) AND ((retailer_code)::text = "
    "current_setting('gridwall.org_code'::text, true)) AND "
    "(current_setting('gridwall.org_code'::text, true) <> ''::text) AND "
    "(current_setting('gridwall.org_kind'::text, true) = 'retail'::text) AND "
    "(current_setting('gridwall.purpose'::text, true) = ANY (ARRAY["
    + ", ".join(f"'{p}'::text" for p in RETAIL_OWN_PURPOSES)
    + f"])) AND (start_date <= {_TODAY_QUAL}) AND "
    f"((end_date IS NULL) OR (end_date > {_TODAY_QUAL})))"
)
#: how pg_policies renders FENCE (white space normalised)
_FENCE_QUAL = (
    "(current_setting('gridwall.canary'::text, true) = CASE WHEN starts_with("
    f"(supply_point_id)::text, '{CANARY_POINT_ID_STEM}'::text) THEN 'yes'::text "
    "ELSE 'no'::text END)"
)
_CONTRACTS_QUAL = (
    f'(( SELECT {_NW_QUAL} AS "coalesce") OR {_OWN_ROW_QUAL} OR {POINT_FUNCTION}(supply_point_id))'
)
#: the rendering pg_policies gives each table's policy (the current wall)
EXPECTED_QUALS = {t: f"({_FENCE_QUAL} AND {_EXPECTED_QUAL})" for t in CUSTOMER_TABLES} | {
    "supply_contracts": f"({_FENCE_QUAL} AND {_CONTRACTS_QUAL})"
}
#: the setting every SECURITY DEFINER function of the wall pins (a caller's search_path
#: must not decide which tables, functions or operators its body names)
_PINNED_PATH = "search_path=pg_catalog, public"


def check_wall(conn: Connection, app_role: str | None = None) -> list[str]:
    """Everything that would weaken the wall, as sentences (empty: the wall stands).

    Checks that every customer table has row-level security enabled and forced, carries
    exactly the one gridwall policy (``SELECT``, permissive, for everyone, the expected
    expression, no ``WITH CHECK``) and no other policy; that the point function is the one
    the migration installed; that the wall's SECURITY DEFINER functions (point function,
    holder-name check) pin their ``search_path`` and, like the lookup's views, belong to a
    role that bypasses row-level security (the precondition of reading the forced tables
    as their owner); and, given ``app_role`` (default: the connection's user), that the role
    is no superuser, cannot bypass RLS, owns none of the tables and is not a member of a
    role that does."""
    problems: list[str] = []
    role = app_role or str(conn.exec_driver_sql("SELECT current_user").scalar_one())
    rows = conn.execute(
        text(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
            "pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'"
        )
    ).all()
    tables: Mapping[str, tuple[bool, bool, str]] = {r[0]: (r[1], r[2], r[3]) for r in rows}
    owners = set()
    for t in CUSTOMER_TABLES:
        if t not in tables:
            problems.append(f"table {t}: missing")
            continue
        enabled, forced, owner = tables[t]
        owners.add(owner)
        if not enabled:
            problems.append(f"table {t}: row-level security is disabled")
        if not forced:
            problems.append(f"table {t}: row-level security is not forced on its owner")
    pols = conn.execute(
        text(
            "SELECT tablename, policyname, permissive, roles::text[], cmd, qual, with_check "
            "FROM pg_policies WHERE schemaname = 'public'"
        )
    ).all()
    seen: dict[str, int] = {}
    for tname, pname, permissive, roles, cmd, qual, with_check in pols:
        if tname not in CUSTOMER_TABLES:
            continue
        seen[tname] = seen.get(tname, 0) + 1
        where = f"table {tname}: policy {pname}"
        if pname != POLICY_NAME:
            problems.append(f"{where}: not gridwall's (a second policy widens the wall)")
            continue
        if permissive != "PERMISSIVE" or cmd != "SELECT" or list(roles) != ["public"]:
            problems.append(f"{where}: must be PERMISSIVE FOR SELECT TO PUBLIC")
        expected = EXPECTED_QUALS[tname]
        if " ".join(str(qual or "").split()) != expected:
            problems.append(f"{where}: USING ({qual}) is not {expected}")
        if with_check is not None:
            problems.append(f"{where}: has a WITH CHECK clause")
    for t in CUSTOMER_TABLES:
        if t in tables and seen.get(t, 0) == 0:
            problems.append(f"table {t}: no gridwall policy (nothing visible, or RLS off)")
    # The wall's SECURITY DEFINER functions and the lookup's views read the customer tables
    # as their owner. Row-level security is forced on those tables, so that owner must be a
    # superuser or have BYPASSRLS: otherwise the point function's own reads would be
    # filtered by the policy that calls it (recursion: every read fails) and the views would
    # show each caller only its own points (the lookup breaks). It fails closed, but it is
    # no wall that works: named here.
    definers: dict[str, str] = {}
    for fname, args, body in (
        (POINT_FUNCTION, "pid character varying", POINT_BODY),
        (HOLDER_FUNCTION, "pid character varying, wanted text", HOLDER_BODY),
    ):
        fn = conn.execute(
            text(
                "SELECT p.prosrc, p.prosecdef, p.proconfig::text[], "
                "pg_get_userbyid(p.proowner), pg_get_function_arguments(p.oid) "
                "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = 'public' AND p.proname = :n"
            ),
            {"n": fname},
        ).all()
        if len(fn) != 1:
            problems.append(f"function {fname}: expected exactly one, found {len(fn)}")
            continue
        src, secdef, config, fowner, fargs = fn[0]
        if _digest(str(src)) != _digest(body):
            problems.append(f"function {fname}: body differs from the migration's")
        if str(fargs) != args:
            problems.append(f"function {fname}: arguments ({fargs}) are not ({args})")
        if not secdef:
            problems.append(f"function {fname}: not SECURITY DEFINER")
        if _PINNED_PATH not in list(config or []):
            problems.append(f"function {fname}: search_path is not pinned ({_PINNED_PATH})")
        definers[f"function {fname}"] = str(fowner)
    views = conn.execute(
        text(
            "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'v' AND c.relname IN (:a, :b)"
        ),
        {"a": LOOKUP_VIEW, "b": SUPPLY_VIEW},
    ).all()
    found_views = {str(v): str(o) for v, o in views}
    for v in (LOOKUP_VIEW, SUPPLY_VIEW):
        if v not in found_views:
            problems.append(f"view {v}: missing")
        else:
            definers[f"view {v}"] = found_views[v]
    for what, downer in sorted(definers.items()):
        o = conn.execute(
            text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :r"), {"r": downer}
        ).first()
        if o is None or not (o[0] or o[1]):
            problems.append(
                f"{what}: its owner {downer} is subject to row-level security (forced on the "
                "customer tables): it needs BYPASSRLS (ALTER ROLE ... BYPASSRLS) or the reads "
                "through it fail"
            )
    r = conn.execute(
        text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :r"), {"r": role}
    ).first()
    if r is None:
        problems.append(f"role {role}: does not exist")
    else:
        if r[0]:
            problems.append(f"role {role}: is a superuser (bypasses row-level security)")
        if r[1]:
            problems.append(f"role {role}: has BYPASSRLS")
        for owner in sorted(owners):
            member = conn.execute(
                text("SELECT pg_has_role(:r, :o, 'MEMBER')"), {"r": role, "o": owner}
            ).scalar_one()
            if member and not r[0]:
                problems.append(
                    f"role {role}: owns the customer tables or is a member of their owner "
                    f"{owner} (could disable or alter the policies)"
                )
    return problems
