"""The integration's HTTP channels, each with its machine token instead of a user session.

``POST /api/integration/b2mml``: an ERP pushes a B2MML message with its machine token.

The body is the XML document; the answer is the ConfirmBOD (``200`` accepted,
``422`` refused — nothing stored — or an order refused, e.g. a change of a running
batch). Without a live token: ``401``; with a live token of another scope (e.g. the
LIMS's ``lims:results``): ``403`` naming the scope needed. Nothing is read either way,
and a refused use of a known token is audited (``integration.token.refused``).
The optional ``X-Message-Id`` header is the message id for idempotency (else the
BODID, else the body's hash).

``POST /api/integration/lims/samples/<id>/results``: the LIMS posts QC results
(``ebr.lims.results/1``, ``docs/integration.md``) with a token of scope ``lims:results``.
"""

from __future__ import annotations

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from ebr.core.db import unit_of_work
from ebr.integration import bearer, lims, tokens
from ebr.integration.b2mml import MAX_BYTES
from ebr.integration.setup import build
from ebr.web import access
from ebr.web.helpers import services

bp = Blueprint("integration_api", __name__, url_prefix="/api/integration")
# API tokens (``Authorization: Bearer``) on the rest of the JSON API: ebr.integration.bearer.
bp.before_app_request(bearer.resolve)
_bearer = bearer.bearer


@bp.post("/b2mml")
@access.public  # machine token instead of a user session, checked below
def b2mml() -> ResponseReturnValue:
    """Apply one B2MML message; answer with its ConfirmBOD."""
    svc = services()
    try:
        with unit_of_work(svc.session_factory) as session:
            token = tokens.authenticate(session, clock=svc.clock, token=_bearer(), scope=tokens.INBOUND)
            name = token.name
    except tokens.TokenRefused as exc:
        with unit_of_work(svc.session_factory) as session:
            tokens.record_channel_refusal(
                session, audit=svc.audit, refused=exc, scope=tokens.INBOUND, path=request.path
            )
        status, headers = (403, {}) if exc.forbidden else (401, {"WWW-Authenticate": "Bearer"})
        return Response(f"{exc.message}\n", status=status, mimetype="text/plain", headers=headers)
    if (request.content_length or 0) > MAX_BYTES:
        return Response(f"the message is larger than {MAX_BYTES} bytes; split it\n", status=413, mimetype="text/plain")
    receipt = build(svc).receive(
        request.get_data(cache=False), channel=f"erp:http:{name}", message_id=request.headers.get("X-Message-Id")
    )
    status = 200 if receipt.accepted else 422
    return Response(receipt.acknowledgement, status=status, mimetype="application/xml")


@bp.post("/lims/samples/<ref>/results")
@access.public  # machine token of scope lims:results instead of a user session, checked below
def lims_results(ref: str) -> ResponseReturnValue:
    """Enter the LIMS's results of sample ``ref`` (an ``ebr.lims.results/1`` document); answer in JSON.

    ``200`` accepted (or a repeat of a message applied before: its first answer), ``422``
    refused naming the field (nothing stored), ``401`` without a live token, ``403`` for a
    live token of another scope, ``413`` over the size limit.
    """
    svc = services()
    try:
        with unit_of_work(svc.session_factory) as session:
            tokens.authenticate(session, clock=svc.clock, token=_bearer(), scope=tokens.LIMS)
    except tokens.TokenRefused as exc:
        with unit_of_work(svc.session_factory) as session:
            tokens.record_channel_refusal(session, audit=svc.audit, refused=exc, scope=tokens.LIMS, path=request.path)
        answer = lims.refusal(lims.LimsRefused("token", exc.message))
        headers = {} if exc.forbidden else {"WWW-Authenticate": "Bearer"}
        return Response(answer, status=403 if exc.forbidden else 401, mimetype="application/json", headers=headers)
    if (request.content_length or 0) > lims.MAX_BYTES:
        too_big = lims.LimsRefused("message", f"larger than {lims.MAX_BYTES} bytes; send fewer results a message")
        return Response(lims.refusal(too_big), status=413, mimetype="application/json")
    receipt = build(svc).receive_results(
        request.get_data(cache=False)[: lims.MAX_BYTES + 1],
        channel="lims:http",
        bearer=_bearer(),
        message_id=request.headers.get("X-Message-Id"),
        sample_id=ref,
    )
    return Response(receipt.answer, status=200 if receipt.accepted else 422, mimetype="application/json")
