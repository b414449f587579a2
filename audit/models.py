"""Tables of the audit package.

``audit_event`` holds one row per chained event with the exact canonical bytes that
were hashed (``canonical``), so verification never re-serializes. The searchable
columns (ts, actor, action, entity) are copies for queries; the bytes are the truth.
UPDATE, DELETE and TRUNCATE on these tables are refused by database triggers.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ebr.db import Base


class AuditEvent(Base):
    __tablename__ = "audit_event"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ts: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(200))
    entity_type: Mapped[str] = mapped_column(String(100))
    entity_id: Mapped[str] = mapped_column(String(400))
    reason: Mapped[str | None] = mapped_column(Text)
    prev: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    canonical: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (
        Index("ix_audit_event_entity", "entity_type", "entity_id"),
        Index("ix_audit_event_actor", "actor"),
        Index("ix_audit_event_action", "action"),
        Index("ix_audit_event_ts", "ts"),
    )


class AuditCheckpoint(Base):
    """A signed head of the chain (spec §3). ``line`` is the exact canonical JSON line, with ``sig``."""

    __tablename__ = "audit_checkpoint"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)
    hash: Mapped[str] = mapped_column(String(64))
    ts: Mapped[dt.datetime]
    key_id: Mapped[str] = mapped_column(String(64))
    sig: Mapped[str] = mapped_column(String(100))
    line: Mapped[bytes] = mapped_column(LargeBinary)


class AuditSystemKey(Base):
    """A public system key that signed (or signs) checkpoints; the private half is a file, never here."""

    __tablename__ = "audit_system_key"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_key: Mapped[str] = mapped_column(String(64))
    valid_from: Mapped[dt.datetime]
    valid_to: Mapped[dt.datetime | None]
