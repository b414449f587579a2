"""What verification reports: kinds of breaks, each located by seq, and the run's summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ebr.core.canonical import ZERO_HASH


class BreakKind(StrEnum):
    CONTENT_CHANGED = "content changed"
    MISSING = "missing"
    INSERTED = "inserted"
    REORDERED = "reordered"
    TRUNCATED = "truncated"
    BAD_CHECKPOINT = "bad checkpoint signature"
    CHECKPOINT_MISSING = "checkpoint missing"
    INCONSISTENT = "inconsistent tree heads"
    TYPE_CHANGED = "stored type changed"


@dataclass(frozen=True)
class Break:
    """One finding: the first seq where it shows, what kind it is, and the evidence."""

    kind: BreakKind
    seq: int
    detail: str

    def describe(self) -> str:
        return f"seq {self.seq}: {self.kind}: {self.detail}"


@dataclass
class ChainReport:
    """The outcome of a verification run of the live chain."""

    head_seq: int = 0
    head_hash: str = ZERO_HASH
    events_checked: int = 0
    checkpoints_checked: int = 0
    newest_checkpoint: int = 0
    breaks: list[Break] = field(default_factory=list)
    timestamps_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.breaks

    @property
    def first(self) -> Break | None:
        return min(self.breaks, key=lambda b: b.seq) if self.breaks else None

    def summary(self) -> dict[str, Any]:
        """What the audit event of a verification run records."""
        first = self.first
        return {
            "ok": self.ok,
            "head_seq": self.head_seq,
            "events_checked": self.events_checked,
            "checkpoints_checked": self.checkpoints_checked,
            "first_broken_seq": first.seq if first else None,
            "kind": str(first.kind) if first else None,
        }
