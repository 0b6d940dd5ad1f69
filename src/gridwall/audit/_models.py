"""The audit log's tables (Alembic branch ``audit``; triggers make them append-only).

* ``audit_entry`` — one row per log entry (監査ログのエントリ): index, time, canonical bytes.
* ``audit_tile`` — full tiles of the Merkle tree (16 hashes of level 4t), see ``_tree``.
* ``audit_checkpoint`` — every signed checkpoint ever made (the history).
* ``audit_key`` — every verifier (public) key ever used, in order.
* ``audit_setting`` — retention settings, newest row wins (never below 5 years).
* ``audit_archive`` — ranges moved to archive files, with the file's SHA-256.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Integer, LargeBinary, SmallInteger, Text
from sqlalchemy.orm import Mapped, mapped_column

from gridwall.store import Base

BigId = BigInteger().with_variant(Integer(), "sqlite")


class AuditEntry(Base):
    __tablename__ = "audit_entry"
    idx: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    recorded_at: Mapped[int] = mapped_column(BigInteger, nullable=False)  # Unix seconds, UTC
    entry: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class AuditTile(Base):
    __tablename__ = "audit_tile"
    __table_args__ = ({"sqlite_with_rowid": False},)
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hashes: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class AuditCheckpoint(Base):
    __tablename__ = "audit_checkpoint"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    root: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[int] = mapped_column(BigInteger, nullable=False)


class AuditKey(Base):
    __tablename__ = "audit_key"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vkey: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[int] = mapped_column(BigInteger, nullable=False)


class AuditSetting(Base):
    __tablename__ = "audit_setting"
    __table_args__ = (CheckConstraint("retention_years >= 5", name="retention_min"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    retention_years: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[int] = mapped_column(BigInteger, nullable=False)


class AuditArchive(Base):
    __tablename__ = "audit_archive"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    start_idx: Mapped[int] = mapped_column(BigInteger, nullable=False)
    end_idx: Mapped[int] = mapped_column(BigInteger, nullable=False)
    file_name: Mapped[str] = mapped_column(Text, nullable=False)
    sha256: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[int] = mapped_column(BigInteger, nullable=False)
