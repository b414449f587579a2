"""KPIs of a scope (area, unit, product, shift) over a window, from the state history and the
batches' recipes and lots (the arithmetic is ``kpi``; definitions in docs/performance.md).

* effectiveness: ideal time (``ideal``) of the phases that ended on the scope's units in the
  window ÷ the running time; a phase with no stated ideal counts its actual time;
* quality: released ÷ (released + rejected) quantity of the lots made by batches that ended in
  the window, by QA's batch decision or the lot's status (undecided lots are ``pending``, in neither);
* planned vs actual batch duration: the sum of the ideal phase times vs start → end.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ebr.execution.models import Batch, BatchStep
from ebr.execution.rules import LotStatus
from ebr.materials.models import Lot
from ebr.performance import ideal, services
from ebr.performance.config import PerformanceConfig
from ebr.performance.kpi import (
    STOPS,
    Interval,
    Kpis,
    ShiftWindow,
    StateKind,
    pareto,
    shift_windows,
    total,
    unit_times,
)
from recipes.model import Recipe


@dataclass(frozen=True)
class Scope:
    """What to compute for: an area, optionally one unit, one product, one shift."""

    area: str | None = None
    unit: str | None = None
    product: str | None = None
    shift: str | None = None

    def label(self) -> str:
        parts = [f"{k} {v}" for k, v in (("area", self.area), ("unit", self.unit), ("product", self.product),
                                           ("shift", self.shift)) if v]  # fmt: skip
        return ", ".join(parts) or "plant"


@dataclass
class BatchTime:
    number: str
    product: str
    started: dt.datetime | None
    ended: dt.datetime | None
    planned_seconds: Fraction
    actual_seconds: Fraction | None


@dataclass
class Report:
    """Everything the pages, the API and the export show for one scope and window."""

    scope: Scope
    since: dt.datetime
    until: dt.datetime
    units: list[str]
    kpis: Kpis
    intervals: list[Interval]
    windows: list[ShiftWindow]
    pending_lots: int = 0
    batches: list[BatchTime] = field(default_factory=list)
    by_unit: dict[str, Kpis] = field(default_factory=dict)

    @property
    def pareto(self) -> list[tuple[str, Fraction, int]]:
        return pareto(i for i in self.intervals if i.state in STOPS)


class _Recipes:
    """Ideal phase times per recipe version, parsed once per report."""

    def __init__(self, session: Session, config: PerformanceConfig) -> None:
        self.session, self.config = session, config
        self.cache: dict[str, dict[str, Fraction | None]] = {}

    def of(self, batch_id: str) -> dict[str, Fraction | None]:
        if batch_id not in self.cache:
            data = self.session.scalar(select(Batch.control_recipe).where(Batch.id == batch_id))
            self.cache[batch_id] = (
                ideal.recipe_seconds(Recipe.from_dict(data), self.config.ideal_seconds) if data else {}
            )
        return self.cache[batch_id]


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a report is built.

    A year of history is ~10⁵ small tuples and intervals, none in a reference cycle; the
    collector's passes over a heap that holds SQLAlchemy and matplotlib took half of the
    time (benchmarks/oee_kpis.py). Reference counting still frees everything at once."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def build(
    session: Session,
    config: PerformanceConfig,
    scope: Scope,
    since: dt.datetime,
    until: dt.datetime,
    *,
    plant_timezone: str,
    per_unit: bool = False,
) -> Report:
    """The report of ``scope`` between ``since`` and ``until`` (UTC-aware)."""
    with _collector_paused():
        return _build(session, config, scope, since, until, plant_timezone=plant_timezone, per_unit=per_unit)


def _build(
    session: Session,
    config: PerformanceConfig,
    scope: Scope,
    since: dt.datetime,
    until: dt.datetime,
    *,
    plant_timezone: str,
    per_unit: bool,
) -> Report:
    if until <= since:
        from ebr.core.errors import ValidationError

        raise ValidationError("the window is empty: 'until' must be after 'since'")
    units = [scope.unit] if scope.unit else services.units_of(session, scope.area)
    intervals = services.history(session, units, since, until)
    products = _products(session, {i.batch for i in intervals if i.batch})
    if scope.product:
        intervals = [i if products.get(i.batch or "") == scope.product else _planned(i) for i in intervals]
    windows = shift_windows(config.shifts, since, until, config.zone(plant_timezone))
    if scope.shift:
        windows = [w for w in windows if w.name == scope.shift]
    recipes = _Recipes(session, config)
    steps = _steps(session, units, since, until, scope.product)
    spent = unit_times(intervals, windows, since, until, units=units, threshold=config.stop_threshold)
    ideal_by_unit = _ideal(steps, recipes)
    area = Kpis(total(spent.values()), sum(ideal_by_unit.values(), Fraction(0)), Fraction(0), Fraction(0))
    report = Report(scope, since, until, units, area, intervals, windows)
    report.kpis = _with_quality(session, report.kpis, steps, since, until, scope.product, report)
    if per_unit:
        k = report.kpis
        for unit in units:
            report.by_unit[unit] = Kpis(spent[unit], ideal_by_unit.get(unit, Fraction(0)), k.produced, k.good)
    report.batches = _batch_times(session, steps, recipes)
    return report


def _planned(i: Interval) -> Interval:
    """Time spent on another product: not this product's (counted like planned time, out of its PBT)."""
    return Interval(i.unit, StateKind.PLANNED, i.start, i.end, "other product", i.batch, None, i.id)


def _products(session: Session, numbers: set[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    wanted = sorted(numbers)
    for start in range(0, len(wanted), 500):
        query = select(Batch.number, Batch.product_code).where(Batch.number.in_(wanted[start : start + 500]))
        found.update({n: p for n, p in session.execute(query)})  # noqa: C416 - rows, not pairs
    return found


def _steps(
    session: Session, units: Sequence[str], since: dt.datetime, until: dt.datetime, product: str | None
) -> list[tuple[str, str, str, str, dt.datetime | None, dt.datetime | None]]:
    """Phases that ended on ``units`` in the window: (batch id, number, path, unit, started, ended)."""
    if not units:
        return []
    query = (
        select(Batch.id, Batch.number, BatchStep.path, BatchStep.unit, BatchStep.started_at, BatchStep.ended_at)
        .join(Batch, Batch.id == BatchStep.batch_id)
        .where(BatchStep.level == "phase", BatchStep.unit.in_(list(units)))
        .where(BatchStep.ended_at >= since, BatchStep.ended_at < until)
    )
    if product:
        query = query.where(Batch.product_code == product)
    return [tuple(r) for r in session.execute(query)]  # type: ignore[misc]


def _ideal(steps: list[Any], recipes: _Recipes) -> dict[str, Fraction]:
    """Ideal seconds earned per unit by the phases that ended in the window."""
    found: dict[str, Fraction] = {}
    for batch_id, _number, path, step_unit, started, ended in steps:
        stated = recipes.of(batch_id).get(path)
        if stated is None and started is not None and ended is not None:
            stated = Fraction((ended - started) // dt.timedelta(microseconds=1), 1_000_000)
        found[step_unit] = found.get(step_unit, Fraction(0)) + (stated or 0)
    return found


def _with_quality(
    session: Session, kpis: Kpis, steps: list[Any], since: dt.datetime, until: dt.datetime, product: str | None,
    report: Report,
) -> Kpis:  # fmt: skip
    batch_ids = sorted({s[0] for s in steps})
    good = produced = Decimal(0)
    pending = 0
    for start in range(0, len(batch_ids), 500):
        query = (
            select(Lot.status, Batch.status, Lot.quantity)
            .join(Batch, Batch.id == Lot.produced_by)
            .where(Lot.produced_by.in_(batch_ids[start : start + 500]), Batch.ended_at >= since, Batch.ended_at < until)
        )
        # QA's decision is the batch's release or rejection (or, later, the lot's status).
        for lot_status, batch_status, quantity in session.execute(query):
            decided = {lot_status, batch_status}
            if LotStatus.REJECTED.value in decided:
                produced += quantity
            elif LotStatus.RELEASED.value in decided:
                good += quantity
                produced += quantity
            else:
                pending += 1
    report.pending_lots = pending
    return Kpis(kpis.times, kpis.ideal_seconds, Fraction(produced), Fraction(good))


def _batch_times(session: Session, steps: list[Any], recipes: _Recipes) -> list[BatchTime]:
    ids = sorted({s[0] for s in steps})
    out: list[BatchTime] = []
    for start in range(0, len(ids), 500):
        query = select(Batch.id, Batch.number, Batch.product_code, Batch.started_at, Batch.ended_at)
        for batch_id, number, product, started, ended in session.execute(
            query.where(Batch.id.in_(ids[start : start + 500]))
        ):
            planned = sum((v for v in recipes.of(batch_id).values() if v is not None), Fraction(0))
            actual = (
                None
                if started is None or ended is None
                else Fraction((ended - started) // dt.timedelta(microseconds=1), 1_000_000)
            )
            out.append(BatchTime(number, product, started, ended, planned, actual))
    return sorted(out, key=lambda b: (b.started or b.ended or dt.datetime.min.replace(tzinfo=dt.UTC), b.number))
