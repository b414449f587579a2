"""JSON API of production performance: ``/api/oee`` (KPIs by area, unit, product and shift, per
unit, with the Pareto and batch durations) and ``/api/downtime`` (state history, stops and
their reasons; a reason given to a stop; a state set by a supervisor).

Ratios and times are decimal text (exact fractions rounded half-even; see docs/performance.md).
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ebr.api.common import actor, blueprint, services, work
from ebr.core.clock import to_rfc3339
from ebr.performance import export, report
from ebr.performance import services as perf
from ebr.performance.kpi import STOPS, StateKind
from ebr.performance.setup import configuration, plant_zone_name
from ebr.web import access

blp = blueprint("api_performance", "/api", "Production performance: unit states, downtime reasons, OEE (ISO 22400)")

TEXT = validate.Length(min=1, max=100)


class DowntimeQuery(Schema):
    since = fields.AwareDateTime(required=True)
    until = fields.AwareDateTime(required=True)
    area = fields.String(load_default=None, validate=TEXT)
    unit = fields.String(load_default=None, validate=TEXT)

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_: Any) -> None:
        if data["until"] <= data["since"]:
            raise ValidationError("until must be after since", "until")
        if (data["until"] - data["since"]).days > 400:
            raise ValidationError("at most 400 days at a time; ask for a shorter window", "until")


class OeeQuery(DowntimeQuery):
    product = fields.String(load_default=None, validate=TEXT)
    shift = fields.String(load_default=None, validate=TEXT)


class StopReasonIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=400))
    comment = fields.String(load_default="", validate=validate.Length(max=2000))


class UnitStateIn(Schema):
    state = fields.String(required=True, validate=validate.OneOf([k.value for k in perf.SETTABLE]))
    cause = fields.String(required=True, validate=validate.Length(min=1, max=2000))


@blp.route("/oee", methods=["GET"])
@access.requires("performance.view")
@blp.arguments(OeeQuery, location="query")
def oee(query: dict[str, Any]) -> dict[str, Any]:
    """Availability, performance, quality, OEE, MTBF/MTTR of a scope and window, per unit too."""
    svc = services()
    scope = report.Scope(area=query["area"], unit=query["unit"], product=query["product"], shift=query["shift"])
    with work() as session:
        found = report.build(
            session, configuration(svc), scope, query["since"], query["until"], plant_timezone=plant_zone_name(svc),
            per_unit=True,
        )  # fmt: skip
    return export.as_json(found)


def _interval_json(i: Any, threshold: Any) -> dict[str, Any]:
    return {
        "id": i.id,
        "unit": i.unit,
        "state": i.state.value,
        "cause": i.cause,
        "batch": i.batch,
        "since": to_rfc3339(i.start),
        "until": to_rfc3339(i.end),
        "seconds": export.decimal(i.seconds, 3),
        "reason": i.reason,
        "needs_reason": i.state in STOPS and i.end - i.start >= threshold and i.reason is None,
    }


@blp.route("/downtime", methods=["GET"])
@access.requires("performance.view")
@blp.arguments(DowntimeQuery, location="query")
def downtime(query: dict[str, Any]) -> dict[str, Any]:
    """The state history of an area's (or one unit's) units in the window, and its stops with reasons."""
    svc = services()
    threshold = configuration(svc).stop_threshold
    with work() as session:
        units = [query["unit"]] if query["unit"] else perf.units_of(session, query["area"])
        found = perf.history(session, units, query["since"], query["until"])
    states = [_interval_json(i, threshold) for i in found]
    return {
        "units": units,
        "threshold_s": int(threshold.total_seconds()),
        "states": states,
        "stops": [s for s in states if s["state"] in {k.value for k in STOPS}],
    }


@blp.route("/downtime/<stop_id>/reason", methods=["POST"])
@access.requires("downtime.assign")
@blp.arguments(StopReasonIn)
def reason(data: dict[str, Any], stop_id: str) -> dict[str, Any]:
    """Give a stop a reason from its area's tree (a leaf, e.g. ``Mechanical / Pump seal``); audited."""
    svc = services()
    with work() as session:
        row = perf.assign_reason(
            session, svc.audit, svc.clock, configuration(svc), actor=actor(), stop_id=perf.stop_number(stop_id),
            reason=data["reason"], comment=data["comment"],
        )  # fmt: skip
        return {"stop": row.state_id, "reason": row.reason, "assigned_by": row.assigned_by,
                "assigned_at": to_rfc3339(row.assigned_at)}  # fmt: skip


@blp.route("/units/<unit>/state", methods=["POST"])
@access.requires("performance.state.set")
@blp.arguments(UnitStateIn)
def set_state(data: dict[str, Any], unit: str) -> dict[str, Any]:
    """A supervisor sets a unit's state by hand (planned downtime, down, idle) with the reason; audited."""
    svc = services()
    with work() as session:
        row = perf.set_state(
            session, svc.audit, svc.clock, actor=actor(), unit=unit, state=data["state"], cause=data["cause"]
        )
        return {"id": row.id, "unit": row.unit, "state": StateKind(row.state).value, "cause": row.cause,
                "since": to_rfc3339(row.since)}  # fmt: skip
