"""Per-user keys: wrapped under the password, records verified with the public key only (spec §4)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ebr.core.canonical import canon
from signatures import keys

FAST = keys.KdfParams(time_cost=1, memory_kib=8192)
RECORD = {
    "id": "0193a1c2-0000-7000-8000-000000000001",
    "signer": "alice",
    "printed_name": "Alice Example",
    "meaning": "performed",
    "ts": "2026-11-24T20:15:59.123456Z",
    "subject": {"type": "batch_step", "id": "B-1/3"},
    "content_hash": "0" * 64,
    "reason": None,
}


@pytest.mark.requirement("URS-SIG-005")
def test_the_private_key_opens_only_with_the_password() -> None:
    wrapped = keys.new_wrapped_key("Correct-Horse-42", FAST)
    assert keys.unwrap(wrapped, "Correct-Horse-42") is not None
    assert keys.unwrap(wrapped, "correct-horse-42") is None
    assert b"Correct-Horse-42" not in wrapped.ciphertext
    # The ciphertext is bound to its key id: pasted under another key it does not open.
    other = keys.new_wrapped_key("Correct-Horse-42", FAST)
    assert keys.unwrap(dataclasses.replace(other, ciphertext=wrapped.ciphertext, nonce=wrapped.nonce,
                                           salt=wrapped.salt), "Correct-Horse-42") is None  # fmt: skip


@pytest.mark.requirement("URS-SIG-003")
def test_a_record_signed_by_the_user_verifies_by_the_spec_algorithm_alone() -> None:
    wrapped = keys.new_wrapped_key("pw", FAST)
    private = keys.unwrap(wrapped, "pw")
    assert private is not None
    record = {**RECORD, "key_id": wrapped.key_id}
    record["sig"] = keys.sign_record(private, record)
    # Independently of our code: key_id = H(raw public key); sig = Ed25519 over canon(record without sig).
    assert record["key_id"] == hashlib.sha256(wrapped.public_key).hexdigest()
    body = {k: v for k, v in record.items() if k != "sig"}
    Ed25519PublicKey.from_public_bytes(wrapped.public_key).verify(base64.b64decode(record["sig"]), canon(body))
    assert keys.verify_record(record, wrapped.public_key)


@pytest.mark.requirement("URS-SIG-003")
@pytest.mark.parametrize(
    "change",
    [
        {"printed_name": "Mallory"},
        {"meaning": "verified"},
        {"ts": "2026-11-24T20:16:00.000000Z"},
        {"subject": {"type": "batch_step", "id": "B-2/3"}},
        {"content_hash": "1" * 64},
        {"sig": "AAAA"},
        {"sig": "not base64!"},
    ],
)
def test_any_change_to_a_signed_record_fails_verification(change: dict[str, object]) -> None:
    wrapped = keys.new_wrapped_key("pw", FAST)
    private = keys.unwrap(wrapped, "pw")
    assert private is not None
    record = {**RECORD, "key_id": wrapped.key_id}
    record["sig"] = keys.sign_record(private, record)
    assert not keys.verify_record({**record, **change}, wrapped.public_key)


def test_a_record_does_not_verify_under_another_users_key() -> None:
    mine, theirs = keys.new_wrapped_key("a", FAST), keys.new_wrapped_key("b", FAST)
    private = keys.unwrap(mine, "a")
    assert private is not None
    record = {**RECORD, "key_id": mine.key_id}
    record["sig"] = keys.sign_record(private, record)
    assert not keys.verify_record(record, theirs.public_key)
    assert not keys.verify_record({**record, "key_id": theirs.key_id}, theirs.public_key)


def test_kdf_parameters_round_trip_through_their_stored_text() -> None:
    params = keys.KdfParams(time_cost=3, memory_kib=65536, parallelism=2)
    assert keys.KdfParams.parse(params.text()) == params
    with pytest.raises(ValueError, match="unknown key derivation"):
        keys.KdfParams.parse("scrypt$n=1")


@pytest.mark.requirement("URS-SIG-005")
def test_the_default_costs_are_at_least_owasps_argon2id_baseline() -> None:
    from signatures.passwords import DEFAULT_HASHER

    params = keys.KdfParams()
    assert params.memory_kib >= 19456
    assert params.time_cost >= 2
    assert DEFAULT_HASHER.memory_cost >= 19456
    assert DEFAULT_HASHER.time_cost >= 2
    assert DEFAULT_HASHER.type.name == "ID"
