"""Tables of the `recipes` package.

``recipe_version`` holds every version of every master recipe: its content as
canonical JSON (``Recipe.to_dict()``) with the hash that signatures bind to, its
lifecycle status, and who moved it through the lifecycle, when and under which
signature. Rows are never deleted; obsolete versions stay readable.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ebr.core.db import Base


class RecipeVersion(Base):
    """One version of a master recipe (``name@version``)."""

    __tablename__ = "recipe_version"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    product_code: Mapped[str] = mapped_column(String(200))
    # Canonical JSON (RFC 8785) of Recipe.to_dict(); content_hash = H(content).
    content: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    source_format: Mapped[str] = mapped_column(String(40))
    # JSON list of what the import could not map (BatchML), or null.
    unmapped: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(100))
    submitted_at: Mapped[dt.datetime | None]
    submitted_by: Mapped[str | None] = mapped_column(String(100))
    submit_signature_id: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[dt.datetime | None]
    approved_by: Mapped[str | None] = mapped_column(String(100))
    approval_signature_id: Mapped[str | None] = mapped_column(String(64))
    effective_from: Mapped[dt.datetime | None]
    # When a later approved version takes over (superseded) or the version is withdrawn (obsolete).
    retired_at: Mapped[dt.datetime | None]
    retired_by: Mapped[str | None] = mapped_column(String(100))
    retire_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("name", "version"),)

    @property
    def label(self) -> str:
        """``NAME@VERSION``."""
        return f"{self.name}@{self.version}"
