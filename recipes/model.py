"""The ISA-88 master recipe as frozen dataclasses (pure; Decimal quantities).

::

    Recipe
    ├── product, batch_size (nominal, min, max, unit)
    ├── formula: parameters (value, unit, limits, scaled flag, precision)
    ├── bill_of_materials: materials (quantity, unit, tolerance, scaled flag)
    ├── yield: theoretical, actual step, limits in % (also per unit procedure)
    ├── unit_procedures ─ each with an equipment requirement
    │   └── operations
    │       └── phases (typed parameters: recipes.phases)
    └── transitions (at every level: the step graph)

Steps of one level form a graph. With no transitions the steps run in list order.
With transitions, the first step is the initial step and each :class:`Transition`
fires when all its ``sources`` are complete and its ``condition`` (a
``recipes.formula`` expression, or none) is true, starting all its ``targets``:
one source to several targets is a parallel split, several sources to one target
a join, two conditional transitions from a step an alternative, and a transition
back to an earlier step a loop. A step with no outgoing transition ends its
branch.

Every phase has a path id ``"<unit procedure id>.<operation id>.<phase id>"``
(e.g. ``"UP1.OP2.PH3"``); ids are given by the author (or default to the
position), so paths are stable across versions. ``to_dict()``/``from_dict()``
give a JSON-able form (Decimals as strings) that is also the YAML authoring form.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from recipes import codec
from recipes.phases import (
    Amount,
    Calculation,
    DataEntry,
    Dosing,
    EntryKind,
    EquipmentCheck,
    Instruction,
    ParamRef,
    PhaseParams,
    PhaseType,
    Sample,
    Setpoint,
    SignOff,
    TimedHold,
    WeighDispense,
)

__all__ = [
    "Amount",
    "BatchSize",
    "BillOfMaterials",
    "Calculation",
    "DataEntry",
    "Dosing",
    "EntryKind",
    "EquipmentCheck",
    "EquipmentRequirement",
    "Formula",
    "Instruction",
    "MaterialLine",
    "Operation",
    "ParamRef",
    "Parameter",
    "Phase",
    "PhaseParams",
    "PhaseType",
    "Product",
    "Recipe",
    "Sample",
    "Setpoint",
    "SignOff",
    "TimedHold",
    "Transition",
    "UnitProcedure",
    "WeighDispense",
    "YieldSpec",
]


@dataclass(frozen=True)
class Transition:
    """Fires when every source step is complete and ``condition`` holds; starts every target."""

    sources: tuple[str, ...] = field(metadata={"key": "from"})
    targets: tuple[str, ...] = field(metadata={"key": "to"})
    condition: str | None = field(default=None, metadata={"key": "when"})


@dataclass(frozen=True)
class Phase:
    """The smallest procedural element: one typed action of the phase library."""

    id: str
    name: str
    type: PhaseType
    params: PhaseParams
    signatures: tuple[str, ...] = ("performed",)
    instructions: str = ""


@dataclass(frozen=True)
class Operation:
    """A sequence (or graph) of phases on one unit."""

    id: str
    name: str
    phases: tuple[Phase, ...]
    transitions: tuple[Transition, ...] = ()


@dataclass(frozen=True)
class EquipmentRequirement:
    """What a unit procedure needs: a unit class with capabilities and capacity, optionally a named unit."""

    unit_class: str
    capabilities: tuple[str, ...] = ()
    min_capacity: Decimal | None = None
    capacity_unit: str | None = None
    unit: str | None = None


@dataclass(frozen=True)
class YieldSpec:
    """Theoretical yield of a unit procedure or the batch, where its actual comes from, and its limits.

    ``actual`` is the path of the phase whose value is the actual quantity (a numeric
    data entry, a weighing's net, a dosing's actual or a calculation's result);
    ``low``/``high`` are percent of ``theoretical``, inclusive (21 CFR 211.103).
    """

    theoretical: Amount
    unit: str
    actual: str
    low: Decimal | None = None
    high: Decimal | None = None


@dataclass(frozen=True)
class UnitProcedure:
    """The operations carried out on one unit."""

    id: str
    name: str
    equipment: EquipmentRequirement
    operations: tuple[Operation, ...]
    transitions: tuple[Transition, ...] = ()
    yield_: YieldSpec | None = field(default=None, metadata={"key": "yield"})


@dataclass(frozen=True)
class Parameter:
    """A formula parameter: value in a unit, optional limits, scaled with the batch or not."""

    name: str
    value: Decimal
    unit: str
    low: Decimal | None = None
    high: Decimal | None = None
    scaled: bool = False
    precision: Decimal | None = None
    description: str = ""


@dataclass(frozen=True)
class Formula:
    """The process parameters of a recipe, apart from its procedure."""

    parameters: tuple[Parameter, ...] = ()

    def get(self, name: str) -> Parameter | None:
        """The parameter called ``name``, or None."""
        return next((p for p in self.parameters if p.name == name), None)


@dataclass(frozen=True)
class MaterialLine:
    """A material of the bill of materials for the nominal batch size."""

    code: str
    name: str
    quantity: Decimal
    unit: str
    tolerance: Decimal = Decimal(0)
    tolerance_unit: str = "%"
    scaled: bool = True
    precision: Decimal | None = None
    # The largest unexplained difference (issued − consumed − returned − waste), in % of issued or the unit.
    reconciliation: Decimal | None = None
    reconciliation_unit: str = "%"


@dataclass(frozen=True)
class BillOfMaterials:
    """The materials a batch of nominal size consumes."""

    materials: tuple[MaterialLine, ...] = ()

    def get(self, code: str) -> MaterialLine | None:
        """The line for material ``code``, or None."""
        return next((m for m in self.materials if m.code == code), None)


@dataclass(frozen=True)
class Product:
    """What the recipe makes."""

    code: str
    name: str


@dataclass(frozen=True)
class BatchSize:
    """Nominal batch size and the range the recipe is valid for."""

    nominal: Decimal
    min: Decimal
    max: Decimal
    unit: str


@dataclass(frozen=True)
class Recipe:
    """A master recipe (or, once scaled, a control recipe): the procedure is the unit procedures."""

    name: str
    title: str
    product: Product
    batch_size: BatchSize
    unit_procedures: tuple[UnitProcedure, ...]
    formula: Formula = Formula()
    bill_of_materials: BillOfMaterials = BillOfMaterials()
    transitions: tuple[Transition, ...] = ()
    description: str = ""
    yield_: YieldSpec | None = field(default=None, metadata={"key": "yield"})

    def yields(self) -> Iterator[tuple[str, YieldSpec]]:
        """Every declared yield with its scope: a unit procedure's id, or ``"batch"``."""
        for up in self.unit_procedures:
            if up.yield_ is not None:
                yield up.id, up.yield_
        if self.yield_ is not None:
            yield "batch", self.yield_

    def phases(self) -> Iterator[tuple[str, Phase]]:
        """Every phase with its path id (``"UP1.OP2.PH3"``), in document order."""
        for up in self.unit_procedures:
            for op in up.operations:
                for phase in op.phases:
                    yield f"{up.id}.{op.id}.{phase.id}", phase

    def phase(self, path: str) -> Phase:
        """The phase at ``path``; raises KeyError naming the path if there is none."""
        for candidate, phase in self.phases():
            if candidate == path:
                return phase
        raise KeyError(f"recipe {self.name} has no phase {path}")

    def value(self, amount: Amount) -> Decimal:
        """A literal, or the value a reference names (formula parameter, else material quantity)."""
        if isinstance(amount, ParamRef):
            parameter = self.formula.get(amount.param)
            if parameter is not None:
                return parameter.value
            material = self.bill_of_materials.get(amount.param)
            if material is None:
                raise KeyError(f"recipe {self.name} has no formula parameter or material {amount.param}")
            return material.quantity
        return amount

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (Decimals as strings); also the YAML authoring form."""
        data: dict[str, Any] = codec.encode(self)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recipe:
        """The recipe from :meth:`to_dict`'s form (trusted input; authoring input goes through recipes.authoring)."""
        recipe: Recipe = codec.decode_dataclass(cls, dict(data))
        return recipe
