"""JSON API under /api/analytics/: parameters, their values and control charts, trend
notifications and QA's signed assessment. Statistics are JSON numbers (they are
statistics, computed in floating point); recorded values and limits are decimal strings.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from marshmallow import Schema, fields, validate

from ebr.analytics import services as analytics
from ebr.analytics import stats, trends
from ebr.analytics.models import TrendNotification
from ebr.api.common import actor, blueprint, own_credentials, services, work
from ebr.web import access

blp = blueprint("api_analytics", "/api/analytics", "Process analytics: control charts, capability, trend notifications")


class ChartQuery(Schema):
    last = fields.Integer(load_default=None, validate=validate.Range(min=1, max=100_000))
    since = fields.AwareDateTime(load_default=None)
    until = fields.AwareDateTime(load_default=None)


class ParameterOut(Schema):
    id = fields.String()
    product = fields.String(attribute="product_code")
    title = fields.String()
    unit = fields.String(allow_none=True)
    critical = fields.Boolean()
    lsl = fields.Decimal(as_string=True, allow_none=True)
    usl = fields.Decimal(as_string=True, allow_none=True)
    ruleset = fields.String()
    baseline = fields.List(fields.String(), allow_none=True)
    version = fields.Integer()


class AssessmentSignature(Schema):
    user_id = fields.String(required=True)
    password = fields.String(required=True, load_only=True)


class AssessmentIn(Schema):
    assessment = fields.String(required=True, validate=validate.Length(min=1))
    conclusion = fields.String(required=True, validate=validate.OneOf(trends.CONCLUSIONS))
    signature = fields.Nested(AssessmentSignature, required=True)
    version = fields.Integer(load_default=None)


class NotificationOut(Schema):
    number = fields.String()
    parameter = fields.String(attribute="parameter_id")
    batch = fields.String(attribute="batch_number")
    rules = fields.List(fields.Dict())
    status = fields.String()
    opened_at = fields.AwareDateTime()
    assessment = fields.String(allow_none=True)
    conclusion = fields.String(allow_none=True)
    assessed_by = fields.String(allow_none=True)
    assessed_at = fields.AwareDateTime(allow_none=True)
    signature_id = fields.String(allow_none=True)
    version = fields.Integer()


def _interval(value: stats.Interval | None) -> list[float] | None:
    return None if value is None else [value.low, value.high]


def chart_json(chart: analytics.Chart) -> dict[str, Any]:
    """The chart as JSON: points, limits, rules broken, capability with intervals, notes."""
    cap, limits = chart.capability, chart.limits
    mrs = stats.moving_ranges([p.value for p in chart.points])
    return {
        "parameter": chart.parameter.id,
        "unit": chart.parameter.unit,
        "points": [
            {
                "batch": p.batch_number,
                "recipe_version": p.recipe_version,
                "released_at": p.released_at.isoformat(),
                "value": str(p.value),
                "values": [str(v) for v in p.values],
                "moving_range": mr,
                "lsl": None if p.lsl is None else str(p.lsl),
                "usl": None if p.usl is None else str(p.usl),
            }
            for p, mr in zip(chart.points, mrs, strict=True)
        ],
        "baseline": chart.baseline,
        "limits": None
        if limits is None
        else {
            "center": limits.center,
            "lcl": limits.lcl,
            "ucl": limits.ucl,
            "sigma": limits.sigma,
            "mr_bar": limits.mr_bar,
            "mr_ucl": limits.mr_ucl,
            "n": limits.n,
        },
        "rules_broken": [
            {"rule": b.rule, "description": b.description, "batch": b.batch, "batches": list(b.batches)}
            for b in chart.breaks
        ],
        "capability": None
        if cap is None
        else {
            "n": cap.n,
            "mean": cap.mean,
            "sigma_within": cap.sigma_within,
            "sigma_overall": cap.sigma_overall,
            "cp": cap.cp,
            "cpk": cap.cpk,
            "ppk": cap.ppk,
            "cp_ci": _interval(cap.cp_ci),
            "cpk_ci": _interval(cap.cpk_ci),
            "ppk_ci": _interval(cap.ppk_ci),
            "confidence": cap.confidence,
            "normality_p": cap.normality_p,
            "notes": cap.notes,
        },
        "xbar_r": None if chart.xbar_r is None else dataclasses.asdict(chart.xbar_r),
        "lsl": None if chart.lsl is None else str(chart.lsl),
        "usl": None if chart.usl is None else str(chart.usl),
        "notes": chart.notes,
    }


@blp.route("/parameters", methods=["GET"])
@access.requires("analytics.view")
@blp.response(200, ParameterOut(many=True))
def parameters() -> list[Any]:
    """The declared parameters, by product."""
    with work() as session:
        found = analytics.parameters_of(session)
        session.expunge_all()
        return found


@blp.route("/parameters/<parameter_id>/chart", methods=["GET"])
@access.requires("analytics.view")
@blp.arguments(ChartQuery, location="query")
def chart(query: dict[str, Any], parameter_id: str) -> dict[str, Any]:
    """The I-MR control chart of a parameter over released batches (last N, or a release-time window)."""
    since: dt.datetime | None = query["since"]
    until: dt.datetime | None = query["until"]
    last = query["last"] if query["last"] or since or until else 50
    with work() as session:
        return chart_json(analytics.control_chart(session, parameter_id, since=since, until=until, last=last))


@blp.route("/notifications", methods=["GET"])
@access.requires("analytics.view")
@blp.response(200, NotificationOut(many=True))
def notifications() -> list[TrendNotification]:
    """Every trend notification, newest first."""
    with work() as session:
        found = trends.notifications(session)
        session.expunge_all()
        return found


@blp.route("/notifications/<number>/assessment", methods=["POST"])
@access.requires("analytics.assess")
@blp.arguments(AssessmentIn)
@blp.response(200, NotificationOut)
def assess(data: dict[str, Any], number: str) -> TrendNotification:
    """QA's assessment of a trend notification, signed 'reviewed' with the password; audited."""
    svc = services()
    with work() as session:
        row = trends.assess(
            session,
            svc.audit,
            svc.signing,
            actor=actor(),
            number=number,
            assessment=data["assessment"],
            conclusion=data["conclusion"],
            user_id=own_credentials(data["signature"], meaning="reviewed").user_id,
            password=data["signature"]["password"],
            version=data["version"],
        )
        session.flush()
        session.refresh(row)
        session.expunge(row)
    return row
