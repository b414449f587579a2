"""Phase logic per phase type: what starting, recording and completing a phase means.

Each handler gets a :class:`Turn` (the batch, the step, its phase definition, the
actor and the step's current entries) and returns a :class:`Result`: entries to
record, deviations to open and step data to keep. Handlers refuse bad input with
ValidationError/StateError before anything is written; the engine writes the
result and its audit event in one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from ebr.core.clock import from_rfc3339, to_rfc3339
from ebr.core.errors import StateError, ValidationError
from ebr.execution import rules, samples
from ebr.execution.context import Context
from ebr.execution.models import Batch, BatchStep, StepEntry
from ebr.execution.rules import DeviationKind, Severity
from equipment import commands as runtime
from recipes import formula, units
from recipes.model import Phase
from recipes.phases import (
    Calculation,
    DataEntry,
    Dosing,
    EntryKind,
    EquipmentCheck,
    Sample,
    TimedHold,
    WeighDispense,
)


@dataclass(frozen=True)
class Entry:
    """A value to record: name, text value, unit, limit verdict and where it came from."""

    name: str
    value: str
    unit: str | None = None
    in_limits: bool | None = None
    source: str = "manual"


@dataclass(frozen=True)
class DeviationSpec:
    kind: DeviationKind
    severity: Severity
    description: str


@dataclass
class Result:
    entries: list[Entry] = field(default_factory=list)
    deviations: list[DeviationSpec] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Turn:
    session: Session
    ctx: Context
    batch: Batch
    step: BatchStep
    phase: Phase
    actor: str
    entries: Mapping[str, StepEntry]
    env: Mapping[str, Any] = field(default_factory=dict)

    @property
    def phase_ref(self) -> str:
        return f"{self.batch.id}:{self.step.path}"

    def need(self, name: str, hint: str) -> StepEntry:
        entry = self.entries.get(name)
        if entry is None:
            raise StateError(f"step {self.step.path} has no {name} yet: {hint}")
        return entry


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


# -- start ------------------------------------------------------------------------------


def on_start(turn: Turn) -> Result:
    """Checks and side effects of starting the phase (permissives, equipment commands)."""
    params = turn.phase.params
    result = Result()
    if isinstance(params, WeighDispense) and params.scale:
        turn.ctx.equipment.check_usable(turn.session, params.scale, batch_ref=turn.batch.number)
    elif isinstance(params, Dosing):
        _start_dosing(turn, params)
        result.data["runtime"] = "started"
    elif isinstance(params, TimedHold):
        result.data["hold_started_at"] = to_rfc3339(turn.ctx.clock.now())
    return result


def _start_dosing(turn: Turn, params: Dosing) -> None:
    ctx, session = turn.ctx, turn.session
    ctx.equipment.check_usable(session, params.destination, batch_ref=turn.batch.number)
    target = _dec(params.target)
    assert target is not None
    _low, high = rules.tolerance_band(target, params.tolerance, params.tolerance_unit)
    runtime.start_dosing(
        session,
        actor=turn.actor,
        phase_ref=turn.phase_ref,
        source=params.source,
        destination=params.destination,
        target=target,
        tolerance=high - target,
        unit=params.unit,
        clock=ctx.clock,
    )


# -- record -----------------------------------------------------------------------------


class OutOfLimitsUnconfirmed(StateError):
    """A typed number is outside its limits and the operator has not confirmed it: nothing is stored.

    The browser asks "re-enter or record as deviation"; the API answers 409 with this
    message. Sent again with the confirmation, the value is stored and its deviation opened.
    """

    def __init__(self, *, path: str, params: DataEntry, value: str, description: str) -> None:
        self.path, self.value, self.unit, self.description = path, value, params.unit, description
        self.low, self.high = _dec(params.low), _dec(params.high)
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
    params = turn.phase.params
    if isinstance(params, DataEntry):
        return _data_entry(turn, params, values, confirmed=confirmed)
    if isinstance(params, WeighDispense):
        return _weigh(turn, params, values)
    if isinstance(params, Sample):
        return _sample(turn, params, values)
    if turn.phase.type.value == "instruction" and values.get("confirmed") in (True, "true", "yes"):
        return Result(entries=[Entry("confirmed", "yes")])
    raise ValidationError(
        f"a {turn.phase.type.value} step takes no recorded values ({', '.join(values) or 'none given'}); complete it"
    )


def check_value(params: DataEntry, raw: Any) -> tuple[Entry, DeviationSpec | None]:
    """Validate one data-entry value (pure): the entry, and a deviation when out of limits."""
    if params.kind is EntryKind.NUMERIC:
        number = rules.parse_decimal(params.prompt or "value", raw)
        verdict = rules.check_limits(number, _dec(params.low), _dec(params.high), params.unit)
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
    target = _dec(params.target)
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
    params = turn.phase.params
    if isinstance(params, DataEntry):
        turn.need("value", "record the value first")
    elif isinstance(params, Sample):
        turn.need("sample_id", "record the sample id first")
        waiting = samples.missing_results(turn.session, turn.ctx.plan(turn.session, turn.batch), turn.step)
        if waiting:
            raise StateError(
                f"{turn.step.path} waits for QC's result of {', '.join(waiting)}; QC enters it on the "
                "Samples page (or POST /api/samples/<sample id>/results), then complete the step"
            )
    elif isinstance(params, WeighDispense):
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
    elif isinstance(params, TimedHold):
        return _end_hold(turn, params)
    elif isinstance(params, EquipmentCheck):
        return _equipment_check(turn, params)
    elif isinstance(params, Calculation):
        return _calculate(turn, params)
    elif isinstance(params, Dosing):
        return dosing_result(turn, params)
    return Result()


def _end_hold(turn: Turn, params: TimedHold) -> Result:
    started = from_rfc3339(turn.step.data["hold_started_at"])
    minimum = rules.hold_seconds(Decimal(str(params.min_duration)), params.unit)
    maximum = (
        None if params.max_duration is None else rules.hold_seconds(Decimal(str(params.max_duration)), params.unit)
    )
    now = turn.ctx.clock.now()
    within = rules.check_hold_end(started, now, minimum, maximum)
    elapsed = Decimal(str((now - started).total_seconds())).quantize(Decimal("0.1"))
    result = Result(entries=[Entry("elapsed", rules.decimal_text(elapsed), "s", within, source="clock")])
    if not within and not turn.step.data.get("time_deviation"):
        text = f"hold lasted {elapsed} s, beyond its maximum of {maximum} s"
        result.deviations.append(DeviationSpec(DeviationKind.TIME_EXCEEDED, Severity.MINOR, text))
    return result


def hold_status(params: TimedHold, data: Mapping[str, Any], now: dt.datetime) -> dict[str, Any] | None:
    """A running hold's countdown in whole seconds: elapsed, minimum, maximum and remaining to the minimum."""
    if "hold_started_at" not in data:
        return None
    elapsed = int((now - from_rfc3339(data["hold_started_at"])).total_seconds())
    minimum = int(rules.hold_seconds(Decimal(str(params.min_duration)), params.unit))
    maximum = (
        None if params.max_duration is None else int(rules.hold_seconds(Decimal(str(params.max_duration)), params.unit))
    )
    return {"elapsed_s": elapsed, "min_s": minimum, "max_s": maximum, "remaining_s": max(0, minimum - elapsed)}


def hold_overrun(turn: Turn, params: TimedHold, now: dt.datetime) -> bool:
    """True when a running hold is past its maximum (the engine opens a deviation once)."""
    if params.max_duration is None or "hold_started_at" not in turn.step.data:
        return False
    maximum = rules.hold_seconds(Decimal(str(params.max_duration)), params.unit)
    started = from_rfc3339(turn.step.data["hold_started_at"])
    return Decimal(str((now - started).total_seconds())) > maximum


def _equipment_check(turn: Turn, params: EquipmentCheck) -> Result:
    ctx = turn.ctx
    ctx.equipment.check_usable(turn.session, params.equipment, batch_ref=turn.batch.number)
    ctx.equipment.mark_in_use(turn.session, actor=turn.actor, unit=params.equipment, batch_ref=turn.batch.number)
    entries = [Entry(check, "ok", source="equipment") for check in params.checks]
    return Result(entries=entries, data={"in_use": params.equipment})


def _calculate(turn: Turn, params: Calculation) -> Result:
    value = formula.evaluate(params.expression, turn.env)
    if not isinstance(value, Decimal):
        raise ValidationError(f"calculation {params.expression!r} gave {value!r}, not a number")
    if params.precision is not None:
        value = units.round_to(value, params.precision)
    verdict = rules.check_limits(value, _dec(params.low), _dec(params.high), params.unit)
    result = Result(entries=[Entry("result", rules.decimal_text(value), params.unit, verdict.in_limits, "calculated")])
    if not verdict.in_limits:
        text = f"calculated {params.expression}: {verdict.message}"
        result.deviations.append(DeviationSpec(DeviationKind.OUT_OF_LIMIT, Severity.MINOR, text))
    return result


def dosing_result(turn: Turn, params: Dosing) -> Result:
    """The dosed quantity from the runtime; refuses while the runtime has not finished."""
    snapshot = runtime.latest_state(turn.session, turn.phase_ref)
    if snapshot is None or snapshot.state is not runtime.PhaseStatus.COMPLETE or snapshot.actual is None:
        seen = "nothing" if snapshot is None else snapshot.state.value
        raise StateError(f"dosing {turn.step.path} has not finished (the runtime reports {seen}); wait for it")
    if "actual" in turn.entries:
        return Result()
    target = _dec(params.target)
    assert target is not None
    low, high = rules.tolerance_band(target, params.tolerance, params.tolerance_unit)
    actual = snapshot.actual
    within = low <= actual <= high
    points = len(runtime.trend(turn.session, f"{params.destination}.totalizer", phase_ref=turn.phase_ref))
    result = Result(
        entries=[Entry("actual", rules.decimal_text(actual), params.unit, within, source="equipment")],
        data={"runtime": "complete", "trend_points": points},
    )
    if not within:
        text = f"dosed {actual} {params.unit}, outside {low}–{high} {params.unit}"
        result.deviations.append(DeviationSpec(DeviationKind.OUT_OF_LIMIT, Severity.MAJOR, text))
    return result
