"""One validation run: IQ, OQ, matrix, report, optional approval signature, PDF.

Called by ``ebr validate`` (``validation/cli.py``). Only a run without
deviations is offered for the validator's "approved" signature: approving a
report with open deviations would certify what the report itself refutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit.chain import Entity
from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.core.errors import EbrError
from signatures.manifest import manifestation
from validation.errors import QualificationError
from validation.iq import IqResult, run_iq
from validation.matrix import build_matrix
from validation.oq import DEFAULT_TIMEOUT, run_oq
from validation.report import SIGNATURE_MEANING, Approval, build_report, report_hash, summary_lines, write_pdf
from validation.requirements import load_clauses, load_requirements

SUBJECT_TYPE = "validation_report"
SIGNING_REASON = "Validation report reviewed: IQ, OQ and traceability complete without deviations"


@dataclass(frozen=True, kw_only=True)
class Options:
    """What ``ebr validate`` was asked to do."""

    output: Path
    tests_dir: Path | None = None
    requirements: Path | None = None
    clauses: Path | None = None
    constraints: Path | None = None
    pattern: str | None = None
    skip_iq: bool = False
    timeout: int = DEFAULT_TIMEOUT
    signer: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class Outcome:
    """The run's report data, whether it passed, and whether it was signed."""

    data: dict[str, Any]
    approval: Approval | None

    @property
    def passed(self) -> bool:
        return bool(self.data["verdict"] == "PASS")

    def lines(self) -> list[str]:
        signed = [f"approved: {self.approval.manifestation}"] if self.approval else []
        return [*summary_lines(self.data), *signed]


def sign_report(services: Services, data: dict[str, Any], *, signer: str, password: str) -> Approval:
    """Sign the report's content hash "approved" through the normal signing ceremony.

    Raises the signing service's SignatureError on a wrong password, a locked account
    or a signer whose role may not approve; the audit event commits with the signature.
    """
    digest = report_hash(data)
    content = {"report_id": data["report_id"], "sha256": digest, "verdict": data["verdict"]}
    with unit_of_work(services.session_factory) as session:
        record = services.signing.sign(
            session,
            subject=Entity(SUBJECT_TYPE, data["report_id"]),
            content=content,
            meaning=SIGNATURE_MEANING,
            reason=SIGNING_REASON,
            user_id=signer,
            password=password,
        )
        shown = manifestation(record.printed_name, record.ts, record.meaning, services.settings.plant_timezone)
        return Approval(manifestation=shown, signature_id=str(record.id), content_hash=digest)


def _iq(services: Services, options: Options) -> IqResult | None:
    return None if options.skip_iq else run_iq(services.settings, services.engine, constraints=options.constraints)


def validate(services: Services, options: Options) -> Outcome:
    """Run IQ, OQ and the matrix, write the PDF to ``options.output`` and return the outcome.

    A passing run with a signer is signed before the PDF is written; if signing is
    refused, the report is written unsigned and QualificationError says so.
    """
    if not options.output.parent.is_dir():
        raise QualificationError(f"cannot write the report: directory {options.output.parent} does not exist")
    requirements = load_requirements(path=options.requirements)
    clauses = load_clauses(path=options.clauses)
    iq = _iq(services, options)
    oq = run_oq(options.tests_dir, pattern=options.pattern, timeout=options.timeout)
    matrix = build_matrix(requirements, clauses, oq.tests)
    data = build_report(settings=services.settings, iq=iq, oq=oq, matrix=matrix, generated_at=services.clock.now())
    approval = None
    refused: EbrError | None = None
    if options.signer and data["verdict"] == "PASS":
        try:
            approval = sign_report(services, data, signer=options.signer, password=options.password or "")
        except EbrError as exc:
            refused = exc
    write_pdf(options.output, data, approval=approval, junit_xml=oq.junit_xml)
    if refused is not None:
        raise QualificationError(f"signing refused, the report was written unsigned to {options.output}: {refused}")
    return Outcome(data=data, approval=approval)
