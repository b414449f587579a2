"""Tables of the `audit` package."""

from __future__ import annotations

from ebr.db import Base

__all__ = ["Base"]
