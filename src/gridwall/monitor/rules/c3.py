"""Type C③: credentials reused after a transfer, after revocation, or shared."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from gridwall.monitor.rules._base import Rule

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


def _concurrent(e: ir.Table) -> ir.BooleanValue:
    w = ibis.window(group_by=[e.account_id, e.day, e.action], order_by=[e.ts_s, e.event_id])
    prev_dev, prev_ts = e.device_id.lag().over(w), e.ts_s.lag().over(w)
    next_dev, next_ts = e.device_id.lead().over(w), e.ts_s.lead().over(w)
    near_prev = prev_dev.notnull() & (prev_dev != e.device_id) & (e.ts_s - prev_ts < CONCURRENT_S)
    near_next = next_dev.notnull() & (next_dev != e.device_id) & (next_ts - e.ts_s < CONCURRENT_S)
    return (e.action == "login") & e.device_id.notnull() & (near_prev | near_next)


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
    flag=_concurrent,
)
