"""The monitor's own tables (Alembic branch ``monitor``): where periodic analysis keeps its
place in the audit log and the alerts it found.

* ``monitor_cursor`` — per source (``audit``): how far the log has been analysed (one past
  the last audit-log index read), updated in the same transaction as the alerts.
* ``monitor_run`` — one row per ``gridwall monitor run``: the range analysed and the counts.
* ``monitor_alert`` — one row per alert; the id is stable (rule + account), so the same
  misuse continuing over days updates its alert instead of opening another one.
* ``monitor_alert_evidence`` — every event an alert leads, with its audit-log index (NULL
  for an event of an imported legacy log), so the evidence can be proven against the log.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gridwall.store.base import Base

BigId = BigInteger().with_variant(Integer(), "sqlite")


class MonitorCursor(Base):
    __tablename__ = "monitor_cursor"
    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, nullable=False)
    updated_at: Mapped[str] = mapped_column(String(40), nullable=False)


class MonitorRun(Base):
    __tablename__ = "monitor_run"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    started_at: Mapped[str] = mapped_column(String(40), nullable=False)
    finished_at: Mapped[str] = mapped_column(String(40), nullable=False)
    audit_from: Mapped[int] = mapped_column(BigInteger, nullable=False)
    audit_to: Mapped[int] = mapped_column(BigInteger, nullable=False)
    legacy_files: Mapped[int] = mapped_column(Integer, nullable=False)
    alerts_opened: Mapped[int] = mapped_column(Integer, nullable=False)
    alerts_updated: Mapped[int] = mapped_column(Integer, nullable=False)


class MonitorAlert(Base):
    __tablename__ = "monitor_alert"
    alert_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    rule: Mapped[str] = mapped_column(String(64), nullable=False)
    incident_type: Mapped[str] = mapped_column(String(16), nullable=False)
    severity: Mapped[int] = mapped_column(Integer, nullable=False)
    account_id: Mapped[str] = mapped_column(String(128), nullable=False)
    person_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    org: Mapped[str | None] = mapped_column(String(128), nullable=True)
    first_ts: Mapped[str] = mapped_column(String(40), nullable=False)
    last_ts: Mapped[str] = mapped_column(String(40), nullable=False)
    event_count: Mapped[int] = mapped_column(Integer, nullable=False)
    summary: Mapped[str] = mapped_column(Text, nullable=False)
    related: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list
    opened_run: Mapped[int] = mapped_column(BigInteger, nullable=False)
    updated_run: Mapped[int] = mapped_column(BigInteger, nullable=False)


class MonitorAlertEvidence(Base):
    __tablename__ = "monitor_alert_evidence"
    alert_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("monitor_alert.alert_id"), primary_key=True
    )
    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    audit_idx: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    run_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
