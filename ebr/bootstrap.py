"""The composition root: concrete engines, factories and clocks are chosen here only.

``create_app`` and the CLI both call :func:`build_services`; nothing else creates
an engine or reads the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from audit.checkpoints import Checkpointer
from audit.timestamps import Tsa
from audit.trail import AppendedEvent, AppendHook, AuditTrail
from ebr.core.clock import Clock, SystemClock
from ebr.core.config import Settings, load_settings
from ebr.core.db import make_engine, make_session_factory
from ebr.core.inputs import Limits
from ebr.integration.outbox import Outbox
from ebr.integration.settings import load as load_integration
from ebr.ops import images
from ebr.performance.services import ACTIONS as STATE_ACTIONS
from ebr.performance.services import StateRecorder
from equipment.services import EquipmentService
from recipes.services import RecipeService
from signatures.factory import build_signing, build_users
from signatures.signing import SigningService
from signatures.users import UserService


@dataclass(kw_only=True)
class Services:
    """Everything a request, a command or a job needs, built once."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    clock: Clock
    audit: AuditTrail
    checkpointer: Checkpointer | None = None
    equipment: EquipmentService
    users: UserService
    signing: SigningService
    recipes: RecipeService
    extras: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        self.engine.dispose()


def build_services(settings: Settings | None = None, *, clock: Clock | None = None) -> Services:
    """Build the services for ``settings`` (default: from the environment)."""
    settings = settings or load_settings()
    engine = make_engine(settings.database_url)
    clock = clock or SystemClock()
    checkpointer = Checkpointer(
        keys_dir=settings.keys_dir,
        log_dir=settings.checkpoint_log_dir,
        every=settings.checkpoint_every,
        clock=clock,
        tsa=Tsa(settings.tsa_url) if settings.tsa_url else None,
    )
    images.install()  # row images of GMP tables at every commit (ebr.ops.images)
    # The outbox writes ERP/LIMS messages in the transaction of the change they report (ebr.integration).
    outbox = Outbox(clock=clock, settings=load_integration(settings.data_dir))
    audit = images.ImagingAuditTrail(
        clock=clock,
        # Unit states of the ISO 22400 time model, derived from the same events (ebr.performance).
        after_append=_hooks(checkpointer.after_append, outbox.after_append, StateRecorder().after_append),
        # The recorder keeps each state's audit seq: its events are linked into the chain at once.
        immediate=STATE_ACTIONS,
        after_commit=checkpointer.after_commit,
        seal=checkpointer.seal,
    )
    users = build_users(settings, audit=audit, clock=clock)
    checkpointer.alert = users.notifier.alert  # a refused tree head is alerted like a broken chain
    signing = build_signing(users)
    return Services(
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        clock=clock,
        audit=audit,
        checkpointer=checkpointer,
        equipment=EquipmentService(audit=audit, clock=clock),
        users=users,
        signing=signing,
        recipes=RecipeService(audit=audit, clock=clock, signing=signing, users=users, limits=input_limits(settings)),
        extras={"outbox": outbox},
    )


def input_limits(settings: Settings) -> Limits:
    """The limits of every file read (``EBR_INPUT_MAX_BYTES``, ``EBR_INPUT_MAX_NODES``)."""
    return Limits(max_bytes=settings.input_max_bytes, max_nodes=settings.input_max_nodes)


def _hooks(*hooks: AppendHook) -> AppendHook:
    """One audit-append hook that runs ``hooks`` in order (each in the caller's transaction)."""

    def run(session: Session, row: AppendedEvent) -> None:
        for hook in hooks:
            hook(session, row)

    return run
