"""``/api/batches``: create, list, show, release, start, commands; steps: start, entries, complete, verify, commands.

As in the browser, an equipment or material refusal on a step is recorded for QA's
review (``ebr.execution.refusals``, in its own transaction after the refused one has
rolled back), and a typed number outside its limits is stored only with
``"confirm_out_of_limit": true`` (otherwise 409 ``OutOfLimitsUnconfirmed``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ebr.api.common import actor, blueprint, credentials, execution, own_credentials, plain, work
from ebr.api.schemas import ErrorOut, VersionIn
from ebr.core.canonical import jsonable
from ebr.core.errors import EbrError
from ebr.execution import deviations, refusals
from ebr.execution.batches import batch_json, list_batches
from ebr.execution.commands import parse_command
from ebr.execution.engine import StepOutcome, required_meanings
from ebr.execution.models import Batch, BatchStep, Deviation, StepEntry
from ebr.execution.phases import hold_status
from ebr.execution.schemas import (
    BatchCreateIn,
    BatchOut,
    CommandIn,
    CompleteIn,
    EntriesIn,
    ListQuery,
    OutcomeOut,
    StepOut,
    StepSummaryOut,
    VerificationIn,
)
from ebr.web import access
from recipes.phases import TimedHold
from recipes.states import Command
from signatures.permissions import require

# A restart after an equipment hold is signed by the supervisor at the operator's tablet.
RESTART = frozenset({"restarted"})

blp = blueprint("api_batches", "/api/batches", "Batches and their steps")

# Pause and resume are softer forms of hold and restart: the same people may give them.
COMMAND_ACTIONS = {
    Command.HOLD: "batch.command.hold",
    Command.PAUSE: "batch.command.hold",
    Command.RESTART: "batch.command.restart",
    Command.RESUME: "batch.command.restart",
    Command.STOP: "batch.command.stop",
    Command.ABORT: "batch.command.abort",
}


def _require_command(name: str) -> Command:
    command = parse_command(name)
    action = COMMAND_ACTIONS.get(command)
    if action is None:
        from ebr.core.errors import ValidationError

        raise ValidationError(
            f"{command.value} is not a command you can give here; use one of: "
            + ", ".join(c.value.lower() for c in COMMAND_ACTIONS)
        )
    require(access.role_names(access.current_user()), action)
    return command


OUT_OF_LIMIT = (
    "a typed number outside its limits without confirm_out_of_limit (error OutOfLimitsUnconfirmed: the message "
    "names the limits; nothing was stored): re-enter it, or send it again with confirm_out_of_limit true"
)
REFUSALS = {
    409: "equipment that may not be used (in use, dirty, out of calibration) or a step that cannot start or "
    "complete now; an equipment refusal is recorded for QA's review",
    422: "invalid input, e.g. a container refused (wrong material, lot not released, expired); a material "
    "refusal is recorded for QA's review",
}


@contextmanager
def refusals_recorded(ref: str, path: str, values: Mapping[str, Any] | None = None) -> Iterator[None]:
    """Re-raise any error of the block; an equipment or material refusal is first audited for QA's review.

    The block's own unit of work has rolled back by then, so the refusal is written in
    a transaction of its own (the same rule as the browser: ``refusals.kind_of``).
    """
    try:
        yield
    except EbrError as error:
        kind = refusals.kind_of(error, values)
        if kind is not None:
            with work() as session:
                execution().record_refusal(session, actor=actor(), ref=ref, path=path, kind=kind, message=error.message)
        raise


def batch_view(session: Session, batch: Batch) -> dict[str, Any]:
    query = select(BatchStep).where(
        BatchStep.batch_id == batch.id,
        BatchStep.level == "phase",
        BatchStep.ready.is_(True),
        BatchStep.state != "Complete",
    )
    current = session.scalars(query.order_by(BatchStep.position))
    return batch_json(batch) | {
        "current_steps": [
            {"path": s.path, "name": s.name, "type": s.phase_type, "state": s.state, "version": s.version}
            for s in current
        ],
        "open_deviations": [
            jsonable(deviations.deviation_json(d)) for d in deviations.for_batch(session, batch, open_only=True)
        ],
    }


def step_view(session: Session, batch: Batch, step: BatchStep) -> dict[str, Any]:
    entries = session.scalars(select(StepEntry).where(StepEntry.step_id == step.id).order_by(StepEntry.recorded_at))
    ctx = execution().ctx
    signatures = [
        {"meaning": s.meaning, "signer": s.signer, "signature_id": s.signature_id, "signed_at": s.signed_at.isoformat()}
        for s in ctx.signatures_of(session, "batch_step", step.id)
    ]
    devs = session.scalars(
        select(Deviation.number).where(Deviation.batch_id == batch.id, Deviation.step_path == step.path)
    )
    fields = (
        "id",
        "path",
        "level",
        "name",
        "phase_type",
        "unit",
        "state",
        "ready",
        "version",
        "data",
        "started_at",
        "started_by",
        "ended_at",
        "ended_by",
    )
    required: tuple[str, ...] = ()
    hold: dict[str, Any] | None = None
    if step.level == "phase":
        phase = ctx.plan(session, batch).phase(step.path)
        required = required_meanings(phase)
        if isinstance(phase.params, TimedHold) and step.state == "Running":
            hold = hold_status(phase.params, step.data, ctx.clock.now())
    return {f: getattr(step, f) for f in fields} | {
        "hold": hold,
        "entries": list(entries),
        "signatures": signatures,
        "deviations": list(devs),
        "required_signatures": list(required),
    }


def outcome_view(session: Session, batch: Batch, outcome: StepOutcome) -> dict[str, Any]:
    return {
        "step": step_view(session, batch, outcome.step),
        "completed": outcome.completed,
        "blocked_by": outcome.blocked_by,
        "deviations": [d.number for d in outcome.deviations],
        "advanced": outcome.advanced,
    }


@blp.route("", methods=["GET"])
@access.requires("batch.view")
@blp.arguments(ListQuery, location="query")
@blp.response(200, BatchOut(many=True))
def list_(query: dict[str, Any]) -> list[dict[str, Any]]:
    """Batches, newest first (optionally of one status)."""
    with work() as session:
        return [batch_json(b) for b in list_batches(session, status=query["status"])]


@blp.route("", methods=["POST"])
@access.requires("batch.create")
@blp.arguments(BatchCreateIn)
@blp.response(201, BatchOut)
def create(data: dict[str, Any]) -> dict[str, Any]:
    """Create a batch from the approved, effective recipe version (``recipe`` may be ``NAME@VERSION``)."""
    name, _, version = data["recipe"].partition("@")
    with work() as session:
        batch = execution().create_batch(
            session,
            actor=actor(),
            recipe=name,
            version=data["version"] or version or None,
            size=data["size"],
            order=data["order"],
        )
        return batch_view(session, batch)


@blp.route("/<ref>", methods=["GET"])
@access.requires("batch.view")
@blp.response(200, BatchOut)
def show(ref: str) -> dict[str, Any]:
    """A batch with its current steps and open deviations (automated phases are brought up to date)."""
    with work() as session:
        batch = execution().sync(session, ref)
        return batch_view(session, batch)


@blp.route("/<ref>/release", methods=["POST"])
@access.requires("batch.create")
@blp.arguments(VersionIn)
@blp.response(200, BatchOut)
def release(data: dict[str, Any], ref: str) -> dict[str, Any]:
    """Release a created batch to the shop floor."""
    with work() as session:
        batch = execution().release_to_floor(session, actor=actor(), ref=ref, version=data["version"])
        return batch_view(session, batch)


@blp.route("/<ref>/start", methods=["POST"])
@access.requires("batch.execute")
@blp.arguments(VersionIn)
@blp.response(200, BatchOut)
def start(data: dict[str, Any], ref: str) -> dict[str, Any]:
    """Start a batch that is ready on the floor; its first steps become ready."""
    with work() as session:
        batch = execution().start_batch(session, actor=actor(), ref=ref, version=data["version"])
        return batch_view(session, batch)


@blp.route("/<ref>/commands", methods=["POST"])
@access.requires("batch.execute")
@blp.arguments(CommandIn)
@blp.response(200, BatchOut)
def command(data: dict[str, Any], ref: str) -> dict[str, Any]:
    """Hold, restart, stop or abort the batch (propagated to its running phases)."""
    cmd = _require_command(data["command"])
    with work() as session:
        batch = execution().command_batch(
            session, actor=actor(), ref=ref, command=cmd.value, version=data["version"], reason=data["reason"],
            signature=own_credentials(data["signature"], second_person=RESTART) if data["signature"] else None,
        )  # fmt: skip
        return batch_view(session, batch)


@blp.route("/<ref>/steps", methods=["GET"])
@access.requires("batch.view")
@blp.response(200, StepSummaryOut(many=True))
def steps(ref: str) -> list[BatchStep]:
    """Every procedural element of the batch in recipe order."""
    with work() as session:
        batch = execution().batch(session, ref)
        query = select(BatchStep).where(BatchStep.batch_id == batch.id).order_by(BatchStep.position)
        return list(session.scalars(query))


@blp.route("/<ref>/steps/<path>", methods=["GET"])
@access.requires("batch.view")
@blp.response(200, StepOut)
def step(ref: str, path: str) -> dict[str, Any]:
    """One step with its entries (corrected ones included), signatures and deviations."""
    with work() as session:
        batch = execution().sync(session, ref)
        return step_view(session, batch, execution().ctx.step(session, batch, path))


@blp.route("/<ref>/steps/<path>/start", methods=["POST"])
@access.requires("batch.execute")
@blp.arguments(VersionIn)
@blp.response(200, OutcomeOut)
@blp.alt_response(409, schema=ErrorOut, description=REFUSALS[409])
def start_step(data: dict[str, Any], ref: str, path: str) -> dict[str, Any]:
    """Start a ready step (forced sequencing: a step that is not ready is refused)."""
    with refusals_recorded(ref, path), work() as session:
        outcome = execution().start_step(session, actor=actor(), ref=ref, path=path, version=data["version"])
        return outcome_view(session, execution().batch(session, ref), outcome)


@blp.route("/<ref>/steps/<path>/entries", methods=["POST"])
@access.requires("batch.execute")
@blp.arguments(EntriesIn)
@blp.response(201, OutcomeOut)
@blp.alt_response(409, schema=ErrorOut, description=OUT_OF_LIMIT + "; or " + REFUSALS[409])
@blp.alt_response(422, schema=ErrorOut, description=REFUSALS[422])
def entries(data: dict[str, Any], ref: str, path: str) -> dict[str, Any]:
    """Record values on a running step.

    A typed number outside its limits is stored (with its deviation) only with
    ``"confirm_out_of_limit": true``; without it the answer is 409 naming the limits.
    """
    values = plain(data["values"])
    with refusals_recorded(ref, path, values), work() as session:
        outcome = execution().record(
            session, actor=actor(), ref=ref, path=path, values=values, version=data["version"],
            confirmed=data["confirm_out_of_limit"],
        )  # fmt: skip
        return outcome_view(session, execution().batch(session, ref), outcome)


@blp.route("/<ref>/steps/<path>/complete", methods=["POST"])
@access.requires("batch.execute")
@blp.arguments(CompleteIn)
@blp.response(200, OutcomeOut)
@blp.alt_response(409, schema=ErrorOut, description=OUT_OF_LIMIT + "; or " + REFUSALS[409])
@blp.alt_response(422, schema=ErrorOut, description=REFUSALS[422])
def complete(data: dict[str, Any], ref: str, path: str) -> dict[str, Any]:
    """Complete a running step with its signatures (``performed`` by you, ``verified`` by another person)."""
    values = plain(data["values"]) if data["values"] else None
    with refusals_recorded(ref, path, values), work() as session:
        outcome = execution().complete_step(
            session,
            actor=actor(),
            ref=ref,
            path=path,
            version=data["version"],
            values=values,
            signatures=[credentials(s) for s in data["signatures"]],
            confirmed=data["confirm_out_of_limit"],
        )
        return outcome_view(session, execution().batch(session, ref), outcome)


@blp.route("/<ref>/steps/<path>/verification", methods=["POST"])
@access.requires("sign.verified")
@blp.arguments(VerificationIn)
@blp.response(200, StepOut)
def verify(data: dict[str, Any], ref: str, path: str) -> dict[str, Any]:
    """Sign the ``verified`` signature a completed step waits for (by you; not the step's performer)."""
    with work() as session:
        row = execution().verify_step(
            session, actor=actor(), ref=ref, path=path, signature=own_credentials(data), version=data["version"]
        )
        return step_view(session, execution().batch(session, ref), row)


@blp.route("/<ref>/steps/<path>/commands", methods=["POST"])
@access.requires("batch.execute")
@blp.arguments(CommandIn)
@blp.response(200, StepOut)
def step_command(data: dict[str, Any], ref: str, path: str) -> dict[str, Any]:
    """Hold, restart, stop or abort one phase."""
    cmd = _require_command(data["command"])
    with work() as session:
        row = execution().command_phase(
            session,
            actor=actor(),
            ref=ref,
            path=path,
            command=cmd.value,
            version=data["version"],
            reason=data["reason"],
            signature=own_credentials(data["signature"], second_person=RESTART) if data["signature"] else None,
        )
        return step_view(session, execution().batch(session, ref), row)
