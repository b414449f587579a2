"""Format v2 bundles: the test vectors verify, and every forgery the auditor tried fails with a located message."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pytest

from audit.bundle_verify import BundleReport, verify_bundle
from audit.keys import trusted_key_ids
from audit.merkle import MemorySubtrees, inclusion_proof, leaf_hash
from ebr.core.canonical import canon, sha256_hex
from tests.unit.audit.bundles_v2 import (
    ATTACKER,
    SYSTEM,
    VECTORS,
    assemble,
    entity_bundle,
    events,
    range_bundle,
    tree_head,
    zip_bytes,
)

pytestmark = pytest.mark.requirement("URS-AUD-005", "URS-AUD-020")
PINNED = {SYSTEM.key_id}


def _verify(files: dict[str, bytes], trusted: set[str] | None = PINNED) -> BundleReport:
    return verify_bundle(io.BytesIO(zip_bytes(files)), trusted=trusted)


def _problems(report: BundleReport) -> list[str]:
    assert not report.ok, "the forgery verified"
    return [p.describe() for p in report.problems]


def _refile(files: dict[str, bytes], name: str, data: bytes | None) -> dict[str, bytes]:
    """Replace (or, with None, remove) one file and fix its hash in the manifest, as a careful forger would."""
    forged = dict(files)
    manifest = json.loads(forged["manifest.json"])
    if data is None:
        forged.pop(name)
        manifest["files"].pop(name)
    else:
        forged[name] = data
        manifest["files"][name] = sha256_hex(data)
    forged["manifest.json"] = canon(manifest)
    return forged


def test_the_v2_vectors_are_rebuilt_byte_for_byte_from_the_spec() -> None:
    assert (VECTORS / "entity-bundle.zip").read_bytes() == zip_bytes(entity_bundle())
    assert (VECTORS / "range-bundle.zip").read_bytes() == zip_bytes(range_bundle())


@pytest.mark.parametrize(
    ("name", "kind", "events", "previous"), [("entity", "events", 3, None), ("range", "range", 3, 3)]
)
def test_the_v2_vectors_verify_pinned_to_the_published_key(name: str, kind: str, events: int, previous: int) -> None:
    trusted = trusted_key_ids((VECTORS / "trusted-keys.txt").read_text(encoding="utf-8"))
    report = verify_bundle(VECTORS / f"{name}-bundle.zip", trusted=trusted)
    assert report.ok, [p.describe() for p in report.problems]
    assert (report.version, report.kind, report.events, report.tree_size) == (2, kind, events, 6)
    assert report.previous_tree_size == previous
    assert (report.pinned, report.keys_used) == (True, PINNED)


def test_without_a_pin_the_report_names_the_keys_it_relied_on_and_says_so() -> None:
    report = _verify(entity_bundle(), trusted=None)
    assert report.ok
    assert (report.pinned, report.keys_used) == (False, PINNED)


def test_an_entity_bundle_holds_only_its_events_and_no_redacted_line() -> None:
    lines = entity_bundle()["events.jsonl"].splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [2, 4, 5]
    assert all(json.loads(line)["entity"]["id"] == "MIX-01/2" for line in lines)


def _self_approval(files: dict[str, bytes]) -> dict[str, bytes]:
    lines = files["events.jsonl"].splitlines()
    approved = json.loads(lines[2])
    approved["actor"] = "anna"  # the author approves her own version
    lines[2] = canon(approved)  # "re-hashed": the line is the forged event's canonical bytes
    return _refile(files, "events.jsonl", b"".join(line + b"\n" for line in lines))


def test_a_self_approval_rehashed_in_an_entity_bundle_fails_at_that_event() -> None:
    problems = _problems(_verify(_self_approval(entity_bundle())))
    assert (
        "events.jsonl seq 5: the event is not in tree head 6: its inclusion proof does not lead to the root" in problems
    )
    assert "manifest.json signature: does not verify: the manifest (scope, files, tree head) was changed" in problems


def test_a_self_approval_fails_even_unpinned_when_only_the_manifest_is_resigned() -> None:
    forged = _self_approval(entity_bundle())
    manifest = json.loads(forged["manifest.json"])
    body = {k: v for k, v in manifest.items() if k not in {"sig", "key_id"}}
    files = {k: v for k, v in forged.items() if k != "manifest.json"}
    forged = {**files, **assemble_manifest_only(body, files)}
    problems = _problems(_verify(forged, trusted=None))
    assert any("manifest.json signature" in p for p in problems)
    assert (
        "events.jsonl seq 5: the event is not in tree head 6: its inclusion proof does not lead to the root" in problems
    )


def assemble_manifest_only(body: dict[str, object], files: dict[str, bytes]) -> dict[str, bytes]:
    from audit.bundle import signed_manifest

    return {"manifest.json": signed_manifest(ATTACKER, {**body, "files": {n: sha256_hex(d) for n, d in files.items()}})}


def test_swapped_keys_and_everything_resigned_by_an_attacker_fail_against_the_pinned_key() -> None:
    datas = events()
    datas[4] = datas[4].replace(b'"actor":"bob"', b'"actor":"anna"')
    source = MemorySubtrees([leaf_hash(d) for d in datas])
    forged = assemble(
        kind="events",
        scope={"entity": {"type": "recipe_version", "id": "MIX-01/2"}, "from_seq": 1, "to_seq": 6},
        lines=[datas[s - 1] for s in (2, 4, 5)],
        proofs={"inclusion": {str(s): [p.hex() for p in inclusion_proof(source, s - 1, 6)] for s in (2, 4, 5)}},
        head=tree_head(datas, 6, key=ATTACKER),
        signatures=[json.loads(datas[3])["after"]],
        system=[ATTACKER],
        key=ATTACKER,
    )
    problems = _problems(_verify(forged))
    assert (
        f"manifest.json signature: signed by key {ATTACKER.key_id}, which is not a trusted key (--trusted-key)"
        in problems
    )
    assert (
        f"manifest.json tree_head: signed by key {ATTACKER.key_id}, which is not a trusted key (--trusted-key)"
        in problems
    )
    unpinned = _verify(forged, trusted=None)
    assert unpinned.keys_used == {ATTACKER.key_id}, "unpinned, the report shows the attacker's fingerprint"


def test_a_bundle_cut_back_to_an_earlier_tree_head_fails() -> None:
    files = range_bundle()
    manifest = json.loads(files["manifest.json"])
    manifest["tree_head"] = tree_head(events(), 3).as_json()  # a genuine, earlier signed tree head
    forged = {**files, "manifest.json": canon(manifest)}
    problems = _problems(_verify(forged))
    assert "manifest.json signature: does not verify: the manifest (scope, files, tree head) was changed" in problems
    assert "events.jsonl seq 4: is beyond the tree head's 3 events" in problems
    assert (
        "proofs.json tree head 3 → 3: the consistency proof fails: the newer tree does not extend the previous one"
        in problems
    )


def test_a_changed_scope_fails() -> None:
    files = entity_bundle()
    manifest = json.loads(files["manifest.json"])
    manifest["scope"]["entity"]["id"] = "MIX-01/3"
    problems = _problems(_verify({**files, "manifest.json": canon(manifest)}))
    assert "manifest.json signature: does not verify: the manifest (scope, files, tree head) was changed" in problems
    assert any(p.startswith("events.jsonl seq 2: is about") for p in problems)


def test_an_event_turned_into_a_redacted_line_fails() -> None:
    files = entity_bundle()
    lines = files["events.jsonl"].splitlines()
    lines[1] = canon({"seq": 4, "hash": sha256_hex(lines[1]), "redacted": True})
    problems = _problems(_verify(_refile(files, "events.jsonl", b"".join(line + b"\n" for line in lines))))
    assert "events.jsonl seq 4: a redacted or hash line: v2 bundles carry whole events only" in problems


def test_a_removed_signature_record_fails_at_its_signature_applied_event() -> None:
    problems = _problems(_verify(_refile(entity_bundle(), "signatures.jsonl", b"")))
    assert (
        "events.jsonl seq 4: its signature sig-1 has no record in signatures.jsonl (it cannot be checked)" in problems
    )


def test_a_removed_signatures_file_fails() -> None:
    problems = _problems(_verify(_refile(entity_bundle(), "signatures.jsonl", None)))
    assert "signatures.jsonl: a v2 bundle must have this file and manifest.json must list it" in problems
    assert (
        "events.jsonl seq 4: its signature sig-1 has no record in signatures.jsonl (it cannot be checked)" in problems
    )


@pytest.mark.parametrize("listed", [False, True])
def test_an_extra_file_fails(listed: bool) -> None:
    files = {**entity_bundle(), "notes.txt": b"trust me"}
    if listed:  # listed by a forger: the manifest's signature then fails
        files = _refile(files, "notes.txt", b"trust me")
    problems = _problems(_verify(files))
    expected = (
        "manifest.json signature: does not verify: the manifest (scope, files, tree head) was changed"
        if listed
        else "notes.txt: in the bundle but not listed in manifest.json: rejected"
    )
    assert expected in problems


Forge = Callable[[dict[str, bytes]], dict[str, bytes]]


@pytest.mark.parametrize(
    "forge",
    [
        lambda f: _refile(f, "events.jsonl", f["events.jsonl"].replace(b'"seq":5', b'"seq":6')),
        lambda f: _refile(f, "proofs.json", f["proofs.json"].replace(b'"5"', b'"7"')),
        lambda f: _refile(f, "keys.json", b"{}"),
        lambda f: {k: v for k, v in f.items() if k != "manifest.json"},
    ],
    ids=["renumbered", "proof-moved", "keys-emptied", "manifest-removed"],
)
def test_other_forgeries_fail_too(forge: Forge) -> None:
    assert not _verify(forge(entity_bundle())).ok
