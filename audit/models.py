"""Tables of the audit package.

``audit_event`` holds one row per chained event with the exact canonical bytes that
were hashed (``canonical``), so verification never re-serializes. The searchable
columns (ts, actor, action, entity) are copies for queries; the bytes are the truth.
UPDATE, DELETE and TRUNCATE on these tables are refused by database triggers.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ebr.core.db import Base


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
    """A signed tree head (docs/audit-bundle.md §3): ``seq`` is the tree size, ``hash`` the head event's hash.

    ``root_hash`` is the RFC 9162 root over the first ``seq`` events (NULL for a v1
    checkpoint, which signed the chain head only). ``line`` is the exact signed line.
    """

    __tablename__ = "audit_checkpoint"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)
    hash: Mapped[str] = mapped_column(String(64))
    ts: Mapped[dt.datetime]
    key_id: Mapped[str] = mapped_column(String(64))
    sig: Mapped[str] = mapped_column(String(100))
    line: Mapped[bytes] = mapped_column(LargeBinary)
    root_hash: Mapped[str | None] = mapped_column(String(64))


class AuditTreeNode(Base):
    """The hash of a perfect Merkle subtree of ``2**level`` events, stored from ``audit.tree_store.BLOCK_LEVEL`` up."""

    __tablename__ = "audit_tree_node"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class AuditSystemKey(Base):
    """A public system key that signed (or signs) checkpoints; the private half is a file, never here."""

    __tablename__ = "audit_system_key"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_key: Mapped[str] = mapped_column(String(64))
    valid_from: Mapped[dt.datetime]
    valid_to: Mapped[dt.datetime | None]
