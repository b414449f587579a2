"""What the andon board of an area shows, read in one short transaction.

A tile per unit: its state and cause, since when, the batch and step on it, the step's
elapsed time against its ideal (planned) time, open alarms; and for the area who is
needed: completed steps waiting for a second person's verification, open deviations.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.orm import Session

from ebr.execution.engine import pending_verification
from ebr.execution.models import Batch, BatchStep, Deviation
from ebr.performance import ideal, services
from ebr.performance.config import PerformanceConfig
from ebr.performance.kpi import seconds
from equipment.models import Alarm
from recipes.model import Recipe


@dataclass
class Tile:
    unit: str
    state: str = "planned"
    cause: str = "no state recorded yet"
    since: dt.datetime | None = None
    batch: str | None = None
    step: str | None = None
    step_name: str | None = None
    elapsed: Fraction | None = None
    planned: Fraction | None = None
    alarms: list[str] = field(default_factory=list)

    @property
    def late(self) -> bool:
        return self.elapsed is not None and self.planned is not None and self.elapsed > self.planned


@dataclass
class Board:
    area: str
    at: dt.datetime
    tiles: list[Tile]
    verifications: list[str]
    deviations: list[str]


def board(session: Session, config: PerformanceConfig, area: str, now: dt.datetime) -> Board:
    """The andon board of ``area`` at ``now``."""
    tiles = [_tile(session, config, unit, now) for unit in services.units_of(session, area)]
    batches = sorted({t.batch for t in tiles if t.batch})
    verifications: list[str] = []
    deviations: list[str] = []
    if batches:
        query_ids = select(Batch.id, Batch.number).where(Batch.number.in_(batches))
        ids: dict[str, str] = {i: n for i, n in session.execute(query_ids)}  # noqa: C416 - rows, not pairs
        steps = session.scalars(
            select(BatchStep).where(
                BatchStep.batch_id.in_(list(ids)), BatchStep.level == "phase", BatchStep.state == "complete"
            )
        )
        verifications = sorted(f"{ids[s.batch_id]} {s.path} {s.name}" for s in steps if pending_verification(s))
        query = select(Deviation.number, Deviation.batch_id, Deviation.description).where(
            Deviation.batch_id.in_(list(ids)), Deviation.closed_at.is_(None)
        )
        deviations = [f"{n} ({ids[b]}): {d[:80]}" for n, b, d in session.execute(query)]
    return Board(area, now, tiles, verifications, sorted(deviations))


def _tile(session: Session, config: PerformanceConfig, unit: str, now: dt.datetime) -> Tile:
    tile = Tile(unit)
    row = services.latest(session, unit)
    if row is not None:
        tile.state, tile.cause, tile.since = row.state, row.cause, row.since
        tile.batch, tile.step = row.batch_number, row.step_path
    query = select(Alarm.condition, Alarm.message).where(Alarm.unit == unit, Alarm.acknowledged_at.is_(None))
    tile.alarms = [f"{c}: {m}"[:120] for c, m in session.execute(query.order_by(Alarm.at.desc()).limit(3))]
    if tile.batch and tile.step:
        found = session.execute(
            select(BatchStep.name, BatchStep.started_at, BatchStep.ended_at, Batch.id)
            .join(Batch, Batch.id == BatchStep.batch_id)
            .where(Batch.number == tile.batch, BatchStep.path == tile.step)
        ).first()
        if found is not None:
            name, started, ended, batch_id = found
            tile.step_name = name
            if started is not None:
                tile.elapsed = seconds((ended or now) - started)
            recipe = session.scalar(select(Batch.control_recipe).where(Batch.id == batch_id))
            if recipe:
                tile.planned = ideal.phase_seconds(Recipe.from_dict(recipe), tile.step, config.ideal_seconds)
    return tile


def minutes(value: Fraction | None) -> str:
    """``m:ss`` for the board (— when unknown)."""
    if value is None:
        return "—"
    whole = int(value)
    return f"{whole // 60}:{whole % 60:02d}"
