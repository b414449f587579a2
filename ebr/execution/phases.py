"""Phase logic per phase type: what starting, recording, completing and following a phase means.

Each phase type has one :class:`PhaseBehaviour` in :data:`REGISTRY` (keyed by
``PhaseType``); the engine asks ``behaviour(phase)`` and never tests the type itself,
so a new phase type is one class and one registry line. Each operation gets a
:class:`Turn` (the batch, the step, its phase definition, the actor and the step's
current entries) and returns a :class:`Result`: entries to record, deviations to open
and step state to keep (validated by :mod:`ebr.execution.stepstate`). Operations refuse
bad input with ValidationError/StateError before anything is written; the engine
writes the result and its audit event in one transaction. Automated phases are also
*followed* (:meth:`PhaseBehaviour.follow`): the behaviour decides from the runtime's
report, :mod:`ebr.execution.automation` applies the decision.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from ebr.core.clock import to_rfc3339
from ebr.core.errors import StateError, ValidationError
from ebr.execution import automated, rules, samples
from ebr.execution.automated import UNCERTAIN as UNCERTAIN
from ebr.execution.automated import Followed as Followed
from ebr.execution.automated import dosing_result as dosing_result
from ebr.execution.automated import hold_overrun as hold_overrun
from ebr.execution.automated import hold_status as hold_status
from ebr.execution.plan import parent_of
from ebr.execution.progress import environment
from ebr.execution.rules import DeviationKind, Severity
from ebr.execution.stepstate import TimedHoldState, state_of
from ebr.execution.turn import DeviationSpec as DeviationSpec
from ebr.execution.turn import Entry as Entry
from ebr.execution.turn import Result as Result
from ebr.execution.turn import Turn as Turn
from ebr.execution.turn import current_entries as current_entries
from ebr.execution.turn import dec
from equipment.errors import EquipmentNotUsable
from recipes import formula, units
from recipes.model import Phase
from recipes.phases import (
    Calculation,
    DataEntry,
    Dosing,
    EntryKind,
    EquipmentCheck,
    PhaseParams,
    PhaseType,
    Sample,
    SignOff,
    TimedHold,
    WeighDispense,
)

# The value types live in ebr.execution.turn and the automated phases in ebr.execution.automated
# (so both build on Turn without importing each other); they are re-exported here, where
# the engine, the pages and the API have always found them.

# -- start ------------------------------------------------------------------------------


def on_start(turn: Turn) -> Result:
    """Checks and side effects of starting the phase (permissives, equipment commands)."""
    return behaviour(turn.phase).start(turn)


# -- record -----------------------------------------------------------------------------


class OutOfLimitsUnconfirmed(StateError):
    """A typed number is outside its limits and the operator has not confirmed it: nothing is stored.

    The browser asks "re-enter or record as deviation"; the API answers 409 with this
    message. Sent again with the confirmation, the value is stored and its deviation opened.
    """

    def __init__(self, *, path: str, params: DataEntry, value: str, description: str) -> None:
        self.path, self.value, self.unit, self.description = path, value, params.unit, description
        self.low, self.high = dec(params.low), dec(params.high)
        super().__init__(
            f"{description} ({limits_text(self.low, self.high, self.unit)}); nothing was stored. Re-enter the value "
            f'if it was a typing error, or send it again with "{CONFIRM_FLAG}": true to record it as a deviation'
        )


CONFIRM_FLAG = "confirm_out_of_limit"


def limits_text(low: Decimal | None, high: Decimal | None, unit: str | None) -> str:
    """``limits 15–30 °C``, ``low limit 15 °C`` or ``high limit 30 °C``."""
    suffix = f" {unit}" if unit else ""
    if low is not None and high is not None:
        return f"limits {low}–{high}{suffix}"
    if low is not None:
        return f"low limit {low}{suffix}"
    return f"high limit {high}{suffix}" if high is not None else "no limits"


def on_record(turn: Turn, values: Mapping[str, Any], *, confirmed: bool = True) -> Result:
    """Validate and turn the operator's ``values`` into entries (and deviations).

    With ``confirmed`` false a numeric value outside its limits raises
    :class:`OutOfLimitsUnconfirmed` instead of being stored with a deviation.
    """
    return behaviour(turn.phase).record(turn, values, confirmed=confirmed)


def _no_values(turn: Turn, values: Mapping[str, Any]) -> Result:
    raise ValidationError(
        f"a {turn.phase.type.value} step takes no recorded values ({', '.join(values) or 'none given'}); complete it"
    )


def check_value(params: DataEntry, raw: Any) -> tuple[Entry, DeviationSpec | None]:
    """Validate one data-entry value (pure): the entry, and a deviation when out of limits."""
    if params.kind is EntryKind.NUMERIC:
        number = rules.parse_decimal(params.prompt or "value", raw)
        verdict = rules.check_limits(number, dec(params.low), dec(params.high), params.unit)
        entry = Entry("value", rules.decimal_text(number), params.unit, verdict.in_limits)
        if verdict.in_limits:
            return entry, None
        return entry, DeviationSpec(DeviationKind.OUT_OF_LIMIT, Severity.MINOR, f"{params.prompt}: {verdict.message}")
    text = str(raw).strip() if raw is not None else ""
    if not text:
        raise ValidationError(f"{params.prompt}: a value is required")
    if params.kind is EntryKind.TEXT:
        if params.max_length is not None and len(text) > params.max_length:
            raise ValidationError(f"{params.prompt}: at most {params.max_length} characters (got {len(text)})")
        return Entry("value", text), None
    if params.kind is EntryKind.CHOICE:
        if text not in params.choices:
            raise ValidationError(f"{params.prompt}: {text!r} is not one of: {', '.join(params.choices)}")
        return Entry("value", text), None
    if text not in ("pass", "fail"):
        raise ValidationError(f"{params.prompt}: answer pass or fail (got {text!r})")
    if text == "pass":
        return Entry("value", text, in_limits=True), None
    spec = DeviationSpec(DeviationKind.OUT_OF_LIMIT, Severity.MINOR, f"{params.prompt}: recorded as fail")
    return Entry("value", text, in_limits=False), spec


def _data_entry(turn: Turn, params: DataEntry, values: Mapping[str, Any], *, confirmed: bool) -> Result:
    if "value" not in values:
        raise ValidationError(f'{params.prompt}: send the value as {{"value": ...}}')
    if "value" in turn.entries:
        raise StateError(f"{turn.step.path} already has a value; correct it (with a reason) instead")
    entry, deviation = check_value(params, values["value"])
    if deviation is not None and params.kind is EntryKind.NUMERIC and not confirmed:
        raise OutOfLimitsUnconfirmed(
            path=turn.step.path, params=params, value=entry.value, description=deviation.description
        )
    return Result(entries=[entry], deviations=[deviation] if deviation else [])


def _sample(turn: Turn, params: Sample, values: Mapping[str, Any]) -> Result:
    sample_id = str(values.get("sample_id") or "").strip()
    if not sample_id:
        raise ValidationError('sample: scan or type the sample id ({"sample_id": ...})')
    if "sample_id" in turn.entries:
        raise StateError(f"{turn.step.path} has its sample id already ({turn.entries['sample_id'].value})")
    label = f"{turn.batch.number} | {turn.step.path} | {sample_id} | {', '.join(params.tests)}"
    # The id is read from the sample's label by the scanner; label and quantity come from the system.
    entries = [Entry("sample_id", sample_id, source="scan"), Entry("label", label, source="system")]
    if params.quantity is not None:
        quantity = rules.decimal_text(Decimal(str(params.quantity)))
        entries.append(Entry("quantity", quantity, params.unit, source="system"))
    return Result(entries=entries)


def _weigh(turn: Turn, params: WeighDispense, values: Mapping[str, Any]) -> Result:
    if "net" in turn.entries:
        weighed = turn.entries["net"].value
        raise StateError(f"{turn.step.path} is already weighed ({weighed} {params.unit}); complete it")
    if "container" in values:
        return _scan(turn, params, str(values["container"]).strip())
    if values.get("tare") or values.get("weigh"):
        if params.scale is None:
            raise ValidationError(f"{turn.step.path} names no scale; the recipe must say which scale to use")
        turn.ctx.equipment.check_usable(turn.session, params.scale, batch_ref=turn.batch.number)
        reading = turn.ctx.scale.read(turn.session, params.scale)
        if not reading.stable:
            raise ValidationError(f"scale {params.scale} is not stable; wait for a stable weight and try again")
        weight = units.convert(reading.weight, reading.unit, params.unit)
        if values.get("tare"):
            return Result(entries=[Entry("tare", rules.decimal_text(weight), params.unit, source="scale")])
        return _net(turn, params, weight)
    raise ValidationError('weigh & dispense: send {"container": barcode}, then {"tare": true}, then {"weigh": true}')


def _scan(turn: Turn, params: WeighDispense, barcode: str) -> Result:
    target = dec(params.target)
    assert target is not None
    container = turn.ctx.materials.usable_container(
        turn.session, barcode=barcode, material=params.material, needed=Decimal(0)
    )
    lot = turn.ctx.materials.lot_of(turn.session, container)
    adjusted = rules.potency_adjusted(target, lot.potency if params.potency_adjusted else None)
    turn.ctx.materials.usable_container(turn.session, barcode=barcode, material=params.material, needed=adjusted)
    adjusted = adjusted.quantize(units.default_precision(params.unit))
    return Result(
        entries=[
            Entry("container", barcode, source="scan"),
            Entry("lot", lot.lot_number, source="scan"),
            Entry("target", rules.decimal_text(adjusted), params.unit, source="calculated"),
        ]
    )


def _net(turn: Turn, params: WeighDispense, gross: Decimal) -> Result:
    turn.need("container", "scan the container first")
    tare = Decimal(turn.need("tare", "tare the scale first").value)
    target = Decimal(turn.need("target", "scan the container first").value)
    net = gross - tare
    rules.check_tolerance("net weight", net, target, params.tolerance, params.tolerance_unit, params.unit)
    return Result(
        entries=[
            Entry("gross", rules.decimal_text(gross), params.unit, source="scale"),
            Entry("net", rules.decimal_text(net), params.unit, in_limits=True, source="scale"),
        ]
    )


# -- complete ---------------------------------------------------------------------------


def on_complete(turn: Turn) -> Result:
    """Check the phase's work is done and produce its closing entries."""
    return behaviour(turn.phase).complete(turn)


def _complete_sample(turn: Turn) -> Result:
    turn.need("sample_id", "record the sample id first")
    waiting = samples.missing_results(turn.session, turn.ctx.plan(turn.session, turn.batch), turn.step)
    if waiting:
        raise StateError(
            f"{turn.step.path} waits for QC's result of {', '.join(waiting)}; QC enters it on the "
            "Samples page (or POST /api/samples/<sample id>/results), then complete the step"
        )
    return Result()


def _complete_weighing(turn: Turn) -> Result:
    net = Decimal(turn.need("net", "weigh the material first").value)
    barcode = turn.need("container", "scan the container first").value
    turn.ctx.materials.consume(
        turn.session,
        actor=turn.actor,
        batch_id=turn.batch.id,
        step_path=turn.step.path,
        barcode=barcode,
        quantity=net,
    )
    return Result()


def _equipment_check(turn: Turn, params: EquipmentCheck) -> Result:
    ctx = turn.ctx
    ctx.equipment.check_usable(turn.session, params.equipment, batch_ref=turn.batch.number)
    ctx.equipment.mark_in_use(turn.session, actor=turn.actor, unit=params.equipment, batch_ref=turn.batch.number)
    entries = [Entry(check, "ok", source="equipment") for check in params.checks]
    return Result(entries=entries, data={"in_use": params.equipment})


def _calculate(turn: Turn, params: Calculation, env: Mapping[str, Any]) -> Result:
    value = formula.evaluate(params.expression, env)
    if not isinstance(value, Decimal):
        raise ValidationError(f"calculation {params.expression!r} gave {value!r}, not a number")
    if params.precision is not None:
        value = units.round_to(value, params.precision)
    verdict = rules.check_limits(value, dec(params.low), dec(params.high), params.unit)
    result = Result(entries=[Entry("result", rules.decimal_text(value), params.unit, verdict.in_limits, "calculated")])
    if not verdict.in_limits:
        text = f"calculated {params.expression}: {verdict.message}"
        result.deviations.append(DeviationSpec(DeviationKind.OUT_OF_LIMIT, Severity.MINOR, text))
    return result


# -- following automated phases ---------------------------------------------------------

# -- the registry -----------------------------------------------------------------------


class PhaseBehaviour(Protocol):
    """What the engine asks of a phase type; one implementation per ``PhaseType`` in :data:`REGISTRY`."""

    followed: bool
    """True for phases that run on their own once started (:meth:`follow` is called while they run)."""

    def start(self, turn: Turn) -> Result:
        """Checks and side effects of Idle → Running (permissives, equipment commands)."""
        ...

    def record(self, turn: Turn, values: Mapping[str, Any], *, confirmed: bool) -> Result:
        """The operator's ``values`` as entries and deviations; ValidationError when the type takes none."""
        ...

    def complete(self, turn: Turn) -> Result:
        """Check the work is done (StateError naming what is missing) and produce the closing entries."""
        ...

    def meanings(self, phase: Phase) -> tuple[str, ...]:
        """The signatures completing ``phase`` needs."""
        ...

    def blockers(self, turn: Turn) -> list[str]:
        """What would refuse :meth:`complete` now, read without changing anything (shown before signing)."""
        ...

    def follow(self, turn: Turn, *, alive: Callable[[], bool], recovering: bool) -> Followed:
        """While running: what the plant or the clock says (only when :attr:`followed`)."""
        ...


P = TypeVar("P", bound=PhaseParams)


class Manual:
    """The defaults: nothing at start, no values, nothing to check at completion, not followed."""

    followed: bool = False

    def params(self, turn: Turn, kind: type[P]) -> P:
        """The phase's parameters as ``kind``; a registry mismatch is a bug named here, not a silent skip."""
        params = turn.phase.params
        if not isinstance(params, kind):
            raise TypeError(f"phase {turn.step.path} ({turn.phase.type.value}) has {type(params).__name__} parameters")
        return params

    def start(self, turn: Turn) -> Result:
        return Result()

    def record(self, turn: Turn, values: Mapping[str, Any], *, confirmed: bool) -> Result:
        return _no_values(turn, values)

    def complete(self, turn: Turn) -> Result:
        return Result()

    def meanings(self, phase: Phase) -> tuple[str, ...]:
        return phase.signatures

    def blockers(self, turn: Turn) -> list[str]:
        return []

    def follow(self, turn: Turn, *, alive: Callable[[], bool], recovering: bool) -> Followed:
        return Followed()


class InstructionPhase(Manual):
    def record(self, turn: Turn, values: Mapping[str, Any], *, confirmed: bool) -> Result:
        # An instruction records one thing: that the operator confirmed reading it.
        if values.get("confirmed") in (True, "true", "yes"):
            return Result(entries=[Entry("confirmed", "yes")])
        return _no_values(turn, values)


class DataEntryPhase(Manual):
    def record(self, turn: Turn, values: Mapping[str, Any], *, confirmed: bool) -> Result:
        return _data_entry(turn, self.params(turn, DataEntry), values, confirmed=confirmed)

    def complete(self, turn: Turn) -> Result:
        turn.need("value", "record the value first")
        return Result()


class WeighDispensePhase(Manual):
    def start(self, turn: Turn) -> Result:
        scale = self.params(turn, WeighDispense).scale
        if scale:
            turn.ctx.equipment.check_usable(turn.session, scale, batch_ref=turn.batch.number)
        return Result()

    def record(self, turn: Turn, values: Mapping[str, Any], *, confirmed: bool) -> Result:
        return _weigh(turn, self.params(turn, WeighDispense), values)

    def complete(self, turn: Turn) -> Result:
        return _complete_weighing(turn)


class DosingPhase(Manual):
    followed = True

    def start(self, turn: Turn) -> Result:
        automated.start_dosing(turn, self.params(turn, Dosing))
        return Result(data={"runtime": "started"})

    def complete(self, turn: Turn) -> Result:
        return dosing_result(turn, self.params(turn, Dosing))

    def follow(self, turn: Turn, *, alive: Callable[[], bool], recovering: bool) -> Followed:
        return automated.follow_dosing(turn, self.params(turn, Dosing), alive, recovering)


class TimedHoldPhase(Manual):
    followed = True

    def start(self, turn: Turn) -> Result:
        return Result(data={"hold_started_at": to_rfc3339(turn.ctx.clock.now())})

    def complete(self, turn: Turn) -> Result:
        return automated.end_hold(turn, self.params(turn, TimedHold))

    def blockers(self, turn: Turn) -> list[str]:
        params = self.params(turn, TimedHold)
        started = state_of(turn.step, TimedHoldState).hold_started_at
        if started is None:
            return []
        minimum = rules.hold_seconds(Decimal(str(params.min_duration)), params.unit)
        elapsed = Decimal(str((turn.ctx.clock.now() - started).total_seconds()))
        if elapsed >= minimum:
            return []
        left = (minimum - elapsed).quantize(Decimal(1))
        return [f"the hold has not reached its minimum of {params.min_duration} {params.unit}: {left} s left"]

    def follow(self, turn: Turn, *, alive: Callable[[], bool], recovering: bool) -> Followed:
        # One time deviation per hold: once opened, the hold is not looked at again.
        if state_of(turn.step, TimedHoldState).time_deviation:
            return Followed()
        if hold_overrun(turn, self.params(turn, TimedHold), turn.ctx.clock.now()):
            return Followed(overrun=f"hold {turn.step.path} ran past its maximum duration")
        return Followed()


class EquipmentCheckPhase(Manual):
    def blockers(self, turn: Turn) -> list[str]:
        unit = self.params(turn, EquipmentCheck).equipment
        try:
            turn.ctx.equipment.check_usable(turn.session, unit, batch_ref=turn.batch.number)
        except EquipmentNotUsable as exc:
            return [exc.message]
        return []

    def complete(self, turn: Turn) -> Result:
        return _equipment_check(turn, self.params(turn, EquipmentCheck))


class SamplePhase(Manual):
    def record(self, turn: Turn, values: Mapping[str, Any], *, confirmed: bool) -> Result:
        return _sample(turn, self.params(turn, Sample), values)

    def complete(self, turn: Turn) -> Result:
        return _complete_sample(turn)


class CalculationPhase(Manual):
    def complete(self, turn: Turn) -> Result:
        # A calculation reads the formula and the values of its operation's phases.
        env = turn.env or environment(
            turn.session, turn.batch, turn.ctx.plan(turn.session, turn.batch), parent_of(turn.step.path)
        )
        return _calculate(turn, self.params(turn, Calculation), env)


class SignOffPhase(Manual):
    def meanings(self, phase: Phase) -> tuple[str, ...]:
        # A sign-off lists its own meanings (e.g. performed + verified) in its parameters.
        params = phase.params
        return params.meanings if isinstance(params, SignOff) else phase.signatures


REGISTRY: Mapping[PhaseType, PhaseBehaviour] = {
    PhaseType.INSTRUCTION: InstructionPhase(),
    PhaseType.DATA_ENTRY: DataEntryPhase(),
    PhaseType.WEIGH_DISPENSE: WeighDispensePhase(),
    PhaseType.DOSING: DosingPhase(),
    PhaseType.TIMED_HOLD: TimedHoldPhase(),
    PhaseType.EQUIPMENT_CHECK: EquipmentCheckPhase(),
    PhaseType.SAMPLE: SamplePhase(),
    PhaseType.CALCULATION: CalculationPhase(),
    PhaseType.SIGN_OFF: SignOffPhase(),
}
"""The behaviour of every phase type of the library (a test checks none is missing)."""

FOLLOWED: tuple[str, ...] = tuple(t.value for t, b in REGISTRY.items() if b.followed)
"""The phase types :func:`ebr.execution.automation.sync` follows while they run."""


def behaviour(phase: Phase) -> PhaseBehaviour:
    """The behaviour of ``phase``'s type (KeyError names a type missing from the registry)."""
    # By value: a PhaseType is a StrEnum, and stand-ins (tests) carry only ``type.value``.
    return REGISTRY[PhaseType(phase.type.value)]
