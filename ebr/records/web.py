"""Downloads of a batch's record for QA and auditors: PDF/A-3 record, BatchML BPR, auditor's bundle.

Every download is audited by the report service (who took which record, when, its hash).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from flask import Blueprint, Response, render_template
from flask.typing import ResponseReturnValue

from ebr.execution.batches import list_batches
from ebr.records import services as reports
from ebr.web import access
from ebr.web.helpers import execution, read, services

bp = Blueprint("records", __name__, url_prefix="/records", template_folder="templates")

PERMISSION = "audit.export"


def _download(data: bytes, name: str, mimetype: str) -> Response:
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/")
@access.requires(PERMISSION)
def index() -> ResponseReturnValue:
    """Batches whose record can be taken away, newest first."""
    with read() as session:
        found = list_batches(session)
    return render_template("records/index.html", batches=found)


@bp.get("/batches/<number>")
@access.requires(PERMISSION)
def batch(number: str) -> ResponseReturnValue:
    """The downloads of one batch's record."""
    with read() as session:
        found = execution().batch(session, number)
    return render_template("records/batch.html", batch=found)


@bp.get("/batches/<number>/record.pdf")
@access.requires(PERMISSION)
def record_pdf(number: str) -> ResponseReturnValue:
    """The batch record as PDF/A-3b with record.json attached."""
    result = reports.print_record(services(), ref=number, actor=access.user_id())
    return _download(result.data, f"batch-record-{result.number}.pdf", "application/pdf")


@bp.get("/batches/<number>/bpr.xml")
@access.requires(PERMISSION)
def bpr_xml(number: str) -> ResponseReturnValue:
    """The BatchML V0701 batch production record."""
    result = reports.production_record(services(), ref=number, actor=access.user_id())
    return _download(result.data, f"bpr-{result.number}.xml", "application/xml")


@bp.get("/batches/<number>/bundle.zip")
@access.requires(PERMISSION)
def bundle_zip(number: str) -> ResponseReturnValue:
    """The auditor's bundle of the batch (verify it with `ebr audit verify --bundle`)."""
    with tempfile.TemporaryDirectory(prefix="ebr-bundle-") as folder:
        path = Path(folder) / f"batch-{number}.zip"
        reports.export_batch_bundle(services(), ref=number, actor=access.user_id(), out_path=path)
        data = path.read_bytes()
    return _download(data, path.name, "application/zip")
