"""Tables of the application layer (materials, lots, batches, execution)."""

from __future__ import annotations

from ebr.db import Base

__all__ = ["Base"]
