"""Marshmallow schemas of the YAML authoring format (structure and types only).

The format is :meth:`recipes.model.Recipe.to_dict`'s: what is exported as YAML
imports again. Unknown keys are errors (a typo must not drop a limit silently).
Cross-references, units and the step graph are checked afterwards by
``recipes.checks`` on the typed model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from ebr.core.inputs import DEFAULT, number_problem
from recipes.phases import EQUIPMENT_CHECKS, MEANINGS, EntryKind, PhaseType

ID = validate.Regexp(r"^[A-Za-z][A-Za-z0-9_-]{0,39}$", error="not an id (a letter, then letters, digits, _ or -)")
NAME = validate.And(
    validate.Length(min=1, max=200, error="must be 1 to 200 characters"),
    # BatchML and the pages trim names: " x " would not come back as written.
    validate.Regexp(r"^\S(.*\S)?$", flags=re.DOTALL, error="must not be blank or start or end with a space"),
)
TEXT_MAX = 4000
TEXT = validate.Length(max=TEXT_MAX, error=f"must be at most {TEXT_MAX} characters")
PARAM_NAME = validate.Regexp(r"^[a-z][a-z0-9_]*$", error="not a parameter name (lower_snake_case)")
RECIPE_NAME = validate.Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$", error="not a recipe name (letters, digits, _ . -; no spaces or @)"
)


MAX_DIGITS = DEFAULT.max_digits


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool | float) or not isinstance(value, Decimal | int | str):
        raise ValidationError("not a decimal")
    if isinstance(value, Decimal):  # read by ebr.core.inputs from plain text; only its size is left to check
        if not value.is_finite():
            raise ValidationError("not a finite decimal")
        if max(len(value.as_tuple().digits), value.adjusted() + 1) > MAX_DIGITS:
            raise ValidationError(f"a number longer than the {MAX_DIGITS} digits a quantity can have")
        return value
    # Text must be a plain decimal as people write it: no exponent, hex, _ or non-ASCII digits.
    text = str(value).strip()
    problem = number_problem(text)
    if problem:
        raise ValidationError(problem)
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValidationError("not a decimal") from None


class DecimalField(fields.Field[Decimal]):
    """An exact decimal (YAML numbers are read as Decimals by ``recipes.authoring``)."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> Decimal:
        return _decimal(value)


class AmountField(fields.Field[Any]):
    """A decimal, or ``{param: name}``: a reference to a formula parameter or material."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> Any:
        if isinstance(value, Mapping):
            if set(value) != {"param"} or not isinstance(value["param"], str) or not value["param"]:
                raise ValidationError("a reference must be written {param: <parameter or material>}")
            return {"param": value["param"]}
        try:
            return _decimal(value)
        except ValidationError:
            raise ValidationError("not a decimal or {param: name}") from None


def _req(field: fields.Field[Any]) -> fields.Field[Any]:
    field.required = True
    return field


def _str(*, required: bool = False, validator: Any = NAME, allow_none: bool = False) -> fields.String:
    return fields.String(required=required, validate=validator, allow_none=allow_none)


def _strings(choices: tuple[str, ...] | None = None, *, required: bool = False) -> fields.List[str]:
    inner = fields.String(validate=validate.OneOf(choices)) if choices else fields.String(validate=NAME)
    return fields.List(inner, required=required)


class TransitionSchema(Schema):
    sources = fields.List(fields.String(validate=ID), required=True, data_key="from", validate=validate.Length(min=1))
    targets = fields.List(fields.String(validate=ID), required=True, data_key="to", validate=validate.Length(min=1))
    condition = fields.String(data_key="when", allow_none=True, validate=validate.Length(min=1, max=500))


class PhaseBase(Schema):
    id = _str(validator=ID)
    name = _str(required=True)
    type = fields.String(required=True, validate=validate.OneOf([t.value for t in PhaseType]))
    signatures = _strings(MEANINGS)
    instructions = _str(validator=TEXT)


class InstructionSchema(PhaseBase):
    text = _str(required=True, validator=TEXT)


class DataEntrySchema(PhaseBase):
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in EntryKind]))
    prompt = _str(required=True, validator=TEXT)
    unit = _str(allow_none=True)
    target = AmountField(allow_none=True)
    low = AmountField(allow_none=True)
    high = AmountField(allow_none=True)
    choices = _strings()
    max_length = fields.Integer(allow_none=True, strict=True, validate=validate.Range(min=1, max=4000))


class WeighDispenseSchema(PhaseBase):
    material = _str(required=True)
    target = _req(AmountField())
    unit = _str(required=True)
    tolerance = _req(DecimalField())
    tolerance_unit = _str(required=True)
    potency_adjusted = fields.Boolean()
    scale = _str(allow_none=True)


class DosingSchema(PhaseBase):
    source = _str(required=True)
    destination = _str(required=True)
    target = _req(AmountField())
    unit = _str(required=True)
    tolerance = _req(DecimalField())
    tolerance_unit = _str(required=True)
    material = _str(allow_none=True)
    rate = AmountField(allow_none=True)
    rate_unit = _str(allow_none=True)


class SetpointSchema(Schema):
    tag = _str(required=True)
    value = _req(AmountField())
    unit = _str(required=True)


class TimedHoldSchema(PhaseBase):
    min_duration = _req(AmountField())
    unit = _str(required=True)
    max_duration = AmountField(allow_none=True)
    setpoints = fields.List(fields.Nested(SetpointSchema))


class EquipmentCheckSchema(PhaseBase):
    equipment = _str(required=True)
    checks = _strings(EQUIPMENT_CHECKS, required=True)


class TestSpecSchema(Schema):
    __test__ = False  # not a pytest test class, despite its name

    test = _str(required=True)
    low = DecimalField(allow_none=True)
    high = DecimalField(allow_none=True)
    unit = _str(allow_none=True)


class SampleSchema(PhaseBase):
    tests = _strings(required=True)
    quantity = AmountField(allow_none=True)
    unit = _str(allow_none=True)
    wait_for_result = fields.Boolean()
    specifications = fields.List(fields.Nested(TestSpecSchema))


class CalculationSchema(PhaseBase):
    expression = fields.String(required=True, validate=validate.Length(min=1, max=500))
    unit = _str(allow_none=True)
    precision = DecimalField(allow_none=True)
    low = AmountField(allow_none=True)
    high = AmountField(allow_none=True)


class SignOffSchema(PhaseBase):
    meanings = _strings(MEANINGS, required=True)
    statement = _str(validator=TEXT)


PHASE_SCHEMAS: dict[str, type[Schema]] = {
    PhaseType.INSTRUCTION: InstructionSchema,
    PhaseType.DATA_ENTRY: DataEntrySchema,
    PhaseType.WEIGH_DISPENSE: WeighDispenseSchema,
    PhaseType.DOSING: DosingSchema,
    PhaseType.TIMED_HOLD: TimedHoldSchema,
    PhaseType.EQUIPMENT_CHECK: EquipmentCheckSchema,
    PhaseType.SAMPLE: SampleSchema,
    PhaseType.CALCULATION: CalculationSchema,
    PhaseType.SIGN_OFF: SignOffSchema,
}


@cache
def phase_schema(kind: str) -> Schema:
    """One schema instance per phase type (instances are reusable and costly to build)."""
    return PHASE_SCHEMAS[kind]()


class PhaseField(fields.Field[dict[str, Any]]):
    """A phase: its ``type`` picks the schema of its parameters."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ValidationError("a phase must be a mapping of its fields")
        kind = value.get("type")
        if not isinstance(kind, str) or kind not in PHASE_SCHEMAS:
            known = ", ".join(PHASE_SCHEMAS)
            raise ValidationError({"type": [f"unknown phase type {kind!r} (known: {known})"]})
        loaded: dict[str, Any] = phase_schema(kind).load(value)
        return loaded


class OperationSchema(Schema):
    id = _str(validator=ID)
    name = _str(required=True)
    phases = fields.List(PhaseField(), required=True, validate=validate.Length(min=1))
    transitions = fields.List(fields.Nested(TransitionSchema))


class EquipmentSchema(Schema):
    unit_class = _str(required=True)
    capabilities = _strings()
    min_capacity = DecimalField(allow_none=True)
    capacity_unit = _str(allow_none=True)
    unit = _str(allow_none=True)


class YieldSchema(Schema):
    theoretical = _req(AmountField())
    unit = _str(required=True)
    actual = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[A-Za-z][A-Za-z0-9_-]{0,39}\.[A-Za-z][A-Za-z0-9_-]{0,39}\.[A-Za-z][A-Za-z0-9_-]{0,39}$",
            error="not a phase path (UP1.OP2.PH3)",
        ),
    )
    low = DecimalField(allow_none=True)
    high = DecimalField(allow_none=True)


class UnitProcedureSchema(Schema):
    id = _str(validator=ID)
    name = _str(required=True)
    equipment = fields.Nested(EquipmentSchema, required=True)
    operations = fields.List(fields.Nested(OperationSchema), required=True, validate=validate.Length(min=1))
    transitions = fields.List(fields.Nested(TransitionSchema))
    yield_ = fields.Nested(YieldSchema, data_key="yield", allow_none=True)


class ParameterSchema(Schema):
    name = fields.String(required=True, validate=PARAM_NAME)
    value = _req(DecimalField())
    unit = _str(required=True)
    low = DecimalField(allow_none=True)
    high = DecimalField(allow_none=True)
    scaled = fields.Boolean()
    precision = DecimalField(allow_none=True)
    description = _str(validator=TEXT)


class FormulaSchema(Schema):
    parameters = fields.List(fields.Nested(ParameterSchema))


class MaterialSchema(Schema):
    code = _str(required=True)
    name = _str(required=True)
    quantity = _req(DecimalField())
    unit = _str(required=True)
    tolerance = DecimalField()
    tolerance_unit = _str()
    scaled = fields.Boolean()
    precision = DecimalField(allow_none=True)
    reconciliation = DecimalField(allow_none=True)
    reconciliation_unit = _str()


class BillOfMaterialsSchema(Schema):
    materials = fields.List(fields.Nested(MaterialSchema))


class ProductSchema(Schema):
    code = _str(required=True)
    name = _str(required=True)


class BatchSizeSchema(Schema):
    nominal = _req(DecimalField())
    min = _req(DecimalField())
    max = _req(DecimalField())
    unit = _str(required=True)


class RecipeSchema(Schema):
    name = fields.String(required=True, validate=RECIPE_NAME)
    title = _str(required=True)
    description = _str(validator=TEXT)
    product = fields.Nested(ProductSchema, required=True)
    batch_size = fields.Nested(BatchSizeSchema, required=True)
    formula = fields.Nested(FormulaSchema)
    bill_of_materials = fields.Nested(BillOfMaterialsSchema)
    unit_procedures = fields.List(fields.Nested(UnitProcedureSchema), required=True, validate=validate.Length(min=1))
    transitions = fields.List(fields.Nested(TransitionSchema))
    yield_ = fields.Nested(YieldSchema, data_key="yield", allow_none=True)
