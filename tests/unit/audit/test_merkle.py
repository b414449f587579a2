"""RFC 9162 §2.1 Merkle arithmetic, checked against pymerkle (an independent implementation) and by properties."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymerkle import InmemoryTree

from audit.merkle import (
    Frontier,
    MemorySubtrees,
    ProofError,
    RootsAt,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    tree_root,
    verify_consistency,
    verify_inclusion,
)

pytestmark = pytest.mark.requirement("URS-AUD-003")


def _entries(n: int) -> list[bytes]:
    return [b'{"seq":%d}' % i for i in range(1, n + 1)]


def _pymerkle(entries: list[bytes]) -> InmemoryTree:
    tree = InmemoryTree(algorithm="sha256")  # security on: RFC 9162's 0x00 / 0x01 prefixes
    for entry in entries:
        tree.append_entry(entry)
    return tree


def test_hashing_is_rfc_9162_with_its_leaf_and_node_prefixes() -> None:
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert node_hash(b"l" * 32, b"r" * 32) == hashlib.sha256(b"\x01" + b"l" * 32 + b"r" * 32).digest()
    assert tree_root(MemorySubtrees([]), 0) == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 9, 31, 64, 65, 100])
def test_roots_and_inclusion_paths_equal_pymerkles(size: int) -> None:
    entries = _entries(size)
    theirs = _pymerkle(entries)
    source = MemorySubtrees([leaf_hash(e) for e in entries])
    for n in range(1, size + 1):
        assert tree_root(source, n) == theirs.get_root(n)
    for index in range(size):
        path = inclusion_proof(source, index, size)
        their_path = theirs.prove_inclusion(index + 1, size).serialize()["path"]
        assert [p.hex() for p in path] == their_path[1:]  # pymerkle's path starts with the leaf itself
        assert verify_inclusion(leaf_hash(entries[index]), index, size, path, theirs.get_root(size))


@pytest.mark.parametrize("size", [2, 3, 8, 13, 64, 70])
def test_consistency_proofs_verify_against_pymerkles_roots_and_fail_for_another_history(size: int) -> None:
    entries = _entries(size)
    theirs = _pymerkle(entries)
    source = MemorySubtrees([leaf_hash(e) for e in entries])
    other = _pymerkle([b"forged", *entries[1:]])
    for old in range(1, size):
        proof = consistency_proof(source, old, size)
        assert verify_consistency(old, size, theirs.get_root(old), theirs.get_root(size), proof)
        assert not verify_consistency(old, size, other.get_root(old), theirs.get_root(size), proof)
    assert consistency_proof(source, size, size) == []
    assert verify_consistency(size, size, theirs.get_root(size), theirs.get_root(size), [])


def test_impossible_proofs_are_refused_with_the_sizes() -> None:
    source = MemorySubtrees([leaf_hash(b"x")] * 4)
    with pytest.raises(ProofError, match="leaf 4 is not in a tree of 4"):
        inclusion_proof(source, 4, 4)
    with pytest.raises(ProofError, match="from 5 to 4"):
        consistency_proof(source, 5, 4)
    assert not verify_inclusion(leaf_hash(b"x"), 4, 4, [], b"")
    assert not verify_consistency(0, 4, b"", b"", [b"x"])


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(min_value=1, max_value=300),
    data=st.data(),
)
def test_every_proof_verifies_and_any_changed_hash_in_it_fails(size: int, data: st.DataObject) -> None:
    leaves = [leaf_hash(e) for e in _entries(size)]
    source = MemorySubtrees(leaves)
    root = tree_root(source, size)
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    path = inclusion_proof(source, index, size)
    assert verify_inclusion(leaves[index], index, size, path, root)
    assert not verify_inclusion(leaf_hash(b"other"), index, size, path, root)
    if path:
        at = data.draw(st.integers(min_value=0, max_value=len(path) - 1))
        bad = [*path[:at], bytes(32), *path[at + 1 :]]
        assert not verify_inclusion(leaves[index], index, size, bad, root)
        assert not verify_inclusion(leaves[index], index, size, path[:-1], root)
    old = data.draw(st.integers(min_value=1, max_value=size))
    proof = consistency_proof(source, old, size)
    assert verify_consistency(old, size, tree_root(source, old), root, proof)
    if proof:
        assert not verify_consistency(old, size, tree_root(source, old), root, [*proof[:-1], bytes(32)])


@settings(max_examples=30, deadline=None)
@given(size=st.integers(min_value=0, max_value=400), sizes=st.lists(st.integers(min_value=1, max_value=400)))
def test_the_frontier_and_the_batched_roots_equal_the_trees_root_at_every_size(size: int, sizes: list[int]) -> None:
    leaves = [leaf_hash(e) for e in _entries(size)]
    source = MemorySubtrees(leaves)
    frontier = Frontier()
    for n, leaf in enumerate(leaves, start=1):
        frontier.push(leaf)
        if n % 37 == 0 or n == size:
            assert frontier.root() == tree_root(source, n)
    wanted = [s for s in sizes if s <= size]
    roots = RootsAt(wanted, block_level=3)
    for start in range(0, size, 23):
        roots.feed(leaves[start : start + 23])
    assert roots.roots == {s: tree_root(source, s) for s in wanted}
