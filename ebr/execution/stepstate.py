"""The engine's per-step state, typed and validated per phase type.

``BatchStep.data`` is a JSON column. What the engine keeps there is described here as
one frozen dataclass per phase type (the common :class:`StepState` and its subclasses)
and checked by a marshmallow schema whenever it is read or written:

- a key the step's type does not know is refused (``RAISE``): a row edited behind the
  application's back, or written by another version, is reported, not half-used;
- values are type-checked (an integer is an integer, a timestamp is RFC 3339 with a zone).

The stored JSON is exactly what earlier versions wrote (same keys, same text), so rows
written before this module load unchanged and no migration is needed. A field that is
``None`` is absent from the JSON: earlier code wrote ``"held_by": null`` on a restart,
which reads back the same as an absent key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from marshmallow import RAISE, Schema, fields, post_dump
from marshmallow import ValidationError as SchemaError
from marshmallow.validate import OneOf, Range

from ebr.core.clock import from_rfc3339, to_rfc3339
from ebr.core.errors import StateError, ValidationError
from ebr.execution.models import BatchStep
from recipes.phases import PhaseType

HELD_BY = ("equipment", "batch", "sample")
"""Who put a held step on hold: the runtime (a trip), the batch's own Hold, or a failed QC sample."""


@dataclass(frozen=True)
class Verification:
    """A completed step's ``verified`` signature: pending (with the entries it will sign) or given."""

    status: str
    entries: dict[str, str] = field(default_factory=dict)
    by: str | None = None


@dataclass(frozen=True)
class StepState:
    """What every step may keep: entries recorded, loop runs, who held it, its verification."""

    recorded: int | None = None
    run: int | None = None
    held_by: str | None = None
    verification: Verification | None = None


@dataclass(frozen=True)
class TimedHoldState(StepState):
    """A timed hold: when it started, and the deviation opened once it ran past its maximum."""

    hold_started_at: dt.datetime | None = None
    time_deviation: str | None = None


@dataclass(frozen=True)
class DosingState(StepState):
    """An automated dosing: the runtime's last word, the trend points recorded, our pending command."""

    runtime: str | None = None
    trend_points: int | None = None
    runtime_command: int | None = None


@dataclass(frozen=True)
class EquipmentCheckState(StepState):
    """An equipment check: the unit it put in use (made dirty when the unit procedure ends)."""

    in_use: str | None = None


S = TypeVar("S", bound=StepState)

STATE_CLASS: Mapping[str, type[StepState]] = {
    PhaseType.TIMED_HOLD.value: TimedHoldState,
    PhaseType.DOSING.value: DosingState,
    PhaseType.EQUIPMENT_CHECK.value: EquipmentCheckState,
}
"""The state class by phase type; any other type, and the levels above phases, keep a :class:`StepState`."""


class _Rfc3339(fields.Field[dt.datetime]):
    """A timestamp stored as the engine always wrote it (``to_rfc3339``), refused without a zone."""

    def _serialize(self, value: dt.datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else to_rfc3339(value)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.datetime:
        if not isinstance(value, str):
            raise SchemaError("not an RFC 3339 timestamp")
        try:
            return from_rfc3339(value)
        except ValueError as exc:
            raise SchemaError(f"not an RFC 3339 timestamp with a zone: {exc}") from exc


class _VerificationSchema(Schema):
    class Meta:
        unknown = RAISE

    status = fields.String(required=True, validate=OneOf(("pending", "verified")))
    entries = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    by = fields.String(load_default=None, allow_none=True)

    @post_dump
    def _absent_by(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        # A pending verification was always stored without "by".
        return {key: value for key, value in data.items() if value is not None}


def _count() -> fields.Integer:
    return fields.Integer(strict=True, allow_none=True, validate=Range(min=0))


def _text() -> fields.String:
    return fields.String(allow_none=True)


class _StepStateSchema(Schema):
    class Meta:
        unknown = RAISE

    recorded = _count()
    run = _count()
    held_by = fields.String(allow_none=True, validate=OneOf(HELD_BY))
    verification = fields.Nested(_VerificationSchema, allow_none=True)


class _TimedHoldSchema(_StepStateSchema):
    hold_started_at = _Rfc3339(allow_none=True)
    time_deviation = _text()


class _DosingSchema(_StepStateSchema):
    runtime = _text()
    trend_points = _count()
    runtime_command = _count()


class _EquipmentCheckSchema(_StepStateSchema):
    in_use = _text()


# Schemas are stateless once built; one instance each is reused (building one costs more than a load).
_SCHEMAS: Mapping[type[StepState], Schema] = {
    StepState: _StepStateSchema(),
    TimedHoldState: _TimedHoldSchema(),
    DosingState: _DosingSchema(),
    EquipmentCheckState: _EquipmentCheckSchema(),
}


def state_class(phase_type: str | None) -> type[StepState]:
    """The state class of a step of ``phase_type`` (``None`` for a level above the phases)."""
    return STATE_CLASS.get(phase_type or "", StepState)


def _problems(messages: Any, prefix: str = "") -> list[str]:
    if isinstance(messages, Mapping):
        return [p for key, value in messages.items() for p in _problems(value, f"{prefix}{key}.")]
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [f"{prefix.rstrip('.')}: {'; '.join(messages).rstrip('.')}"]
    return [f"{prefix.rstrip('.')}: {messages}"]


def load(phase_type: str | None, data: Mapping[str, Any], *, where: str = "the step") -> StepState:
    """The typed state of a step of ``phase_type`` from its stored JSON.

    Raises ValidationError naming every unknown key or bad value and the keys the type keeps.
    """
    cls = state_class(phase_type)
    try:
        values = _SCHEMAS[cls].load(dict(data))
    except SchemaError as exc:
        known = ", ".join(f.name for f in dataclasses.fields(cls))
        raise ValidationError(
            f"{where}: its stored state is not valid for a {phase_type or 'procedural'} step "
            f"({'; '.join(_problems(exc.messages))}); it keeps only {known}. The row was changed outside "
            "the application: compare it with the audit trail and restore it"
        ) from exc
    # Nested schemas load to dicts; the dataclass is built here so equality and typing hold.
    if values.get("verification") is not None:
        values["verification"] = Verification(**values["verification"])
    return cls(**values)


def dump(state: StepState) -> dict[str, Any]:
    """The JSON of ``state`` as stored in ``BatchStep.data`` (absent fields left out)."""
    data: dict[str, Any] = _SCHEMAS[type(state)].dump(state)
    # Absent, not null: the stored JSON stays what earlier versions wrote (and the audit diffs small).
    return {key: value for key, value in data.items() if value is not None}


@overload
def state_of(step: BatchStep) -> StepState: ...
@overload
def state_of(step: BatchStep, kind: type[S]) -> S: ...
def state_of(step: BatchStep, kind: type[StepState] = StepState) -> StepState:
    """The typed state of ``step``; ``kind`` narrows it (StateError when the step is another type)."""
    state = load(step.phase_type, step.data or {}, where=f"step {step.path}")
    if not isinstance(state, kind):
        raise StateError(f"step {step.path} is a {step.phase_type or step.level} step, not one with {kind.__name__}")
    return state


def store(step: BatchStep, state: StepState) -> None:
    """Write ``state`` to ``step`` (a new dict, so the ORM sees the change and bumps the step's version)."""
    if type(state) is not state_class(step.phase_type):
        raise StateError(
            f"step {step.path} is a {step.phase_type or step.level} step; it keeps no {type(state).__name__}"
        )
    # Dump then store: the schema (not the caller) decides the JSON, so every write is checked.
    step.data = dump(state)


def change(step: BatchStep, **changes: Any) -> StepState:
    """Replace fields of ``step``'s state by typed values, e.g. ``change(step, held_by="batch")``."""
    state = state_of(step)
    try:
        new = dataclasses.replace(state, **changes)
    except TypeError as exc:
        raise ValidationError(f"step {step.path}: a {step.phase_type or step.level} step keeps no {exc}") from exc
    store(step, new)
    return new


def update(step: BatchStep, data: Mapping[str, Any]) -> StepState:
    """Merge stored-JSON-shaped ``data`` (a phase result's) into ``step``'s state, validated."""
    state = load(step.phase_type, {**(step.data or {}), **data}, where=f"step {step.path}")
    step.data = dump(state)
    return state
