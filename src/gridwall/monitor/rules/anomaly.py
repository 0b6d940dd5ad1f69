"""ANOMALY: behavioural baselines per person and per peer group (役割の同じ利用者群).

Baselines are *causal*: a day is judged against the days before it (and, for peer groups,
against the same day's peers), never against the future, so a periodic scan decides a day once
and a later scan agrees with it.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from gridwall.monitor.rules._base import BaselineRule, Baselines

HISTORY_DAYS = 20  # active days in the personal baseline
MIN_HISTORY = 5  # fewer prior active days: no personal baseline yet
VOLUME_FACTOR, VOLUME_MARGIN = 5.0, 100
PEER_FACTOR, PEER_MARGIN, PEER_MIN = 8.0, 200, 4
OFF_HOURS_MIN = 5
RARE_PEERS = 2  # a screen fewer than this many peers ever used before is rare


def _history(b: Baselines) -> ir.Table:
    d = b.daily
    w = ibis.window(group_by=d.account_id, order_by=d.day, rows=(-HISTORY_DAYS, -1))
    return d.mutate(
        prev_avg=d.n.mean().over(w),
        prev_days=d.n.count().over(w),
        prev_off=d.n_off.sum().over(w),
    )


def _keys(days: ir.Table, *, off_only: bool = False) -> ir.Table:
    """Evidence keys: every event of the account that day (or only its off-hours events)."""
    return days.select(
        account_id=days.account_id,
        day=days.day,
        screen=ibis.null("string"),
        off_only=ibis.literal(off_only),
    ).distinct()


def _volume(b: Baselines) -> ir.Table:
    h = _history(b)
    spikes = h.filter(
        (h.day >= b.open_from)
        & (h.prev_days >= MIN_HISTORY)
        & (h.n >= ibis.greatest(h.prev_avg * VOLUME_FACTOR, h.prev_avg + VOLUME_MARGIN))
    )
    return _keys(spikes)


def _peer_volume(b: Baselines) -> ir.Table:
    d = b.daily
    pw = ibis.window(group_by=[d.peer, d.day])
    p = d.mutate(_sum=d.n.sum().over(pw), _cnt=d.n.count().over(pw))
    p = p.mutate(others=(p._sum - p.n) / (p._cnt - 1))
    spikes = p.filter(
        (p.day >= b.open_from)
        & (p._cnt >= PEER_MIN)
        & (p.n >= ibis.greatest(p.others * PEER_FACTOR, p.others + PEER_MARGIN))
    )
    return _keys(spikes)


def _off_hours(b: Baselines) -> ir.Table:
    h = _history(b)
    days = h.filter(
        (h.day >= b.open_from)
        & (h.prev_days >= MIN_HISTORY)
        & (h.n_off >= OFF_HOURS_MIN)
        & (h.prev_off.fill_null(0) == 0)
    )
    return _keys(days, off_only=True)


def _new_screens(b: Baselines) -> ir.Table:
    s, h = b.screens, _history(b)
    new = s.filter(s.first_day >= b.open_from)
    seasoned = h.filter(h.prev_days >= MIN_HISTORY).select(_acc=h.account_id, _day=h.day)
    new = new.semi_join(seasoned, [new.account_id == seasoned._acc, new.first_day == seasoned._day])
    other = s.select(_peer=s.peer, _screen=s.screen, _first=s.first_day, _acc=s.account_id)
    prior = new.left_join(
        other,
        [
            other._peer == new.peer,
            other._screen == new.screen,
            other._first < new.first_day,
            other._acc != new.account_id,
        ],
    )
    counted = prior.group_by(["account_id", "screen", "first_day"]).aggregate(
        peers=prior._acc.nunique()
    )
    rare = counted.filter(counted.peers < RARE_PEERS)
    return rare.select(
        account_id=rare.account_id,
        day=rare.first_day,
        screen=rare.screen,
        off_only=ibis.literal(False),
    ).distinct()


VOLUME = BaselineRule(
    id="ANOMALY-volume-personal",
    incident_type="ANOMALY",
    severity=3,
    description_ja="本人の通常の業務量を大きく超えるアクセス量",
    description_en="Access volume far above the person's own baseline",
    rationale=f"A day with at least {VOLUME_FACTOR:g}× (and {VOLUME_MARGIN}+ more than) the "
    f"account's mean daily events over its last {HISTORY_DAYS} active days "
    f"(needs {MIN_HISTORY}+ such days).",
    rationale_ja=(
        "そのアカウントの直近 20 稼働日の 1 日平均の 5 倍以上（かつ 100"
        " 件以上多い）イベントがあった日（稼働日が 5 日以上必要）。"
    ),
    detect=_volume,
)
PEER_VOLUME = BaselineRule(
    id="ANOMALY-volume-peer",
    incident_type="ANOMALY",
    severity=3,
    description_ja="同じ所属・役割の利用者と比べて突出したアクセス量",
    description_en="Access volume far above the peer group's on the same day",
    rationale=f"Peer group = organisation kind and role. A day with at least {PEER_FACTOR:g}× "
    f"(and {PEER_MARGIN}+ more than) the mean of the other peers that day "
    f"({PEER_MIN}+ peers active). Catches new accounts that have no personal baseline.",
    rationale_ja=(
        "同じ組織種別・役割の同僚集団で、その日のほかの同僚の平均の 8 倍以上（かつ"
        " 200 件以上多い）イベントがあった日（同僚 4 人以上が稼働）。個人の基"
        "準がない新しいアカウントも捉える。"
    ),
    detect=_peer_volume,
)
OFF_HOURS = BaselineRule(
    id="ANOMALY-off-hours",
    incident_type="ANOMALY",
    severity=2,
    description_ja="普段は業務時間外に利用しない者による時間外（22時〜7時）のアクセス",
    description_en="Off-hours (22:00–07:00 JST) access by someone who never works then",
    rationale=f"{OFF_HOURS_MIN}+ events between 22:00 and 07:00 JST on a day, by an account with "
    f"no off-hours events in its last {HISTORY_DAYS} active days.",
    rationale_ja=(
        "直近 20 稼働日に時間外のイベントがないアカウントが、ある日の 22:00"
        "～07:00（JST）に 5 件以上のイベントを記録した。"
    ),
    detect=_off_hours,
)
NEW_SCREENS = BaselineRule(
    id="ANOMALY-rare-new-screen",
    incident_type="ANOMALY",
    severity=2,
    description_ja="本人が初めて使い、同じ役割の者もほとんど使わない画面で非公開情報を閲覧",
    description_en="Non-public data read on a screen the person never used and peers "
    "(almost) never use",
    rationale=f"A screen on which an account with {MIN_HISTORY}+ active days reads non-public "
    f"data for the first time, and which fewer than {RARE_PEERS} other accounts of its peer "
    "group used so before: rarity and novelty together. Exports are judged by C1.",
    rationale_ja=(
        "稼働 5 日以上のアカウントが初めて非公開情報を読んだ画面で、同僚集団のほか"
        "のアカウントが 2 件未満しか使ったことのないもの（希少さと新しさの組み合わ"
        "せ）。エクスポートは C1 が判定する。"
    ),
    detect=_new_screens,
)
RULES = (VOLUME, PEER_VOLUME, OFF_HOURS, NEW_SCREENS)
