"""Marshmallow schemas of the JSON API (requests and responses); the OpenAPI document comes from them.

Quantities travel as decimal strings (``"12.500"``); a JSON number is accepted on
input and read through its shortest text form, never used as a float.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate


class Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE


DECIMAL_PATTERN = r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$"


class DecimalText(fields.Field[Decimal]):
    """A decimal given as a string or a JSON number; dumped as a string."""

    def __init__(self, **kwargs: Any) -> None:
        # The OpenAPI document says what is accepted: a decimal string or a JSON number.
        shape = {"oneOf": [{"type": "string", "pattern": DECIMAL_PATTERN}, {"type": "number"}]}
        kwargs["metadata"] = {**shape, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        from ebr.execution.rules import parse_decimal

        if isinstance(value, float):
            value = repr(value)  # the shortest text that reads back as the same number the client wrote
        try:
            return parse_decimal(attr or "value", value)
        except Exception as exc:  # noqa: BLE001 - every failure is the same user error
            raise ma.ValidationError(str(exc)) from None

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else format(Decimal(value), "f")


class SignatureIn(Strict):
    user_id = fields.String(required=True, metadata={"description": "the signer's user id"})
    password = fields.String(required=True, load_only=True, metadata={"description": "the signer's password"})
    meaning = fields.String(load_default="performed", metadata={"description": "performed, verified, witnessed …"})


class LoginIn(Strict):
    user_id = fields.String(required=True)
    password = fields.String(required=True, load_only=True)


class UserOut(ma.Schema):
    user_id = fields.String()
    full_name = fields.String()
    roles = fields.List(fields.String())


class BatchCreateIn(Strict):
    recipe = fields.String(required=True, metadata={"description": "recipe name, optionally NAME@VERSION"})
    version = fields.String(load_default=None)
    size = DecimalText(required=True)
    order = fields.String(required=True, validate=validate.Length(min=1, max=64))


class VersionIn(Strict):
    version = fields.Integer(load_default=None, metadata={"description": "the version you saw (optimistic check)"})


class CommandIn(VersionIn):
    command = fields.String(
        required=True,
        metadata={
            "description": "hold, restart, stop, abort, pause, resume",
            "enum": ["start", "pause", "resume", "hold", "restart", "stop", "abort", "reset"],
        },
    )
    reason = fields.String(load_default=None)
    signature = fields.Nested(
        SignatureIn,
        load_default=None,
        metadata={
            "description": "stop and abort: your signature (meaning stopped/aborted); restart of a phase held "
            "by the equipment: a supervisor's (meaning restarted)"
        },
    )


CONFIRM_OUT_OF_LIMIT = fields.Boolean(
    load_default=False,
    metadata={
        "description": "true: store a typed number outside its limits and open its deviation. Without it such a "
        "value is refused with 409 (error OutOfLimitsUnconfirmed, naming the limits) and nothing is stored, "
        "so a typing error costs neither a deviation nor a correction"
    },
)


class EntriesIn(VersionIn):
    values = fields.Dict(keys=fields.String(), required=True)
    confirm_out_of_limit = CONFIRM_OUT_OF_LIMIT


class CompleteIn(VersionIn):
    values = fields.Dict(keys=fields.String(), load_default=None)
    signatures = fields.List(fields.Nested(SignatureIn), load_default=list)
    confirm_out_of_limit = fields.Boolean(
        load_default=False, metadata={"description": "as in the entries call, for ``values`` sent with completion"}
    )


class VerificationIn(VersionIn):
    user_id = fields.String(required=True, metadata={"description": "the verifier's user id (you)"})
    password = fields.String(required=True, load_only=True, metadata={"description": "the verifier's password"})
    meaning = fields.String(load_default="verified", metadata={"description": "always verified"})


class CorrectionIn(Strict):
    value = fields.String(required=True)
    reason = fields.String(required=True)
    signature = fields.Nested(SignatureIn, required=True)


class DeviationIn(Strict):
    step = fields.String(load_default=None)
    severity = fields.String(required=True, validate=validate.OneOf(["minor", "major", "critical"]))
    description = fields.String(required=True)


class DeviationSignIn(VersionIn):
    comment = fields.String(required=True)
    investigation_ref = fields.String(load_default=None)
    severity = fields.String(load_default=None, validate=validate.OneOf(["minor", "major", "critical"]))
    signature = fields.Nested(SignatureIn, required=True)


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


class ListQuery(Strict):
    status = fields.String(load_default=None)


# -- responses --------------------------------------------------------------------------


class ErrorOut(Strict):
    """The one error body of every error response (built by ``ebr.web.errors.error_body``)."""

    error = fields.String(required=True, metadata={"description": "what kind of error: NotFound, Unauthorized …"})
    message = fields.String(required=True, metadata={"description": "what was wrong and what to do"})
    problems = fields.List(fields.String(), metadata={"description": "every problem of invalid input, with its path"})
    accountability_url = fields.String(
        metadata={"description": "where to accept the accountability statement before signing"}
    )
    retry_after = fields.Integer(metadata={"description": "seconds to wait before trying again (429)"})


class BatchOut(ma.Schema):
    id = fields.String()
    number = fields.String()
    order = fields.String()
    recipe = fields.String()
    recipe_version = fields.String()
    product = fields.String()
    size = DecimalText()
    unit = fields.String()
    status = fields.String()
    state = fields.String()
    version = fields.Integer()
    created_at = fields.DateTime()
    created_by = fields.String()
    started_at = fields.DateTime(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)
    output_lot = fields.String(allow_none=True)
    current_steps = fields.List(fields.Dict())
    open_deviations = fields.List(fields.Dict())


class EntryOut(ma.Schema):
    id = fields.String()
    name = fields.String()
    value = fields.String()
    unit = fields.String(allow_none=True)
    in_limits = fields.Boolean(allow_none=True)
    source = fields.String()
    recorded_at = fields.DateTime()
    recorded_by = fields.String()
    corrects = fields.String(allow_none=True)
    correction_reason = fields.String(allow_none=True)
    superseded_at = fields.DateTime(allow_none=True)


class StepOut(ma.Schema):
    id = fields.String()
    path = fields.String()
    level = fields.String()
    name = fields.String()
    phase_type = fields.String(allow_none=True)
    unit = fields.String(allow_none=True)
    state = fields.String()
    ready = fields.Boolean()
    version = fields.Integer()
    data = fields.Dict()
    started_at = fields.DateTime(allow_none=True)
    started_by = fields.String(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)
    ended_by = fields.String(allow_none=True)
    entries = fields.List(fields.Nested(EntryOut))
    signatures = fields.List(fields.Dict())
    deviations = fields.List(fields.String())
    required_signatures = fields.List(fields.String())
    hold = fields.Dict(
        allow_none=True, metadata={"description": "a running timed hold: elapsed, minimum, maximum, remaining (s)"}
    )


class StepSummaryOut(ma.Schema):
    id = fields.String()
    path = fields.String()
    level = fields.String()
    name = fields.String()
    phase_type = fields.String(allow_none=True)
    unit = fields.String(allow_none=True)
    state = fields.String()
    ready = fields.Boolean()
    version = fields.Integer()


class OutcomeOut(ma.Schema):
    step = fields.Nested(StepOut)
    completed = fields.Boolean()
    blocked_by = fields.List(fields.String())
    deviations = fields.List(fields.String())
    advanced = fields.List(fields.String())


class DeviationOut(ma.Schema):
    id = fields.String()
    number = fields.String()
    batch_id = fields.String()
    step = fields.String(allow_none=True)
    kind = fields.String()
    severity = fields.String()
    status = fields.String()
    description = fields.String()
    comment = fields.String()
    investigation_ref = fields.String(allow_none=True)
    opened_at = fields.DateTime()
    opened_by = fields.String()
    closed_at = fields.DateTime(allow_none=True)
    required_signatures = fields.List(fields.String())
    signatures = fields.List(fields.String())
    version = fields.Integer()


class CorrectionOut(ma.Schema):
    entry = fields.Nested(EntryOut)
    deviation = fields.String(allow_none=True)


class GenealogyOut(ma.Schema):
    batch = fields.String()
    inputs = fields.List(fields.Dict())
    outputs = fields.List(fields.String())


class TraceOut(ma.Schema):
    backward = fields.Dict()
    forward = fields.Dict()


class SampleResultIn(Strict):
    test = fields.String(required=True, metadata={"description": "one of the sample's tests, e.g. pH"})
    value = fields.String(required=True, metadata={"description": 'the result as a decimal string, e.g. "5.2"'})
    unit = fields.String(load_default=None, metadata={"description": "defaults to the specification's unit"})


class SampleResultOut(ma.Schema):
    sample_id = fields.String()
    batch = fields.String()
    step = fields.String()
    missing = fields.List(fields.String())
    test = fields.String()
    value = fields.String()
    unit = fields.String(allow_none=True)
    low = DecimalText(allow_none=True)
    high = DecimalText(allow_none=True)
    in_spec = fields.Boolean(allow_none=True)
    deviation = fields.String(allow_none=True)
