"""Signed checkpoints of the chain head (spec §3), kept in the database AND in a log file.

The log file (``checkpoints.jsonl`` in ``EBR_CHECKPOINT_LOG_DIR``, meant for write-once
storage) is what lets verification find a history rewritten inside the database: the
database can be edited behind our back, the external log cannot. A checkpoint line is
written to the log only after its transaction commits, so a rolled-back checkpoint
never reaches it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from audit.keys import SystemKey, ed25519_verify, load_system_key, register_system_key, system_key_path
from audit.models import AuditCheckpoint
from audit.trail import AppendedEvent, head, lock_chain
from ebr.canonical import canon
from ebr.clock import Clock, SystemClock, to_rfc3339
from ebr.errors import AuditError, ValidationError

LOG_FILE = "checkpoints.jsonl"
_PENDING = "audit.pending_checkpoint_lines"


@dataclass(frozen=True)
class Checkpoint:
    """``{"seq", "hash", "ts", "key_id", "sig"}``: a signature over the chain head."""

    seq: int
    hash: str
    ts: str
    key_id: str
    sig: str

    def unsigned(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "ts": self.ts, "key_id": self.key_id}

    def as_json(self) -> dict[str, Any]:
        return {**self.unsigned(), "sig": self.sig}

    def line(self) -> bytes:
        """The canonical JSON line (without newline), as written to logs and bundles."""
        return canon(self.as_json())

    def verifies(self, public_raw: bytes) -> bool:
        return ed25519_verify(public_raw, canon(self.unsigned()), self.sig)


def parse_checkpoint(data: bytes | str) -> Checkpoint:
    """A checkpoint from one JSON line; raises AuditError when it is malformed."""
    try:
        obj = json.loads(data)
        fields = {k: obj[k] for k in ("seq", "hash", "ts", "key_id", "sig")}
    except (ValueError, KeyError, TypeError) as exc:
        raise AuditError(f"malformed checkpoint line ({exc})") from None
    texts = all(isinstance(fields[k], str) for k in ("hash", "ts", "key_id", "sig"))
    if type(fields["seq"]) is not int or not texts:
        raise AuditError("malformed checkpoint line: seq must be an integer and the rest strings")
    return Checkpoint(**fields)


def sign_checkpoint(key: SystemKey, *, seq: int, hash: str, ts: str) -> Checkpoint:
    unsigned = {"seq": seq, "hash": hash, "ts": ts, "key_id": key.key_id}
    return Checkpoint(seq=seq, hash=hash, ts=ts, key_id=key.key_id, sig=key.sign(canon(unsigned)))


class CheckpointLog:
    """The append-only checkpoint log file outside the database."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOG_FILE

    def append(self, lines: list[bytes]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # O_APPEND: concurrent writers in several processes each add whole lines.
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, b"".join(line + b"\n" for line in lines))
            os.fsync(fd)
        finally:
            os.close(fd)

    def lines(self) -> Iterator[tuple[int, bytes]]:
        """``(line number, line)`` for every non-empty line; nothing when the log does not exist."""
        if not self.path.exists():
            return
        with self.path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if raw.strip():
                    yield number, raw.rstrip(b"\r\n")


def _flush_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    lines = [line for _, line in pending]
    # A checkpoint made inside a savepoint that was rolled back must not be logged:
    # log only lines that really committed (the session itself cannot run SQL here).
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    query = select(AuditCheckpoint.line).where(AuditCheckpoint.line.in_(lines))
    with engine.connect() as connection:
        committed = {bytes(line) for line in connection.scalars(query)}
    kept = [line for line in lines if line in committed]
    if kept:
        CheckpointLog(Path(pending[0][0])).append(kept)


def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _queue_for_log(session: Session, log_dir: Path, line: bytes) -> None:
    pending = session.info.setdefault(_PENDING, [])
    pending.append((str(log_dir), line))
    if not event.contains(session, "after_commit", _flush_pending):
        event.listen(session, "after_commit", _flush_pending)
        event.listen(session, "after_rollback", _drop_pending)


class Checkpointer:
    """Makes checkpoints: on demand, and every ``every`` events as the trail's after-append hook."""

    def __init__(self, *, keys_dir: Path, log_dir: Path, every: int, clock: Clock | None = None) -> None:
        if every < 1:
            raise ValidationError(f"checkpoint interval must be at least 1 event, got {every}")
        self.keys_dir = keys_dir
        self.log = CheckpointLog(log_dir)
        self.every = every
        self.clock = clock or SystemClock()
        self._key: SystemKey | None = None
        self._stamp: tuple[int, int] | None = None

    def key(self) -> SystemKey | None:
        """The current system key, reloaded when the key file was replaced (a rotation)."""
        try:
            found = system_key_path(self.keys_dir).stat()
        except FileNotFoundError:
            self._key, self._stamp = None, None
            return None
        stamp = (found.st_ino, found.st_mtime_ns)
        if self._key is None or stamp != self._stamp:
            self._key, self._stamp = load_system_key(self.keys_dir), stamp
        return self._key

    def _write(self, session: Session, key: SystemKey, seq: int, hash: str) -> Checkpoint:
        now = self.clock.now()
        register_system_key(session, key, valid_from=now)
        checkpoint = sign_checkpoint(key, seq=seq, hash=hash, ts=to_rfc3339(now))
        line = checkpoint.line()
        row = AuditCheckpoint(seq=seq, hash=hash, ts=now, key_id=key.key_id, sig=checkpoint.sig, line=line)
        session.add(row)
        session.flush()
        _queue_for_log(session, self.log.path.parent, line)
        return checkpoint

    def checkpoint(self, session: Session) -> Checkpoint:
        """Sign the current head in ``session``'s transaction (logged after commit).

        Raises AuditError when the system key is missing or the trail is empty.
        """
        key = self.key()
        if key is None:
            raise AuditError(f"no system key in {self.keys_dir}; run `ebr init` to create it")
        lock_chain(session)
        seq, hash = head(session)
        if seq == 0:
            raise AuditError("the audit trail is empty: there is no head to checkpoint yet")
        return self._write(session, key, seq, hash)

    def after_append(self, session: Session, row: AppendedEvent) -> None:
        """Hook for :class:`audit.trail.AuditTrail`: checkpoint every ``every`` events.

        Skipped while the installation has no system key (before ``ebr init``).
        """
        if row.seq % self.every != 0:
            return
        key = self.key()
        if key is not None:
            self._write(session, key, row.seq, row.hash)


def database_checkpoints(session: Session) -> list[AuditCheckpoint]:
    """Every checkpoint row, oldest first."""
    return list(session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id)))
