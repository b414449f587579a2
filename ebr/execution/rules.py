"""Phase logic as small pure functions: limits, tolerances, potency, timed holds, deviations.

No database and no clock here: the engine passes values in and records what comes
out. Every refusal is an :class:`ebr.core.errors.ValidationError` (bad input) or
:class:`ebr.core.errors.StateError` (not allowed now) whose message names the problem.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from ebr.core.canonical import decimal_text as decimal_text  # re-exported for the phase logic
from ebr.core.errors import StateError, ValidationError


class BatchStatus(StrEnum):
    """The lifecycle of a batch record (the ISA-88 state is kept separately)."""

    CREATED = "created"
    READY = "ready"  # released to the floor
    IN_EXECUTION = "in_execution"
    COMPLETE = "complete"
    REVIEWED = "reviewed"
    RELEASED = "released"
    REJECTED = "rejected"
    ABORTED = "aborted"


class LotStatus(StrEnum):
    """Status of a lot; only released, unexpired lots may be consumed."""

    QUARANTINE = "quarantine"
    RELEASED = "released"
    REJECTED = "rejected"
    EXPIRED = "expired"


LOT_TRANSITIONS: dict[LotStatus, frozenset[LotStatus]] = {
    LotStatus.QUARANTINE: frozenset({LotStatus.RELEASED, LotStatus.REJECTED}),
    LotStatus.RELEASED: frozenset({LotStatus.QUARANTINE, LotStatus.REJECTED, LotStatus.EXPIRED}),
    LotStatus.REJECTED: frozenset(),
    LotStatus.EXPIRED: frozenset(),
}


class Severity(StrEnum):
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


class DeviationKind(StrEnum):
    OUT_OF_LIMIT = "out_of_limit"
    TIME_EXCEEDED = "time_exceeded"
    INTERLOCK_TRIP = "interlock_trip"
    OVERRIDE = "override"
    MANUAL = "manual"
    OUT_OF_SPEC = "out_of_spec"  # a QC result of an in-process sample outside its specification
    YIELD = "yield"  # actual yield outside the recipe's limits (21 CFR 211.103, 211.192)
    RECONCILIATION = "reconciliation"  # a material's issued − consumed − returned − waste outside its limit


DEVIATION_SIGNATURES: dict[Severity, tuple[str, ...]] = {
    Severity.MINOR: ("verified",),
    Severity.MAJOR: ("verified", "reviewed"),
    Severity.CRITICAL: ("verified", "reviewed", "approved"),
}
"""Signatures a deviation needs before it closes: a supervisor verifies; QA reviews
major ones and, for critical ones, a second QA person approves."""

ACKNOWLEDGED_BY = "verified"
"""The signature (with a comment) after which a step blocked by a deviation may complete."""


def check_lot_transition(current: str, target: str) -> LotStatus:
    """The new status; raises ValidationError when the change is not allowed."""
    try:
        new = LotStatus(target)
    except ValueError:
        valid = ", ".join(s.value for s in LotStatus)
        raise ValidationError(f"unknown lot status {target!r}; use one of: {valid}") from None
    old = LotStatus(current)
    if new not in LOT_TRANSITIONS[old]:
        allowed = ", ".join(sorted(s.value for s in LOT_TRANSITIONS[old])) or "none (final status)"
        raise ValidationError(f"a {old.value} lot cannot become {new.value}; allowed: {allowed}")
    return new


def parse_decimal(name: str, value: object) -> Decimal:
    """A finite Decimal from a string or int; floats and text are refused with a clear message."""
    if isinstance(value, bool | float):
        raise ValidationError(f'{name}: send the number as a decimal string, e.g. "12.50" (got {value!r})')
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationError(f"{name}: {value!r} is not a number; enter digits such as 7.25") from None
    if not number.is_finite():
        raise ValidationError(f"{name}: {value!r} is not a finite number")
    return number


@dataclass(frozen=True)
class LimitCheck:
    """The result of comparing a value with its limits."""

    in_limits: bool
    message: str


def check_limits(value: Decimal, low: Decimal | None, high: Decimal | None, unit: str | None = None) -> LimitCheck:
    """Is ``value`` within ``[low, high]`` (either bound may be missing)?"""
    suffix = f" {unit}" if unit else ""
    if low is not None and value < low:
        return LimitCheck(False, f"{value}{suffix} is below the low limit {low}{suffix}")
    if high is not None and value > high:
        return LimitCheck(False, f"{value}{suffix} is above the high limit {high}{suffix}")
    return LimitCheck(True, "within limits")


def potency_adjusted(target: Decimal, potency: Decimal | None) -> Decimal:
    """The quantity of a lot that delivers ``target`` of active material at ``potency`` percent."""
    if potency is None:
        return target
    if potency <= 0 or potency > 100:
        raise ValidationError(f"lot potency {potency}% is not usable; it must be above 0 and at most 100")
    return target * Decimal(100) / potency


def tolerance_band(target: Decimal, tolerance: Decimal, tolerance_unit: str) -> tuple[Decimal, Decimal]:
    """``(low, high)`` for ``target`` ± tolerance (``%`` relative, else absolute)."""
    delta = target * tolerance / Decimal(100) if tolerance_unit == "%" else tolerance
    return target - delta, target + delta


def check_tolerance(
    name: str, actual: Decimal, target: Decimal, tolerance: Decimal, tolerance_unit: str, unit: str
) -> None:
    """Raise ValidationError when ``actual`` is outside target ± tolerance."""
    low, high = tolerance_band(target, tolerance, tolerance_unit)
    if not low <= actual <= high:
        raise ValidationError(
            f"{name}: {actual} {unit} is out of tolerance: the target is {target:.4f} {unit} "
            f"(allowed {low:.4f} to {high:.4f} {unit}); adjust the quantity and weigh again"
        )


def hold_seconds(duration: Decimal, unit: str) -> Decimal:
    """A hold duration in seconds (units s, min, h)."""
    factors = {"s": Decimal(1), "min": Decimal(60), "h": Decimal(3600)}
    if unit not in factors:
        raise ValidationError(f"timed hold unit {unit!r} is not a time unit; use s, min or h")
    return duration * factors[unit]


def check_hold_end(started: dt.datetime, now: dt.datetime, min_seconds: Decimal, max_seconds: Decimal | None) -> bool:
    """True when the hold is within its maximum; raises StateError when ending early."""
    elapsed = Decimal(str((now - started).total_seconds()))
    if elapsed < min_seconds:
        remaining = (min_seconds - elapsed).quantize(Decimal(1))
        raise StateError(
            f"the hold has run {elapsed.quantize(Decimal(1))} s of its minimum {min_seconds} s; "
            f"completing early is refused, wait {remaining} s more"
        )
    return max_seconds is None or elapsed <= max_seconds


def deviation_signatures(severity: str) -> tuple[str, ...]:
    """The meanings that close a deviation of ``severity``."""
    try:
        return DEVIATION_SIGNATURES[Severity(severity)]
    except ValueError:
        valid = ", ".join(s.value for s in Severity)
        raise ValidationError(f"unknown severity {severity!r}; use one of: {valid}") from None
