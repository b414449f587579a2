"""Signed tree heads (docs/audit-bundle.md §3), kept in the database AND in a log file.

A tree head signs the RFC 9162 root over the first ``tree_size`` events, and the
hash of event ``tree_size`` (the chain head). v1 checkpoints (``seq``/``hash`` only)
signed before the Merkle tree existed stay readable (:class:`Checkpoint`).

The log file (``checkpoints.jsonl`` in ``EBR_CHECKPOINT_LOG_DIR``, meant for write-once
storage) is what lets verification find a history rewritten inside the database: the
database can be edited behind our back, the external log cannot. A checkpoint line is
written to the log only after its transaction commits, so a rolled-back checkpoint
never reaches it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from audit.chain import Entity
from audit.keys import SystemKey, ed25519_verify, load_system_key, register_system_key, system_key_path
from audit.models import AuditCheckpoint
from audit.segment import SegmentBroken, check_segment, previous_tree_head
from audit.timestamps import Tsa, stamp_lines
from audit.trail import AppendedEvent, AuditTrail, head, lock_chain
from ebr.core.canonical import canon
from ebr.core.clock import Clock, SystemClock, to_rfc3339
from ebr.core.errors import AuditError, ValidationError

log = logging.getLogger("audit.checkpoints")
Alert = Callable[[str, Mapping[str, Any]], None]

LOG_FILE = "checkpoints.jsonl"
_PENDING = "audit.pending_checkpoint_lines"
_TSA = "audit.pending_checkpoint_tsa"


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


TREE_HEAD_KEYS = ("tree_size", "root_hash", "head_hash", "ts", "key_id")


@dataclass(frozen=True)
class TreeHead:
    """A signed tree head: ``{"tree_size", "root_hash", "head_hash", "ts", "key_id", "sig"}``."""

    tree_size: int
    root_hash: str
    head_hash: str
    ts: str
    key_id: str
    sig: str

    @property
    def seq(self) -> int:
        return self.tree_size

    @property
    def hash(self) -> str:
        return self.head_hash

    def unsigned(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "head_hash": self.head_hash,
            "ts": self.ts,
            "key_id": self.key_id,
        }

    def as_json(self) -> dict[str, Any]:
        return {**self.unsigned(), "sig": self.sig}

    def line(self) -> bytes:
        return canon(self.as_json())

    def verifies(self, public_raw: bytes) -> bool:
        return ed25519_verify(public_raw, canon(self.unsigned()), self.sig)


Head = Checkpoint | TreeHead


def tree_head_from(obj: Any) -> TreeHead:
    """A tree head from a parsed JSON object; raises AuditError when it is malformed."""
    try:
        if set(obj) != {*TREE_HEAD_KEYS, "sig"}:
            raise AuditError(f"a tree head has exactly the keys {sorted({*TREE_HEAD_KEYS, 'sig'})}")
        head = TreeHead(**{k: obj[k] for k in (*TREE_HEAD_KEYS, "sig")})
    except TypeError as exc:
        raise AuditError(f"malformed tree head ({exc})") from None
    texts = all(isinstance(getattr(head, k), str) for k in ("root_hash", "head_hash", "ts", "key_id", "sig"))
    if type(head.tree_size) is not int or head.tree_size < 1 or not texts:
        raise AuditError("malformed tree head: tree_size must be a positive integer and the rest strings")
    return head


def parse_checkpoint(data: bytes | str) -> Head:
    """A tree head (or a v1 checkpoint) from one JSON line; raises AuditError when it is malformed."""
    try:
        obj = json.loads(data)
        if isinstance(obj, dict) and "tree_size" in obj:
            return tree_head_from(obj)
        fields = {k: obj[k] for k in ("seq", "hash", "ts", "key_id", "sig")}
    except (ValueError, KeyError, TypeError) as exc:
        raise AuditError(f"malformed checkpoint line ({exc})") from None
    texts = all(isinstance(fields[k], str) for k in ("hash", "ts", "key_id", "sig"))
    if type(fields["seq"]) is not int or not texts:
        raise AuditError("malformed checkpoint line: seq must be an integer and the rest strings")
    return Checkpoint(**fields)


def sign_checkpoint(key: SystemKey, *, seq: int, hash: str, ts: str) -> Checkpoint:
    """A v1 checkpoint (kept for the v1 test vectors and forgery tests of old bundles)."""
    unsigned = {"seq": seq, "hash": hash, "ts": ts, "key_id": key.key_id}
    return Checkpoint(seq=seq, hash=hash, ts=ts, key_id=key.key_id, sig=key.sign(canon(unsigned)))


def sign_tree_head(key: SystemKey, *, tree_size: int, root_hash: str, head_hash: str, ts: str) -> TreeHead:
    unsigned = {"tree_size": tree_size, "root_hash": root_hash, "head_hash": head_hash, "ts": ts, "key_id": key.key_id}
    sig = key.sign(canon(unsigned))
    return TreeHead(tree_size=tree_size, root_hash=root_hash, head_hash=head_hash, ts=ts, key_id=key.key_id, sig=sig)


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
    tsa = session.info.pop(_TSA, None)
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
        if tsa is not None:  # after the commit and the log: a slow TSA never holds the chain lock
            stamp_lines(tsa, Path(pending[0][0]), kept)


def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_TSA, None)


def _queue_for_log(session: Session, log_dir: Path, line: bytes, tsa: Tsa | None = None) -> None:
    pending = session.info.setdefault(_PENDING, [])
    pending.append((str(log_dir), line))
    if tsa is not None:
        session.info[_TSA] = tsa
    if not event.contains(session, "after_commit", _flush_pending):
        event.listen(session, "after_commit", _flush_pending)
        event.listen(session, "after_rollback", _drop_pending)


class TreeHeadRefused(AuditError):
    """The segment since the previous tree head does not verify: it is not sealed."""


REFUSED_ACTION = "audit.tree_head.refused"
LONG_SEGMENT = 10  # × every: longer segments are signed by the timer, outside operators' transactions
SIGNER = "system:checkpointer"


def _audit_refusal_later(session: Session, clock: Clock, detail: dict[str, Any]) -> None:
    """Record the refusal in a transaction of its own once this one ends (SQLite's write lock is ours till then)."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine

    done: list[bool] = []

    def record(_: Session) -> None:
        if done:  # once: the listeners stay on the (short-lived) session, removing them here is not allowed
            return
        done.append(True)
        with Session(engine) as own, own.begin():
            AuditTrail(clock=clock).record(
                own,
                actor=SIGNER,
                action=REFUSED_ACTION,
                entity=Entity("audit_chain", "installation"),
                after=detail,
                reason="the segment since the previous tree head does not verify",
            )

    event.listen(session, "after_commit", record)
    event.listen(session, "after_rollback", record)


class Checkpointer:
    """Signs tree heads: on demand, every ``every`` events (after-append hook), on a timer and at release.

    A tree head is only signed over a segment that verifies (:func:`audit.segment.check_segment`);
    otherwise it is refused (:class:`TreeHeadRefused`), ``alert`` is called and the refusal is
    audited as ``audit.tree_head.refused`` once the transaction ends.
    """

    def __init__(
        self,
        *,
        keys_dir: Path,
        log_dir: Path,
        every: int,
        clock: Clock | None = None,
        alert: Alert | None = None,
        tsa: Tsa | None = None,
    ) -> None:
        if every < 1:
            raise ValidationError(f"checkpoint interval must be at least 1 event, got {every}")
        self.keys_dir = keys_dir
        self.log = CheckpointLog(log_dir)
        self.every = every
        self.clock = clock or SystemClock()
        self.alert = alert
        self.tsa = tsa
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

    def _refuse(self, session: Session, problem: SegmentBroken) -> TreeHeadRefused:
        detail = {"seq": problem.seq, "problem": str(problem)}
        log.critical("AUDIT TREE HEAD REFUSED: %s", problem)
        if self.alert is not None:
            self.alert("audit.tree_head.refused", detail)
        _audit_refusal_later(session, self.clock, detail)
        return TreeHeadRefused(
            f"no tree head signed: {problem}; run `ebr audit verify` and investigate (the damage is not sealed)"
        )

    def _write(self, session: Session, key: SystemKey, seq: int) -> TreeHead:
        try:
            root, head_hash = check_segment(session, seq)
        except SegmentBroken as problem:
            raise self._refuse(session, problem) from None
        now = self.clock.now()
        register_system_key(session, key, valid_from=now)
        made = sign_tree_head(key, tree_size=seq, root_hash=root, head_hash=head_hash, ts=to_rfc3339(now))
        line = made.line()
        row = AuditCheckpoint(
            seq=seq, hash=head_hash, ts=now, key_id=key.key_id, sig=made.sig, line=line, root_hash=root
        )
        session.add(row)
        session.flush()
        _queue_for_log(session, self.log.path.parent, line, self.tsa)
        return made

    def checkpoint(self, session: Session) -> TreeHead:
        """Sign a tree head over the current trail in ``session``'s transaction (logged after commit).

        Raises AuditError when the system key is missing or the trail is empty, and
        TreeHeadRefused when the segment since the previous tree head does not verify.
        """
        key = self.key()
        if key is None:
            raise AuditError(f"no system key in {self.keys_dir}; run `ebr init` to create it")
        lock_chain(session)
        seq, _ = head(session)
        if seq == 0:
            raise AuditError("the audit trail is empty: there is no head to checkpoint yet")
        return self._write(session, key, seq)

    def seal(self, session: Session) -> TreeHead | None:
        """:meth:`checkpoint`, skipped (None) while the installation has no system key (before ``ebr init``)."""
        return None if self.key() is None else self.checkpoint(session)

    def checkpoint_if_new(self, session: Session) -> TreeHead | None:
        """Sign a tree head when events were appended since the newest one (the timer's job); else None."""
        lock_chain(session)
        seq, _ = head(session)
        newest = session.scalar(select(AuditCheckpoint.seq).order_by(AuditCheckpoint.id.desc()).limit(1))
        if seq == 0 or newest == seq:
            return None
        return self.checkpoint(session)

    def after_append(self, session: Session, row: AppendedEvent) -> None:
        """Hook for :class:`audit.trail.AuditTrail`: a tree head every ``every`` events.

        Skipped while the installation has no system key (before ``ebr init``), and when
        the segment since the previous tree head is much longer than ``every`` (the first
        tree head of an upgraded trail checks all of it: the timer job or ``ebr audit
        checkpoint`` signs that one, not an operator's transaction). A refused tree head
        does not fail the caller's change: it is alerted and audited.
        """
        if not row.chained or row.seq % self.every != 0:
            return  # PostgreSQL links events at commit: :meth:`after_commit` signs those tree heads
        previous = previous_tree_head(session)
        if row.seq - (previous.seq if previous is not None else 0) > LONG_SEGMENT * self.every:
            log.warning("tree head at %d left to the timer job: a long segment since the previous one", row.seq)
            return
        key = self.key()
        if key is not None:
            try:
                self._write(session, key, row.seq)
            except TreeHeadRefused:
                return

    def after_commit(self, engine: Engine, first: int, last: int) -> None:
        """Commit hook for :class:`audit.trail.AuditTrail` (PostgreSQL): a tree head every ``every`` events.

        A commit linked events ``first..last``; when a multiple of ``every`` is among them,
        a tree head over the trail as it then is (its head may be further on: concurrent
        commits) is signed in a transaction of its own right after the commit, unless one
        as large exists already. The timer job and every release sign the rest.
        """
        target = last - last % self.every
        if target < first or self.key() is None:
            return
        with Session(engine) as session, session.begin():
            lock_chain(session)
            seq, _ = head(session)
            newest = session.scalar(select(AuditCheckpoint.seq).order_by(AuditCheckpoint.seq.desc()).limit(1))
            if newest is not None and newest >= target:
                return
            if seq - (newest or 0) > LONG_SEGMENT * self.every:
                log.warning("tree head at %d left to the timer job: a long segment since the previous one", seq)
                return
            key = self.key()
            if key is not None:
                try:
                    self._write(session, key, seq)
                except TreeHeadRefused:
                    return


def database_checkpoints(session: Session) -> list[AuditCheckpoint]:
    """Every checkpoint row, oldest first."""
    return list(session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id)))
