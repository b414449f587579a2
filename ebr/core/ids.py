"""Identifiers: random, unique, sortable by creation time (UUIDv7-like)."""

from __future__ import annotations

import os
import time
import uuid


def new_id() -> str:
    """A new unique id: 48 bits of milliseconds then 74 random bits (RFC 9562 v7)."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (rand >> 68 & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))
