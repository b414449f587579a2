"""Storage of the per-user signing keys: the current key, rotation with validity periods."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ebr.core.clock import Clock
from signatures import keys as keylib
from signatures.models import SigningKey


class KeyStore:
    """Creates, rotates and finds users' wrapped Ed25519 keys."""

    def __init__(self, *, clock: Clock, kdf: keylib.KdfParams | None = None) -> None:
        self.clock = clock
        self.kdf = kdf or keylib.KdfParams()

    def current(self, session: Session, user_id: str) -> SigningKey | None:
        """The user's key that is valid now (None before a password was ever set)."""
        return session.scalars(
            select(SigningKey).where(SigningKey.user_id == user_id, SigningKey.valid_to.is_(None))
        ).first()

    def rotate(self, session: Session, user_id: str, password: str) -> SigningKey:
        """Retire the current key (kept, with its validity period) and make a new one under ``password``."""
        now = self.clock.now()
        old = self.current(session, user_id)
        if old is not None:
            old.valid_to = now
        wrapped = keylib.new_wrapped_key(password, self.kdf)
        key = SigningKey(
            key_id=wrapped.key_id,
            user_id=user_id,
            public_key=wrapped.public_key,
            ciphertext=wrapped.ciphertext,
            nonce=wrapped.nonce,
            salt=wrapped.salt,
            kdf=wrapped.kdf,
            valid_from=now,
            valid_to=None,
        )
        session.add(key)
        session.flush()
        return key


def wrapped(key: SigningKey) -> keylib.WrappedKey:
    """The stored row as the pure :class:`signatures.keys.WrappedKey`."""
    return keylib.WrappedKey(key.key_id, key.public_key, key.ciphertext, key.nonce, key.salt, key.kdf)
