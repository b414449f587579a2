"""Actual yield and material reconciliation of a batch, and the deviations they open.

* **Yield** (21 CFR 211.103, 211.186(b)(7)): for each yield the control recipe
  declares (per unit procedure and for the batch), the actual quantity is the
  current (not corrected away) value of the phase it names (``value``, ``net``,
  ``actual`` or ``result``), converted exactly to the yield's unit; the
  percentage of theoretical is judged against the inclusive limits.
* **Reconciliation** per material and container: *issued* is what the container
  held before the batch first took from it (less what other batches took from it
  while this one used it; later takes, after it went back to stock, do not count),
  *consumed* what the batch took
  (``material_consumption``), *returned* and *waste* what the operator recorded
  (``material_return``; without a record, returned is the book remainder and
  waste zero). ``issued − consumed − returned − waste`` must lie within the
  material line's ``reconciliation`` limit.
* :func:`evaluate` opens one major deviation per yield or material outside its
  limits (211.192: investigate), at most once each; it runs when the batch
  completes and after every recorded return.

Everything is exact (Decimal and Fraction); nothing here commits.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.chain import Entity
from ebr.core.errors import NotFound, StateError, ValidationError
from ebr.core.ids import new_id
from ebr.core.units import compatible, convert
from ebr.execution import deviations
from ebr.execution.context import Context
from ebr.execution.models import Batch, BatchStep, Deviation, MaterialReturn, StepEntry
from ebr.execution.rules import BatchStatus, DeviationKind, Severity
from ebr.materials.models import Container, Lot, MaterialConsumption
from recipes import yields as rules
from recipes.model import Recipe, YieldSpec

RETURNABLE = (BatchStatus.IN_EXECUTION.value, BatchStatus.COMPLETE.value)


@dataclass(frozen=True)
class YieldResult:
    """One declared yield of a batch: theoretical, actual (None until its step has a value) and verdict."""

    scope: str
    theoretical: Decimal
    unit: str
    step: str
    actual: Decimal | None
    low: Decimal | None
    high: Decimal | None
    percent: Fraction | None = None

    @property
    def within(self) -> bool | None:
        """Inside its inclusive limits; None while there is no actual yet."""
        return None if self.percent is None else rules.within(self.percent, self.low, self.high)

    def summary(self) -> str:
        """One line for people: ``actual of theoretical unit = p % (limits low–high %)``."""
        where = "the batch" if self.scope == "batch" else f"unit procedure {self.scope}"
        limits = f"{self.low if self.low is not None else '–'}–{self.high if self.high is not None else '–'} %"
        if self.percent is None:
            return f"yield of {where}: no actual yet from {self.step} (theoretical {self.theoretical} {self.unit})"
        return (
            f"yield of {where}: {self.actual} of {self.theoretical} {self.unit} = "
            f"{rules.shown(self.percent)} % (limits {limits})"
        )

    def as_json(self) -> dict[str, Any]:
        """The record's and the API's form (decimal strings)."""
        return {
            "scope": self.scope,
            "step": self.step,
            "unit": self.unit,
            "theoretical": self.theoretical,
            "actual": self.actual,
            "percent": None if self.percent is None else rules.shown(self.percent),
            "low": self.low,
            "high": self.high,
            "within": self.within,
        }


@dataclass
class MaterialBalance:
    """The reconciliation of one material: a balance per container and the total against the limit."""

    code: str
    unit: str
    limit: Decimal | None
    limit_unit: str
    containers: dict[str, rules.Balance] = field(default_factory=dict)
    recorded: set[str] = field(default_factory=set)

    @property
    def total(self) -> rules.Balance:
        """The sum over the containers."""
        total = rules.ZERO
        for balance in self.containers.values():
            total = total + balance
        return total

    @property
    def within(self) -> bool | None:
        """Whether the unexplained difference is within the limit; None without a limit."""
        return rules.reconciled(self.total, self.limit, self.limit_unit)

    def summary(self) -> str:
        """One line for people naming the balance and the limit."""
        t = self.total
        limit = "no limit" if self.limit is None else f"limit ±{self.limit} {self.limit_unit}"
        return (
            f"reconciliation of {self.code}: issued {t.issued} − consumed {t.consumed} − returned {t.returned} "
            f"− waste {t.waste} = {t.difference} {self.unit} ({limit})"
        )

    def as_json(self) -> dict[str, Any]:
        """The record's and the API's form: per container and in total (decimal strings)."""

        def balance(b: rules.Balance) -> dict[str, Any]:
            return {
                "issued": b.issued,
                "consumed": b.consumed,
                "returned": b.returned,
                "waste": b.waste,
                "difference": b.difference,
            }

        return {
            "material": self.code,
            "unit": self.unit,
            "limit": self.limit,
            "limit_unit": self.limit_unit,
            "containers": [
                {"container": c, "recorded": c in self.recorded, **balance(b)}
                for c, b in sorted(self.containers.items())
            ],
            "total": balance(self.total),
            "within": self.within,
        }


def batch_yields(session: Session, batch: Batch, recipe: Recipe) -> list[YieldResult]:
    """Every yield the control recipe declares, with its actual from the batch's entries."""
    return [_yield(session, batch, recipe, scope, spec) for scope, spec in recipe.yields()]


def of_batch(session: Session, batch: Batch) -> tuple[list[YieldResult], list[MaterialBalance]]:
    """The yields and the reconciliation of ``batch`` from its control recipe (for pages and records)."""
    recipe = Recipe.from_dict(batch.control_recipe)
    return batch_yields(session, batch, recipe), reconciliation(session, batch, recipe)


def produced(session: Session, batch: Batch, recipe: Recipe) -> Decimal:
    """The output lot's quantity: the batch's actual yield when it is measured in the batch size's
    dimension (converted to its unit), else the batch size (e.g. bottles counted for a batch in litres)."""
    spec = recipe.yield_
    if spec is None or not compatible(spec.unit, batch.size_unit):
        return batch.size
    actual = _yield(session, batch, recipe, "batch", spec).actual
    return batch.size if actual is None else convert(actual, spec.unit, batch.size_unit)


def _yield(session: Session, batch: Batch, recipe: Recipe, scope: str, spec: YieldSpec) -> YieldResult:
    theoretical = recipe.value(spec.theoretical)
    produced = rules.quantity_of(recipe.phase(spec.actual))
    actual = None
    if produced is not None:
        entry = session.scalars(
            select(StepEntry)
            .join(BatchStep, StepEntry.step_id == BatchStep.id)
            .where(
                BatchStep.batch_id == batch.id,
                BatchStep.path == spec.actual,
                StepEntry.name == produced[0],
                StepEntry.superseded_at.is_(None),
            )
            .order_by(StepEntry.recorded_at.desc())
        ).first()
        if entry is not None:
            actual = convert(Decimal(entry.value), entry.unit or produced[1] or spec.unit, spec.unit)
    percent = None if actual is None else rules.percent(actual, theoretical)
    return YieldResult(scope, theoretical, spec.unit, spec.actual, actual, spec.low, spec.high, percent)


def reconciliation(session: Session, batch: Batch, recipe: Recipe) -> list[MaterialBalance]:
    """Every material the batch took from containers, reconciled by container."""
    takes = session.execute(
        select(MaterialConsumption, Lot.material_code)
        .join(Lot, Lot.id == MaterialConsumption.lot_id)
        .where(MaterialConsumption.batch_id == batch.id, MaterialConsumption.container.is_not(None))
        .order_by(MaterialConsumption.consumed_at)
    ).all()
    consumed: dict[str, Decimal] = defaultdict(Decimal)
    first: dict[str, Any] = {}
    last: dict[str, Any] = {}
    material_of: dict[str, tuple[str, str]] = {}
    for take, code in takes:
        barcode = str(take.container)
        consumed[barcode] += take.quantity
        first.setdefault(barcode, take.consumed_at)
        last[barcode] = take.consumed_at
        material_of[barcode] = (code, take.unit)
    returns = {
        r.container: r for r in session.scalars(select(MaterialReturn).where(MaterialReturn.batch_id == batch.id))
    }
    out: dict[str, MaterialBalance] = {}
    for barcode, (code, unit) in sorted(material_of.items()):
        line = recipe.bill_of_materials.get(code)
        material = out.setdefault(
            code,
            MaterialBalance(
                code,
                unit,
                None if line is None else line.reconciliation,
                "%" if line is None else line.reconciliation_unit,
            ),
        )
        issued = _issued(session, batch, barcode, first[barcode], last[barcode])
        used, recorded = consumed[barcode], returns.get(barcode)
        if recorded is None:
            material.containers[barcode] = rules.Balance(issued, used, issued - used, Decimal(0))
        else:
            material.recorded.add(barcode)
            material.containers[barcode] = rules.Balance(issued, used, recorded.returned, recorded.waste)
    return list(out.values())


def _issued(session: Session, batch: Batch, barcode: str, first: Any, last: Any) -> Decimal:
    """What the container held for the batch: its quantity before the batch's first take, less what
    other batches took from it while this one was using it (between its first and last take).

    Only takes lower a container, so that first quantity is its quantity now plus every take since.
    """
    container = session.get(Container, barcode)
    held = Decimal(0) if container is None else container.quantity
    since = session.execute(
        select(MaterialConsumption.quantity, MaterialConsumption.batch_id, MaterialConsumption.consumed_at).where(
            MaterialConsumption.container == barcode, MaterialConsumption.consumed_at >= first
        )
    ).all()
    before = held + sum((q for q, _b, _at in since), Decimal(0))
    shared = sum((q for q, b, at in since if b != batch.id and at <= last), Decimal(0))
    return before - shared


def evaluate(session: Session, ctx: Context, batch: Batch, recipe: Recipe, actor: str) -> list[Deviation]:
    """Open a major deviation for each yield or material outside its limits that has none yet."""
    earlier = deviations.for_batch(session, batch)
    judged_yields = {d.step_path for d in earlier if d.kind == DeviationKind.YIELD.value}
    judged_materials = [d.description for d in earlier if d.kind == DeviationKind.RECONCILIATION.value]
    opened = []
    for result in batch_yields(session, batch, recipe):
        if result.within is False and result.step not in judged_yields:
            opened.append(_open(session, ctx, batch, actor, DeviationKind.YIELD, result.step, result.summary()))
    for material in reconciliation(session, batch, recipe):
        prefix = f"reconciliation of {material.code}:"
        if material.within is False and not any(d.startswith(prefix) for d in judged_materials):
            opened.append(_open(session, ctx, batch, actor, DeviationKind.RECONCILIATION, None, material.summary()))
    return opened


def _open(
    session: Session, ctx: Context, batch: Batch, actor: str, kind: DeviationKind, where: str | None, summary: str
) -> Deviation:
    return deviations.open_deviation(
        session,
        ctx,
        actor=actor,
        batch=batch,
        step_path=where,
        kind=kind,
        severity=Severity.MAJOR,
        description=f"{summary}: outside its limits; investigate (21 CFR 211.192)",
    )


def record_return(
    session: Session,
    ctx: Context,
    *,
    actor: str,
    ref: str,
    container: str,
    returned: Decimal,
    waste: Decimal,
) -> tuple[MaterialReturn, list[Deviation]]:
    """Record what came back in ``container`` (re-weighed) and what was wasted; may open a deviation.

    Refused: a batch not in execution or complete, a container the batch did not take
    from, a negative quantity, a second record for the same container. Audited as
    ``batch.material.returned`` in the caller's transaction.
    """
    batch = ctx.batch(session, ref, lock=True)
    if batch.status not in RETURNABLE:
        raise StateError(
            f"batch {batch.number} is {batch.status}; returns are recorded while it is in execution or complete"
        )
    barcode = container.strip()
    take = session.scalars(
        select(MaterialConsumption).where(
            MaterialConsumption.batch_id == batch.id, MaterialConsumption.container == barcode
        )
    ).first()
    if take is None:
        raise NotFound(f"batch {batch.number} took nothing from container {barcode!r}; scan a container it used")
    for name, value in (("returned", returned), ("waste", waste)):
        if not value.is_finite() or value < 0:
            raise ValidationError(f"{name} must be a quantity of zero or more in {take.unit}, got {value}")
    if session.scalar(
        select(MaterialReturn.id).where(MaterialReturn.batch_id == batch.id, MaterialReturn.container == barcode)
    ):
        raise StateError(
            f"the return of container {barcode} is already recorded for batch {batch.number}; "
            "a wrong figure is handled through a deviation"
        )
    row = MaterialReturn(
        id=new_id(),
        batch_id=batch.id,
        container=barcode,
        returned=returned,
        waste=waste,
        unit=take.unit,
        recorded_at=ctx.clock.now(),
        recorded_by=actor,
    )
    session.add(row)
    session.flush()
    ctx.record(
        session,
        actor=actor,
        action="batch.material.returned",
        entity=Entity("batch", batch.number),
        after={"container": barcode, "returned": returned, "waste": waste, "unit": take.unit},
    )
    recipe = ctx.plan(session, batch).recipe
    return row, evaluate(session, ctx, batch, recipe, actor)
