"""Format v2 bundles built from the spec's pieces alone (not by the exporter): the v2 test vectors and forgeries.

Fixed keys and times make every byte reproducible, so ``tests/data/bundle-v2/*.zip``
can be rebuilt and compared (``python -m tests.unit.audit.bundles_v2`` rewrites them).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.bundle import signed_manifest
from audit.chain import Entity, build_event, event_bytes
from audit.checkpoints import TreeHead, sign_tree_head
from audit.keys import SystemKey, b64encode
from audit.merkle import MemorySubtrees, consistency_proof, inclusion_proof, leaf_hash, tree_root
from ebr.core.canonical import ZERO_HASH, canon, sha256_hex
from ebr.core.clock import from_rfc3339

VECTORS = Path(__file__).resolve().parents[2] / "data" / "bundle-v2"
SYSTEM = SystemKey(Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
SIGNER = SystemKey(Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64))))
ATTACKER = SystemKey(Ed25519PrivateKey.from_private_bytes(bytes(range(64, 96))))
RECIPE = Entity("recipe_version", "MIX-01/2")
T0 = "2026-12-05T08:00:0{}.000000Z"
ZIP_TIME = (2026, 12, 5, 8, 0, 0)


def _key_entry(key: SystemKey) -> dict[str, Any]:
    return {"key_id": key.key_id, "public_key": b64encode(key.public_raw), "valid_from": T0.format(0), "valid_to": None}


def signature_record(content: Mapping[str, Any]) -> dict[str, Any]:
    record = {
        "id": "sig-1",
        "signer": "bob",
        "printed_name": "Bob Approver",
        "meaning": "approved",
        "ts": T0.format(3),
        "subject": RECIPE.as_json(),
        "content_hash": sha256_hex(canon(dict(content))),
        "reason": None,
        "key_id": SIGNER.key_id,
    }
    return {**record, "sig": SIGNER.sign(canon(record))}


def events() -> list[bytes]:
    """Six events: a recipe version authored by anna, approved (signed) by bob, among another batch's."""
    specs: list[tuple[str, str, Entity, dict[str, Any] | None]] = [
        ("op1", "batch.started", Entity("batch", "B-7"), {"status": "running"}),
        ("anna", "recipe.version.created", RECIPE, {"content": {"conc": "24 mg/mL"}, "author": "anna"}),
        ("op1", "batch.step.value_recorded", Entity("batch", "B-7"), {"value": "12.500", "unit": "kg"}),
        ("bob", "signature.applied", RECIPE, signature_record({"conc": "24 mg/mL"})),
        ("bob", "recipe.version.approved", RECIPE, {"status": "approved", "approved_by": "bob"}),
        ("op1", "batch.completed", Entity("batch", "B-7"), {"status": "complete"}),
    ]
    out: list[bytes] = []
    prev = ZERO_HASH
    for seq, (actor, action, entity, after) in enumerate(specs, start=1):
        event = build_event(
            seq=seq,
            ts=from_rfc3339(T0.format(seq)),
            actor=actor,
            action=action,
            entity=entity,
            reason="recorded",
            before=None,
            after=after,
            prev=prev,
        )
        data = event_bytes(event)
        out.append(data)
        prev = sha256_hex(data)
    return out


def tree_head(datas: list[bytes], size: int, key: SystemKey = SYSTEM) -> TreeHead:
    source = MemorySubtrees([leaf_hash(d) for d in datas])
    root = tree_root(source, size).hex()
    return sign_tree_head(key, tree_size=size, root_hash=root, head_hash=sha256_hex(datas[size - 1]), ts=T0.format(7))


def zip_bytes(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=ZIP_TIME), data, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def read_zip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def assemble(
    *,
    kind: str,
    scope: dict[str, Any],
    lines: list[bytes],
    proofs: dict[str, Any],
    head: TreeHead,
    previous: TreeHead | None = None,
    signatures: list[dict[str, Any]] | None = None,
    system: list[SystemKey] | None = None,
    key: SystemKey = SYSTEM,
) -> dict[str, bytes]:
    """The files of a bundle with its manifest signed by ``key`` (what a forger with that key would write)."""
    files = {
        "events.jsonl": b"".join(line + b"\n" for line in lines),
        "proofs.json": canon(proofs),
        "signatures.jsonl": b"".join(canon(r) + b"\n" for r in (signatures or [])),
        "keys.json": canon(
            {"system": [_key_entry(k) for k in (system or [SYSTEM])], "users": {"bob": [_key_entry(SIGNER)]}}
        ),
    }
    manifest = signed_manifest(
        key,
        {
            "format": "ebr-audit-bundle/2",
            "kind": kind,
            "created": T0.format(8),
            "scope": scope,
            "tree_head": head.as_json(),
            "previous_tree_head": previous.as_json() if previous else None,
            "files": {name: sha256_hex(data) for name, data in files.items()},
        },
    )
    return {"manifest.json": manifest, **files}


def entity_bundle() -> dict[str, bytes]:
    """The recipe version's three events (2, 4, 5) out of six, each with its inclusion proof."""
    datas = events()
    source = MemorySubtrees([leaf_hash(d) for d in datas])
    chosen = [2, 4, 5]
    inclusion = {str(s): [p.hex() for p in inclusion_proof(source, s - 1, 6)] for s in chosen}
    record = json.loads(datas[3])["after"]
    return assemble(
        kind="events",
        scope={"entity": RECIPE.as_json(), "from_seq": 1, "to_seq": 6},
        lines=[datas[s - 1] for s in chosen],
        proofs={"inclusion": inclusion},
        head=tree_head(datas, 6),
        signatures=[record],
    )


def range_bundle() -> dict[str, bytes]:
    """Events 4..6, chained, the last with its inclusion proof, consistent with the tree head at 3."""
    datas = events()
    source = MemorySubtrees([leaf_hash(d) for d in datas])
    proofs = {
        "inclusion": {"6": [p.hex() for p in inclusion_proof(source, 5, 6)]},
        "consistency": [p.hex() for p in consistency_proof(source, 3, 6)],
    }
    return assemble(
        kind="range",
        scope={"from_seq": 4, "to_seq": 6},
        lines=datas[3:6],
        proofs=proofs,
        head=tree_head(datas, 6),
        previous=tree_head(datas, 3),
        signatures=[json.loads(datas[3])["after"]],
    )


def write_vectors() -> None:
    VECTORS.mkdir(parents=True, exist_ok=True)
    (VECTORS / "entity-bundle.zip").write_bytes(zip_bytes(entity_bundle()))
    (VECTORS / "range-bundle.zip").write_bytes(zip_bytes(range_bundle()))
    keys = f"# the vectors' system key\nSHA256:{SYSTEM.key_id}\n"
    (VECTORS / "trusted-keys.txt").write_text(keys, encoding="utf-8")
    datas = events()
    listing = [{"seq": i, "canonical": d.decode(), "leaf_hash": leaf_hash(d).hex()} for i, d in enumerate(datas, 1)]
    roots = {str(n): tree_root(MemorySubtrees([leaf_hash(d) for d in datas]), n).hex() for n in range(1, 7)}
    (VECTORS / "tree.json").write_text(
        json.dumps({"events": listing, "roots": roots}, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    write_vectors()
