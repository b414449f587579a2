"""Read-only verification of a restored installation's audit chain and checkpoints.

A thin adapter over :func:`audit.verify.verify_chain` with the trusted system keys
of the key files (``ebr.trail.services.trusted_keys``, never the database's table,
which a tamperer could extend) and the external checkpoint log. Unlike
``audit_service.verify_live`` it appends nothing: right after a restore the head
must still equal the manifest's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from audit.checkpoints import CheckpointLog
from audit.verify import verify_chain
from ebr.bootstrap import Services
from ebr.core.errors import AuditError
from ebr.trail.services import retired_keys, trusted_keys


@dataclass(frozen=True)
class VerificationResult:
    """Outcome of one verification: ``ok`` and the verifier's summary."""

    ok: bool
    summary: dict[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.ok:
            checked = self.summary.get("events_checked", "?")
            points = self.summary.get("checkpoints_checked", "?")
            return f"ok ({checked} events, {points} checkpoints)"
        return "FAILED: " + "; ".join(self.problems or ("see the verifier's report",))


def verify_audit(services: Services) -> VerificationResult:
    """Verify the whole chain, every checkpoint and the external log; never raises on a break."""
    try:
        keys = trusted_keys(services.settings)
    except AuditError as exc:
        return VerificationResult(ok=False, problems=(str(exc),))
    with services.session_factory() as session:
        report = verify_chain(
            session,
            trusted_keys=keys,
            log=CheckpointLog(services.settings.checkpoint_log_dir),
            retired=retired_keys(services.settings),
        )
    return VerificationResult(
        ok=report.ok,
        summary=report.summary(),
        problems=tuple(found.describe() for found in report.breaks),
    )
