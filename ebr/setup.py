"""First-time and upgrade set-up of an installation, run by ``ebr init``.

Each step is idempotent: it creates what is missing and leaves what exists.
Packages add their step to :data:`INIT_STEPS` (schema first).
"""

from __future__ import annotations

from collections.abc import Callable

from ebr import schema
from ebr.audit_service import ensure_system_key
from ebr.bootstrap import Services

InitStep = Callable[[Services], str | None]


def _schema(services: Services) -> str:
    services.settings.data_dir.mkdir(parents=True, exist_ok=True)
    schema.upgrade(services.engine)
    return schema.status(services.engine).describe()


INIT_STEPS: list[InitStep] = [_schema, ensure_system_key]


def initialize(services: Services) -> list[str]:
    """Run every step; return what each reported."""
    return [message for step in INIT_STEPS if (message := step(services))]
