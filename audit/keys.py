"""The installation's Ed25519 system key (spec §3) and Ed25519 helpers shared by verifiers.

The private key is a PEM file under ``EBR_DATA_DIR/keys/`` with mode 0600 and is never
stored in the database. Its public half is registered in ``audit_system_key`` with the
time from which it is valid, so a bundle's ``keys.json`` can list every system key
that ever signed a checkpoint.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.models import AuditSystemKey
from ebr.core.canonical import sha256_hex
from ebr.core.clock import from_rfc3339, to_rfc3339
from ebr.core.errors import AuditError

SYSTEM_KEY_FILE = "system-ed25519.pem"
# Public halves of rotated system keys, one JSON file each: still trusted for the
# checkpoints they signed up to ``retired_at``, never after.
RETIRED_DIR = "retired"


def b64encode(data: bytes) -> str:
    """Standard, padded base64 (the spec's alphabet)."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    """Strict standard base64; raises ValueError on anything else."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"not standard base64: {exc}") from None


def key_id_of(public_raw: bytes) -> str:
    """``key_id = H(raw 32-byte public key)``."""
    return sha256_hex(public_raw)


def ed25519_verify(public_raw: bytes, message: bytes, sig_b64: str) -> bool:
    """True when ``sig_b64`` is a valid Ed25519 signature of ``message`` by ``public_raw``."""
    try:
        signature = b64decode(sig_b64)
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, message)
    except (ValueError, InvalidSignature):
        return False
    return True


@dataclass(frozen=True)
class SystemKey:
    """The loaded system key pair."""

    private: Ed25519PrivateKey

    @property
    def public_raw(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_raw)

    def sign(self, message: bytes) -> str:
        """Base64 Ed25519 signature of ``message``."""
        return b64encode(self.private.sign(message))


def system_key_path(keys_dir: Path) -> Path:
    return keys_dir / SYSTEM_KEY_FILE


def load_system_key(keys_dir: Path) -> SystemKey | None:
    """The system key from ``keys_dir``, or None when it has not been created yet."""
    path = system_key_path(keys_dir)
    if not path.exists():
        return None
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise AuditError(f"system key {path} is unreadable ({exc}); restore it from backup") from exc
    if not isinstance(private, Ed25519PrivateKey):
        raise AuditError(f"system key {path} is not an Ed25519 key; restore the original from backup")
    return SystemKey(private)


def _write_new_key(path: Path) -> SystemKey:
    """Write a fresh private key to ``path`` (mode 0600, O_EXCL: never over an existing file)."""
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        # O_EXCL: two concurrent `ebr init` runs must not end with two different keys.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise AuditError(f"system key {path} already exists; it is never replaced silently") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    return SystemKey(private)


def create_system_key(keys_dir: Path) -> SystemKey:
    """Create the key file (mode 0600, directory 0700); refuses to overwrite an existing one."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    keys_dir.chmod(0o700)
    return _write_new_key(system_key_path(keys_dir))


@dataclass(frozen=True)
class RetiredKey:
    """The public half of a rotated system key and the moment it stopped signing."""

    key_id: str
    public_raw: bytes
    retired_at: dt.datetime


def replace_system_key(keys_dir: Path, *, at: Callable[[], dt.datetime]) -> tuple[RetiredKey, SystemKey]:
    """Rotate: a new key takes the key file's place; the old one's public half is kept.

    The key file never goes missing (the new key is written beside it, then renamed over
    it), so other processes' checkpoints keep working; they load the new key at their
    next checkpoint (:class:`audit.checkpoints.Checkpointer` watches the file). The old
    private key is gone afterwards. ``at`` is read after the switch: that is ``retired_at``.
    """
    old = load_system_key(keys_dir)
    if old is None:
        raise AuditError(f"no system key in {keys_dir} to rotate; run `ebr init` first")
    folder = keys_dir / RETIRED_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    staged = keys_dir / (SYSTEM_KEY_FILE + ".new")
    staged.unlink(missing_ok=True)  # a rotation that died before its rename left it behind
    new = _write_new_key(staged)
    os.replace(staged, system_key_path(keys_dir))
    retired = RetiredKey(old.key_id, old.public_raw, at())
    public = b64encode(old.public_raw)
    record = {"key_id": old.key_id, "public_key": public, "retired_at": to_rfc3339(retired.retired_at)}
    path = folder / f"{old.key_id}.json"
    path.write_text(json.dumps(record, sort_keys=True) + "\n", encoding="utf-8")
    return retired, new


def load_retired_keys(keys_dir: Path) -> list[RetiredKey]:
    """Every retired system key kept under ``keys_dir/retired/`` (oldest retirement first)."""
    found = []
    for path in sorted((keys_dir / RETIRED_DIR).glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            raw = b64decode(record["public_key"])
            retired = RetiredKey(record["key_id"], raw, from_rfc3339(record["retired_at"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise AuditError(f"retired system key {path} is unreadable ({exc}); restore it from backup") from exc
        if key_id_of(raw) != retired.key_id:
            raise AuditError(f"retired system key {path}: its public key does not match its key id")
        found.append(retired)
    return sorted(found, key=lambda k: k.retired_at)


def register_system_key(session: Session, key: SystemKey, *, valid_from: dt.datetime) -> bool:
    """Record the public key in ``audit_system_key`` when missing; True when it was added."""
    if session.get(AuditSystemKey, key.key_id) is not None:
        return False
    session.add(
        AuditSystemKey(key_id=key.key_id, public_key=b64encode(key.public_raw), valid_from=valid_from, valid_to=None)
    )
    session.flush()
    return True


def system_keys_json(session: Session) -> list[dict[str, str | None]]:
    """Every registered system key as the entries of ``keys.json``'s ``system`` list."""
    rows = session.scalars(select(AuditSystemKey).order_by(AuditSystemKey.valid_from)).all()
    return [
        {
            "key_id": row.key_id,
            "public_key": row.public_key,
            "valid_from": to_rfc3339(row.valid_from),
            "valid_to": to_rfc3339(row.valid_to) if row.valid_to else None,
        }
        for row in rows
    ]


def current_system_key_id(session: Session) -> str | None:
    """The key id of the registered system key that signs now (valid_to unset, newest), or None before ``ebr init``."""
    return session.scalar(
        select(AuditSystemKey.key_id)
        .where(AuditSystemKey.valid_to.is_(None))
        .order_by(AuditSystemKey.valid_from.desc())
        .limit(1)
    )


def close_system_key(session: Session, key_id: str, *, valid_to: dt.datetime) -> None:
    """Record in ``audit_system_key`` until when ``key_id`` signed (keys.json's ``valid_to``)."""
    row = session.get(AuditSystemKey, key_id)
    if row is not None and row.valid_to is None:
        row.valid_to = valid_to
        session.flush()


def fingerprint(key_id: str) -> str:
    """How a system key is shown to people: ``SHA256:`` and its key id (SHA-256 of the raw public key)."""
    return f"SHA256:{key_id}"


def public_pem(public_raw: bytes) -> str:
    """The public key as PEM (SubjectPublicKeyInfo), to publish or to pin with ``--trusted-key``."""
    public = Ed25519PublicKey.from_public_bytes(public_raw)
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _pem_key_id(pem: str) -> str:
    try:
        public = serialization.load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise AuditError(f"unreadable PEM public key ({exc})") from None
    if not isinstance(public, Ed25519PublicKey):
        raise AuditError("a trusted key must be an Ed25519 public key")
    return key_id_of(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def _fingerprint_id(line: str) -> str:
    cleaned = line.removeprefix("SHA256:").removeprefix("sha256:").replace(":", "").replace(" ", "").lower()
    if len(cleaned) != 64 or any(c not in "0123456789abcdef" for c in cleaned):
        raise AuditError(f"{line!r} is not a key fingerprint: expected SHA256: and 64 hex digits, or a PEM public key")
    return cleaned


def trusted_key_ids(text: str) -> set[str]:
    """Key ids from a fingerprint (``SHA256:<64 hex>``, hex with or without ``:``), PEM text or a keys file's text.

    A keys file holds PEM public keys and/or fingerprints, one a line; ``#`` starts a comment.
    Raises AuditError on anything else, naming it.
    """
    found: set[str] = set()
    pem: list[str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if pem is not None:
            pem.append(line)
            if line.startswith("-----END"):
                found.add(_pem_key_id("\n".join(pem) + "\n"))
                pem = None
            continue
        if line.startswith("-----BEGIN"):
            pem = [line]
            continue
        line = line.split("#", 1)[0].strip()
        if line:
            found.add(_fingerprint_id(line))
    if pem is not None:
        raise AuditError("a PEM public key without its -----END line")
    return found
