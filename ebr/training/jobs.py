"""The scheduled report of trainings about to expire (``training_expiry``).

Reads only: the newest training of each person and curriculum that expires within
``EBR_TRAINING_NOTICE_DAYS`` (default 30) or has expired is sent to the alert notifier
(``training.expiring``) so the supervisor plans the retraining before the engine starts
refusing the person.
"""

from __future__ import annotations

from typing import Any

from ebr.bootstrap import Services
from ebr.core.errors import ConfigError
from ebr.training.services import build

NOTICE_DAYS = 30


def notice_days(env: dict[str, str]) -> int:
    """The configured notice period in days (``EBR_TRAINING_NOTICE_DAYS``); ConfigError when malformed."""
    raw = env.get("EBR_TRAINING_NOTICE_DAYS", "").strip()
    if not raw:
        return NOTICE_DAYS
    if not raw.isdigit():
        raise ConfigError(f"EBR_TRAINING_NOTICE_DAYS={raw!r} is not a whole number of days; use e.g. 30")
    return int(raw)


def report_expiring(services: Services, *, within_days: int = NOTICE_DAYS) -> dict[str, Any]:
    """Alert the trainings that expire within ``within_days``; a summary for the run ledger."""
    training = build(services)
    with services.session_factory() as session:
        found = [
            {
                "trainee": r.trainee,
                "curriculum": c.name,
                "expires_on": r.expires_on.isoformat() if r.expires_on else None,
            }
            for r, c in training.expiring(session, within_days=within_days)
        ]
    if found:
        services.users.notifier.alert("training.expiring", {"within_days": within_days, "trainings": found})
    return {"expiring": len(found), "within_days": within_days}
