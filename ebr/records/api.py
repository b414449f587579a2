"""Deviations, corrections, signatures and genealogy of batches."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate
from sqlalchemy import select

from ebr.api.common import actor, blueprint, execution, own_credentials, work
from ebr.api.schemas import SignatureIn, Strict, VersionIn
from ebr.execution import deviations
from ebr.execution.models import Batch, Deviation, RecordSignature
from ebr.execution.schemas import EntryOut
from ebr.materials import genealogy
from ebr.web import access


class CorrectionIn(Strict):
    value = fields.String(required=True)
    reason = fields.String(required=True)
    signature = fields.Nested(SignatureIn, required=True)


class DeviationIn(Strict):
    step = fields.String(load_default=None)
    severity = fields.String(required=True, validate=validate.OneOf(["minor", "major", "critical"]))
    description = fields.String(required=True)


class DeviationSignIn(VersionIn):
    comment = fields.String(required=True)
    investigation_ref = fields.String(load_default=None)
    severity = fields.String(load_default=None, validate=validate.OneOf(["minor", "major", "critical"]))
    signature = fields.Nested(SignatureIn, required=True)


class DeviationOut(ma.Schema):
    id = fields.String()
    number = fields.String()
    batch_id = fields.String()
    step = fields.String(allow_none=True)
    kind = fields.String()
    severity = fields.String()
    status = fields.String()
    description = fields.String()
    comment = fields.String()
    investigation_ref = fields.String(allow_none=True)
    opened_at = fields.DateTime()
    opened_by = fields.String()
    closed_at = fields.DateTime(allow_none=True)
    required_signatures = fields.List(fields.String())
    signatures = fields.List(fields.String())
    version = fields.Integer()


class CorrectionOut(ma.Schema):
    entry = fields.Nested(EntryOut)
    deviation = fields.String(allow_none=True)


class GenealogyOut(ma.Schema):
    batch = fields.String()
    inputs = fields.List(fields.Dict())
    outputs = fields.List(fields.String())


blp = blueprint("api_records", "/api", "Deviations, corrections, signatures, genealogy")


def _deviation(session: Any, dev: Deviation) -> dict[str, Any]:
    signed = deviations.signed_meanings(session, execution().ctx, dev)
    return deviations.deviation_json(dev, [f"{meaning}:{user}" for meaning, user in signed.items()])


@blp.route("/batches/<ref>/deviations", methods=["GET"])
@access.requires("batch.view")
@blp.response(200, DeviationOut(many=True))
def batch_deviations(ref: str) -> list[dict[str, Any]]:
    """Every deviation of a batch, oldest first."""
    with work() as session:
        batch = execution().batch(session, ref)
        return [_deviation(session, d) for d in deviations.for_batch(session, batch)]


@blp.route("/batches/<ref>/deviations", methods=["POST"])
@access.requires("deviation.raise")
@blp.arguments(DeviationIn)
@blp.response(201, DeviationOut)
def raise_deviation(data: dict[str, Any], ref: str) -> dict[str, Any]:
    """Open a deviation by hand (on the batch or on one of its steps)."""
    with work() as session:
        dev = execution().open_deviation(
            session,
            actor=actor(),
            ref=ref,
            path=data["step"],
            severity=data["severity"],
            description=data["description"],
        )
        return _deviation(session, dev)


@blp.route("/deviations/<ref>", methods=["GET"])
@access.requires("batch.view")
@blp.response(200, DeviationOut)
def deviation(ref: str) -> dict[str, Any]:
    """One deviation with the signatures it has and needs."""
    with work() as session:
        return _deviation(session, deviations.get(session, execution().ctx, ref))


@blp.route("/deviations/<ref>/signatures", methods=["POST"])
@access.requires("deviation.handle")
@blp.arguments(DeviationSignIn)
@blp.response(200, DeviationOut)
def sign_deviation(data: dict[str, Any], ref: str) -> dict[str, Any]:
    """Comment on a deviation and sign it; it closes when its severity's signatures are complete."""
    with work() as session:
        dev = execution().handle_deviation(
            session,
            actor=actor(),
            ref=ref,
            comment=data["comment"],
            signature=own_credentials(data["signature"]),
            version=data["version"],
            investigation_ref=data["investigation_ref"],
            severity=data["severity"],
        )
        return _deviation(session, dev)


@blp.route("/entries/<entry_id>/corrections", methods=["POST"])
@access.requires("entry.correct")
@blp.arguments(CorrectionIn)
@blp.response(201, CorrectionOut)
def correct(data: dict[str, Any], entry_id: str) -> dict[str, Any]:
    """Correct a recorded value with a reason and a signature; the original stays in the record."""
    with work() as session:
        entry, dev = execution().correct_entry(
            session,
            actor=actor(),
            entry_id=entry_id,
            value=data["value"],
            reason=data["reason"],
            signature=own_credentials(data["signature"]),
        )
        return {"entry": entry, "deviation": dev.number if dev else None}


@blp.route("/batches/<ref>/signatures", methods=["GET"])
@access.requires("batch.view")
@blp.response(200)
def signatures(ref: str) -> list[dict[str, Any]]:
    """Every signature given on the batch's steps, deviations and corrections."""
    with work() as session:
        batch: Batch = execution().batch(session, ref)
        query = select(RecordSignature).where(RecordSignature.batch_id == batch.id)
        return [
            {
                "subject_type": s.subject_type,
                "subject_id": s.subject_id,
                "meaning": s.meaning,
                "signer": s.signer,
                "signature_id": s.signature_id,
                "signed_at": s.signed_at.isoformat(),
            }
            for s in session.scalars(query.order_by(RecordSignature.signed_at))
        ]


@blp.route("/batches/<ref>/genealogy", methods=["GET"])
@access.requires("batch.view")
@blp.response(200, GenealogyOut)
def batch_genealogy(ref: str) -> dict[str, Any]:
    """The lots the batch consumed and the lot it made."""
    with work() as session:
        return genealogy.batch_genealogy(session, execution().batch(session, ref))
