"""BatchML V0701 export of a master recipe (``BatchInformation`` / ``MasterRecipe``).

Mapping (import in ``recipes.batchml_import`` reads the same):

* ``MasterRecipe/ID`` = recipe name, ``Version``, ``Description`` = title then description,
  ``Header`` = product id and name, batch size (nominal, min, max, unit).
* ``Formula/Parameter``: formula parameters as ``ProcessParameter`` (value, unit,
  ``Scaled``; low/high/precision/description as child parameters), materials as
  ``ProcessInput`` (quantity, unit, ``Scaled``; name, tolerance and precision as
  child parameters; ``reconciliation`` and its unit when declared); yields as
  ``ProcessOutput`` (ID ``yield`` for the batch, ``yield.UP1`` for a unit
  procedure; value = theoretical quantity or a Reference; ``actual``, ``low``,
  ``high`` as child parameters).
* ``RecipeElement`` (UnitProcedure ⊃ Operation ⊃ Phase), ``ID`` = the path id
  (``UP1.OP2.PH3``), ``Description`` = name. A unit procedure's equipment
  requirement is an ``EquipmentRequirement`` with ``Constraint``s. A phase's type,
  signatures, instructions and typed parameters are ``Parameter``s: decimals with
  ``DataType`` decimal and their unit, references to the formula with
  ``DataInterpretation`` Reference, lists as several ``ValueString``s, setpoints
  as child parameters. Fields at their default are left out.
* ``ProcedureLogic`` at every level: one ``Step`` per child element, and for
  explicit transitions a ``Transition`` (``Condition`` = the expression, or
  ``TRUE``) linked from its source steps and to its target steps.

The extension groups of V0701 are empty, so nothing is put outside the schema;
every document written is validated before it is returned.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from enum import Enum
from functools import cache
from importlib import resources
from typing import Any

from lxml import etree

from ebr.core.canonical import decimal_text
from ebr.core.errors import RecipeError
from recipes.model import (
    EquipmentRequirement,
    MaterialLine,
    Operation,
    Parameter,
    ParamRef,
    Phase,
    Recipe,
    Transition,
    UnitProcedure,
    YieldSpec,
)

NS = "http://www.mesa.org/xml/B2MML"
NS_V02 = "http://www.wbf.org/xml/BatchML-V02"
SCHEMA_FILE = "BatchML-BatchInformation.xsd"
UNIT_OF = {"tolerance": "tolerance_unit", "rate": "rate_unit", "min_capacity": "capacity_unit"}
TRUE = "TRUE"


class BatchMLError(RecipeError):
    """A BatchML document is malformed, fails the schema, or cannot be mapped."""


def schema_path() -> str:
    """File path of the V0701 BatchInformation schema shipped with the package."""
    return str(resources.files("recipes").joinpath("schemas", "batchml-v0701", SCHEMA_FILE))


@cache
def schema() -> etree.XMLSchema:
    """The compiled V0701 BatchInformation schema (compiled once per process)."""
    return etree.XMLSchema(etree.parse(schema_path()))


def schema_problems(document: etree._ElementTree) -> list[str]:
    """Every schema violation of ``document`` as ``line N: message``."""
    validator = schema()
    if validator.validate(document):
        return []
    return [f"line {e.line}: {e.message}" for e in validator.error_log]


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{NS}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def _value(parent: etree._Element, texts: list[str], *, data_type: str, unit: str = "", ref: bool = False) -> None:
    value = _sub(parent, "Value")
    for text in texts:
        _sub(value, "ValueString", text)
    _sub(value, "DataInterpretation", "Reference" if ref else "Constant")
    _sub(value, "DataType", data_type)
    _sub(value, "UnitOfMeasure", unit)


def _parameter(
    parent: etree._Element, ident: str, *, kind: str = "ProcessParameter", description: str | None = None
) -> etree._Element:
    element = _sub(parent, "Parameter")
    _sub(element, "ID", ident)
    if description:
        _sub(element, "Description", description)
    if kind in ("ProcessParameter", "ProcessInput", "ProcessOutput"):
        _sub(element, "ParameterType", kind)
    else:
        _sub(element, "ParameterType", "Other", OtherValue=kind)
    return element


def _field_parameter(parent: etree._Element, name: str, value: Any, unit: str) -> None:
    """One field of a phase (or setpoint) as a Parameter; see the module docstring."""
    element = _parameter(parent, name, kind="ebr:field")
    if isinstance(value, ParamRef):
        _value(element, [value.param], data_type="decimal", unit=unit, ref=True)
    elif isinstance(value, Decimal):
        _value(element, [decimal_text(value)], data_type="decimal", unit=unit)
    elif isinstance(value, bool):
        _value(element, ["true" if value else "false"], data_type="boolean")
    elif isinstance(value, int):
        _value(element, [str(value)], data_type="integer")
    elif isinstance(value, Enum):
        _value(element, [str(value.value)], data_type="string")
    elif isinstance(value, str):
        _value(element, [value], data_type="string")
    elif isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
        for n, item in enumerate(value, start=1):
            _fields(_parameter(element, str(n), kind="ebr:item"), item)
    elif isinstance(value, tuple):
        if value:
            _value(element, [str(v) for v in value], data_type="string")
    else:
        raise BatchMLError(f"cannot write field {name} of type {type(value).__name__} to BatchML")


def _fields(parent: etree._Element, obj: Any, *, skip: tuple[str, ...] = ()) -> None:
    """The fields of ``obj`` that differ from their defaults, each as a Parameter."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.name in skip or value is None:
            continue
        if f.default is not dataclasses.MISSING and value == f.default:
            continue
        unit_field = UNIT_OF.get(f.name, "unit")
        unit = getattr(obj, unit_field, None) if hasattr(obj, unit_field) else None
        _field_parameter(parent, f.name, value, unit or "")


def _formula(parent: etree._Element, recipe: Recipe) -> None:
    formula = _sub(parent, "Formula")
    for p in recipe.formula.parameters:
        _formula_parameter(formula, p)
    for m in recipe.bill_of_materials.materials:
        _material(formula, m)
    for scope, spec in recipe.yields():
        _yield(formula, scope, spec)


def _yield(parent: etree._Element, scope: str, spec: YieldSpec) -> None:
    """A yield as a ProcessOutput: ID ``yield`` (batch) or ``yield.<unit procedure>``."""
    element = _parameter(parent, "yield" if scope == "batch" else f"yield.{scope}", kind="ProcessOutput")
    if isinstance(spec.theoretical, ParamRef):
        _value(element, [spec.theoretical.param], data_type="decimal", unit=spec.unit, ref=True)
    else:
        _value(element, [decimal_text(spec.theoretical)], data_type="decimal", unit=spec.unit)
    _field_parameter(element, "actual", spec.actual, "")
    for name in ("low", "high"):
        if getattr(spec, name) is not None:
            _field_parameter(element, name, getattr(spec, name), "%")


def _formula_parameter(parent: etree._Element, p: Parameter) -> None:
    element = _parameter(parent, p.name, description=p.description or None)
    _value(element, [decimal_text(p.value)], data_type="decimal", unit=p.unit)
    _sub(element, "Scaled", "Yes" if p.scaled else "No")
    for name in ("low", "high", "precision"):
        if getattr(p, name) is not None:
            _field_parameter(element, name, getattr(p, name), p.unit)


def _material(parent: etree._Element, m: MaterialLine) -> None:
    element = _parameter(parent, m.code, kind="ProcessInput", description=m.name)
    _value(element, [decimal_text(m.quantity)], data_type="decimal", unit=m.unit)
    _sub(element, "Scaled", "Yes" if m.scaled else "No")
    _field_parameter(element, "tolerance", m.tolerance, m.tolerance_unit)
    _field_parameter(element, "tolerance_unit", m.tolerance_unit, "")
    if m.precision is not None:
        _field_parameter(element, "precision", m.precision, m.unit)
    if m.reconciliation is not None:
        _field_parameter(element, "reconciliation", m.reconciliation, m.reconciliation_unit)
        _field_parameter(element, "reconciliation_unit", m.reconciliation_unit, "")


def _logic(parent: etree._Element, steps: list[tuple[str, str]], transitions: tuple[Transition, ...]) -> None:
    logic = _sub(parent, "ProcedureLogic")
    links = 0

    def link(source: str, source_type: str, target: str, target_type: str) -> None:
        nonlocal links
        links += 1
        element = _sub(logic, "Link")
        _sub(element, "ID", f"L{links}")
        for tag, value, kind in (("FromID", source, source_type), ("ToID", target, target_type)):
            end = _sub(element, tag)
            _sub(end, f"{tag[:-2]}IDValue", value)
            _sub(end, f"{tag[:-2]}Type", kind)
            _sub(end, "IDScope", "Internal")
        _sub(element, "LinkType", "ControlLink")
        _sub(element, "Depiction", "LineAndArrow")

    for n, t in enumerate(transitions, start=1):
        for source in t.sources:
            link(source, "Step", f"T{n}", "Transition")
        for target in t.targets:
            link(f"T{n}", "Transition", target, "Step")
    for step_id, element_id in steps:
        step = _sub(logic, "Step")
        _sub(step, "ID", step_id)
        _sub(step, "RecipeElementID", element_id)
        _sub(step, "RecipeElementVersion", "1")
    for n, t in enumerate(transitions, start=1):
        element = _sub(logic, "Transition")
        _sub(element, "ID", f"T{n}")
        _sub(element, "Condition", t.condition if t.condition is not None else TRUE)


def _element(parent: etree._Element, ident: str, name: str, kind: str) -> etree._Element:
    element = _sub(parent, "RecipeElement")
    _sub(element, "ID", ident)
    _sub(element, "Description", name)
    _sub(element, "RecipeElementType", kind)
    return element


def _equipment(parent: etree._Element, eq: EquipmentRequirement) -> None:
    element = _sub(parent, "EquipmentRequirement")
    _sub(element, "ID", eq.unit_class)
    constraints = [("capability", c) for c in eq.capabilities]
    if eq.min_capacity is not None:
        constraints.append(("min_capacity", f"{decimal_text(eq.min_capacity)} {eq.capacity_unit or ''}".strip()))
    if eq.unit:
        constraints.append(("unit", eq.unit))
    for key, condition in constraints:
        constraint = _sub(element, "Constraint")
        _sub(constraint, "ID", key)
        _sub(constraint, "Condition", condition)


def _phase(parent: etree._Element, path: str, phase: Phase) -> None:
    element = _element(parent, path, phase.name, "Phase")
    _field_parameter(element, "type", phase.type, "")
    _fields(element, phase, skip=("id", "name", "type", "params"))
    _fields(element, phase.params)


def _operation(parent: etree._Element, prefix: str, op: Operation) -> None:
    path = f"{prefix}.{op.id}"
    element = _element(parent, path, op.name, "Operation")
    _logic(element, [(ph.id, f"{path}.{ph.id}") for ph in op.phases], op.transitions)
    for phase in op.phases:
        _phase(element, f"{path}.{phase.id}", phase)


def _unit_procedure(parent: etree._Element, up: UnitProcedure) -> None:
    element = _element(parent, up.id, up.name, "UnitProcedure")
    _equipment(element, up.equipment)
    _logic(element, [(op.id, f"{up.id}.{op.id}") for op in up.operations], up.transitions)
    for op in up.operations:
        _operation(element, up.id, op)


def to_element(recipe: Recipe, *, version: str | None = None) -> etree._Element:
    """The ``BatchInformation`` element holding ``recipe`` as one ``MasterRecipe``."""
    root = etree.Element(f"{{{NS}}}BatchInformation", nsmap={None: NS})
    master = _sub(root, "MasterRecipe")
    _sub(master, "ID", recipe.name)
    if version is not None:
        _sub(master, "Version", version)
    _sub(master, "Description", recipe.title)
    if recipe.description:
        _sub(master, "Description", recipe.description)
    header = _sub(master, "Header")
    _sub(header, "ProductID", recipe.product.code)
    _sub(header, "ProductName", recipe.product.name)
    size = _sub(header, "BatchSize")
    for tag, amount in (("Nominal", recipe.batch_size.nominal), ("Min", recipe.batch_size.min)):
        _sub(size, tag, decimal_text(amount), unitCode=recipe.batch_size.unit)
    _sub(size, "Max", decimal_text(recipe.batch_size.max), unitCode=recipe.batch_size.unit)
    _sub(size, "UnitOfMeasure", recipe.batch_size.unit)
    _formula(master, recipe)
    _logic(master, [(up.id, up.id) for up in recipe.unit_procedures], recipe.transitions)
    for up in recipe.unit_procedures:
        _unit_procedure(master, up)
    return root


def export_batchml(recipe: Recipe, *, version: str | None = None, validate: bool = True) -> bytes:
    """``recipe`` as a BatchML V0701 document (UTF-8 bytes), validated against the schema."""
    root = to_element(recipe, version=version)
    if validate:
        problems = schema_problems(etree.ElementTree(root))
        if problems:
            raise BatchMLError(
                f"the BatchML written for {recipe.name} fails the V0701 schema (a bug; report it): {problems[0]}"
            )
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return data
