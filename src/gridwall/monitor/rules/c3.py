"""Type C③: credentials reused after a transfer, after revocation, or shared."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from gridwall.monitor.rules._base import Reference, Rule, needs

#: two logins of one account from different terminals closer than this are "at once"
CONCURRENT_S = 600


def _transferred(e: ir.Table) -> ir.BooleanValue:
    return (
        e.a_holder.notnull()
        & (e.action != "login_failed")
        & (e.p_org.isnull() | (e.p_org != e.a_org))
    )


def _revoked(e: ir.Table) -> ir.BooleanValue:
    return e.a_revoked_s.notnull() & (e.ts_s >= e.a_revoked_s) & (e.decision == "allow")


def _login(e: ir.Table) -> ir.BooleanValue:
    return (e.action == "login") & e.device_id.notnull()


def _concurrent(rows: ir.Table, ref: Reference) -> ir.Table:
    """Logins with another terminal's login of the same account close before or after."""
    w = ibis.window(group_by=[rows.account_id, rows.day], order_by=[rows.ts_s, rows.event_id])
    r = rows.mutate(
        _pd=rows.device_id.lag().over(w),
        _pt=rows.ts_s.lag().over(w),
        _nd=rows.device_id.lead().over(w),
        _nt=rows.ts_s.lead().over(w),
    )
    near_prev = r._pd.notnull() & (r._pd != r.device_id) & (r.ts_s - r._pt < CONCURRENT_S)
    near_next = r._nd.notnull() & (r._nd != r.device_id) & (r._nt - r.ts_s < CONCURRENT_S)
    return r.filter(near_prev | near_next).select(*rows.columns)


RULE_TRANSFERRED = Rule(
    id="C3-account-after-transfer",
    incident_type="C3",
    severity=5,
    description_ja="異動・退職後も、以前の所属で発行されたIDが使われた",
    description_en="An account used after its holder moved to another organisation or left",
    rationale="Seed type C③: IDs and passwords learned at NW were reused after transfer to "
    "retail. An account belongs to the organisation that issued it; when the holder's HR "
    "assignment (persons.csv, valid at that day) is elsewhere or ended, every use is flagged.",
    flag=_transferred,
    reads=needs("a_holder", "action", "p_org", "a_org"),
)
RULE_REVOKED = Rule(
    id="C3-revoked-account-used",
    incident_type="C3",
    severity=5,
    description_ja="失効済みのIDでアクセスが許可された",
    description_en="A revoked account was still let in",
    rationale="Revocation must take effect at once (I6); an allowed event after revoked_at "
    "means a legacy system kept the credential alive.",
    flag=_revoked,
    reads=needs("a_revoked_s", "ts_s", "decision"),
)
RULE_CONCURRENT = Rule(
    id="C3-concurrent-terminals",
    incident_type="C3",
    severity=4,
    description_ja="同じIDが短時間に別々の端末からログインした（ID共用の疑い）",
    description_en="One account logged in from two terminals at once (shared credentials)",
    rationale=f"Personal IDs are personal: two logins of one account from different terminals "
    f"within {CONCURRENT_S // 60} minutes on the same day means the credential is shared or "
    "stolen.",
    flag=_login,
    confirm=_concurrent,
    reads=needs("action", "device_id", "account_id", "day", "ts_s", "event_id"),
)
