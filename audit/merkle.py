"""RFC 9162 §2.1 Merkle tree arithmetic (Certificate Transparency v2 hashing) — pure, no database.

* ``leaf_hash(d) = SHA-256(0x00 || d)``, ``node_hash(l, r) = SHA-256(0x01 || l || r)``;
* ``MTH(D[n])`` splits at ``k``, the largest power of two smaller than ``n``;
* inclusion proofs (``PATH``) and consistency proofs (``PROOF``/``SUBPROOF``) as §2.1.3.1
  and §2.1.4.1 build them, and their verification exactly as §2.1.3.2 and §2.1.4.2.

Where the hashes of subtrees come from is a :class:`Subtrees`: every subtree a proof
needs is "perfect" (``2**level`` leaves starting at a multiple of ``2**level``) or is
split into perfect ones, so a store only has to answer ``perfect(level, index)``.
:class:`MemorySubtrees` answers from a list of leaf hashes; ``audit.tree_store`` from
the database. The tests check all of it against pymerkle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"


class ProofError(ValueError):
    """A proof was asked for sizes or indices that make no tree (a caller's mistake)."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n`` ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def perfect_root(leaves: Sequence[bytes]) -> bytes:
    """The root over ``2**k`` leaf hashes, level by level (the fast path for whole blocks)."""
    level = list(leaves)
    sha = hashlib.sha256
    while len(level) > 1:
        level = [sha(NODE_PREFIX + a + b).digest() for a, b in zip(level[::2], level[1::2], strict=True)]
    return level[0]


class Subtrees(Protocol):
    """The hash of the perfect subtree of ``2**level`` leaves that starts at leaf ``index << level``."""

    def perfect(self, level: int, index: int) -> bytes: ...


def subtree_root(source: Subtrees, lo: int, hi: int) -> bytes:
    """``MTH(D[lo:hi])`` for ``lo`` aligned as RFC 9162's recursion aligns it."""
    n = hi - lo
    if n <= 0:
        raise ProofError(f"empty range {lo}..{hi}")
    if n & (n - 1) == 0 and lo % n == 0:
        return source.perfect(n.bit_length() - 1, lo // n)
    k = split_point(n)
    return node_hash(subtree_root(source, lo, lo + k), subtree_root(source, lo + k, hi))


def tree_root(source: Subtrees, size: int) -> bytes:
    """``MTH(D[size])``; the empty tree's root is ``SHA-256("")``."""
    return hashlib.sha256(b"").digest() if size == 0 else subtree_root(source, 0, size)


def inclusion_proof(source: Subtrees, index: int, size: int) -> list[bytes]:
    """``PATH(index, D[size])`` (§2.1.3.1); ``index`` is 0-based."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size} leaves")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = split_point(hi - lo)
        if index < lo + k:
            path.append(subtree_root(source, lo + k, hi))
            hi = lo + k
        else:
            path.append(subtree_root(source, lo, lo + k))
            lo = lo + k
    path.reverse()
    return path


def consistency_proof(source: Subtrees, old_size: int, new_size: int) -> list[bytes]:
    """``PROOF(old_size, D[new_size])`` (§2.1.4.1); empty when the sizes are equal."""
    if not 0 < old_size <= new_size:
        raise ProofError(f"no consistency proof from {old_size} to {new_size} leaves")
    path: list[bytes] = []
    m, lo, hi, whole = old_size, 0, new_size, True
    while m != hi - lo:
        k = split_point(hi - lo)
        if m <= k:
            path.append(subtree_root(source, lo + k, hi))
            hi = lo + k
        else:
            path.append(subtree_root(source, lo, lo + k))
            m, lo, whole = m - k, lo + k, False
    if not whole:
        path.append(subtree_root(source, lo, hi))
    path.reverse()
    return path


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """§2.1.3.2: True when ``leaf`` (a leaf hash) is leaf ``index`` of the tree of ``size`` with ``root``."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """§2.1.4.2: True when the tree of ``new_size`` with ``new_root`` extends the one of ``old_size``/``old_root``."""
    if old_size == new_size:
        return not proof and old_root == new_root
    if not 0 < old_size < new_size or not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old_root and sr == new_root and sn == 0


class MemorySubtrees:
    """Subtrees over leaf hashes held in memory (tests, bundles, small trees)."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.leaves = leaves
        self._memo: dict[tuple[int, int], bytes] = {}

    def perfect(self, level: int, index: int) -> bytes:
        if level == 0:
            return self.leaves[index]
        key = (level, index)
        found = self._memo.get(key)
        if found is None:
            found = node_hash(self.perfect(level - 1, 2 * index), self.perfect(level - 1, 2 * index + 1))
            self._memo[key] = found
        return found


class Frontier:
    """The right edge of a growing tree: perfect subtree roots, biggest first; gives the root at any size.

    ``push`` takes a leaf hash (or, with ``level``, the root of an aligned perfect subtree).
    """

    def __init__(self) -> None:
        self.size = 0
        self.stack: list[tuple[int, bytes]] = []

    def push(self, digest: bytes, level: int = 0) -> None:
        if self.size % (1 << level):
            raise ProofError(f"a subtree of level {level} cannot start at leaf {self.size}")
        self.size += 1 << level
        stack = self.stack
        while stack and stack[-1][0] == level:
            digest = node_hash(stack.pop()[1], digest)
            level += 1
        stack.append((level, digest))

    def root(self, extra: Sequence[bytes] = ()) -> bytes:
        """The root at ``size`` (plus ``extra`` leaf hashes, not kept)."""
        nodes = [digest for _, digest in self.stack]
        if extra:
            partial = Frontier()
            partial.size = self.size
            partial.stack = list(self.stack)
            for digest in extra:
                partial.push(digest)
            nodes = [digest for _, digest in partial.stack]
        if not nodes:
            return hashlib.sha256(b"").digest()
        root = nodes[-1]
        for digest in reversed(nodes[:-1]):
            root = node_hash(digest, root)
        return root


class RootsAt:
    """Roots of a growing list of leaves at chosen sizes, fed in batches (the live verifier's Merkle pass).

    Whole blocks of ``2**block_level`` leaves are folded at once; only the sizes asked for are rooted.
    """

    def __init__(self, sizes: Sequence[int], block_level: int = 6) -> None:
        self.wanted = sorted({s for s in sizes if s > 0})
        self.block = 1 << block_level
        self.block_level = block_level
        self.frontier = Frontier()
        self.pending: list[bytes] = []
        self.roots: dict[int, bytes] = {}
        self._next = 0

    @property
    def size(self) -> int:
        return self.frontier.size + len(self.pending)

    def _fold(self, upto: int) -> None:
        """Push whole blocks while they end at or before ``upto`` leaves (one slice of ``pending`` at the end)."""
        block, pending, used = self.block, self.pending, 0
        while len(pending) - used >= block and self.frontier.size + block <= upto:
            self.frontier.push(perfect_root(pending[used : used + block]), self.block_level)
            used += block
        if used:
            del pending[:used]

    def feed(self, leaves: Sequence[bytes]) -> None:
        self.pending.extend(leaves)
        end = self.size
        while self._next < len(self.wanted) and self.wanted[self._next] <= end:
            size = self.wanted[self._next]
            self._fold(size)
            self.roots[size] = self.frontier.root(self.pending[: size - self.frontier.size])
            self._next += 1
        self._fold(end)
