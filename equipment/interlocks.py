"""Interlock rules of the dosing phase, pure: permissives before a start, trips while running.

Permissives are checked against the latest values before anything is commanded.
Trips are evaluated on every data-change notification (:func:`trip_on_value`) and
on a fast timer (:func:`trip_on_time`) for what a notification cannot show: a
valve that does not follow its command, data that stopped changing, a lost link.
The controller acts on a trip at once; recording comes after (DESIGN.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from equipment.config import DosingConfig
from equipment.drivers.base import TagValue


class TripKind(StrEnum):
    HIGH_HIGH = "level_high_high"
    FLOW_WITHOUT_COMMAND = "flow_without_command"
    VALVE_NOT_FOLLOWING = "valve_not_following"
    STALE_DATA = "stale_data"
    COMMUNICATION_LOST = "communication_lost"
    BAD_QUALITY = "bad_quality"
    TOTALIZER_DISCONTINUITY = "totalizer_discontinuity"
    OVERDOSE = "overdose"
    OUTPUT_NOT_SAFE = "output_not_safe"


@dataclass(frozen=True)
class Trip:
    """Why a running phase was stopped."""

    kind: TripKind
    message: str
    tag: str | None = None
    value: float | bool | int | None = None


def _value(values: Mapping[str, TagValue], tag: str, problems: list[str]) -> float | None:
    item = values.get(tag)
    if item is None:
        problems.append(f"{tag} has no value yet (is the endpoint connected?)")
        return None
    if not item.good:
        problems.append(f"{tag} quality is {item.status}")
        return None
    return item.number()


def check_permissives(
    cfg: DosingConfig,
    values: Mapping[str, TagValue],
    *,
    source: str,
    quantity: float,
    requires_agitator: bool,
) -> list[str]:
    """Every permissive that does not hold for dosing ``quantity`` from ``source`` (empty: may start)."""
    problems: list[str] = []
    level = _value(values, cfg.level, problems)
    if level is not None:
        if level >= cfg.level_permissive_max:
            problems.append(f"{cfg.level} is {level:g}, not below its start limit {cfg.level_permissive_max:g}")
        elif level + quantity / cfg.level_factor >= cfg.level_high_high:
            problems.append(
                f"{cfg.unit} has no room: {level:g} + {quantity / cfg.level_factor:g} reaches high-high "
                f"{cfg.level_high_high:g}"
            )
    if source not in cfg.source_levels:
        problems.append(f"{source} is not a declared source of {cfg.unit} ({', '.join(cfg.source_levels) or 'none'})")
    else:
        available = _value(values, cfg.source_levels[source], problems)
        if available is not None and available - quantity < cfg.source_reserve:
            problems.append(
                f"{source} holds {available:g}, not enough for {quantity:g} plus its reserve {cfg.source_reserve:g}"
            )
    for tag in (cfg.inlet_valve, cfg.inlet_valve_feedback):
        if _value(values, tag, problems):
            problems.append(f"{tag} is open; it must be closed before the start")
    if requires_agitator:
        if cfg.agitator_feedback is None:
            problems.append(f"{cfg.unit} has no agitator feedback configured, but the phase requires the agitator")
        elif not _value(values, cfg.agitator_feedback, problems):
            problems.append(f"{cfg.agitator_feedback} is not running; start the agitator first")
    return problems


def monitored_tags(cfg: DosingConfig) -> list[str]:
    """Tags whose quality matters while dosing."""
    tags = [cfg.level, cfg.totalizer, cfg.flow, cfg.inlet_valve_feedback]
    return tags + ([cfg.pump_feedback] if cfg.pump_feedback else [])


def trip_on_value(cfg: DosingConfig, item: TagValue, *, pump_commanded: bool) -> Trip | None:
    """The trip that ``item`` causes while dosing, if any."""
    if item.tag in monitored_tags(cfg) and not item.good:
        return Trip(TripKind.BAD_QUALITY, f"{item.tag} quality went {item.status}", item.tag, item.value)
    if item.value is None:
        return None
    if item.tag == cfg.level and item.number() >= cfg.level_high_high:
        return Trip(
            TripKind.HIGH_HIGH,
            f"{item.tag} reached {item.number():g}, at or above high-high {cfg.level_high_high:g}",
            item.tag,
            item.value,
        )
    if item.tag == cfg.flow and not pump_commanded and item.number() > cfg.flow_without_command:
        return Trip(
            TripKind.FLOW_WITHOUT_COMMAND,
            f"{item.tag} shows {item.number():g} while the pump is commanded off",
            item.tag,
            item.value,
        )
    return None


@dataclass(frozen=True)
class TimerInputs:
    """What the timer check needs (monotonic seconds)."""

    now: float
    valve_commanded: bool
    valve_commanded_at: float
    valve_feedback: bool | None
    flowing_since: float | None
    level_changed_at: float


def trip_on_time(cfg: DosingConfig, t: TimerInputs) -> Trip | None:
    """Trips that only time shows: a valve not following its command, data that stopped changing."""
    if t.valve_feedback != t.valve_commanded and (t.now - t.valve_commanded_at) * 1000 > cfg.valve_follow_ms:
        wanted = "open" if t.valve_commanded else "closed"
        return Trip(
            TripKind.VALVE_NOT_FOLLOWING,
            f"{cfg.inlet_valve_feedback} did not report {wanted} within {cfg.valve_follow_ms:g} ms of the command",
            cfg.inlet_valve_feedback,
            t.valve_feedback,
        )
    if t.flowing_since is not None:
        quiet_since = max(t.level_changed_at, t.flowing_since)
        if (t.now - quiet_since) * 1000 > cfg.stale_ms:
            return Trip(
                TripKind.STALE_DATA,
                f"{cfg.level} has not changed for {cfg.stale_ms:g} ms while product is flowing (frozen sensor?)",
                cfg.level,
                None,
            )
    return None
