"""Checking the checkpoints of the database against the external log and the system keys."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from audit.checkpoints import CheckpointLog, Head, TreeHead, database_checkpoints, parse_checkpoint
from audit.findings import Break, BreakKind
from ebr.core.clock import from_rfc3339, to_rfc3339
from ebr.core.errors import AuditError


@dataclass
class CheckpointSet:
    """The checkpoints that verify (seq → signed hash) and what was wrong with the others."""

    by_seq: dict[int, str] = field(default_factory=dict)
    breaks: list[Break] = field(default_factory=list)
    count: int = 0
    roots: dict[int, str] = field(default_factory=dict)  # tree size → signed root (v2 tree heads)
    logged_heads: list[tuple[TreeHead, str]] = field(default_factory=list)  # the external log's, in its order


def read_log(log: CheckpointLog) -> tuple[dict[bytes, str], list[Break]]:
    """Log lines (→ where) and the lines that are not checkpoints at all."""
    logged: dict[bytes, str] = {}
    bad: list[Break] = []
    for number, line in log.lines():
        where = f"{log.path} line {number}"
        try:
            parse_checkpoint(line)
        except AuditError as exc:
            bad.append(Break(BreakKind.BAD_CHECKPOINT, 0, f"{where}: {exc}"))
            continue
        logged[line] = where
    return logged, bad


def _gather(
    session: Session, log: CheckpointLog, logged: dict[bytes, str], result: CheckpointSet
) -> list[tuple[Head, str]]:
    """Every checkpoint of the log and the database, noting any that is on one side only."""
    found = [(parse_checkpoint(line), where) for line, where in logged.items()]
    stored = {bytes(row.line): row for row in database_checkpoints(session)}
    # A checkpoint commits before its log line is written: read the log again before
    # calling one missing, so a verification racing a checkpoint does not cry wolf.
    reread = read_log(log)[0] if any(line not in logged for line in stored) else logged
    for line, row in stored.items():
        if line not in reread:
            detail = f"checkpoint {row.id} is in the database, not in {log.path}"
            result.breaks.append(Break(BreakKind.CHECKPOINT_MISSING, row.seq, detail))
            found.append((parse_checkpoint(line), f"database checkpoint {row.id}"))
    for line, where in logged.items():
        if line not in stored:
            seq = parse_checkpoint(line).seq
            result.breaks.append(Break(BreakKind.CHECKPOINT_MISSING, seq, f"{where} is missing from the database"))
    return found


def check_checkpoints(
    session: Session,
    log: CheckpointLog,
    logged: dict[bytes, str],
    trusted: dict[str, bytes],
    retired: Mapping[str, dt.datetime] | None = None,
) -> CheckpointSet:
    """Check every checkpoint's signature and compare the database's with the log's.

    ``logged`` must be read (with :func:`read_log`) BEFORE the database snapshot is
    taken, so that every logged checkpoint is visible in the database.
    """
    result = CheckpointSet()
    for checkpoint, where in _gather(session, log, logged, result):
        result.count += 1
        public = trusted.get(checkpoint.key_id)
        if public is None or not checkpoint.verifies(public):
            why = "unknown key" if public is None else "signature does not verify"
            result.breaks.append(Break(BreakKind.BAD_CHECKPOINT, checkpoint.seq, f"{where}: {why}"))
            continue
        ended = (retired or {}).get(checkpoint.key_id)
        if ended is not None and from_rfc3339(checkpoint.ts) > ended:
            detail = f"{where}: signed at {checkpoint.ts} by a system key retired at {to_rfc3339(ended)}"
            result.breaks.append(Break(BreakKind.BAD_CHECKPOINT, checkpoint.seq, detail))
            continue
        if result.by_seq.setdefault(checkpoint.seq, checkpoint.hash) != checkpoint.hash:
            detail = f"{where}: two different heads signed at one seq"
            result.breaks.append(Break(BreakKind.BAD_CHECKPOINT, checkpoint.seq, detail))
        if isinstance(checkpoint, TreeHead):
            if result.roots.setdefault(checkpoint.tree_size, checkpoint.root_hash) != checkpoint.root_hash:
                detail = f"{where}: two different roots signed for tree size {checkpoint.tree_size}"
                result.breaks.append(Break(BreakKind.BAD_CHECKPOINT, checkpoint.seq, detail))
            if where.startswith(str(log.path)):
                result.logged_heads.append((checkpoint, where))
    result.breaks.extend(_cut_back(result.logged_heads))
    return result


def _cut_back(heads: list[tuple[TreeHead, str]]) -> list[Break]:
    """A tree head signed later than another but over fewer events: the log (or the trail) was cut back.

    Ordered by signing time, not by line: two processes may write their lines in either order.
    """
    found = []
    ordered = sorted(heads, key=lambda item: (from_rfc3339(item[0].ts), item[0].tree_size))
    for (before, where_before), (after, where) in itertools.pairwise(ordered):
        if after.tree_size < before.tree_size:
            detail = f"{where} signs {after.tree_size} events after {where_before} signed {before.tree_size}"
            found.append(Break(BreakKind.INCONSISTENT, after.tree_size + 1, detail))
    return found
