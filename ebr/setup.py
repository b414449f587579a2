"""First-time and upgrade set-up of an installation, run by ``ebr init``.

Each step is idempotent: it creates what is missing and leaves what exists.
Packages add their step to :data:`INIT_STEPS` (schema first).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ebr import schema
from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.ops.roles import migrate
from ebr.trail.services import ensure_system_key

InitStep = Callable[[Services], str | None]


def _schema(services: Services) -> str:
    # 0700: the data directory holds the private keys (README, IQ-02 of `ebr validate`).
    services.settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    migrate(services.settings, services.engine)  # as the owner role when one is configured
    return schema.status(services.engine).describe()


def _first_admin(services: Services) -> str | None:
    # The installer may choose the password (EBR_ADMIN_PASSWORD); otherwise a one-time
    # password is printed once and must be changed at first login.
    with unit_of_work(services.session_factory) as session:
        created = services.users.ensure_first_admin(session, password=os.environ.get("EBR_ADMIN_PASSWORD") or None)
    if created is None:
        return None
    user, temporary = created
    if temporary is None:
        return f"first administrator {user.user_id!r} created with the password from EBR_ADMIN_PASSWORD"
    return (
        f"first administrator {user.user_id!r} created; one-time password: {temporary} "
        "(shown only now; it must be changed at first login)"
    )


INIT_STEPS: list[InitStep] = [_schema, ensure_system_key, _first_admin]


def initialize(services: Services) -> list[str]:
    """Run every step; return what each reported."""
    return [message for step in INIT_STEPS if (message := step(services))]
