"""Application-level audit tasks: system key set-up, live verification, bundle export.

The ``audit`` package is the lowest domain package and cannot read signatures or
users; this module gathers them (from ``signatures``) and hands them to the
exporter. ``ebr audit ...`` and ``ebr init`` call these functions.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.bundle import ExportResult, InScope, entity_filter, export_bundle
from audit.chain import Entity
from audit.checkpoints import CheckpointLog, TreeHead
from audit.findings import ChainReport
from audit.keys import (
    RetiredKey,
    SystemKey,
    close_system_key,
    create_system_key,
    fingerprint,
    load_retired_keys,
    load_system_key,
    register_system_key,
    replace_system_key,
)
from audit.models import AuditEvent
from audit.timestamps import check_timestamps, load_tsa_roots
from audit.trail import head
from audit.verify import verify_chain
from ebr.bootstrap import Services
from ebr.core.config import Settings
from ebr.core.db import unit_of_work
from ebr.core.errors import AuditError, NotFound, ValidationError

Progress = Callable[[int], None]
VERIFIER = "system:verifier"
CHAIN_ENTITY = Entity("audit_chain", "installation")


def ensure_system_key(services: Services) -> str:
    """``ebr init`` step: create the system key file when missing and register its public key."""
    keys_dir = services.settings.keys_dir
    key = load_system_key(keys_dir)
    created = key is None
    if key is None:
        key = create_system_key(keys_dir)
    services.settings.checkpoint_log_dir.mkdir(parents=True, exist_ok=True)
    with services.session_factory.begin() as session:
        register_system_key(session, key, valid_from=services.clock.now())
    state = "created" if created else "present"
    return (
        f"system key {key.key_id[:16]}… {state} in {keys_dir}; checkpoint log in {services.settings.checkpoint_log_dir}"
    )


def trusted_keys(settings: Settings) -> dict[str, bytes]:
    """The system public keys verification trusts: those of the key files, never the database's table.

    The current key and every retired one (``keys/retired/``, each trusted only up to its
    retirement: :func:`retired_keys`).
    """
    key = load_system_key(settings.keys_dir)
    if key is None:
        raise AuditError(f"no system key in {settings.keys_dir}; run `ebr init` (or restore the keys directory)")
    retired = {old.key_id: old.public_raw for old in load_retired_keys(settings.keys_dir)}
    return retired | {key.key_id: key.public_raw}


def installation_keys(settings: Settings) -> tuple[SystemKey, list[RetiredKey]]:
    """The current system key and the retired ones (for ``ebr audit key`` and printed fingerprints)."""
    key = load_system_key(settings.keys_dir)
    if key is None:
        raise AuditError(f"no system key in {settings.keys_dir}; run `ebr init` (or restore the keys directory)")
    return key, load_retired_keys(settings.keys_dir)


def installation_fingerprint(settings: Settings) -> str | None:
    """``SHA256:<key id>`` of the current system key, or None before ``ebr init``."""
    key = load_system_key(settings.keys_dir)
    return None if key is None else fingerprint(key.key_id)


def sign_tree_head(services: Services) -> TreeHead:
    """Sign a tree head over the whole trail now (``ebr audit checkpoint``).

    Raises TreeHeadRefused when the segment since the previous tree head does not verify
    (alerted, and audited once the refused transaction has rolled back).
    """
    if services.checkpointer is None:
        raise AuditError("checkpoints are not configured in this installation")
    with unit_of_work(services.session_factory) as session:
        return services.checkpointer.checkpoint(session)


def sign_tree_head_if_new(services: Services) -> TreeHead | None:
    """The timer's tree head: signed when events were appended since the newest one, else None."""
    if services.checkpointer is None:
        raise AuditError("checkpoints are not configured in this installation")
    with unit_of_work(services.session_factory) as session:
        return services.checkpointer.checkpoint_if_new(session)


def retired_keys(settings: Settings) -> dict[str, dt.datetime]:
    """key_id → the moment a rotated system key stopped signing."""
    return {old.key_id: old.retired_at for old in load_retired_keys(settings.keys_dir)}


def rotate_system_key(services: Services, *, actor: str, reason: str) -> tuple[str, str]:
    """Replace the system key; returns (old key id, new key id).

    Only over an intact chain: it is verified first, and a last checkpoint is signed with
    the old key. The new key takes the key file's place (other processes pick it up at
    their next checkpoint); the old public half stays trusted for what it signed before
    its retirement. The key table's ``valid_to``/``valid_from``, the audit event
    ``audit.system_key.rotated`` and the first checkpoint under the new key commit together.
    """
    if not reason.strip():
        raise ValidationError("a key rotation needs a reason (the crypto-period ended, the key may be exposed, …)")
    if services.checkpointer is None:
        raise AuditError("checkpoints are not configured in this installation")
    report = verify_live(services, actor=actor)
    if not report.ok:
        first = report.breaks[0].describe() if report.breaks else "see `ebr audit verify`"
        raise AuditError(f"the audit chain is broken ({first}): investigate before rotating the system key")
    with unit_of_work(services.session_factory) as session:
        services.checkpointer.checkpoint(session)  # the last head signed by the old key
    retired, new = replace_system_key(services.settings.keys_dir, at=services.clock.now)
    with unit_of_work(services.session_factory) as session:
        close_system_key(session, retired.key_id, valid_to=retired.retired_at)
        register_system_key(session, new, valid_from=retired.retired_at)
        services.audit.record(
            session,
            actor=actor,
            action="audit.system_key.rotated",
            entity=Entity("system_key", new.key_id),
            before={"key_id": retired.key_id},
            after={"key_id": new.key_id, "retired_at": retired.retired_at},
            reason=reason.strip(),
        )
        services.checkpointer.checkpoint(session)
    return retired.key_id, new.key_id


def verify_live(
    services: Services, *, actor: str = VERIFIER, deep: bool = False, progress: Progress | None = None
) -> ChainReport:
    """Verify the live chain and the external checkpoint log, then audit the run itself."""
    keys = trusted_keys(services.settings)
    log = CheckpointLog(services.settings.checkpoint_log_dir)
    with services.session_factory() as session:
        # One snapshot for checkpoints, events and the head (SQLite's transaction is one already).
        if services.engine.dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        retired = retired_keys(services.settings)
        report = verify_chain(session, trusted_keys=keys, log=log, deep=deep, progress=progress, retired=retired)
        session.rollback()
    if services.settings.tsa_cert is not None:
        lines = {line: f"{log.path} line {number}" for number, line in log.lines()}
        roots = load_tsa_roots(services.settings.tsa_cert)
        report.timestamps_checked, stamp_breaks = check_timestamps(log.path.parent, lines, roots)
        report.breaks.extend(stamp_breaks)
    with services.session_factory.begin() as session:
        services.audit.record(
            session,
            actor=actor,
            action="audit.chain.verified",
            entity=CHAIN_ENTITY,
            after=report.summary(),
            reason="integrity check",
        )
    return report


def signatures_in_scope(session: Session, services: Services, lo: int, hi: int, in_scope: InScope | None) -> list[Any]:
    """Signature records whose ``signature.applied`` event in ``lo..hi`` is in scope, read from the signatures table."""
    signing = getattr(services, "signing", None)
    rows = session.scalars(
        select(AuditEvent.canonical)
        .where(AuditEvent.action == "signature.applied", AuditEvent.seq.between(lo, hi))
        .order_by(AuditEvent.seq)
    )
    records: list[Any] = []
    for data in rows:
        event = json.loads(data)
        if in_scope is not None and not in_scope(event):
            continue
        sig_id = str((event.get("after") or {}).get("id"))
        if signing is None:
            records.append(event["after"])
            continue
        try:
            records.append(signing.get(session, sig_id).record)
        except NotFound:
            raise AuditError(f"signature {sig_id} is in the audit trail but not in the signature table") from None
    return records


def user_keys(session: Session, services: Services) -> dict[str, list[dict[str, Any]]]:
    signing = getattr(services, "signing", None)
    return {} if signing is None else dict(signing.public_keys(session))


def export(
    services: Services,
    *,
    out_path: Path,
    from_seq: int = 1,
    to_seq: int | None = None,
    entity: Entity | None = None,
    actor: str,
    progress: Progress | None = None,
) -> ExportResult:
    """Write a bundle for events ``from_seq..to_seq`` (optionally only one entity's) and audit the export."""
    in_scope = entity_filter(entity.type, entity.id) if entity else None
    with services.session_factory.begin() as session:
        hi = to_seq if to_seq is not None else head(session)[0]
        scope: dict[str, Any] = {"from_seq": from_seq, "to_seq": hi}
        if entity is not None:
            scope["entity"] = {"type": entity.type, "id": entity.id}
        signatures = signatures_in_scope(session, services, from_seq, hi, in_scope)
        signers = {str(record.get("signer")) for record in signatures}
        keys = {user: entries for user, entries in user_keys(session, services).items() if user in signers}
        result = export_bundle(
            session,
            out_path=out_path,
            scope=scope,
            clock=services.clock,
            from_seq=from_seq,
            to_seq=hi,
            entity=entity,
            signatures=signatures,
            user_keys=keys,
            checkpointer=services.checkpointer,
            progress=progress,
        )
        services.audit.record(
            session,
            actor=actor,
            action="audit.bundle.exported",
            entity=CHAIN_ENTITY,
            after={"file": out_path.name, "first_seq": result.first_seq, "last_seq": result.last_seq, "scope": scope},
            reason="audit trail export",
        )
    return result
