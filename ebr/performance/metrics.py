"""Prometheus metrics per unit, read from the database at scrape time (a probe of ``ebr.ops.metrics``):
the unit's current state (one series per state, 1 for the current one), the seconds in it, and
the OEE components of the current plant day so far."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.orm import Session

from ebr.bootstrap import Services
from ebr.core.errors import ValidationError
from ebr.performance import report, services
from ebr.performance.config import PerformanceConfig
from ebr.performance.kpi import StateKind
from ebr.performance.setup import configuration, plant_zone_name

RECORDED = [k for k in StateKind if k is not StateKind.OUT_OF_SHIFT]


def probe(installation: Services) -> Callable[[Session, dt.datetime], Iterator[Metric]]:
    """A probe ``(session, now) → metrics`` for ``ebr.ops.metrics.DatabaseCollector``."""

    def performance(session: Session, now: dt.datetime) -> Iterator[Metric]:
        try:
            config, plant_timezone = configuration(installation), plant_zone_name(installation)
        except ValidationError:  # a broken file is refused where people edit it; metrics go on with defaults
            config, plant_timezone = PerformanceConfig(), installation.settings.plant_timezone
        state = GaugeMetricFamily(
            "ebr_unit_state", "1 for the unit's current ISO 22400 state", labels=["unit", "area", "state"]
        )
        age = GaugeMetricFamily("ebr_unit_state_seconds", "Seconds the unit has been in its state", labels=["unit"])
        parts = {
            name: GaugeMetricFamily(
                f"ebr_unit_{name}_ratio", f"{help_} of the current plant day so far", labels=["unit"]
            )
            for name, help_ in (
                ("availability", "Availability (APT / PBT)"),
                ("performance", "Effectiveness (ideal time / APT)"),
                ("quality", "Quality (good / produced)"),
                ("oee", "OEE"),
            )
        }
        zone = config.zone(plant_timezone)
        midnight = dt.datetime.combine(now.astimezone(zone).date(), dt.time(0), zone).astimezone(dt.UTC)
        units = services.units_of(session, None)
        for unit in units:
            row = services.latest(session, unit)
            if row is None:
                continue
            for kind in RECORDED:
                state.add_metric([unit, row.area, kind.value], 1 if row.state == kind.value else 0)
            age.add_metric([unit], (now - row.since).total_seconds())
        if units and now > midnight:
            found = report.build(
                session, config, report.Scope(), midnight, now, plant_timezone=plant_timezone, per_unit=True
            )
            for unit, k in found.by_unit.items():
                for name, value in (("availability", k.availability), ("performance", k.effectiveness),
                                    ("quality", k.quality), ("oee", k.oee)):  # fmt: skip
                    if value is not None:
                        parts[name].add_metric([unit], float(value))
        yield state
        yield age
        yield from parts.values()

    return performance
