"""Request and response bodies of ``/api/batches`` (batches, steps, entries, commands) and of
sample results (marshmallow; the component names of the OpenAPI document are the class names).
"""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from ebr.api.schemas import DecimalText, SignatureIn, Strict, VersionIn


class BatchCreateIn(Strict):
    recipe = fields.String(required=True, metadata={"description": "recipe name, optionally NAME@VERSION"})
    version = fields.String(load_default=None)
    size = DecimalText(required=True)
    order = fields.String(required=True, validate=validate.Length(min=1, max=64))


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


class ListQuery(Strict):
    status = fields.String(load_default=None)


# -- responses --------------------------------------------------------------------------


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
