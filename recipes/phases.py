"""The phase library: one frozen dataclass of typed parameters per phase type (pure).

A numeric parameter is either a literal ``Decimal`` or a :class:`ParamRef` to a
formula parameter, so that scaling the formula scales the phase; a control
recipe (see ``recipes.scaling.scale``) has every reference resolved to a
``Decimal``. Tolerances are absolute in the phase's unit unless
``tolerance_unit`` is ``"%"`` (relative to the target).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


@dataclass(frozen=True)
class ParamRef:
    """A reference to a formula parameter by name (``{param: name}`` in YAML)."""

    param: str


Amount = Decimal | ParamRef
"""A numeric phase parameter: a literal or a formula parameter."""


class PhaseType(StrEnum):
    """The phase library."""

    INSTRUCTION = "instruction"
    DATA_ENTRY = "data_entry"
    WEIGH_DISPENSE = "weigh_dispense"
    DOSING = "dosing"
    TIMED_HOLD = "timed_hold"
    EQUIPMENT_CHECK = "equipment_check"
    SAMPLE = "sample"
    CALCULATION = "calculation"
    SIGN_OFF = "sign_off"


class EntryKind(StrEnum):
    """What a data-entry phase records."""

    NUMERIC = "numeric"
    TEXT = "text"
    CHOICE = "choice"
    PASS_FAIL = "pass_fail"  # noqa: S105 - an entry kind, not a password


MEANINGS = ("performed", "verified", "witnessed")
"""Signature meanings a phase can require, in the order they are given."""

EQUIPMENT_CHECKS = ("clean", "calibrated", "available", "line_clearance", "status")
"""What an equipment-check phase can confirm."""


@dataclass(frozen=True)
class Instruction:
    """Read and confirm a work instruction."""

    text: str


@dataclass(frozen=True)
class DataEntry:
    """Record a value: numeric (unit, target, low/high limits), text, a choice, or pass/fail."""

    kind: EntryKind
    prompt: str
    unit: str | None = None
    target: Amount | None = None
    low: Amount | None = None
    high: Amount | None = None
    choices: tuple[str, ...] = ()
    max_length: int | None = None


@dataclass(frozen=True)
class WeighDispense:
    """Weigh a material from a lot on a scale, within tolerance."""

    material: str
    target: Amount
    unit: str
    tolerance: Decimal
    tolerance_unit: str
    potency_adjusted: bool = False
    scale: str | None = None


@dataclass(frozen=True)
class Dosing:
    """Automated transfer of a material from a source (tank) into a destination unit."""

    source: str
    destination: str
    target: Amount
    unit: str
    tolerance: Decimal
    tolerance_unit: str
    material: str | None = None
    rate: Amount | None = None
    rate_unit: str | None = None


@dataclass(frozen=True)
class Setpoint:
    """A value an equipment tag holds during a phase (e.g. ``R-101.agitator.speed`` = 120 rpm)."""

    tag: str
    value: Amount
    unit: str


@dataclass(frozen=True)
class TimedHold:
    """Hold for at least ``min_duration`` and at most ``max_duration``, optionally with setpoints."""

    min_duration: Amount
    unit: str
    max_duration: Amount | None = None
    setpoints: tuple[Setpoint, ...] = ()


@dataclass(frozen=True)
class EquipmentCheck:
    """Confirm the state of a piece of equipment before use."""

    equipment: str
    checks: tuple[str, ...]


@dataclass(frozen=True)
class TestSpec:
    """The specification of one test of a sample: the limits its QC result must meet."""

    __test__ = False  # not a pytest test class, despite its name

    test: str
    low: Decimal | None = None
    high: Decimal | None = None
    unit: str | None = None


@dataclass(frozen=True)
class Sample:
    """Take a sample for the listed tests; optionally wait for the result.

    ``specifications`` declares a test's limits on the sample itself; a test without
    one takes the limits of the following numeric data-entry step named after it.
    """

    tests: tuple[str, ...]
    quantity: Amount | None = None
    unit: str | None = None
    wait_for_result: bool = False
    specifications: tuple[TestSpec, ...] = ()


@dataclass(frozen=True)
class Calculation:
    """Compute a value from earlier results and parameters (``recipes.formula``), with limits."""

    expression: str
    unit: str | None = None
    precision: Decimal | None = None
    low: Amount | None = None
    high: Amount | None = None


@dataclass(frozen=True)
class SignOff:
    """Collect the listed signatures (performed, verified, witnessed) on the preceding work."""

    meanings: tuple[str, ...]
    statement: str = ""


PhaseParams = (
    Instruction | DataEntry | WeighDispense | Dosing | TimedHold | EquipmentCheck | Sample | Calculation | SignOff
)

PARAMS_CLASS: dict[PhaseType, type[PhaseParams]] = {
    PhaseType.INSTRUCTION: Instruction,
    PhaseType.DATA_ENTRY: DataEntry,
    PhaseType.WEIGH_DISPENSE: WeighDispense,
    PhaseType.DOSING: Dosing,
    PhaseType.TIMED_HOLD: TimedHold,
    PhaseType.EQUIPMENT_CHECK: EquipmentCheck,
    PhaseType.SAMPLE: Sample,
    PhaseType.CALCULATION: Calculation,
    PhaseType.SIGN_OFF: SignOff,
}
"""The parameter class of each phase type."""
