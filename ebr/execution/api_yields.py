"""``/api/batches/<ref>/yield`` and ``/api/batches/<ref>/returns``: a batch's yields and material reconciliation.

Reading needs ``batch.view``; recording what came back in a container (re-weighed)
and what was wasted needs ``batch.execute``, like every other value on the floor.
A return outside the material's reconciliation limit opens a deviation
(``ebr.execution.yields``). Quantities are decimal strings.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from ebr.api.common import actor, blueprint, execution, work
from ebr.api.schemas import DecimalText, ErrorOut, Strict
from ebr.execution import yields
from ebr.web import access
from recipes.model import Recipe

blp = blueprint("api_yields", "/api/batches", "Yield and material reconciliation of a batch")


class YieldOut(ma.Schema):
    scope = fields.String(metadata={"description": "a unit procedure's id, or batch"})
    step = fields.String(metadata={"description": "the phase whose value is the actual quantity"})
    unit = fields.String()
    theoretical = DecimalText()
    actual = DecimalText(allow_none=True)
    percent = DecimalText(allow_none=True, metadata={"description": "rounded to 0.01 for reading"})
    low = DecimalText(allow_none=True)
    high = DecimalText(allow_none=True)
    within = fields.Boolean(allow_none=True, metadata={"description": "inclusive limits; null without an actual"})


class BalanceOut(ma.Schema):
    container = fields.String()
    recorded = fields.Boolean(metadata={"description": "false: returned is the book remainder"})
    issued = DecimalText()
    consumed = DecimalText()
    returned = DecimalText()
    waste = DecimalText()
    difference = DecimalText()


class MaterialBalanceOut(ma.Schema):
    material = fields.String()
    unit = fields.String()
    limit = DecimalText(allow_none=True)
    limit_unit = fields.String()
    containers = fields.List(fields.Nested(BalanceOut))
    total = fields.Nested(BalanceOut)
    within = fields.Boolean(allow_none=True)


class YieldReportOut(ma.Schema):
    batch = fields.String()
    yields = fields.List(fields.Nested(YieldOut))
    reconciliation = fields.List(fields.Nested(MaterialBalanceOut))
    deviations = fields.List(fields.String(), metadata={"description": "deviations this call opened"})


class ReturnIn(Strict):
    container = fields.String(required=True, validate=validate.Length(min=1, max=64))
    returned = DecimalText(required=True, metadata={"description": "re-weighed quantity going back to stock"})
    waste = DecimalText(load_default=Decimal(0), metadata={"description": "quantity spilled or discarded"})


@blp.route("/<ref>/yield", methods=["GET"])
@access.requires("batch.view")
@blp.response(200, YieldReportOut)
@blp.alt_response(404, schema=ErrorOut, description="no such batch")
def report(ref: str) -> dict[str, Any]:
    """Every declared yield (theoretical, actual, percent, limits) and the reconciliation per material."""
    with work() as session:
        return _report(session, ref, [])


def _report(session: Any, ref: str, opened: list[str]) -> dict[str, Any]:
    batch = execution().ctx.batch(session, ref)
    recipe = Recipe.from_dict(batch.control_recipe)
    return {
        "batch": batch.number,
        "yields": [y.as_json() for y in yields.batch_yields(session, batch, recipe)],
        "reconciliation": [m.as_json() for m in yields.reconciliation(session, batch, recipe)],
        "deviations": opened,
    }


@blp.route("/<ref>/returns", methods=["POST"])
@access.requires("batch.execute")
@blp.arguments(ReturnIn)
@blp.response(201, YieldReportOut)
@blp.alt_response(404, schema=ErrorOut, description="no such batch, or a container the batch did not use")
@blp.alt_response(409, schema=ErrorOut, description="the batch is not in execution or complete, or already recorded")
@blp.alt_response(422, schema=ErrorOut, description="a quantity below zero or not a decimal")
def record_return(data: dict[str, Any], ref: str) -> dict[str, Any]:
    """Record the re-weighed quantity returned in one container and the waste; answers the new reconciliation."""
    with work() as session:
        _row, opened = yields.record_return(
            session,
            execution().ctx,
            actor=actor(),
            ref=ref,
            container=data["container"],
            returned=data["returned"],
            waste=data["waste"],
        )
        return _report(session, ref, [d.number for d in opened])
