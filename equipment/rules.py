"""Pure rules of the plant model: statuses, whether equipment may be used, overdue calibration.

No database here: :func:`usability_problem` takes a plain snapshot, so the rules are
tested in microseconds and read the same in the service and in the validation docs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from equipment.errors import (
    CalibrationOverdue,
    CleanHoldExpired,
    EquipmentDirty,
    EquipmentNotUsable,
    OutOfService,
    StatusChangeRefused,
)


class EquipmentStatus(StrEnum):
    """Status of a piece of equipment, kept in its logbook."""

    CLEAN = "clean"
    DIRTY = "dirty"
    IN_USE = "in_use"
    MAINTENANCE = "maintenance"
    OUT_OF_SERVICE = "out_of_service"


_OUT_OF_USE = (EquipmentStatus.MAINTENANCE, EquipmentStatus.OUT_OF_SERVICE)


class EquipmentKind(StrEnum):
    """What a piece of equipment is."""

    UNIT = "unit"
    TANK = "tank"
    SCALE = "scale"
    VALVE = "valve"
    PUMP = "pump"
    AGITATOR = "agitator"
    INSTRUMENT = "instrument"
    FILTER = "filter"
    FILL_STATION = "fill_station"


@dataclass(frozen=True)
class UsabilitySnapshot:
    """What :func:`usability_problem` needs to know about one piece of equipment."""

    tag: str
    status: EquipmentStatus
    in_use_by: str | None
    clean_hold_hours: int | None
    last_cleaned_at: dt.datetime | None
    requires_calibration: bool
    calibration_due_at: dt.datetime | None


def _status_problem(eq: UsabilitySnapshot, batch_ref: str | None) -> EquipmentNotUsable | None:
    if eq.status in _OUT_OF_USE:
        return OutOfService(
            f"{eq.tag} is {eq.status.value.replace('_', ' ')}: return it to service and clean it before use",
            tag=eq.tag,
        )
    if eq.status is EquipmentStatus.DIRTY:
        return EquipmentDirty(f"{eq.tag} is dirty: clean it and record the cleaning before use", tag=eq.tag)
    if eq.status is EquipmentStatus.IN_USE and (batch_ref is None or eq.in_use_by != batch_ref):
        return EquipmentDirty(
            f"{eq.tag} is in use by {eq.in_use_by or 'another batch'}: release it and clean it first", tag=eq.tag
        )
    return None


def _clean_hold_problem(eq: UsabilitySnapshot, at: dt.datetime) -> EquipmentNotUsable | None:
    if eq.status is not EquipmentStatus.CLEAN or eq.clean_hold_hours is None:
        return None
    if eq.last_cleaned_at is None:
        return CleanHoldExpired(f"{eq.tag} has no cleaning record: clean it before use", tag=eq.tag)
    expires = eq.last_cleaned_at + dt.timedelta(hours=eq.clean_hold_hours)
    if at >= expires:
        return CleanHoldExpired(
            f"{eq.tag} was cleaned at {eq.last_cleaned_at.isoformat()} and its clean hold of "
            f"{eq.clean_hold_hours} h expired at {expires.isoformat()}: clean it again",
            tag=eq.tag,
        )
    return None


def _calibration_problem(eq: UsabilitySnapshot, at: dt.datetime) -> EquipmentNotUsable | None:
    if not eq.requires_calibration:
        return None
    if eq.calibration_due_at is None:
        return CalibrationOverdue(f"{eq.tag} has no valid calibration: calibrate it before use", tag=eq.tag)
    if at >= eq.calibration_due_at:
        return CalibrationOverdue(
            f"{eq.tag} calibration was due at {eq.calibration_due_at.isoformat()}: calibrate it before use",
            tag=eq.tag,
        )
    return None


def usability_problem(
    eq: UsabilitySnapshot, at: dt.datetime, *, batch_ref: str | None = None
) -> EquipmentNotUsable | None:
    """The reason ``eq`` may not be used at ``at`` (None when it may).

    Equipment already in use by ``batch_ref`` stays usable for that batch.
    """
    if at.tzinfo is None:
        raise ValueError("naive datetime: pass an aware UTC time")
    return _status_problem(eq, batch_ref) or _clean_hold_problem(eq, at) or _calibration_problem(eq, at)


@dataclass(frozen=True)
class OverdueCalibration:
    """A unit whose calibration is overdue, as found by :func:`overdue_calibration`.

    ``in_use`` units are held by the batch ``in_use_by``: they are reported, not taken
    out of use from under the batch (which is refused at its next use anyway).
    """

    tag: str
    due_at: dt.datetime | None
    in_use: bool
    in_use_by: str | None

    @property
    def reason(self) -> str:
        """The reason recorded when the unit is taken out of use: what was wrong and what to do."""
        found = (
            "it has no valid calibration"
            if self.due_at is None
            else f"calibration was due at {self.due_at.isoformat()}"
        )
        return f"{found}: calibrate it, then return it to service"


def overdue_calibration(eq: UsabilitySnapshot, at: dt.datetime) -> OverdueCalibration | None:
    """What the calibration sweep must act on for ``eq`` at ``at`` (None: nothing).

    Overdue is the rule :func:`usability_problem` applies (``CalibrationOverdue``).
    Equipment already in maintenance or out of service is out of use already: None,
    so a second sweep changes nothing.
    """
    if at.tzinfo is None:
        raise ValueError("naive datetime: pass an aware UTC time")
    if eq.status in _OUT_OF_USE or _calibration_problem(eq, at) is None:
        return None
    in_use = eq.status is EquipmentStatus.IN_USE
    return OverdueCalibration(
        tag=eq.tag, due_at=eq.calibration_due_at, in_use=in_use, in_use_by=eq.in_use_by if in_use else None
    )


class MaintenanceKind(StrEnum):
    """What a maintenance intervention was."""

    PREVENTIVE = "preventive"
    CORRECTIVE = "corrective"


def parse_maintenance_kind(value: MaintenanceKind | str) -> MaintenanceKind:
    """``value`` as a :class:`MaintenanceKind`; StatusChangeRefused naming the valid kinds."""
    try:
        return MaintenanceKind(str(value).strip().lower())
    except ValueError:
        kinds = ", ".join(k.value for k in MaintenanceKind)
        raise StatusChangeRefused(f"maintenance kind {value!r} is not one of: {kinds}") from None


# A record may be entered after the work (the certificate arrives later), never before it.
MAX_FUTURE_SKEW = dt.timedelta(minutes=5)


def check_calibration_times(unit: str, *, at: dt.datetime, now: dt.datetime, due_at: dt.datetime | None) -> None:
    """Refuse (StatusChangeRefused) a calibration or maintenance time in the future, or a next due date
    not after the calibration: the record would claim work that has not happened."""
    if at.tzinfo is None or (due_at is not None and due_at.tzinfo is None):
        raise StatusChangeRefused(f"{unit}: give times with their time zone (e.g. 2026-12-05T10:00:00+00:00)")
    if at > now + MAX_FUTURE_SKEW:
        raise StatusChangeRefused(
            f"{unit}: the work is dated {at.isoformat()}, in the future; record it once it is done"
        )
    if due_at is not None and due_at <= at:
        raise StatusChangeRefused(
            f"{unit}: the next due date {due_at.isoformat()} must be after the calibration ({at.isoformat()})"
        )


def last_pass_before(history: list[tuple[dt.datetime, bool]], at: dt.datetime) -> dt.datetime | None:
    """The time of the newest passing calibration in ``history`` (time, passed) before ``at``, or None."""
    passes = [when for when, passed in history if passed and when < at]
    return max(passes) if passes else None


@dataclass(frozen=True)
class Impact:
    """A calibration's impact window: usage from ``since`` (the last pass) to ``until`` is in doubt
    when ``passed`` is false. ``batches`` are the batch references known to have used the unit."""

    tag: str
    passed: bool
    since: dt.datetime
    until: dt.datetime
    batches: list[str]
