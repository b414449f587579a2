"""The signing ceremony (21 CFR 11.50, 11.70, 11.200) — ``services.signing``.

``sign`` re-authenticates with user id and password every time, checks the
permission for the meaning, segregation of duties and the accountability
statement, unwraps the signer's own Ed25519 key with the password, and writes the
signature record (docs/audit-bundle.md §4) with its ``signature.applied`` audit
event in the caller's transaction. A refusal is audited in its own transaction and
a credential failure counts toward lockout.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.chain import Entity
from audit.trail import AuditTrail
from ebr.core.canonical import canon, jsonable, sha256_hex
from ebr.core.clock import Clock, from_rfc3339, to_rfc3339
from ebr.core.errors import NotFound, SignatureError, ValidationError
from ebr.core.ids import new_id
from signatures import keys as keylib
from signatures.errors import AccountabilityNotAccepted, IdentityNotVerified, NotPermitted, SegregationOfDuties
from signatures.keystore import wrapped
from signatures.manifest import manifestation
from signatures.models import Signature, SigningKey, UserAccount
from signatures.permissions import MEANINGS, require
from signatures.users import UserService

verify_record = keylib.verify_record


def require_own_signature(actor: str, signer: str) -> None:
    """Refuse (NotPermitted, 403) a signature given in another person's session.

    The session says who acts, the signature who answers for it; knowing a colleague's
    password must not let one person sign as another from their own session (21 CFR
    11.200(a)(2): a signature is used only by its genuine owner). Second-person signatures
    that are meant to be another's (a verifier's at the performer's tablet, a trainee's)
    do not call this.
    """
    if signer.strip().lower() != actor:
        raise NotPermitted(f"you are signed in as {actor!r}: sign with your own user id and password, not {signer!r}'s")


@dataclass(frozen=True)
class SignatureRecord:
    """One signature: ``record`` is the exact §4 object including ``sig``."""

    id: str
    signer: str
    printed_name: str
    meaning: str
    ts: dt.datetime
    subject: Entity
    content_hash: str
    reason: str | None
    key_id: str
    sig: str
    record: dict[str, Any]

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SignatureRecord:
        subject = record["subject"]
        return cls(
            id=record["id"],
            signer=record["signer"],
            printed_name=record["printed_name"],
            meaning=record["meaning"],
            ts=from_rfc3339(record["ts"]),
            subject=Entity(subject["type"], subject["id"]),
            content_hash=record["content_hash"],
            reason=record["reason"],
            key_id=record["key_id"],
            sig=record["sig"],
            record=dict(record),
        )

    def manifestation(self, tz: str | dt.tzinfo = "UTC") -> str:
        """Printed name — date and time with zone — meaning (11.50)."""
        return manifestation(self.printed_name, self.ts, self.meaning, tz)


def _parse(row: Signature) -> SignatureRecord:
    return SignatureRecord.from_record(json.loads(row.record))


class SigningService:
    """Applies and lists electronic signatures; build once in ``ebr.bootstrap``."""

    def __init__(self, *, users: UserService, audit: AuditTrail, clock: Clock) -> None:
        self.users = users
        self.audit = audit
        self.clock = clock

    def sign(
        self,
        session: Session,
        *,
        subject: Entity,
        content: Mapping[str, Any],
        meaning: str,
        reason: str | None,
        user_id: str,
        password: str,
        not_by: Mapping[str, str] | None = None,
    ) -> SignatureRecord:
        """Sign ``content`` (what the signer was shown) about ``subject`` with ``meaning``.

        ``not_by`` maps user ids excluded from this signature to why (segregation of
        duties, e.g. ``{"alice": "performed this step"}``). Raises UnknownUser,
        WrongPassword, AccountLocked, AccountDisabled, PasswordExpired, NotPermitted,
        SegregationOfDuties, AccountabilityNotAccepted or DirectoryUnavailable;
        ValidationError for an unknown meaning or content that cannot be hashed.
        """
        if meaning not in MEANINGS:
            raise ValidationError(f"meaning {meaning!r} is not one of: {', '.join(MEANINGS)}")
        signed = jsonable(dict(content))
        content_bytes = canon(signed)
        context = {"meaning": meaning, "subject": subject.as_json()}
        row = self.users.reauthenticate(session, user_id, password, context=context)
        try:
            self._check_allowed(row, subject, meaning, not_by or {})
        except SignatureError as exc:
            self.users.record_refusal(
                session, user_id=row.user_id, purpose="signature", error=exc, context=context, actor=row.user_id
            )
            raise
        private, key = self._key(session, row, password)
        record = self._record(row, subject, meaning, reason, sha256_hex(content_bytes), key.key_id)
        record["sig"] = keylib.sign_record(private, record)
        session.add(
            Signature(
                id=record["id"],
                signer=row.user_id,
                meaning=meaning,
                ts=from_rfc3339(record["ts"]),
                subject_type=subject.type,
                subject_id=subject.id,
                key_id=key.key_id,
                record=canon(record),
                content=content_bytes,
            )
        )
        self.audit.record(
            session, actor=row.user_id, action="signature.applied", entity=subject, after=record, reason=reason
        )
        return SignatureRecord.from_record(record)

    def _check_allowed(self, row: UserAccount, subject: Entity, meaning: str, not_by: Mapping[str, str]) -> None:
        require(row.roles.split(), f"sign.{meaning}")
        excluded = {k.strip().lower(): v for k, v in not_by.items()}
        if row.user_id in excluded:
            raise SegregationOfDuties(
                f"{row.user_id!r} may not sign {meaning!r} for {subject.type} {subject.id}: "
                f"{excluded[row.user_id]}; another person must sign"
            )
        if row.identity_verified_at is None:
            raise IdentityNotVerified(
                f"no administrator has yet recorded that the identity of {row.user_id!r} was verified; "
                f"ask one to run: ebr user verify-identity {row.user_id} --how '...'"
            )
        if row.accountability_accepted_at is None:
            raise AccountabilityNotAccepted(
                f"{row.user_id!r} has not yet accepted the electronic signature accountability statement; "
                "read and accept it, then sign again",
                user_id=row.user_id,
            )

    def _key(self, session: Session, row: UserAccount, password: str) -> tuple[Ed25519PrivateKey, SigningKey]:
        key = self.users.current_key(session, row.user_id)
        private = None if key is None else keylib.unwrap(wrapped(key), password)
        if private is not None and key is not None:
            return private, key
        if row.source == "ldap":
            # The directory accepted the password but the stored key will not open:
            # the password was changed in the directory since the last signature.
            key = self.users.rotate_key_for_directory_user(session, row, password)
            private = keylib.unwrap(wrapped(key), password)
            assert private is not None  # just wrapped under this very password
            return private, key
        raise SignatureError(
            f"the signing key of {row.user_id!r} cannot be opened with the verified password; "
            "the key store is inconsistent: an administrator must reset the password"
        )

    def _record(
        self, row: UserAccount, subject: Entity, meaning: str, reason: str | None, chash: str, key_id: str
    ) -> dict[str, Any]:
        return {
            "id": new_id(),
            "signer": row.user_id,
            "printed_name": row.full_name,
            "meaning": meaning,
            "ts": to_rfc3339(self.clock.now()),
            "subject": subject.as_json(),
            "content_hash": chash,
            "reason": reason,
            "key_id": key_id,
        }

    # -- reading ---------------------------------------------------------------------

    def get(self, session: Session, signature_id: str) -> SignatureRecord:
        """One signature by id; raises NotFound."""
        row = session.get(Signature, signature_id)
        if row is None:
            raise NotFound(f"no signature {signature_id!r}")
        return _parse(row)

    def signed_content(self, session: Session, signature_id: str) -> Any:
        """The exact content the signature covers (for ``record.json``'s ``signed_content``)."""
        row = session.get(Signature, signature_id)
        if row is None:
            raise NotFound(f"no signature {signature_id!r}")
        return json.loads(row.content)

    def list_for_subject(self, session: Session, subject: Entity) -> list[SignatureRecord]:
        """Every signature on ``subject``, oldest first."""
        rows = session.scalars(
            select(Signature)
            .where(Signature.subject_type == subject.type, Signature.subject_id == subject.id)
            .order_by(Signature.ts, Signature.id)
        )
        return [_parse(r) for r in rows]

    def public_keys(self, session: Session) -> dict[str, list[dict[str, Any]]]:
        """Every user's public keys with validity periods, as ``keys.json`` ``users`` wants them."""
        result: dict[str, list[dict[str, Any]]] = {}
        for key in session.scalars(select(SigningKey).order_by(SigningKey.user_id, SigningKey.valid_from)):
            result.setdefault(key.user_id, []).append(
                {
                    "key_id": key.key_id,
                    "public_key": keylib.b64(key.public_key),
                    "valid_from": to_rfc3339(key.valid_from),
                    "valid_to": None if key.valid_to is None else to_rfc3339(key.valid_to),
                }
            )
        return result
