"""Scaling a master recipe to a batch size: the control recipe's quantities (pure).

* The requested size must lie within the recipe's ``batch_size.min``..``max``
  (same unit); otherwise :class:`ScalingError`.
* factor = requested / nominal. Only formula parameters flagged ``scaled`` and
  material lines flagged ``scaled`` (the default for materials) are multiplied;
  a scaled parameter's limits scale with it. Absolute tolerances stay as written
  (they express the resolution of the scale or meter, not the batch), percentage
  tolerances are relative anyway.
* Each scaled value is rounded half-up to its own ``precision`` if stated,
  otherwise to the default precision of its unit (``recipes.units``: kg to
  0.001, g to 0.01, L to 0.01, ...).
* Every ``{param: name}`` reference in the phases is resolved to the (scaled)
  value, so a control recipe is concrete: the batch reads plain Decimals.
* A yield's theoretical quantity: a reference takes the (scaled) value; a literal
  is for the nominal size and scales with the batch (rounded to its unit's precision).
* The control recipe's ``batch_size.nominal`` is the requested size.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from ebr.core.errors import RecipeError
from recipes.model import (
    BatchSize,
    BillOfMaterials,
    Formula,
    MaterialLine,
    Operation,
    Parameter,
    ParamRef,
    Phase,
    Recipe,
    UnitProcedure,
    YieldSpec,
)
from recipes.units import default_precision, round_to


class ScalingError(RecipeError):
    """A batch size is outside the recipe's range, or a reference cannot be resolved."""


def scale(recipe: Recipe, batch_size: Decimal) -> Recipe:
    """The control recipe of ``recipe`` for ``batch_size`` (in the recipe's batch-size unit)."""
    size = Decimal(batch_size)
    limits = recipe.batch_size
    if not limits.min <= size <= limits.max:
        raise ScalingError(
            f"batch size {size} {limits.unit} is outside the range of recipe {recipe.name} "
            f"({limits.min}–{limits.max} {limits.unit}); choose a size within it"
        )
    factor = size / limits.nominal
    formula = Formula(tuple(_scale_parameter(p, factor) for p in recipe.formula.parameters))
    bom = BillOfMaterials(tuple(_scale_material(m, factor) for m in recipe.bill_of_materials.materials))
    scaled = dataclasses.replace(
        recipe,
        formula=formula,
        bill_of_materials=bom,
        batch_size=BatchSize(nominal=size, min=limits.min, max=limits.max, unit=limits.unit),
    )
    return dataclasses.replace(
        scaled,
        unit_procedures=tuple(_resolve_up(scaled, up, factor) for up in recipe.unit_procedures),
        yield_=_resolve_yield(scaled, recipe.yield_, factor),
    )


def _resolve_yield(recipe: Recipe, spec: YieldSpec | None, factor: Decimal) -> YieldSpec | None:
    """A referenced theoretical yield takes the scaled parameter; a literal one scales with the batch."""
    if spec is None:
        return None
    if isinstance(spec.theoretical, ParamRef):
        return dataclasses.replace(spec, theoretical=resolve_reference(recipe, spec.theoretical))
    return dataclasses.replace(spec, theoretical=_round(spec.theoretical * factor, None, spec.unit))


def resolve_reference(recipe: Recipe, ref: ParamRef) -> Decimal:
    """The value a reference names: a formula parameter, else a material line's quantity."""
    parameter = recipe.formula.get(ref.param)
    if parameter is not None:
        return parameter.value
    material = recipe.bill_of_materials.get(ref.param)
    if material is not None:
        return material.quantity
    raise ScalingError(f"recipe {recipe.name} has no formula parameter or material {ref.param!r}")


def _round(value: Decimal, precision: Decimal | None, unit: str) -> Decimal:
    return round_to(value, precision if precision is not None else default_precision(unit))


def _scale_parameter(parameter: Parameter, factor: Decimal) -> Parameter:
    if not parameter.scaled:
        return parameter

    def scaled(value: Decimal | None) -> Decimal | None:
        return None if value is None else _round(value * factor, parameter.precision, parameter.unit)

    return dataclasses.replace(
        parameter,
        value=_round(parameter.value * factor, parameter.precision, parameter.unit),
        low=scaled(parameter.low),
        high=scaled(parameter.high),
    )


def _scale_material(material: MaterialLine, factor: Decimal) -> MaterialLine:
    if not material.scaled:
        return material
    return dataclasses.replace(material, quantity=_round(material.quantity * factor, material.precision, material.unit))


def _resolve_up(recipe: Recipe, up: UnitProcedure, factor: Decimal) -> UnitProcedure:
    return dataclasses.replace(
        up,
        operations=tuple(_resolve_op(recipe, op) for op in up.operations),
        yield_=_resolve_yield(recipe, up.yield_, factor),
    )


def _resolve_op(recipe: Recipe, op: Operation) -> Operation:
    return dataclasses.replace(op, phases=tuple(_resolve_phase(recipe, ph) for ph in op.phases))


def _resolve_phase(recipe: Recipe, phase: Phase) -> Phase:
    return dataclasses.replace(phase, params=_resolve_fields(recipe, phase.params))


def _resolve_fields(recipe: Recipe, obj: Any) -> Any:
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, ParamRef):
            changes[f.name] = resolve_reference(recipe, value)
        elif isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
            changes[f.name] = tuple(_resolve_fields(recipe, item) for item in value)
    return dataclasses.replace(obj, **changes) if changes else obj
