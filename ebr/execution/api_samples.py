"""``/api/samples``: QC enters in-process results of samples whose batch step waits for them.

The same permission as the Samples page (``sample.result.enter``); the result is
checked against its specification and an out-of-specification result opens a
deviation and holds the sample's step (``ebr.execution.samples``).
"""

from __future__ import annotations

from typing import Any

from ebr.api.common import actor, blueprint, execution, work
from ebr.execution import samples
from ebr.execution.schemas import SampleResultIn, SampleResultOut
from ebr.web import access

blp = blueprint("api_samples", "/api/samples", "In-process samples and QC results")


@blp.route("", methods=["GET"])
@access.requires("batch.view")
@blp.response(200, SampleResultOut(many=True))
def waiting() -> list[dict[str, Any]]:
    """Samples whose step waits for QC, with the tests still missing a result."""
    with work() as session:
        return [
            {"sample_id": p.sample_id, "batch": p.batch.number, "step": p.step.path, "missing": p.missing}
            for p in samples.pending(session, execution().ctx)
        ]


@blp.route("/<ref>/results", methods=["POST"])
@access.requires("sample.result.enter")
@blp.arguments(SampleResultIn)
@blp.response(201, SampleResultOut)
def enter(data: dict[str, Any], ref: str) -> dict[str, Any]:
    """Enter QC's result of one test of sample ``ref`` (the id on its label)."""
    with work() as session:
        row = execution().enter_sample_result(
            session, actor=actor(), ref=ref, test=data["test"], value=data["value"], unit=data["unit"]
        )
        batch = execution().ctx.batch(session, row.batch_id)
        return {
            "sample_id": row.sample_id, "batch": batch.number, "test": row.test, "value": row.value,
            "unit": row.unit, "low": row.low, "high": row.high, "in_spec": row.in_spec, "deviation": row.deviation,
        }  # fmt: skip
