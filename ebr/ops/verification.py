"""Verify the installation's audit chain and checkpoints (scheduled job, restore, health).

A thin adapter over :func:`audit.verify.verify_chain`: it supplies the trusted
system keys from the key files (never from the database, which a tamperer could
extend) and the external checkpoint log, and reduces the report to what the
scheduler's ledger, ``ebr restore`` and ``/healthz`` show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ebr.bootstrap import Services


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


def trusted_keys(services: Services) -> dict[str, bytes]:
    """The system public keys from the key files: ``{key_id: raw public key}``."""
    from audit.keys import load_system_key

    key = load_system_key(services.settings.keys_dir)
    return {} if key is None else {key.key_id: key.public_raw}


def verify_audit(services: Services) -> VerificationResult:
    """Verify the whole chain, every checkpoint and the external log; never raises on a break."""
    from audit.checkpoints import CheckpointLog
    from audit.verify import verify_chain

    with services.session_factory() as session:
        report = verify_chain(
            session,
            trusted_keys=trusted_keys(services),
            log=CheckpointLog(services.settings.checkpoint_log_dir),
        )
    return VerificationResult(
        ok=report.ok,
        summary=report.summary(),
        problems=tuple(found.describe() for found in report.breaks),
    )
