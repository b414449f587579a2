"""The chain arithmetic of docs/audit-bundle.md §2 — pure, no database.

``build_event`` makes the exact event object; ``event_bytes`` its canonical bytes;
the hash of an event is ``H(canon(event))``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ebr.core.canonical import ZERO_HASH, canon, jsonable, sha256_hex
from ebr.core.clock import to_rfc3339
from ebr.core.errors import AuditError

EVENT_KEYS = frozenset({"seq", "ts", "actor", "action", "entity", "reason", "before", "after", "prev"})


@dataclass(frozen=True)
class Entity:
    """What an event acts on: ``{"type": ..., "id": ...}``."""

    type: str
    id: str

    def as_json(self) -> dict[str, str]:
        return {"type": self.type, "id": self.id}


def build_event(
    *,
    seq: int,
    ts: dt.datetime,
    actor: str,
    action: str,
    entity: Entity,
    reason: str | None,
    before: Any,
    after: Any,
    prev: str,
) -> dict[str, Any]:
    """The event object exactly as the spec defines it (values made canonical-ready)."""
    if seq < 1:
        raise AuditError(f"seq must start at 1, got {seq}")
    if not actor:
        raise AuditError("an audit event needs an actor (a user id or system:<component>)")
    if not action or " " in action:
        raise AuditError(f"action {action!r} must be a dotted verb such as batch.step.completed")
    for name, value in (("before", before), ("after", after)):
        if value is not None and not isinstance(value, dict):
            raise AuditError(f"{name} must be an object of changed fields or null")
    return {
        "seq": seq,
        "ts": to_rfc3339(ts),
        "actor": actor,
        "action": action,
        "entity": entity.as_json(),
        "reason": reason,
        "before": jsonable(before),
        "after": jsonable(after),
        "prev": prev if seq > 1 else ZERO_HASH,
    }


def event_bytes(event: dict[str, Any]) -> bytes:
    """``canon(event)``: the bytes that are hashed and stored."""
    return canon(event)


def event_hash(data: bytes) -> str:
    """``H(bytes)``."""
    return sha256_hex(data)
