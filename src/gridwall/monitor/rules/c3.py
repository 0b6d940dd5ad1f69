"""Type C③: credentials reused after a transfer, after revocation, or shared."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from gridwall.monitor.rules._base import Reference, Rule, needs

#: two logins of one account from different terminals closer than this are "at once"
CONCURRENT_S = 600
#: the network operator: its IDs are the ones retail must never hold (seed type C③)
OPERATOR = "nw"


def _transferred(e: ir.Table) -> ir.BooleanValue:
    return (
        e.a_holder.notnull()
        & (e.action != "login_failed")
        & (e.p_org.isnull() | (e.p_org != e.a_org))
    )


def _revoked(e: ir.Table) -> ir.BooleanValue:
    return e.a_revoked_s.notnull() & (e.ts_s >= e.a_revoked_s) & (e.decision == "allow")


_SESSION = ("login", "logout")


def _session_event(e: ir.Table) -> ir.BooleanValue:
    return e.action.isin(list(_SESSION)) & e.device_id.notnull() & (e.decision == "allow")


def _concurrent(rows: ir.Table, ref: Reference) -> ir.Table:
    """Logins made while the account's session on another terminal had just been opened.

    Per account and JST day the logins and logouts are put in order (a logout before a login
    at the same instant). A login on terminal T2 is concurrent when the account's previous
    session event was a login on another terminal T1 less than ``CONCURRENT_S`` before — not
    a logout: a logout then a login elsewhere is someone changing desks. Both logins are
    evidence.
    """
    order = [rows.ts, (rows.action == "login").cast("int8"), rows.event_id]
    by_acc = ibis.window(group_by=[rows.account_id, rows.day], order_by=order)
    r = rows.mutate(
        _pa=rows.action.lag().over(by_acc),
        _pd=rows.device_id.lag().over(by_acc),
        _pt=rows.ts_s.lag().over(by_acc),
        _pk=rows.row_key.lag().over(by_acc),
    )
    hit = (
        (r.action == "login")
        & (r._pa == "login")
        & (r._pd != r.device_id)
        & (r.ts_s - r._pt < CONCURRENT_S)
    )
    second = r.filter(hit)
    keys = second.select(_k=second.row_key).union(second.select(_k=second._pk))
    return rows.semi_join(keys, rows.row_key == keys._k)


def _nw_id_elsewhere(e: ir.Table) -> ir.BooleanValue:
    return (
        (e.a_org == OPERATOR)
        & e.d_owner.notnull()
        & (e.d_owner != OPERATOR)
        & (e.action != "login_failed")
    )


RULE_TRANSFERRED = Rule(
    id="C3-account-after-transfer",
    incident_type="C3",
    severity=5,
    description_ja="異動・退職後も、以前の所属で発行されたIDが使われた",
    description_en="An account used after its holder moved to another organisation or left",
    rationale="Seed type C③: IDs and passwords learned at NW were reused after transfer to "
    "retail. An account belongs to the organisation that issued it; when the holder's HR "
    "assignment (persons.csv, valid at that day) is elsewhere or ended, every use is flagged.",
    rationale_ja=(
        "事例 C③：NW で知った ID とパスワードが小売への異動後も使われた。ア"
        "カウントは発行した組織に属し、保有者の人事上の所属（その日に有効なもの）が他"
        "組織に移ったか終了していれば、すべての使用を検知する。"
    ),
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
    rationale_ja=(
        "失効は即時に効かなければならない（I6）。失効時刻より後に許可されたイベント"
        "は、旧システムが資格情報を生かし続けていることを意味する。"
    ),
    flag=_revoked,
    reads=needs("a_revoked_s", "ts_s", "decision"),
)
RULE_NW_ID_ELSEWHERE = Rule(
    id="C3-nw-id-outside-nw",
    incident_type="C3",
    severity=5,
    description_ja="送配電部門のIDが、送配電部門以外の組織の端末で使われた",
    description_en="An NW-issued ID used on a terminal of another organisation",
    rationale="Seed type C③: NW IDs and passwords ended up in retail hands. An ID the "
    "network operator issued, used on a terminal another organisation owns (devices.csv, "
    "valid that day), is its credential outside NW — whoever types it. (The mirror case, a "
    "retail ID on an NW terminal, is the terminal's misuse: C2.)",
    rationale_ja=(
        "事例 C③：NW の ID とパスワードが小売の手に渡った。NW が発行した"
        " ID が他組織の所有する端末（その日に有効なもの）で使われたら、誰が入力し"
        "たかにかかわらず、NW の外にある NW の資格情報として検知する。"
    ),
    flag=_nw_id_elsewhere,
    reads=needs("a_org", "d_owner", "action"),
)
RULE_CONCURRENT = Rule(
    id="C3-concurrent-terminals",
    incident_type="C3",
    severity=4,
    description_ja="同じIDが短時間に別々の端末からログインした（ID共用の疑い）",
    description_en="One account logged in from two terminals at once (shared credentials)",
    rationale=f"Personal IDs are personal: two logins of one account from different terminals "
    f"within {CONCURRENT_S // 60} minutes on the same day, with no logout in between, means "
    "the credential is shared or stolen. A logout followed by a login elsewhere is someone "
    "changing desks.",
    rationale_ja=(
        "個人 ID は個人のもの：同じ日に 1 つのアカウントが 10 分以内に別々"
        "の端末からログインし、その間にログアウトがなければ、資格情報の共有か盗用とみ"
        "なす。ログアウト後の別端末でのログインは席の移動として扱う。"
    ),
    flag=_session_event,
    confirm=_concurrent,
    reads=needs("action", "device_id", "account_id", "day", "ts", "ts_s", "event_id", "decision"),
)
