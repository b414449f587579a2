"""Records ↔ trail reconciliation: ``ebr audit verify --records``.

For every GMP table (:func:`ebr.ops.images.gmp_tables`) the current row must equal
the image the trail holds for it in its newest ``records.*`` event (docs/audit.md,
"Reconciliation"). Anything else is a finding, located by table and key:

* ``changed``: the row differs from its last image (the columns and both values);
* ``not_in_trail``: a row no image describes (inserted behind the application);
* ``deleted``: the trail's last image shows a row that is gone;
* ``resurrected``: the application deleted the row (image ``null``) and it is back;
* ``unreadable``: a ``records.*`` event whose bytes no longer hash to its hash
  (the chain verification locates that edit; its images are not used).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.chain import Entity
from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.ops.images import (
    BASELINE_ACTION,
    IMAGE_ACTIONS,
    gmp_tables,
    images_of,
    row_image,
    row_key,
    write_images,
)

VERIFIED_ACTION = "audit.records.verified"
RECORDS_ENTITY = Entity("audit_records", "installation")
SHOWN = 60  # characters of a value shown in a finding


@dataclass(frozen=True)
class RecordFinding:
    """One difference between a GMP row and the trail."""

    table: str
    key: str
    kind: str
    seq: int | None
    detail: str

    def describe(self) -> str:
        where = f" (last image at seq {self.seq})" if self.seq is not None else ""
        return f"{self.table} {self.key}: {self.kind}{where}: {self.detail}"


@dataclass
class RecordsReport:
    """What reconciliation checked and found."""

    tables: int = 0
    rows: int = 0
    images: int = 0
    findings: list[RecordFinding] = field(default_factory=list)
    checked_at: dt.datetime | None = None

    @property
    def ok(self) -> bool:
        return not self.findings

    def summary(self) -> dict[str, Any]:
        """What the audit event of the run and /healthz show."""
        return {
            "ok": self.ok,
            "tables": self.tables,
            "rows": self.rows,
            "findings": len(self.findings),
            "first": [f.describe() for f in self.findings[:5]],
        }


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


def _differences(expected: dict[str, Any], actual: dict[str, Any]) -> str:
    names = sorted(set(expected) | set(actual))
    parts = [
        f"{n} is {_short(actual.get(n))}, trail says {_short(expected.get(n))}"
        for n in names
        if expected.get(n) != actual.get(n)
    ]
    return "; ".join(parts)


def _expected(session: Session, report: RecordsReport) -> dict[tuple[str, str], tuple[int, dict[str, Any] | None]]:
    expected: dict[tuple[str, str], tuple[int, dict[str, Any] | None]] = {}
    query = (
        select(AuditEvent.seq, AuditEvent.hash, AuditEvent.canonical)
        .where(AuditEvent.action.in_(IMAGE_ACTIONS))
        .order_by(AuditEvent.seq)
    )
    for seq, digest, data in session.execute(query):
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        if hashlib.sha256(raw).hexdigest() != digest:
            report.findings.append(
                RecordFinding(
                    "audit_event",
                    str(seq),
                    "unreadable",
                    seq,
                    "event bytes do not match its hash; run `ebr audit verify`",
                )
            )
            continue
        for table, rows in images_of(json.loads(raw)).items():
            for key, image in rows.items():
                report.images += 1
                expected[(table, key)] = (seq, image)
    return expected


def reconcile(session: Session, *, progress: Callable[[int], None] | None = None) -> RecordsReport:
    """Compare every GMP row with its last image in the trail (read-only)."""
    report = RecordsReport()
    expected = _expected(session, report)
    for table in gmp_tables():
        report.tables += 1
        for row in session.connection().execute(select(table)):
            report.rows += 1
            key = row_key(table, row._mapping)
            image = row_image(table, row)
            seq, wanted = expected.pop((table.name, key), (None, None))
            if seq is None:
                report.findings.append(
                    RecordFinding(table.name, key, "not_in_trail", None, "no audit event describes this row")
                )
            elif wanted is None:
                report.findings.append(
                    RecordFinding(table.name, key, "resurrected", seq, "the application deleted this row; it is back")
                )
            elif wanted != image:
                report.findings.append(RecordFinding(table.name, key, "changed", seq, _differences(wanted, image)))
            if progress is not None:
                progress(1)
    for (table_name, key), (seq, wanted) in sorted(expected.items()):
        if wanted is not None:
            report.findings.append(
                RecordFinding(table_name, key, "deleted", seq, "the trail shows this row; the table does not have it")
            )
    report.findings.sort(key=lambda f: (f.table, f.key))
    return report


def verify_records(services: Services, *, actor: str, progress: Callable[[int], None] | None = None) -> RecordsReport:
    """Reconcile in one snapshot, then audit the run itself (``audit.records.verified``)."""
    with services.session_factory() as session:
        if services.engine.dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        report = reconcile(session, progress=progress)
        session.rollback()
    report.checked_at = services.clock.now()
    with services.session_factory.begin() as session:
        services.audit.record(
            session,
            actor=actor,
            action=VERIFIED_ACTION,
            entity=RECORDS_ENTITY,
            after=report.summary(),
            reason="records reconciliation",
        )
    return report


def baseline(services: Services, *, actor: str, reason: str) -> int:
    """Write images of every GMP row the trail has no image of (once, after upgrading an installation).

    The rows are taken as they are, so run it right after the upgrade and before anyone
    could edit the database; the event (``records.baselined``) names who and why.
    Returns the number of rows imaged.
    """
    with services.session_factory.begin() as session:
        report = reconcile(session)
        missing: dict[str, set[tuple[Any, ...]]] = {}
        tables = {t.name: t for t in gmp_tables()}
        for finding in report.findings:
            if finding.kind == "not_in_trail":
                table = tables[finding.table]
                pk = list(table.primary_key.columns)
                values = finding.key.split("/", len(pk) - 1)
                missing.setdefault(finding.table, set()).add(
                    tuple(c.type.python_type(v) for c, v in zip(pk, values, strict=True))
                )
        write_images(
            session,
            services.audit,
            actor=actor,
            entity=RECORDS_ENTITY,
            touched=missing,
            action=BASELINE_ACTION,
            reason=reason,
        )
    return sum(len(keys) for keys in missing.values())
