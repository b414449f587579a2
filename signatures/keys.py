"""Per-user Ed25519 signing keys, wrapped under the user's password (pure, no database).

The private key is stored only as AES-256-GCM ciphertext under a key derived from
the password with Argon2id, so no administrator or DBA can sign without the
password (21 CFR 11.200). ``key_id = H(raw 32-byte public key)`` (docs/audit-bundle.md §3).
The Argon2id parameters are stored with each wrapped key so they can be raised later
without breaking old keys.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from typing import Any

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from ebr.core.canonical import canon, sha256_hex
from ebr.core.errors import EbrError


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost. Default: OWASP's 19 MiB, 2 passes, 1 lane (≈ 20 ms here; docs/signatures.md)."""

    time_cost: int = 2
    memory_kib: int = 19456
    parallelism: int = 1

    def text(self) -> str:
        return f"argon2id$t={self.time_cost},m={self.memory_kib},p={self.parallelism}"

    @classmethod
    def parse(cls, text: str) -> KdfParams:
        name, _, rest = text.partition("$")
        if name != "argon2id":
            raise ValueError(f"unknown key derivation {name!r}")
        values = dict(part.split("=") for part in rest.split(","))
        return cls(time_cost=int(values["t"]), memory_kib=int(values["m"]), parallelism=int(values["p"]))


@dataclass(frozen=True)
class WrappedKey:
    """A key pair as stored: the public key in clear, the private key encrypted."""

    key_id: str
    public_key: bytes
    ciphertext: bytes
    nonce: bytes
    salt: bytes
    kdf: str


def derive(password: str, salt: bytes, params: KdfParams) -> bytes:
    """The 32-byte wrapping key: Argon2id(password, salt)."""
    return hash_secret_raw(
        password.encode("utf-8"),
        salt,
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        hash_len=32,
        type=Type.ID,
    )


def key_id_of(public_key: bytes) -> str:
    """``H(raw public key)``."""
    return sha256_hex(public_key)


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def new_wrapped_key(password: str, params: KdfParams) -> WrappedKey:
    """Make a fresh Ed25519 key pair and wrap its private key under ``password``."""
    private = Ed25519PrivateKey.generate()
    public = raw_public(private)
    salt, nonce = os.urandom(16), os.urandom(12)
    seed = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    # The key id is bound as associated data: a ciphertext moved to another key row fails.
    ciphertext = AESGCM(derive(password, salt, params)).encrypt(nonce, seed, key_id_of(public).encode())
    return WrappedKey(key_id_of(public), public, ciphertext, nonce, salt, params.text())


def unwrap(wrapped: WrappedKey, password: str) -> Ed25519PrivateKey | None:
    """The private key, or None when ``password`` is not the one it was wrapped under."""
    wrapping = derive(password, wrapped.salt, KdfParams.parse(wrapped.kdf))
    try:
        seed = AESGCM(wrapping).decrypt(wrapped.nonce, wrapped.ciphertext, wrapped.key_id.encode())
    except InvalidTag:
        return None
    return Ed25519PrivateKey.from_private_bytes(seed)


def b64(data: bytes) -> str:
    """Standard, padded base64 (the spec's encoding of signatures and public keys)."""
    return base64.b64encode(data).decode("ascii")


def sign_record(private: Ed25519PrivateKey, record: dict[str, Any]) -> str:
    """``base64(Ed25519(canon(record without sig)))``."""
    body = {k: v for k, v in record.items() if k != "sig"}
    return b64(private.sign(canon(body)))


def verify_record(record: dict[str, Any], public_key: bytes) -> bool:
    """True when ``record["sig"]`` is a valid signature of ``canon(record without sig)`` by ``public_key``.

    Also False when the record's ``key_id`` is not ``H(public_key)`` or the signature is malformed.
    """
    if record.get("key_id") != key_id_of(public_key):
        return False
    try:
        signature = base64.b64decode(str(record.get("sig", "")), validate=True)
        body = {k: v for k, v in record.items() if k != "sig"}
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, canon(body))
    except (InvalidSignature, ValueError, EbrError):
        return False
    return True
