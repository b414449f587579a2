"""JSON API under /api/training/: curricula, requirements, training records (signed by the
trainee), a person's qualification and the expiring trainings.

Reading needs ``training.view``; recording a training ``training.record`` (supervisor, QA:
the trainer records it, the trainee signs "trained" in the same request); curricula and
requirements ``training.manage`` (QA).
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from ebr.api.common import actor, blueprint, services, work
from ebr.api.schemas import Strict
from ebr.training import rules
from ebr.training.models import Curriculum, Requirement, TrainingRecord
from ebr.training.services import TrainingService, build
from ebr.web import access

blp = blueprint("api_training", "/api/training", "Training and qualification")


def training() -> TrainingService:
    return build(services())


class CurriculumIn(Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    description = fields.String(load_default="", validate=validate.Length(max=2000))
    sops = fields.List(fields.String(validate=validate.Length(min=1, max=200)), load_default=list)
    validity_days = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=36500))


class CurriculumOut(Schema):
    name = fields.String()
    description = fields.String()
    sops = fields.List(fields.String())
    validity_days = fields.Integer(allow_none=True)
    created_at = fields.AwareDateTime()
    created_by = fields.String()


class RequirementIn(Strict):
    curriculum = fields.String(required=True, validate=validate.Length(min=1, max=100))
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in rules.RequirementKind]))
    target = fields.String(
        required=True, validate=validate.Length(min=1, max=100),
        metadata={"description": "the phase type (e.g. dosing), recipe name or equipment tag"},
    )  # fmt: skip
    unit = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=64),
        metadata={"description": "for a phase type: only on this unit"},
    )  # fmt: skip


class RequirementOut(Schema):
    id = fields.String()
    curriculum = fields.String()
    kind = fields.String()
    target = fields.String()
    unit = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    created_by = fields.String()


class RequirementRemoveIn(Strict):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class TraineeSignature(Strict):
    user_id = fields.String(required=True, validate=validate.Length(min=1, max=100))
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=1000))


class RecordIn(Strict):
    curriculum = fields.String(required=True, validate=validate.Length(min=1, max=100))
    trainee = fields.String(required=True, validate=validate.Length(min=1, max=100))
    trainer = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=200),
        metadata={"description": "who trained (default: you)"},
    )  # fmt: skip
    trained_on = fields.Date(required=True)
    expires_on = fields.Date(
        load_default=None, allow_none=True, metadata={"description": "default: the curriculum's validity"}
    )
    comment = fields.String(load_default="", validate=validate.Length(max=2000))
    signature = fields.Nested(
        TraineeSignature, required=True, metadata={"description": "the trainee's own signature ('trained')"}
    )


class RecordOut(Schema):
    id = fields.String()
    curriculum = fields.String()
    trainee = fields.String()
    trainer = fields.String()
    trained_on = fields.Date()
    expires_on = fields.Date(allow_none=True)
    recorded_at = fields.AwareDateTime()
    recorded_by = fields.String()
    signature_id = fields.String()
    comment = fields.String()


class RecordQuery(Strict):
    trainee = fields.String(load_default=None, validate=validate.Length(max=100))


class StandingOut(Schema):
    curriculum = fields.String()
    standing = fields.String(metadata={"enum": [s.value for s in rules.Standing]})
    until = fields.Date(allow_none=True, metadata={"description": "valid until, or expired on"})


class QualificationOut(Schema):
    user_id = fields.String()
    full_name = fields.String()
    roles = fields.List(fields.String())
    curricula = fields.List(fields.Nested(StandingOut))


class ExpiringQuery(Strict):
    days = fields.Integer(load_default=30, validate=validate.Range(min=0, max=3650))


def curriculum_json(c: Curriculum) -> dict[str, Any]:
    return {
        "name": c.name, "description": c.description, "sops": list(c.sops), "validity_days": c.validity_days,
        "created_at": c.created_at, "created_by": c.created_by,
    }  # fmt: skip


def requirement_json(r: Requirement, c: Curriculum) -> dict[str, Any]:
    return {
        "id": r.id, "curriculum": c.name, "kind": r.kind, "target": r.target, "unit": r.unit,
        "created_at": r.created_at, "created_by": r.created_by,
    }  # fmt: skip


def record_json(r: TrainingRecord, c: Curriculum) -> dict[str, Any]:
    return {
        "id": r.id, "curriculum": c.name, "trainee": r.trainee, "trainer": r.trainer, "trained_on": r.trained_on,
        "expires_on": r.expires_on, "recorded_at": r.recorded_at, "recorded_by": r.recorded_by,
        "signature_id": r.signature_id, "comment": r.comment,
    }  # fmt: skip


@blp.route("/curricula", methods=["GET"])
@access.requires("training.view")
@blp.response(200, CurriculumOut(many=True))
def curricula() -> list[dict[str, Any]]:
    """Every curriculum, by name."""
    with work() as session:
        return [curriculum_json(c) for c in training().curricula(session)]


@blp.route("/curricula", methods=["POST"])
@access.requires("training.manage")
@blp.arguments(CurriculumIn)
@blp.response(201, CurriculumOut)
def add_curriculum(data: dict[str, Any]) -> dict[str, Any]:
    """Add a curriculum: a named set of SOPs, valid for ``validity_days`` after training (none: no expiry)."""
    with work() as session:
        return curriculum_json(training().add_curriculum(session, actor=actor(), **data))


@blp.route("/requirements", methods=["GET"])
@access.requires("training.view")
@blp.response(200, RequirementOut(many=True))
def requirements() -> list[dict[str, Any]]:
    """Which phase types, recipes and units require which curriculum."""
    with work() as session:
        return [requirement_json(r, c) for r, c in training().requirements(session)]


@blp.route("/requirements", methods=["POST"])
@access.requires("training.manage")
@blp.arguments(RequirementIn)
@blp.response(201, RequirementOut)
def add_requirement(data: dict[str, Any]) -> dict[str, Any]:
    """Require a curriculum for a phase type (optionally on one unit), a recipe or a unit."""
    with work() as session:
        row = training().add_requirement(session, actor=actor(), **data)
        return requirement_json(row, training().curriculum(session, data["curriculum"].strip()))


@blp.route("/requirements/<requirement_id>/removal", methods=["POST"])
@access.requires("training.manage")
@blp.arguments(RequirementRemoveIn)
@blp.response(204)
def remove_requirement(data: dict[str, Any], requirement_id: str) -> None:
    """Remove a requirement, with a reason (audited with what it was)."""
    with work() as session:
        training().remove_requirement(session, actor=actor(), requirement_id=requirement_id, reason=data["reason"])


@blp.route("/records", methods=["GET"])
@access.requires("training.view")
@blp.arguments(RecordQuery, location="query")
@blp.response(200, RecordOut(many=True))
def records(query: dict[str, Any]) -> list[dict[str, Any]]:
    """Training records, newest first (optionally of one trainee)."""
    with work() as session:
        return [record_json(r, c) for r, c in training().records(session, trainee=query["trainee"])]


@blp.route("/records", methods=["POST"])
@access.requires("training.record")
@blp.arguments(RecordIn)
@blp.response(201, RecordOut)
def record(data: dict[str, Any]) -> dict[str, Any]:
    """Record a training; the trainee signs it ("trained") with their own user id and password."""
    sig = data.pop("signature")
    with work() as session:
        row = training().record_training(
            session, actor=actor(), signer=sig["user_id"], password=sig["password"], **data
        )
        return record_json(row, training().curriculum(session, data["curriculum"].strip()))


@blp.route("/people/<user_id>", methods=["GET"])
@access.requires("training.view")
@blp.response(200, QualificationOut)
def person(user_id: str) -> dict[str, Any]:
    """A person's standing on every curriculum: valid (until), expired (on) or missing."""
    with work() as session:
        found = training().standing_of(session, [user_id.strip().lower()])[0]
    return {
        "user_id": found.user_id, "full_name": found.full_name, "roles": list(found.roles),
        "curricula": [
            {"curriculum": q.curriculum, "standing": q.standing.value, "until": q.until}
            for q in found.standings.values()
        ],
    }  # fmt: skip


@blp.route("/expiring", methods=["GET"])
@access.requires("training.view")
@blp.arguments(ExpiringQuery, location="query")
@blp.response(200, RecordOut(many=True))
def expiring(query: dict[str, Any]) -> list[dict[str, Any]]:
    """The newest training of each person and curriculum that expires within ``days`` (or has expired)."""
    with work() as session:
        return [record_json(r, c) for r, c in training().expiring(session, within_days=query["days"])]
