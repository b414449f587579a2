"""Tables of the `signatures` package.

* ``user_account``: one row per user id, never deleted (deactivated instead), so an
  id is never reused (21 CFR 11.100(a)).
* ``password_history``: earlier password hashes, for the no-reuse rule.
* ``signing_key``: each user's Ed25519 public keys with their validity periods;
  the private key only as AES-GCM ciphertext under the user's password.
* ``signature``: every signature record, with the exact canonical bytes of the
  record and of the content it covers.
* ``user_session``: web sessions (server side, so logout and idle timeout end them).
* ``auth_throttle``: failed attempts per client and per user id in the current window.
* ``role_grant``: grants of GMP roles waiting for a second administrator (when required).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ebr.core.db import Base


class UserAccount(Base):
    __tablename__ = "user_account"

    user_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    full_name: Mapped[str] = mapped_column(String(200))
    # Space-separated role names (see signatures.permissions.Role).
    roles: Mapped[str] = mapped_column(String(400))
    source: Mapped[str] = mapped_column(String(10))  # "local" or "ldap"
    active: Mapped[bool] = mapped_column(Boolean)
    locked: Mapped[bool] = mapped_column(Boolean)
    failed_attempts: Mapped[int] = mapped_column(Integer)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    password_changed_at: Mapped[dt.datetime | None]
    must_change_password: Mapped[bool] = mapped_column(Boolean)
    accountability_accepted_at: Mapped[dt.datetime | None]
    # 21 CFR 11.100(b): who verified the person's identity, when and how.
    identity_verified_by: Mapped[str | None] = mapped_column(String(200))
    identity_verified_at: Mapped[dt.datetime | None]
    identity_check: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(200))


class PasswordHistory(Base):
    __tablename__ = "password_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("user_account.user_id"))
    password_hash: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[dt.datetime]

    __table_args__ = (Index("ix_password_history_user", "user_id"),)


class SigningKey(Base):
    __tablename__ = "signing_key"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("user_account.user_id"))
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    salt: Mapped[bytes] = mapped_column(LargeBinary)
    kdf: Mapped[str] = mapped_column(String(100))
    valid_from: Mapped[dt.datetime]
    valid_to: Mapped[dt.datetime | None]

    __table_args__ = (Index("ix_signing_key_user", "user_id"),)


class Signature(Base):
    __tablename__ = "signature"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    signer: Mapped[str] = mapped_column(ForeignKey("user_account.user_id"))
    meaning: Mapped[str] = mapped_column(String(20))
    ts: Mapped[dt.datetime]
    subject_type: Mapped[str] = mapped_column(String(100))
    subject_id: Mapped[str] = mapped_column(String(400))
    key_id: Mapped[str] = mapped_column(ForeignKey("signing_key.key_id"))
    # canon(record) including sig, and canon(content): the bytes are the truth.
    record: Mapped[bytes] = mapped_column(LargeBinary)
    content: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (Index("ix_signature_subject", "subject_type", "subject_id"),)


class UserSession(Base):
    __tablename__ = "user_session"

    # SHA-256 of the session token: a database reader cannot take over a session.
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("user_account.user_id"))
    started_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]
    end_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_user_session_user", "user_id"),)


class AuthThrottle(Base):
    """Failed login and signing attempts per key (``client:ADDRESS`` or ``account:USER_ID``) in
    the current fixed window; shared by every web worker because it lives in the database."""

    __tablename__ = "auth_throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[dt.datetime]
    failures: Mapped[int] = mapped_column(Integer)


class RoleGrant(Base):
    """A grant of a GMP role waiting for a second administrator (``EBR_ROLE_GRANT_CONFIRMATION``)."""

    __tablename__ = "role_grant"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("user_account.user_id"), index=True)
    roles: Mapped[str] = mapped_column(String(400))  # the complete new set, space-separated
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(16))  # pending, confirmed, superseded
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[dt.datetime | None]
