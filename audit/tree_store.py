"""The Merkle tree of the live trail in the database (docs/audit.md, "Merkle tree").

Leaf ``i`` (0-based) is the canonical bytes of event ``seq = i + 1``. The hashes of
perfect subtrees of ``2**BLOCK_LEVEL`` events and up are stored in ``audit_tree_node``
when a tree head is signed (never on the append path), so a proof in a log of a
million events reads about twenty stored nodes and one block of events. Smaller
subtrees are hashed from the events' bytes when needed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from audit.merkle import LEAF_PREFIX, Subtrees, node_hash, perfect_root
from audit.models import AuditEvent, AuditTreeNode
from ebr.core.errors import AuditError

BLOCK_LEVEL = 6
BLOCK = 1 << BLOCK_LEVEL
T = TypeVar("T")


def event_bytes_between(session: Session, first: int, last: int) -> list[bytes]:
    """The stored bytes of events ``first..last`` in order; AuditError on a gap or a changed type."""
    if last < first:
        return []
    rows = session.execute(
        select(AuditEvent.seq, AuditEvent.canonical).where(AuditEvent.seq.between(first, last)).order_by(AuditEvent.seq)
    ).all()
    out: list[bytes] = []
    for expected, (seq, data) in enumerate(rows, start=first):
        if seq != expected:
            raise AuditError(f"event {expected} is missing from the trail (the next stored is {seq})")
        if not isinstance(data, bytes):
            raise AuditError(f"event {seq}: the stored bytes were changed to {type(data).__name__}")
        out.append(data)
    if len(out) != last - first + 1:
        raise AuditError(f"events {first + len(out)}..{last} are missing from the trail")
    return out


def leaf_hashes(datas: Iterable[bytes]) -> list[bytes]:
    sha = hashlib.sha256
    return [sha(LEAF_PREFIX + data).digest() for data in datas]


class _Recorder:
    """A Subtrees that only notes which subtrees were asked for (their hashes do not steer the recursion)."""

    def __init__(self) -> None:
        self.keys: set[tuple[int, int]] = set()

    def perfect(self, level: int, index: int) -> bytes:
        self.keys.add((level, index))
        return bytes(32)


class DbSubtrees:
    """:class:`audit.merkle.Subtrees` over ``audit_tree_node`` and the events' bytes (one session, cached).

    :meth:`prepared` reads every node and block a computation needs in two queries first.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._nodes: dict[tuple[int, int], bytes] = {}
        self._blocks: dict[int, list[bytes]] = {}

    def prepared(self, build: Callable[[Subtrees], T]) -> T:
        """``build(self)`` after loading, in bulk, what ``build`` will ask for."""
        recorder = _Recorder()
        build(recorder)
        self.load(recorder.keys)
        return build(self)

    def load(self, keys: Iterable[tuple[int, int]]) -> None:
        """Read the stored nodes and the blocks of events a computation needs, in few statements.

        On the driver's cursor, with one indexed branch per level or block joined by UNION
        ALL: SQLAlchemy's per-statement cost was most of a proof's time, and SQLite plans
        OR-ed ranges or row-value IN lists as table scans.
        """
        wanted = set(keys)
        nodes: dict[int, list[int]] = {}
        for level, idx in sorted(k for k in wanted if k[0] >= BLOCK_LEVEL and k not in self._nodes):
            nodes.setdefault(level, []).append(idx)
        blocks = sorted({i >> (BLOCK_LEVEL - lvl) for lvl, i in wanted if lvl < BLOCK_LEVEL} - set(self._blocks))
        connection = self.session.connection()
        mark = "%s" if connection.dialect.name == "postgresql" else "?"
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            if nodes:
                branches, params = [], []
                for level, indices in nodes.items():
                    marks = ", ".join([mark] * len(indices))
                    branches.append(
                        f"SELECT level, idx, hash FROM audit_tree_node WHERE level = {mark} AND idx IN ({marks})"  # noqa: S608 - placeholders only
                    )
                    params += [level, *indices]
                cursor.execute(" UNION ALL ".join(branches), params)
                for level, idx, digest in cursor.fetchall():
                    self._nodes[(level, idx)] = bytes(digest)
            for start in range(0, len(blocks), 200):
                chunk = blocks[start : start + 200]
                branch = f"SELECT seq, canonical FROM audit_event WHERE seq BETWEEN {mark} AND {mark}"  # noqa: S608 - placeholders only
                params = [bound for b in chunk for bound in (b * BLOCK + 1, (b + 1) * BLOCK)]
                cursor.execute(" UNION ALL ".join([branch] * len(chunk)), params)
                found: dict[int, list[tuple[int, Any]]] = {b: [] for b in chunk}
                for seq, data in cursor.fetchall():
                    found[(seq - 1) // BLOCK].append((seq, data))
                for block, rows in found.items():
                    datas = [
                        d if isinstance(d, bytes) else str(d).encode() for _, d in sorted(rows, key=lambda r: r[0])
                    ]
                    self._blocks[block] = leaf_hashes(datas)
        finally:
            cursor.close()

    def perfect(self, level: int, index: int) -> bytes:
        if level >= BLOCK_LEVEL:
            return self._node(level, index)
        block = index >> (BLOCK_LEVEL - level)
        leaves = self._blocks.get(block)
        if leaves is None:
            self.load([(level, index)])
            leaves = self._blocks[block]
        start = (index << level) - block * BLOCK
        part = leaves[start : start + (1 << level)]
        if len(part) != 1 << level:
            raise AuditError(f"events {(index << level) + 1}.. are missing: the tree cannot be built over them")
        return perfect_root(part)

    def _node(self, level: int, index: int) -> bytes:
        key = (level, index)
        found = self._nodes.get(key)
        if found is None:
            value = self.session.scalar(
                select(AuditTreeNode.hash).where(AuditTreeNode.level == level, AuditTreeNode.idx == index)
            )
            if value is None:
                raise AuditError(f"Merkle node {level}/{index} is not stored; run `ebr audit verify`")
            found = self._nodes[key] = bytes(value)
        return found


def stored_blocks(session: Session) -> int:
    """How many whole blocks of events have their nodes stored."""
    top = session.scalar(select(func.max(AuditTreeNode.idx)).where(AuditTreeNode.level == BLOCK_LEVEL))
    return 0 if top is None else int(top) + 1


def _parents(session: Session, new: dict[tuple[int, int], bytes]) -> dict[tuple[int, int], bytes]:
    """Every node above ``new`` that they complete (a right child and its stored or new left sibling)."""
    added = dict(new)
    level = BLOCK_LEVEL
    current = {idx: h for (lvl, idx), h in new.items() if lvl == level}
    while current:
        parents: dict[int, bytes] = {}
        for idx in sorted(current):
            if idx % 2 == 0:
                continue
            left = current.get(idx - 1)
            if left is None:
                value = session.scalar(
                    select(AuditTreeNode.hash).where(AuditTreeNode.level == level, AuditTreeNode.idx == idx - 1)
                )
                if value is None:
                    raise AuditError(f"Merkle node {level}/{idx - 1} is missing; run `ebr audit verify`")
                left = bytes(value)
            parents[idx // 2] = node_hash(left, current[idx])
        level += 1
        for idx, digest in parents.items():
            added[(level, idx)] = digest
        current = parents
    return added


def extend(session: Session, size: int, datas: Sequence[bytes] | None = None, first_seq: int | None = None) -> int:
    """Store the nodes of every whole block within the first ``size`` events; returns the blocks stored.

    ``datas`` may hand over events' bytes already read (from ``first_seq`` on) to save reading them again.
    Runs under the chain lock (a tree head is being signed), so nobody else extends at the same time.
    """
    have, want = stored_blocks(session), size // BLOCK
    if want <= have:
        return have
    lo, hi = have * BLOCK + 1, want * BLOCK
    if datas is not None and first_seq is not None and first_seq <= lo and first_seq + len(datas) - 1 >= hi:
        chunk = list(datas[lo - first_seq : hi - first_seq + 1])
    else:
        chunk = event_bytes_between(session, lo, hi)
    leaves = leaf_hashes(chunk)
    new = {(BLOCK_LEVEL, have + i): perfect_root(leaves[i * BLOCK : (i + 1) * BLOCK]) for i in range(want - have)}
    rows: list[dict[str, Any]] = [
        {"level": level, "idx": idx, "hash": digest} for (level, idx), digest in sorted(_parents(session, new).items())
    ]
    session.execute(insert(AuditTreeNode), rows)
    return want
