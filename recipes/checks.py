"""Semantic checks of a recipe: references, units, limits and the step graph (pure).

:func:`check` returns every problem as ``"<document path>: <what is wrong>"``,
with the same paths as the authoring format. Names in expressions resolve as
``recipes.formula`` documents them; a calculation may read only results of
phases written before it (document order) that produce a value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields
from decimal import Decimal
from typing import Any

from recipes import formula, graph, yields
from recipes.model import (
    Amount,
    Calculation,
    DataEntry,
    Dosing,
    EntryKind,
    ParamRef,
    Phase,
    PhaseType,
    Recipe,
    Sample,
    SignOff,
    TimedHold,
    WeighDispense,
)
from recipes.units import compatible, dimension
from recipes.units import problem as unit_problem

NO_VALUE = frozenset({PhaseType.INSTRUCTION, PhaseType.SIGN_OFF, PhaseType.EQUIPMENT_CHECK})
"""Phase types whose result is not a value an expression can read."""

FLOW = {"mass": "mass_flow", "volume": "volume_flow"}


def check(recipe: Recipe) -> list[str]:
    """Every semantic problem of ``recipe``; empty when it is sound."""
    problems = _header(recipe)
    results = _value_phases(recipe)
    names = set(results) | {p.name for p in recipe.formula.parameters}
    problems += graph.check_level(
        "", [up.id for up in recipe.unit_procedures], recipe.transitions, _names_checker(names)
    )
    problems += _parallel_units(recipe)
    problems += _ambiguous_names(recipe)
    problems += yields.check(recipe)
    earlier: dict[str, str] = {}
    for i, up in enumerate(recipe.unit_procedures):
        where = f"unit_procedures[{i}]"
        if up.equipment.min_capacity is not None and not up.equipment.capacity_unit:
            problems.append(f"{where}.equipment.capacity_unit: required with min_capacity")
        if up.equipment.min_capacity is None and up.equipment.capacity_unit is not None:
            problems.append(f"{where}.equipment.capacity_unit: a unit without min_capacity; give both or neither")
        if up.equipment.capacity_unit is not None:
            problems += _unit(f"{where}.equipment.capacity_unit", up.equipment.capacity_unit)
        if up.equipment.min_capacity is not None and up.equipment.min_capacity <= 0:
            problems.append(f"{where}.equipment.min_capacity: must be positive, got {up.equipment.min_capacity}")
        problems += graph.check_level(
            f"{where}.", [op.id for op in up.operations], up.transitions, _names_checker(names)
        )
        for j, op in enumerate(up.operations):
            local = {ph.id for ph in op.phases if f"{up.id}.{op.id}.{ph.id}" in results}
            problems += graph.check_level(
                f"{where}.operations[{j}].", [ph.id for ph in op.phases], op.transitions, _names_checker(names | local)
            )
            for k, phase in enumerate(op.phases):
                path = f"{up.id}.{op.id}.{phase.id}"
                context = _PhaseContext(recipe, f"{where}.operations[{j}].phases[{k}]", path, up.equipment.unit)
                problems += context.check(phase, earlier, op.id)
                if path in results:
                    earlier[path] = phase.id
    return problems


def _ambiguous_names(recipe: Recipe) -> list[str]:
    """A phase id equal to a parameter name would make expressions ambiguous."""
    parameters = {p.name for p in recipe.formula.parameters}
    return [
        f"unit_procedures[{i}].operations[{j}].phases[{k}].id: {phase.id!r} is also a formula parameter; "
        "rename one (expressions could not tell them apart)"
        for i, up in enumerate(recipe.unit_procedures)
        for j, op in enumerate(up.operations)
        for k, phase in enumerate(op.phases)
        if phase.id in parameters
    ]


def _names_checker(known: set[str]) -> Callable[[formula.Expression], list[str]]:
    def unknown(expression: formula.Expression) -> list[str]:
        return sorted(expression.names - known)

    return unknown


def _value_phases(recipe: Recipe) -> set[str]:
    return {path for path, phase in recipe.phases() if phase.type not in NO_VALUE}


def _header(recipe: Recipe) -> list[str]:
    problems: list[str] = _unit("batch_size.unit", recipe.batch_size.unit)
    size = recipe.batch_size
    if not Decimal(0) < size.min <= size.nominal <= size.max:
        problems.append(f"batch_size: need 0 < min ≤ nominal ≤ max, got {size.min}, {size.nominal}, {size.max}")
    problems += _duplicates("formula.parameters", [p.name for p in recipe.formula.parameters], "parameter")
    for n, p in enumerate(recipe.formula.parameters):
        where = f"formula.parameters[{n}]"
        problems += _unit(f"{where}.unit", p.unit)
        problems += _range(where, p.low, p.value, p.high, "value")
        problems += _precision(where, p.precision)
    problems += _duplicates(
        "bill_of_materials.materials", [m.code for m in recipe.bill_of_materials.materials], "material"
    )
    for n, m in enumerate(recipe.bill_of_materials.materials):
        where = f"bill_of_materials.materials[{n}]"
        problems += _unit(f"{where}.unit", m.unit) + _unit(f"{where}.tolerance_unit", m.tolerance_unit)
        if m.quantity <= 0:
            problems.append(f"{where}.quantity: must be positive, got {m.quantity}")
        problems += _tolerance(where, m.tolerance, m.tolerance_unit, m.unit)
        problems += _precision(where, m.precision)
    clash = {p.name for p in recipe.formula.parameters} & {m.code for m in recipe.bill_of_materials.materials}
    problems += [f"formula.parameters: {name!r} is also a material code; rename one" for name in sorted(clash)]
    return problems


def _unit(where: str, symbol: str) -> list[str]:
    why = unit_problem(symbol)
    return [f"{where}: {why}"] if why else []


def _units_of(where: str, params: Any) -> list[str]:
    """Every unit field of a phase's parameters (``unit``, ``rate_unit``, setpoints' units)."""
    out: list[str] = []
    for f in fields(params):
        value = getattr(params, f.name)
        if (f.name == "unit" or f.name.endswith("_unit")) and isinstance(value, str):
            out += _unit(f"{where}.{f.name}", value)
        elif f.name == "setpoints":
            out += [m for n, sp in enumerate(value) for m in _unit(f"{where}.setpoints[{n}].unit", sp.unit)]
        elif f.name == "specifications":
            at = f"{where}.specifications"
            out += [m for n, s in enumerate(value) if s.unit for m in _unit(f"{at}[{n}].unit", s.unit)]
    return out


def _duplicates(where: str, items: Sequence[str], what: str) -> list[str]:
    seen: set[str] = set()
    out = []
    for item in items:
        if item in seen:
            out.append(f"{where}: duplicate {what} {item!r}")
        seen.add(item)
    return out


def _specifications(where: str, sample: Sample) -> list[str]:
    """A sample's declared specifications: each for one of its tests, once, with a limit and low ≤ high."""
    out = _duplicates(f"{where}.specifications", [s.test for s in sample.specifications], "test")
    for n, spec in enumerate(sample.specifications):
        at = f"{where}.specifications[{n}]"
        if spec.test not in sample.tests:
            out.append(f"{at}.test: {spec.test!r} is not one of the sample's tests ({', '.join(sample.tests)})")
        if spec.low is None and spec.high is None:
            out.append(f"{at}: give low, high or both")
        out += _range(at, spec.low, None, spec.high, "test")
    return out


def _range(where: str, low: Decimal | None, value: Decimal | None, high: Decimal | None, name: str) -> list[str]:
    out = []
    if low is not None and high is not None and low > high:
        out.append(f"{where}.low: {low} is above high {high}")
    if value is not None and low is not None and value < low:
        out.append(f"{where}.{name}: {value} is below low {low}")
    if value is not None and high is not None and value > high:
        out.append(f"{where}.{name}: {value} is above high {high}")
    return out


def _precision(where: str, precision: Decimal | None) -> list[str]:
    if precision is not None and precision <= 0:
        return [f"{where}.precision: must be positive, got {precision}"]
    return []


def _tolerance(where: str, tolerance: Decimal, tolerance_unit: str, unit: str) -> list[str]:
    out = []
    if tolerance < 0:
        out.append(f"{where}.tolerance: must not be negative, got {tolerance}")
    if tolerance_unit != "%" and not compatible(tolerance_unit, unit):
        out.append(
            f"{where}.tolerance_unit: unit mismatch: {tolerance_unit} for a quantity in {unit} (use % or {unit})"
        )
    return out


def _parallel_units(recipe: Recipe) -> list[str]:
    units = {up.id: up.equipment.unit for up in recipe.unit_procedures}
    out = []
    for n, transition in enumerate(recipe.transitions):
        seen: dict[str, str] = {}
        for target in transition.targets:
            unit = units.get(target)
            if unit and unit in seen:
                out.append(
                    f"transitions[{n}].to: {seen[unit]} and {target} run in parallel on the same unit {unit}; "
                    "parallel branches need different units"
                )
            elif unit:
                seen[unit] = target
    return out


class _PhaseContext:
    """Checks of one phase at one place in the document."""

    def __init__(self, recipe: Recipe, where: str, path: str, unit: str | None) -> None:
        self.recipe, self.where, self.path, self.unit = recipe, where, path, unit

    def check(self, phase: Phase, earlier: dict[str, str], op_id: str) -> list[str]:
        out = _meanings(f"{self.where}.signatures", phase.signatures)
        params = phase.params
        out += _units_of(self.where, params)
        if isinstance(params, WeighDispense):
            out += self._weigh(params)
        elif isinstance(params, Dosing):
            out += self._dosing(params)
        elif isinstance(params, TimedHold):
            out += self._hold(params)
        elif isinstance(params, DataEntry):
            out += self._entry(params)
        elif isinstance(params, Calculation):
            out += self._calculation(params, earlier, op_id)
        elif isinstance(params, Sample):
            if params.quantity is not None:
                out += self._amount("quantity", params.quantity, params.unit or "")
                out += self._positive("quantity", params.quantity)
            out += _specifications(self.where, params)
        elif isinstance(params, SignOff):
            out += _meanings(f"{self.where}.meanings", params.meanings, required=True)
        return out

    def _amount(self, field: str, amount: Amount | None, unit: str) -> list[str]:
        if not isinstance(amount, ParamRef):
            return []
        parameter = self.recipe.formula.get(amount.param)
        material = self.recipe.bill_of_materials.get(amount.param)
        source_unit = parameter.unit if parameter else material.unit if material else None
        if source_unit is None:
            return [
                f"{self.where}.{field}: missing parameter or material {amount.param!r} in the formula/bill of materials"
            ]
        if not compatible(source_unit, unit):
            return [f"{self.where}.{field}: unit mismatch: {amount.param} is in {source_unit}, the phase uses {unit}"]
        return []

    def _positive(self, field: str, amount: Amount | None, *, zero: bool = False) -> list[str]:
        """A quantity, rate or duration below zero (or at zero, unless ``zero``) is refused."""
        value = self._literal(amount)
        if value is None or value > 0 or (zero and value == 0):
            return []
        what = "must not be negative" if zero else "must be positive"
        via = f" ({amount.param})" if isinstance(amount, ParamRef) else ""
        return [f"{self.where}.{field}: {what}, got {value}{via}"]

    def _literal(self, amount: Amount | None) -> Decimal | None:
        if amount is None:
            return None
        try:
            return self.recipe.value(amount)
        except KeyError:
            return None

    def _material(self, code: str | None, unit: str) -> list[str]:
        if code is None:
            return []
        line = self.recipe.bill_of_materials.get(code)
        if line is None:
            return [f"{self.where}.material: missing material {code!r}: it is not in the bill of materials"]
        if not compatible(line.unit, unit):
            return [f"{self.where}.unit: unit mismatch: material {code} is in {line.unit}, the phase uses {unit}"]
        return []

    def _weigh(self, p: WeighDispense) -> list[str]:
        out = self._material(p.material, p.unit)
        if dimension(p.unit) != "mass":
            out.append(f"{self.where}.unit: unit mismatch: {p.unit} is not a mass; weighing is in mg, g, kg or t")
        out += self._amount("target", p.target, p.unit) + self._positive("target", p.target)
        return out + _tolerance(self.where, p.tolerance, p.tolerance_unit, p.unit)

    def _dosing(self, p: Dosing) -> list[str]:
        out = self._material(p.material, p.unit)
        out += self._amount("target", p.target, p.unit) + _tolerance(self.where, p.tolerance, p.tolerance_unit, p.unit)
        out += self._positive("target", p.target) + self._positive("rate", p.rate)
        if dimension(p.unit) not in FLOW:
            out.append(f"{self.where}.unit: unit mismatch: {p.unit} is neither a mass nor a volume")
        if (p.rate is None) != (p.rate_unit is None):
            out.append(f"{self.where}.rate_unit: give rate and rate_unit together")
        elif p.rate_unit is not None and dimension(p.rate_unit) != FLOW.get(dimension(p.unit)):
            out.append(f"{self.where}.rate_unit: unit mismatch: {p.rate_unit} is not a flow of {p.unit}")
        else:
            out += self._amount("rate", p.rate, p.rate_unit or "")
        if self.unit and p.destination != self.unit:
            out.append(f"{self.where}.destination: {p.destination} is not the unit of its unit procedure ({self.unit})")
        return out

    def _hold(self, p: TimedHold) -> list[str]:
        out = []
        if dimension(p.unit) != "time":
            out.append(f"{self.where}.unit: unit mismatch: {p.unit} is not a time (s, min, h)")
        out += self._amount("min_duration", p.min_duration, p.unit) + self._amount(
            "max_duration", p.max_duration, p.unit
        )
        out += self._positive("min_duration", p.min_duration, zero=True)
        out += self._positive("max_duration", p.max_duration)
        low, high = self._literal(p.min_duration), self._literal(p.max_duration)
        if low is not None and high is not None and low > high:
            out.append(f"{self.where}.max_duration: {high} is shorter than min_duration {low}")
        for n, sp in enumerate(p.setpoints):
            out += self._amount(f"setpoints[{n}].value", sp.value, sp.unit)
        return out

    def _entry(self, p: DataEntry) -> list[str]:
        if p.kind is not EntryKind.NUMERIC:
            out = []
            if any(v is not None for v in (p.target, p.low, p.high, p.unit)):
                out.append(f"{self.where}: only numeric entries have a unit, target or limits")
            if p.kind is EntryKind.CHOICE and len(set(p.choices)) < 2:
                out.append(f"{self.where}.choices: a choice needs at least two different options")
            return out
        if not p.unit:
            return [f"{self.where}.unit: required for a numeric entry"]
        out = [m for f in ("target", "low", "high") for m in self._amount(f, getattr(p, f), p.unit)]
        return out + _range(self.where, self._literal(p.low), self._literal(p.target), self._literal(p.high), "target")

    def _calculation(self, p: Calculation, earlier: dict[str, str], op_id: str) -> list[str]:
        where = f"{self.where}.expression"
        try:
            expression = formula.parse(p.expression)
        except formula.ExpressionError as exc:
            return [f"{where}: {exc}"]
        prefix = self.path.rsplit(".", 1)[0] + "."
        known = set(earlier) | {p.name for p in self.recipe.formula.parameters}
        known |= {pid for full, pid in earlier.items() if full.startswith(prefix)}
        out = [
            f"{where}: {name!r} is not a formula parameter or the result of an earlier phase"
            for name in sorted(expression.names - known)
        ]
        if p.unit:
            out += [m for f in ("low", "high") for m in self._amount(f, getattr(p, f), p.unit)]
        out += _range(self.where, self._literal(p.low), None, self._literal(p.high), "expression")
        return out + _precision(self.where, p.precision)


def _meanings(where: str, meanings: Iterable[str], *, required: bool = False) -> list[str]:
    listed = list(meanings)
    out = []
    if required and not listed:
        out.append(f"{where}: name at least one meaning (performed, verified, witnessed)")
    if len(set(listed)) != len(listed):
        out.append(f"{where}: a meaning is listed twice")
    return out
