"""Yield and material reconciliation: the recipe's declarations checked, and the arithmetic (pure).

A recipe declares a theoretical yield (``yield: {theoretical, unit, actual, low, high}``)
for the batch and, optionally, for each unit procedure; ``actual`` names the phase
whose value is the actual quantity (21 CFR 211.103, 211.186(b)(7)). The limits are
percent of theoretical and **inclusive**: ``low ≤ actual / theoretical × 100 ≤ high``.

A material line may declare ``reconciliation`` (with ``reconciliation_unit``, ``%``
of issued by default): the largest unexplained difference ``issued − consumed −
returned − waste`` allowed, again inclusive: ``|difference| ≤ limit``.

All arithmetic is exact (``Fraction``); percentages are shown as Decimals rounded
half-up to 0.01 only for people, never for the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from recipes.model import (
    Calculation,
    DataEntry,
    Dosing,
    EntryKind,
    MaterialLine,
    ParamRef,
    Phase,
    Recipe,
    WeighDispense,
    YieldSpec,
)
from recipes.units import compatible
from recipes.units import problem as unit_problem

VALUE_ENTRY = {DataEntry: "value", WeighDispense: "net", Dosing: "actual", Calculation: "result"}
"""The step entry holding a phase's quantity, by parameter class."""

HUNDRED = Fraction(100)
SHOWN = Decimal("0.01")


def quantity_of(phase: Phase) -> tuple[str, str | None] | None:
    """The entry name and unit of the quantity ``phase`` produces, or None if it produces none."""
    params = phase.params
    if isinstance(params, DataEntry) and params.kind is not EntryKind.NUMERIC:
        return None
    entry = VALUE_ENTRY.get(type(params))
    if entry is None:
        return None
    return entry, getattr(params, "unit", None)


# -- checks -------------------------------------------------------------------------------


def check(recipe: Recipe) -> list[str]:
    """Every problem of the recipe's yields and reconciliation limits, as ``where: what``."""
    out: list[str] = []
    for n, up in enumerate(recipe.unit_procedures):
        if up.yield_ is not None:
            out += _yield(recipe, f"unit_procedures[{n}].yield", up.yield_, scope=up.id)
    if recipe.yield_ is not None:
        out += _yield(recipe, "yield", recipe.yield_, scope=None)
    for n, line in enumerate(recipe.bill_of_materials.materials):
        out += _reconciliation(f"bill_of_materials.materials[{n}]", line)
    return out


def _yield(recipe: Recipe, where: str, spec: YieldSpec, *, scope: str | None) -> list[str]:
    why = unit_problem(spec.unit)
    out = [f"{where}.unit: {why}"] if why else []
    out += _theoretical(recipe, where, spec)
    if spec.low is None and spec.high is None:
        out.append(f"{where}: give low, high or both (percent of theoretical)")
    if spec.low is not None and spec.low < 0:
        out.append(f"{where}.low: must not be negative, got {spec.low}")
    if spec.low is not None and spec.high is not None and spec.low > spec.high:
        out.append(f"{where}.low: {spec.low} is above high {spec.high}")
    try:
        phase = recipe.phase(spec.actual)
    except KeyError:
        return [*out, f"{where}.actual: {spec.actual!r} is not a phase of the recipe (write UP1.OP2.PH3)"]
    if scope is not None and not spec.actual.startswith(f"{scope}."):
        out.append(f"{where}.actual: {spec.actual} is not in unit procedure {scope}; name one of its phases")
    produced = quantity_of(phase)
    if produced is None:
        out.append(
            f"{where}.actual: {spec.actual} ({phase.type.value}) records no quantity; name a numeric data entry, "
            "weighing, dosing or calculation"
        )
    elif produced[1] is None or (not why and not compatible(produced[1], spec.unit)):
        out.append(
            f"{where}.actual: unit mismatch: {spec.actual} is in {produced[1] or 'no unit'}, the yield in {spec.unit}"
        )
    return out


def _theoretical(recipe: Recipe, where: str, spec: YieldSpec) -> list[str]:
    if isinstance(spec.theoretical, ParamRef):
        name = spec.theoretical.param
        parameter, material = recipe.formula.get(name), recipe.bill_of_materials.get(name)
        source = parameter.unit if parameter else material.unit if material else None
        if source is None:
            return [f"{where}.theoretical: missing parameter or material {name!r} in the formula/bill of materials"]
        if unit_problem(spec.unit) is None and not compatible(source, spec.unit):
            return [f"{where}.theoretical: unit mismatch: {name} is in {source}, the yield in {spec.unit}"]
    value = recipe.value(spec.theoretical)
    if value <= 0:
        return [f"{where}.theoretical: must be positive, got {value}"]
    return []


def _reconciliation(where: str, line: MaterialLine) -> list[str]:
    out: list[str] = []
    if line.reconciliation is None:
        return out
    if line.reconciliation < 0:
        out.append(f"{where}.reconciliation: must not be negative, got {line.reconciliation}")
    unit = line.reconciliation_unit
    why = unit_problem(unit)
    if why:
        out.append(f"{where}.reconciliation_unit: {why}")
    elif unit not in ("%", line.unit):
        out.append(
            f"{where}.reconciliation_unit: unit mismatch: {unit} for a material in {line.unit} (use % or {line.unit})"
        )
    return out


# -- arithmetic ---------------------------------------------------------------------------


def percent(actual: Decimal, theoretical: Decimal) -> Fraction:
    """``actual / theoretical × 100``, exact; ``theoretical`` must be positive."""
    if theoretical <= 0:
        raise ValueError(f"theoretical quantity must be positive, got {theoretical}")
    return Fraction(actual) * HUNDRED / Fraction(theoretical)


def within(value: Fraction, low: Decimal | None, high: Decimal | None) -> bool:
    """Inclusive limits: ``low ≤ value ≤ high``; a missing limit does not bind."""
    return (low is None or Fraction(low) <= value) and (high is None or value <= Fraction(high))


def shown(value: Fraction) -> Decimal:
    """A percentage for people: rounded half-up to 0.01 (the verdict uses the exact value)."""
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(SHOWN, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Balance:
    """One container (or a material's total): issued − consumed − returned − waste = difference."""

    issued: Decimal
    consumed: Decimal
    returned: Decimal
    waste: Decimal

    @property
    def difference(self) -> Decimal:
        """The unexplained quantity (positive: missing; negative: more accounted for than issued)."""
        return self.issued - self.consumed - self.returned - self.waste

    def __add__(self, other: Balance) -> Balance:
        return Balance(
            self.issued + other.issued,
            self.consumed + other.consumed,
            self.returned + other.returned,
            self.waste + other.waste,
        )


ZERO = Balance(Decimal(0), Decimal(0), Decimal(0), Decimal(0))


def reconciled(balance: Balance, limit: Decimal | None, limit_unit: str) -> bool | None:
    """Whether ``|difference| ≤ limit`` (inclusive; ``%`` of issued, else in the material's unit).

    None when the line declares no limit. With nothing issued a percentage limit allows no difference.
    """
    if limit is None:
        return None
    allowed = Fraction(limit) * Fraction(balance.issued) / HUNDRED if limit_unit == "%" else Fraction(limit)
    return abs(Fraction(balance.difference)) <= allowed
