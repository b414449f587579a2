"""Request and response bodies of ``/api/materials`` and ``/api/lots`` (marshmallow).

Lengths are those of the columns: longer input is refused here, never cut or failed
in the database. Quantities are decimal strings (or JSON numbers read exactly).
"""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from ebr.api.schemas import DecimalText, SignatureIn, Strict

_LOT = validate.Length(min=1, max=60)


class MaterialIn(Strict):
    code = fields.String(required=True, validate=validate.Length(min=1, max=64))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    unit = fields.String(required=True, validate=validate.Length(min=1, max=16))
    hazardous = fields.Boolean(load_default=False)
    allergen = fields.Boolean(load_default=False)
    hazard_note = fields.String(load_default="", validate=validate.Length(max=2000))
    storage = fields.String(load_default="", validate=validate.Length(max=200), metadata={"example": "15-25 °C, dry"})
    retest_interval_days = fields.Integer(load_default=None, allow_none=True, strict=True)
    potency_applies = fields.Boolean(load_default=False)
    label_text = fields.String(load_default="", validate=validate.Length(max=500))


class MaterialOut(ma.Schema):
    code = fields.String()
    name = fields.String()
    unit = fields.String()
    hazardous = fields.Boolean()
    allergen = fields.Boolean()
    hazard_note = fields.String()
    storage = fields.String()
    retest_interval_days = fields.Integer(allow_none=True)
    potency_applies = fields.Boolean()
    label_text = fields.String()


class ReceiptIn(Strict):
    material = fields.String(required=True, validate=validate.Length(min=1, max=64))
    lot_number = fields.String(required=True, validate=_LOT, metadata={"description": "our lot number"})
    supplier = fields.String(required=True, validate=validate.Length(min=1, max=200))
    supplier_lot = fields.String(required=True, validate=validate.Length(min=1, max=64))
    containers = fields.List(
        DecimalText(),
        required=True,
        validate=validate.Length(min=1, max=999),
        metadata={"description": "the quantity in each container, in the material's unit"},
    )
    expires_on = fields.Date(required=True)
    retest_on = fields.Date(load_default=None, allow_none=True, metadata={"description": "default: the interval"})
    received_on = fields.Date(load_default=None, allow_none=True, metadata={"description": "default: today"})
    potency = DecimalText(load_default=None, allow_none=True, metadata={"description": "percent, from the CoA"})


class DispositionIn(Strict):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    signature = fields.Nested(SignatureIn, required=True)
    version = fields.Integer(
        load_default=None, allow_none=True, strict=True, metadata={"description": "the lot version shown"}
    )


class RetestIn(Strict):
    retest_on = fields.Date(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    signature = fields.Nested(SignatureIn, required=True)


class SampleIn(Strict):
    container = fields.String(required=True, validate=validate.Length(min=1, max=64))
    quantity = DecimalText(required=True)
    purpose = fields.String(required=True, validate=validate.Length(min=1, max=500))


class SampleOut(ma.Schema):
    id = fields.String()
    container = fields.String()
    quantity = DecimalText()
    unit = fields.String()
    purpose = fields.String()
    taken_at = fields.DateTime()
    taken_by = fields.String()


class StockOut(ma.Schema):
    barcode = fields.String()
    unit = fields.String()
    received = fields.String(allow_none=True)
    issued = fields.String()
    sampled = fields.String()
    remaining = fields.String()


class LotOut(ma.Schema):
    id = fields.String()
    lot_number = fields.String()
    material = fields.String()
    status = fields.String()
    expires_on = fields.String()
    retest_on = fields.String(allow_none=True)
    received_on = fields.String(allow_none=True)
    supplier = fields.String(allow_none=True)
    supplier_lot = fields.String(allow_none=True)
    potency = DecimalText(allow_none=True)
    quantity = DecimalText()
    unit = fields.String()
    produced_by = fields.String(allow_none=True)
    version = fields.Integer()
    containers = fields.Dict(keys=fields.String(), values=DecimalText())


class TraceGraphOut(ma.Schema):
    kind = fields.String()
    subject = fields.String()
    lots = fields.Dict()
    batches = fields.List(fields.String())
    links = fields.List(fields.Dict())


class LotIn(Strict):
    material = fields.String(required=True, validate=validate.Length(min=1, max=64))
    lot_number = fields.String(required=True, validate=validate.Length(min=1, max=64))
    quantity = DecimalText(required=True)
    expires_on = fields.Date(required=True)
    potency = DecimalText(load_default=None, allow_none=True)
    containers = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=64)), values=DecimalText(), load_default=None
    )


class LotStatusIn(Strict):
    status = fields.String(required=True, metadata={"enum": ["quarantine", "released", "rejected", "expired"]})
    reason = fields.String(required=True)
    signature = fields.Nested(SignatureIn, required=True)


class TraceOut(ma.Schema):
    backward = fields.Dict()
    forward = fields.Dict()
