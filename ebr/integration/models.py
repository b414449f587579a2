"""Tables of the ERP and LIMS integration.

* ``integration_inbound`` — one row per message applied (the idempotency log): its
  message id (BODID, AMQP message id or file name), channel, noun and verb, the
  body's hash and the acknowledgement sent back, so a redelivered message gets the
  same answer and changes nothing. A refused message is not stored (nothing of it
  reaches the database); it is counted per channel instead.
* ``integration_dead_letter`` — an inbound message taken from the broker that could not
  be applied after the set number of attempts (an error that is neither a refusal nor a
  lost race, e.g. a bug): its message id, body, error and attempts, for the
  administrator; the message itself waits on the channel's dead-letter queue. Nothing
  of it was applied.
* ``integration_inbound_attempt`` — the failed attempts of an inbound message the
  consumer applies alone, written before each attempt runs so that a consumer killed by
  the message leaves the count to its successor (``ebr.integration.redelivery``);
  deleted when the message is settled. Runtime bookkeeping, outside reconciliation.
* ``integration_order`` — the ERP's process order and its link to the planned batch:
  product, quantity, the order's bill of materials (kept for reconciliation), its
  version, and why it is held when no batch could be planned.
* ``integration_outbox`` — a message to another system, written in the transaction
  of the GMP change that causes it; the delivery worker sends it with retries and
  exponential backoff and, after the last attempt, leaves it as a dead letter.
* ``integration_erp_material`` / ``integration_erp_lot`` — the ERP's view of a material
  (every description, every property) and of a lot (its status, disposition, quantity —
  the inventory — expiry, sublots and the containers they became), kept beside the EBR's
  own master and lot, which hold what the EBR decided (QA's status, the quantity that
  consumption and returns change). The message and time of the last version applied
  make an older message change nothing.
* ``integration_token`` — machine credentials: a channel token for ``POST
  /api/integration/b2mml`` or the LIMS (one scope), or an API token (scope ``api``) of a
  person (``owner``) limited to ``scopes`` (permission actions) until ``expires_at``.
  Only the SHA-256 of a token is kept; every token can be revoked.

Batches and lots are referenced by id and number without foreign keys into other
packages, so the ``integration`` migration branch stands on its own.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ebr.core.db import Base


class InboundMessage(Base):
    """A message received and applied (the idempotency log)."""

    __tablename__ = "integration_inbound"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(32))
    schema: Mapped[str] = mapped_column(String(16))
    verb: Mapped[str] = mapped_column(String(32))
    noun: Mapped[str] = mapped_column(String(64))
    body_sha256: Mapped[str] = mapped_column(String(64))
    orders: Mapped[list[str]] = mapped_column(JSON)
    acknowledgement: Mapped[str] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(index=True)


class InboundDeadLetter(Base):
    """An inbound message dead-lettered after its last failed attempt (nothing of it applied)."""

    __tablename__ = "integration_dead_letter"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    queue: Mapped[str] = mapped_column(String(200))
    message_id: Mapped[str | None] = mapped_column(String(200), index=True)
    body_sha256: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    dead_at: Mapped[dt.datetime] = mapped_column(index=True)


class InboundAttempt(Base):
    """The attempts so far of an inbound message from ``queue`` (its key: message id, else body hash)."""

    __tablename__ = "integration_inbound_attempt"

    queue: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)  # failed so far, a crash included
    running: Mapped[bool] = mapped_column(Boolean)  # an attempt began and has not ended (yet)
    error: Mapped[str | None] = mapped_column(Text)  # the last failed attempt's
    updated_at: Mapped[dt.datetime]


class ProcessOrder(Base):
    """An ERP process order and the batch planned for it."""

    __tablename__ = "integration_order"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), unique=True)
    schema: Mapped[str] = mapped_column(String(16))
    revision: Mapped[str | None] = mapped_column(String(64))
    issued_at: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(16), index=True)
    hold_reason: Mapped[str | None] = mapped_column(Text)
    product: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[Decimal]
    unit: Mapped[str] = mapped_column(String(16))
    start_time: Mapped[dt.datetime | None]
    end_time: Mapped[dt.datetime | None]
    priority: Mapped[str | None] = mapped_column(String(32))
    bom: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    parameters: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    batch_id: Mapped[str | None] = mapped_column(String(36))
    batch_number: Mapped[str | None] = mapped_column(String(64), index=True)
    message_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    version: Mapped[int] = mapped_column(Integer)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declared form


class OutboxMessage(Base):
    """A message waiting for (or done with) delivery to another system."""

    __tablename__ = "integration_outbox"
    __table_args__ = (Index("ix_integration_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    content_type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    order_id: Mapped[str | None] = mapped_column(String(64))
    batch_number: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[dt.datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    sent_at: Mapped[dt.datetime | None]


class MachineToken(Base):
    """A revocable machine credential (only its hash is stored); see :mod:`ebr.integration.tokens`."""

    __tablename__ = "integration_token"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    scope: Mapped[str] = mapped_column(String(64))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(100))
    revoked_at: Mapped[dt.datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(100))
    last_used_at: Mapped[dt.datetime | None]
    owner: Mapped[str | None] = mapped_column(String(100))
    scopes: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[dt.datetime | None]


class ErpMaterial(Base):
    """The ERP's view of a material of the master (the EBR's own record is ``material``)."""

    __tablename__ = "integration_erp_material"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    revision: Mapped[str | None] = mapped_column(String(64))
    issued_at: Mapped[dt.datetime]
    message_id: Mapped[str] = mapped_column(String(200))
    descriptions: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    properties: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime]


class ErpLot(Base):
    """The ERP's view of a lot: status, quantity (inventory), expiry and sublots (→ containers)."""

    __tablename__ = "integration_erp_lot"

    lot_number: Mapped[str] = mapped_column(String(64), primary_key=True)
    lot_id: Mapped[str] = mapped_column(String(36), index=True)
    material: Mapped[str] = mapped_column(String(64))
    revision: Mapped[str | None] = mapped_column(String(64))
    issued_at: Mapped[dt.datetime]
    message_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str | None] = mapped_column(String(64))
    disposition: Mapped[str | None] = mapped_column(String(64))
    quantity: Mapped[Decimal | None]
    unit: Mapped[str] = mapped_column(String(16))
    expires_on: Mapped[dt.date | None] = mapped_column(Date)
    sublots: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    properties: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime]
