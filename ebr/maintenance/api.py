"""JSON API under /api/equipment/: status, logbook, cleaning, calibration (with its impact
assessment) and maintenance.

Reading needs ``equipment.view``; a calibration (signed ``calibrated`` with the recorder's own
password) or maintenance record ``equipment.calibrate`` /
``equipment.maintain`` (supervisor, QA); a cleaning ``equipment.clean`` (operator, supervisor: the
floor records its own cleaning), as on the equipment page.
A failed calibration takes the unit to maintenance and answers with the batches that used it
since its last passing calibration (``impact``).
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from ebr.api.common import actor, blueprint, own_credentials, services, work
from ebr.api.schemas import Strict
from ebr.maintenance import services as views
from ebr.web import access

blp = blueprint("api_equipment", "/api/equipment", "Equipment: status, logbook, cleaning, calibration, maintenance")

TEXT = validate.Length(max=2000)


class EquipmentOut(Schema):
    tag = fields.String()
    name = fields.String()
    kind = fields.String()
    area = fields.String(allow_none=True)
    status = fields.String()
    status_changed_at = fields.AwareDateTime()
    in_use_by = fields.String(allow_none=True)
    usable = fields.Boolean()
    problem = fields.String(allow_none=True, metadata={"description": "why it may not be used now, and what to do"})
    last_cleaned_at = fields.AwareDateTime(allow_none=True)
    clean_until = fields.AwareDateTime(allow_none=True)
    requires_calibration = fields.Boolean()
    calibration_due_at = fields.AwareDateTime(allow_none=True)
    capacity = fields.Decimal(as_string=True, allow_none=True)
    capacity_unit = fields.String(allow_none=True)


class LogbookLineOut(Schema):
    at = fields.AwareDateTime()
    kind = fields.String(metadata={"enum": ["usage", "cleaning", "calibration", "maintenance", "status"]})
    who = fields.String()
    what = fields.String()
    reference = fields.String(allow_none=True)


class CleaningIn(Strict):
    method = fields.String(required=True, validate=validate.Length(min=1, max=200))
    comment = fields.String(load_default="", validate=TEXT)


class CleaningOut(Schema):
    id = fields.String()
    cleaned_at = fields.AwareDateTime()
    actor = fields.String()
    method = fields.String()
    expires_at = fields.AwareDateTime(allow_none=True)
    comment = fields.String()


class CalibrationSignature(Strict):
    user_id = fields.String(required=True, validate=validate.Length(min=1, max=100), metadata={"description": "you"})
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=1000))


class CalibrationIn(Strict):
    passed = fields.Boolean(required=True)
    calibrated_at = fields.AwareDateTime(load_default=None, metadata={"description": "default: now"})
    next_due = fields.Date(
        load_default=None, metadata={"description": "plant date the next calibration is due (default: the interval)"}
    )
    certificate = fields.String(load_default="", validate=validate.Length(max=200))
    as_found = fields.String(load_default="", validate=TEXT)
    as_left = fields.String(load_default="", validate=TEXT)
    performed_by = fields.String(
        load_default=None, validate=validate.Length(max=200),
        metadata={"description": "who did it (default: you); a contractor's name with contractor true"},
    )  # fmt: skip
    contractor = fields.Boolean(load_default=False)
    comment = fields.String(load_default="", validate=TEXT)
    signature = fields.Nested(
        CalibrationSignature, required=True,
        metadata={"description": "your own user id and password: the result is signed 'calibrated'"},
    )  # fmt: skip


class SignatureOut(Schema):
    id = fields.String()
    signer = fields.String()
    printed_name = fields.String()
    meaning = fields.String()
    signed_at = fields.AwareDateTime()


class UsageOut(Schema):
    batch = fields.String()
    recipe = fields.String()
    started_at = fields.AwareDateTime()
    ended_at = fields.AwareDateTime(allow_none=True)
    steps = fields.List(fields.String())


class ImpactOut(Schema):
    since = fields.AwareDateTime(metadata={"description": "the last passing calibration (or registration)"})
    until = fields.AwareDateTime()
    batches = fields.List(fields.Nested(UsageOut))


class CalibrationOut(Schema):
    id = fields.String()
    tag = fields.String()
    calibrated_at = fields.AwareDateTime()
    passed = fields.Boolean()
    due_at = fields.AwareDateTime()
    certificate = fields.String()
    as_found = fields.String()
    as_left = fields.String()
    performed_by = fields.String()
    contractor = fields.Boolean()
    recorded_by = fields.String()
    comment = fields.String()
    status = fields.String(metadata={"description": "the unit's status after the calibration"})
    impact = fields.Nested(ImpactOut, allow_none=True, metadata={"description": "for a failed calibration"})
    signature = fields.Nested(
        SignatureOut, allow_none=True, metadata={"description": "the 'calibrated' signature (none on older records)"}
    )


class MaintenanceIn(Strict):
    kind = fields.String(required=True, validate=validate.OneOf(["preventive", "corrective"]))
    description = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    performed_at = fields.AwareDateTime(load_default=None)
    performed_by = fields.String(load_default=None, validate=validate.Length(max=200))
    contractor = fields.Boolean(load_default=False)
    return_to_service = fields.Boolean(load_default=False)


class MaintenanceOut(Schema):
    id = fields.String()
    performed_at = fields.AwareDateTime()
    kind = fields.String()
    description = fields.String()
    performed_by = fields.String()
    contractor = fields.Boolean()
    returned_to_service = fields.Boolean()
    recorded_by = fields.String(attribute="actor")
    status = fields.String()


@blp.route("", methods=["GET"])
@access.requires("equipment.view")
@blp.response(200, EquipmentOut(many=True))
def list_() -> list[dict[str, Any]]:
    """Every unit with its status and whether it may be used now."""
    svc = services()
    with work() as session:
        return [views.status(session, svc.equipment, eq) for eq in svc.equipment.all(session)]


@blp.route("/<tag>", methods=["GET"])
@access.requires("equipment.view")
@blp.response(200, EquipmentOut)
def status(tag: str) -> dict[str, Any]:
    """One unit's status, usability, cleaning and calibration due."""
    svc = services()
    with work() as session:
        return views.status(session, svc.equipment, svc.equipment.get(session, tag))


@blp.route("/<tag>/logbook", methods=["GET"])
@access.requires("equipment.view")
@blp.response(200, LogbookLineOut(many=True))
def logbook(tag: str) -> list[dict[str, Any]]:
    """The logbook: usage by batches, cleaning, calibration, maintenance and status changes, oldest first."""
    svc = services()
    with work() as session:
        return [line.as_json() for line in views.timeline(session, svc.equipment, tag)]


@blp.route("/<tag>/cleanings", methods=["GET"])
@access.requires("equipment.view")
@blp.response(200, CleaningOut(many=True))
def cleanings(tag: str) -> list[dict[str, Any]]:
    """The unit's cleanings, oldest first."""
    svc = services()
    with work() as session:
        return [views.cleaning_json(c) for c in svc.equipment.cleanings(session, tag)]


@blp.route("/<tag>/cleanings", methods=["POST"])
@access.requires("equipment.clean")
@blp.arguments(CleaningIn)
@blp.response(201, CleaningOut)
def clean(data: dict[str, Any], tag: str) -> dict[str, Any]:
    """Record a cleaning: the unit is clean until its clean hold ends (as on the equipment page)."""
    svc = services()
    with work() as session:
        row = svc.equipment.record_cleaning(
            session, actor=actor(), unit=tag, method=data["method"].strip(), comment=data["comment"]
        )
        return views.cleaning_json(row)


@blp.route("/<tag>/calibrations", methods=["GET"])
@access.requires("equipment.view")
@blp.response(200, CalibrationOut(many=True))
def calibrations(tag: str) -> list[dict[str, Any]]:
    """The unit's calibrations, oldest first (a failed one with its impact assessment)."""
    svc = services()
    with work() as session:
        return [views.calibration_json(session, svc.equipment, c) for c in svc.equipment.calibrations(session, tag)]


@blp.route("/<tag>/calibrations", methods=["POST"])
@access.requires("equipment.calibrate")
@blp.arguments(CalibrationIn)
@blp.response(201, CalibrationOut)
def calibrate(data: dict[str, Any], tag: str) -> dict[str, Any]:
    """Record a calibration, signed 'calibrated' by you. A failed one takes the unit to maintenance and
    lists, for QA's impact assessment, the batches that used it since its last passing calibration."""
    signer = own_credentials(data["signature"], meaning="calibrated")
    svc = services()
    with work() as session:
        row = views.calibrate(
            session, svc, actor=actor(), tag=tag, data=data, user_id=signer.user_id, password=signer.password
        )
        return views.calibration_json(session, svc.equipment, row)


@blp.route("/<tag>/calibrations/<record_id>", methods=["GET"])
@access.requires("equipment.view")
@blp.response(200, CalibrationOut)
def calibration(tag: str, record_id: str) -> dict[str, Any]:
    """One calibration with, when it failed, the batches that used the unit since its last pass."""
    svc = services()
    with work() as session:
        return views.calibration_json(
            session, svc.equipment, views.calibration_of(session, svc.equipment, tag, record_id)
        )


@blp.route("/<tag>/maintenance", methods=["GET"])
@access.requires("equipment.view")
@blp.response(200, MaintenanceOut(many=True))
def maintenances(tag: str) -> list[dict[str, Any]]:
    """The unit's maintenance records, oldest first."""
    svc = services()
    with work() as session:
        eq = svc.equipment.get(session, tag)
        return [views.maintenance_json(m, eq.status) for m in svc.equipment.maintenances(session, tag)]


@blp.route("/<tag>/maintenance", methods=["POST"])
@access.requires("equipment.maintain")
@blp.arguments(MaintenanceIn)
@blp.response(201, MaintenanceOut)
def maintain(data: dict[str, Any], tag: str) -> dict[str, Any]:
    """Record maintenance work; ``return_to_service`` takes the unit out of maintenance (to dirty)."""
    svc = services()
    with work() as session:
        row = svc.equipment.record_maintenance(
            session, actor=actor(), unit=tag, kind=data["kind"], description=data["description"],
            performed_by=data["performed_by"], contractor=data["contractor"], at=data["performed_at"],
            return_to_service=data["return_to_service"],
        )  # fmt: skip
        return views.maintenance_json(row, svc.equipment.get(session, tag).status)
