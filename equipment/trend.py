"""Downsampled trend history: min / mean / max / last per tag and bucket.

While a phase runs on a unit its tags are kept in 1 s buckets (the batch record's
trend); otherwise in 60 s buckets, so an idle plant does not fill the database.
Idle buckets (no phase) older than the retention are pruned by :func:`prune_idle`
(the ``trend_retention`` job); buckets of a phase are part of a batch record and stay.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

from sqlalchemy import delete
from sqlalchemy.orm import Session

from equipment.config import PlantConfig
from equipment.dosing import to_decimal
from equipment.drivers.base import TagValue
from equipment.models import TrendPoint

ACTIVE_BUCKET_S = 1.0
IDLE_BUCKET_S = 60.0


@dataclass
class _Bucket:
    started: float = field(default_factory=time.monotonic)
    minimum: float = float("inf")
    maximum: float = float("-inf")
    total: float = 0.0
    count: int = 0
    last: float = 0.0
    active: bool = False

    def add(self, value: float, active: bool) -> None:
        self.minimum, self.maximum = min(self.minimum, value), max(self.maximum, value)
        self.total += value
        self.count += 1
        self.last = value
        self.active = self.active or active


class TrendBuffer:
    """Collects numeric samples and emits TrendPoint rows when buckets close."""

    def __init__(self, config: PlantConfig) -> None:
        self.decimals = {t.name: t.decimals for t in config.tags.values() if t.type != "bool"}
        self._buckets: dict[str, _Bucket] = {}

    def add(self, item: TagValue, *, active_units: set[str]) -> None:
        if item.tag not in self.decimals or not item.good or isinstance(item.value, bool):
            return
        bucket = self._buckets.setdefault(item.tag, _Bucket())
        bucket.add(item.number(), item.tag.split(".", 1)[0] in active_units)

    def flush(self, now: dt.datetime, active_phases: dict[str, str], *, force: bool = False) -> list[TrendPoint]:
        """Close the buckets that are due; ``active_phases`` maps unit → running phase ref."""
        points: list[TrendPoint] = []
        mono = time.monotonic()
        for tag, bucket in list(self._buckets.items()):
            unit = tag.split(".", 1)[0]
            span = ACTIVE_BUCKET_S if bucket.active or unit in active_phases else IDLE_BUCKET_S
            if bucket.count == 0 or (not force and mono - bucket.started < span):
                continue
            places = self.decimals[tag]
            points.append(
                TrendPoint(
                    tag=tag,
                    at=now,
                    minimum=to_decimal(bucket.minimum, places),
                    mean=to_decimal(bucket.total / bucket.count, places),
                    maximum=to_decimal(bucket.maximum, places),
                    last=to_decimal(bucket.last, places),
                    samples=bucket.count,
                    phase_ref=active_phases.get(unit),
                )
            )
            self._buckets[tag] = _Bucket()
        return points


def prune_idle(session: Session, *, before: dt.datetime) -> int:
    """Delete idle trend buckets (no phase) from before ``before``; returns how many went."""
    if before.tzinfo is None:
        raise ValueError("the retention cut-off must be an aware datetime")
    result = session.execute(delete(TrendPoint).where(TrendPoint.phase_ref.is_(None), TrendPoint.at < before))
    return int(getattr(result, "rowcount", 0) or 0)
