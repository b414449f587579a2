"""The validation report: the run's data as one hashed document, printed as PDF/A-3b.

:func:`build_report` turns the environment, IQ, OQ and matrix into plain data
(strings, integers, booleans) whose canonical hash is what the validator signs.
:func:`write_pdf` prints it with the signature manifestation, and attaches the
same data as ``validation-report.json`` and the OQ's JUnit XML, so a reader can
recompute the hash and re-check every result without trusting the PDF's layout.
"""

from __future__ import annotations

import datetime as dt
import gc
import getpass
import json
import platform
import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.engine import make_url

from audit.keys import fingerprint, load_system_key
from ebr.core.canonical import canon, content_hash
from ebr.core.clock import to_rfc3339
from ebr.core.config import Settings
from ebr.core.errors import AuditError
from ebr.core.ids import new_id
from validation.iq import DISTRIBUTION, IqResult
from validation.matrix import Matrix
from validation.oq import OqResult

REPORT_JSON = "validation-report.json"
JUNIT_XML = "oq-junit.xml"
SIGNATURE_MEANING = "approved"


@dataclass(frozen=True)
class Approval:
    """The validator's signature as printed on the report (21 CFR 11.50) and its record id."""

    manifestation: str
    signature_id: str
    content_hash: str


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return "unknown"


def environment(settings: Settings) -> dict[str, str]:
    """What was qualified and where: versions, host, database (password hidden), directories."""
    try:
        version = metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        version = "not installed as a distribution"
    url = make_url(settings.database_url)
    return {
        "system": f"{DISTRIBUTION} {version}",
        "python": f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        "platform": platform.platform(),
        "host": platform.node(),
        "run by (operating system user)": _os_user(),
        "database": url.render_as_string(hide_password=True),
        "data directory": str(settings.data_dir),
        "checkpoint log directory": str(settings.checkpoint_log_dir),
        "plant time zone": settings.plant_timezone,
        "installation key (audit trail)": _installation_key(settings),
    }


def _installation_key(settings: Settings) -> str:
    """The system key's fingerprint that auditors pin (``ebr audit verify --bundle … --trusted-key``)."""
    try:
        key = load_system_key(settings.keys_dir)
    except AuditError as exc:
        return f"unreadable: {exc}"
    return "none yet (run `ebr init`)" if key is None else fingerprint(key.key_id)


def _iq_data(iq: IqResult) -> dict[str, Any]:
    recorded = {None: "no record", True: "matches", False: "DIFFERS"}
    return {
        "passed": iq.passed,
        "checks": [{"id": c.id, "title": c.title, "passed": c.passed, "findings": list(c.findings)} for c in iq.checks],
        "checksums": [{"path": c.path, "sha256": c.sha256, "record": recorded[c.recorded]} for c in iq.checksums],
    }


def _oq_data(oq: OqResult) -> dict[str, Any]:
    totals: dict[str, int] = {}
    for test in oq.tests:
        totals[test.outcome] = totals.get(test.outcome, 0) + 1
    return {
        "passed": oq.passed,
        "command": " ".join(oq.command),
        "exit_code": oq.exit_code,
        "subset": oq.pattern or "",
        "totals": totals,
        "problems": list(oq.problems),
        "output_tail": oq.output_tail,
        "tests": [
            {
                "nodeid": t.nodeid,
                "requirements": list(t.requirements),
                "outcome": t.outcome,
                "message": t.message,
                "seconds": t.seconds,
            }
            for t in oq.tests
        ],
    }


def _matrix_data(matrix: Matrix) -> dict[str, Any]:
    return {
        "passed": matrix.passed,
        "requirements": [
            {
                "id": row.requirement.id,
                "text": row.requirement.text,
                "risk": row.requirement.risk,
                "area": row.requirement.area,
                "clauses": list(row.requirement.clauses),
                "status": row.status,
                "tests": [{"nodeid": t.nodeid, "outcome": t.outcome} for t in row.tests],
            }
            for row in matrix.requirements
        ],
        "clauses": [
            {"id": row.clause.id, "title": row.clause.title, "requirements": list(row.requirements)}
            for row in matrix.clauses
        ],
    }


def _failed_findings(findings: Sequence[str]) -> str:
    failed = [f.removeprefix("FAIL ") for f in findings if f.startswith("FAIL")]
    return "; ".join(failed or findings[:1])


def _deviations(iq: IqResult | None, oq: OqResult, matrix: Matrix) -> list[str]:
    if iq is None:
        found = ["IQ was not run (--skip-iq); this run does not qualify the installation"]
    else:
        found = [f"IQ {c.id} {c.title}: {_failed_findings(c.findings)}" for c in iq.checks if not c.passed]
    found += [f"OQ: {problem}" for problem in oq.problems]
    found += [f"Matrix: {failure}" for failure in matrix.failures]
    if oq.pattern:
        found.append(f"OQ ran a subset only (-k {oq.pattern}); this run does not qualify the whole system")
    return found


def build_report(
    *, settings: Settings, iq: IqResult | None, oq: OqResult, matrix: Matrix, generated_at: dt.datetime
) -> dict[str, Any]:
    """The report as canonical-JSON-able data; ``iq=None`` records that the IQ was not run."""
    deviations = _deviations(iq, oq, matrix)
    return {
        "report_id": new_id(),
        "generated_at": to_rfc3339(generated_at),
        "verdict": "FAIL" if deviations else "PASS",
        "environment": environment(settings),
        "iq": _iq_data(iq) if iq else {"passed": False, "checks": [], "checksums": []},
        "oq": _oq_data(oq),
        "matrix": _matrix_data(matrix),
        "deviations": deviations,
    }


def report_hash(data: Mapping[str, Any]) -> str:
    """The sha256 of the report data's canonical JSON: what the validator signs."""
    return content_hash(dict(data))


def group_tests(tests: Sequence[Mapping[str, str]]) -> list[dict[str, Any]]:
    """Parametrized variants of one test function on one line: ``{"base", "outcome", "variants"}``.

    ``outcome`` is the worst of the variants; ``variants`` pairs each parameter id
    with its outcome (empty for an unparametrized test).
    """
    order = ["failed", "error", "skipped", "passed"]
    groups: dict[str, list[tuple[str, str]]] = {}
    for test in tests:
        base, _, param = test["nodeid"].partition("[")
        groups.setdefault(base, []).append((param.removesuffix("]"), test["outcome"]))
    return [
        {
            "base": base,
            "outcome": min((o for _, o in variants), key=lambda o: order.index(o) if o in order else 0),
            "variants": [v for v in variants if v[0]],
        }
        for base, variants in groups.items()
    ]


def render_html(data: Mapping[str, Any], approval: Approval | None) -> str:
    """The report as HTML (autoescaped), ready for WeasyPrint."""
    env = Environment(loader=PackageLoader("validation", "templates"), autoescape=select_autoescape(["html"]))
    env.filters["group_tests"] = group_tests
    return env.get_template("report.html").render(report=data, approval=approval, digest=report_hash(data))


def write_pdf(path: Path, data: Mapping[str, Any], *, approval: Approval | None, junit_xml: str) -> None:
    """Write the PDF/A-3b report to ``path`` with the report data and JUnit XML attached."""
    from weasyprint import HTML, Attachment

    attachments = [
        Attachment(
            string=canon(dict(data)).decode("utf-8"),
            name=REPORT_JSON,
            relationship="Data",
            description="The signed report data (RFC 8785 canonical JSON)",
        ),
    ]
    if junit_xml:
        attachments.append(
            Attachment(string=junit_xml, name=JUNIT_XML, relationship="Source", description="OQ test results")
        )
    html = HTML(string=render_html(data, approval))
    # WeasyPrint 70 opens its sRGB output-intent profile for PDF/A and never closes it; the
    # ResourceWarning it raises when the document is freed is its bug, not ours.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        html.write_pdf(str(path), pdf_variant="pdf/a-3b", attachments=attachments)
        del html
        gc.collect()


def summary_lines(data: Mapping[str, Any]) -> Sequence[str]:
    """A few lines for the terminal: verdict, counts and each deviation."""
    totals = ", ".join(f"{n} {outcome}" for outcome, n in sorted(data["oq"]["totals"].items())) or "no tests"
    untraced = sum(1 for row in data["matrix"]["requirements"] if row["status"] != "passed")
    lines = [
        f"IQ: {'passed' if data['iq']['passed'] else 'FAILED'}",
        f"OQ: {totals}",
        f"Matrix: {len(data['matrix']['requirements'])} requirements, {untraced} not proven",
    ]
    lines += [f"deviation: {d}" for d in data["deviations"]]
    lines.append(f"verdict: {data['verdict']}")
    return lines


def dumps(data: Mapping[str, Any]) -> str:
    """Indented JSON of the report data for people (the canonical form is what is hashed)."""
    return json.dumps(data, indent=2, ensure_ascii=False)
