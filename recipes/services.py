"""Master recipe versions: import, lifecycle with e-signatures, lookup for batches, diff.

Lifecycle::

    draft --submit_for_review (signed "authored")--> in_review
    in_review --approve (signed "approved", not by the author)--> approved (effective from a date)
    in_review --return_to_draft (reason)--> draft
    approved --(a later version of the same name approved)--> superseded
    draft | in_review | approved --obsolete (reason)--> obsolete

:meth:`RecipeService.get_effective` is the only way to obtain a recipe for a
batch: it refuses anything that is not approved and effective at the moment
asked. Every change is audited in the caller's transaction (action
``recipe.version.<verb>``, entity ``recipe_version NAME@VERSION``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from functools import lru_cache
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audit.chain import Entity
from audit.trail import AuditTrail
from ebr.core.canonical import canon, content_hash, sha256_hex
from ebr.core.clock import Clock
from ebr.core.errors import NotFound, PermissionDenied, RecipeError, StateError
from ebr.core.ids import new_id
from ebr.core.inputs import DEFAULT, Limits
from recipes.diff import diff_recipes
from recipes.model import Recipe
from recipes.models import RecipeVersion
from recipes.reading import read_recipes
from signatures.permissions import require


@lru_cache(maxsize=256)
def _parsed(digest: str, content: str) -> Recipe:
    """The recipe of ``content`` (whose SHA-256 is ``digest``, checked by the caller), read once per process.

    A Recipe is immutable and a digest names one content, so every use shares one reading
    (an ERP run plans hundreds of batches of the same version).
    """
    return Recipe.from_dict(json.loads(content))


class Status(StrEnum):
    """Lifecycle status of a recipe version."""

    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    SUPERSEDED = "superseded"
    OBSOLETE = "obsolete"


class ContentMismatch(RecipeError):
    """A version's stored content does not hash to its stored content hash (edited behind the application)."""


class NotEffective(RecipeError):
    """No approved version is effective (or the one asked for is not)."""


class Signer(Protocol):
    """The part of ``signatures.signing.SigningService`` used here."""

    def sign(
        self,
        session: Session,
        *,
        subject: Entity,
        content: Any,
        meaning: str,
        reason: str | None,
        user_id: str,
        password: str,
        not_by: Any = None,
    ) -> Any: ...


class Users(Protocol):
    """The part of ``signatures.users.UserService`` used here."""

    def get(self, session: Session, user_id: str) -> Any: ...


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``"NAME@3"`` → ``("NAME", 3)``; ``"NAME"`` → ``("NAME", None)``."""
    name, _, version = ref.partition("@")
    if not version:
        return name, None
    if not version.isdigit():
        raise RecipeError(f"{ref!r}: the version after @ must be a number, e.g. {name}@2")
    return name, int(version)


class RecipeService:
    """Stores and moves master recipe versions through their lifecycle; built once in bootstrap."""

    def __init__(
        self, *, audit: AuditTrail, clock: Clock, signing: Signer, users: Users, limits: Limits = DEFAULT
    ) -> None:
        self.audit = audit
        self.clock = clock
        self.signing = signing
        self.users = users
        self.limits = limits

    # -- import ------------------------------------------------------------------------

    def import_text(
        self, session: Session, *, actor: str, data: bytes | str, source: str, name: str | None = None
    ) -> list[RecipeVersion]:
        """Validate a YAML or BatchML document and store each recipe in it as a new draft version.

        ``name`` sets the recipe's name (a document with one recipe only). Raises
        ``RecipeInvalid`` listing every problem (nothing is stored) or
        PermissionDenied unless ``actor`` may author recipes.
        """
        self._require(session, actor, "recipe.author")
        found = read_recipes(data, source=source, limits=self.limits, name=name)
        return [self.add_draft(session, actor=actor, recipe=r, source_format=f, unmapped=u) for r, f, u in found]

    def add_draft(
        self, session: Session, *, actor: str, recipe: Recipe, source_format: str, unmapped: Sequence[str] = ()
    ) -> RecipeVersion:
        """Store an already validated ``recipe`` as the next draft version of its name."""
        latest = session.scalar(select(func.max(RecipeVersion.version)).where(RecipeVersion.name == recipe.name))
        document = recipe.to_dict()
        row = RecipeVersion(
            id=new_id(),
            name=recipe.name,
            version=(latest or 0) + 1,
            status=Status.DRAFT.value,
            title=recipe.title,
            product_code=recipe.product.code,
            content=canon(document).decode("utf-8"),
            content_hash=content_hash(document),
            source_format=source_format,
            unmapped=json.dumps(list(unmapped)) if unmapped else None,
            created_at=self.clock.now(),
            created_by=actor,
        )
        session.add(row)
        session.flush()
        after: dict[str, Any] = {"status": row.status, "content_hash": row.content_hash, "source_format": source_format}
        if unmapped:
            after["unmapped"] = list(unmapped)
        self.audit.record(session, actor=actor, action="recipe.version.created", entity=_entity(row), after=after)
        return row

    def edit_draft(
        self, session: Session, *, ref: str, actor: str, edits: Mapping[str, str], reason: str | None = None
    ) -> RecipeVersion:
        """Apply form ``edits`` (:mod:`recipes.editing`) to a draft its creator is editing.

        Only the person who created the draft edits it (another author uploads a new
        draft), so that nobody who changed a version can approve it unnoticed. The edited
        recipe passes the full validation of an import; the audit event keeps the old
        and new value of every changed field and both content hashes. Raises
        RecipeInvalid (nothing changed), StateError (not a draft), PermissionDenied.
        """
        from recipes.editing import apply_edits, editable

        self._require(session, actor, "recipe.author")
        row = self._row(session, ref, lock=True)
        self._expect(row, Status.DRAFT, "edited")
        if row.created_by != actor:
            raise PermissionDenied(
                f"{row.label} was made by {row.created_by}; only they edit it (upload your changes as a new draft)"
            )
        old = self.recipe_of(row)
        new = apply_edits(old, edits)
        document = new.to_dict()
        before_fields, after_fields = editable(old), editable(new)
        changed = sorted(k for k in after_fields if before_fields.get(k) != after_fields[k])
        if not changed:
            raise RecipeError("nothing was changed; edit a field before saving")
        before = {"content_hash": row.content_hash, "fields": {k: before_fields.get(k) for k in changed}}
        row.content, row.content_hash = canon(document).decode("utf-8"), content_hash(document)
        row.title, row.product_code = new.title, new.product.code
        after = {"content_hash": row.content_hash, "fields": {k: after_fields[k] for k in changed}}
        self.audit.record(
            session, actor=actor, action="recipe.version.edited", entity=_entity(row),
            before=before, after=after, reason=(reason or "").strip() or None,
        )  # fmt: skip
        return row

    # -- lifecycle ---------------------------------------------------------------------

    def submit_for_review(
        self, session: Session, *, ref: str, user_id: str, password: str, reason: str | None = None
    ) -> RecipeVersion:
        """Sign a draft "authored" and send it for review."""
        row = self._row(session, ref, lock=True)
        self._expect(row, Status.DRAFT, "submitted for review")
        signature = self.signing.sign(
            session,
            subject=_entity(row),
            content=self._signed_content(row),
            meaning="authored",
            reason=reason,
            user_id=user_id,
            password=password,
        )
        before = {"status": row.status}
        row.status, row.submitted_at, row.submitted_by = Status.IN_REVIEW.value, self.clock.now(), signature.signer
        row.submit_signature_id = signature.id
        after = {"status": row.status, "signature": signature.id}
        self.audit.record(
            session, actor=signature.signer, action="recipe.version.submitted", entity=_entity(row),
            before=before, after=after, reason=reason,
        )  # fmt: skip
        return row

    def approve(
        self,
        session: Session,
        *,
        ref: str,
        user_id: str,
        password: str,
        effective_from: dt.datetime | None = None,
        reason: str | None = None,
    ) -> RecipeVersion:
        """Sign a version in review "approved" (never by its author) and make it effective.

        The previous approved version of the same name is superseded from
        ``effective_from`` (default: now). Raises SegregationOfDuties when the
        author approves, StateError when the version is not in review.
        """
        row = self._row(session, ref, lock=True)
        self._expect(row, Status.IN_REVIEW, "approved")
        now = self.clock.now()
        start = effective_from or now
        if start.tzinfo is None:
            raise RecipeError("effective_from must carry a time zone (e.g. 2026-12-01T00:00:00Z)")
        if start < now:
            raise RecipeError(
                f"effective from {start:%Y-%m-%d %H:%M} UTC is before the approval ({now:%Y-%m-%d %H:%M} UTC):"
                " an approval cannot be backdated; give a moment from now on, or none for now"
            )
        not_by = {row.created_by: "imported this version", row.submitted_by or row.created_by: "authored this version"}
        content = {**self._signed_content(row), "effective_from": start}
        signature = self.signing.sign(
            session, subject=_entity(row), content=content, meaning="approved", reason=reason,
            user_id=user_id, password=password, not_by=not_by,
        )  # fmt: skip
        for older in self._approved(session, row.name):
            older_before = {"status": older.status}
            older.status, older.retired_at, older.retired_by = Status.SUPERSEDED.value, start, signature.signer
            older.retire_reason = f"superseded by version {row.version}"
            self.audit.record(
                session, actor=signature.signer, action="recipe.version.superseded", entity=_entity(older),
                before=older_before, after={"status": older.status, "retired_at": start, "by": row.label},
            )  # fmt: skip
        before = {"status": row.status}
        row.status, row.approved_at, row.approved_by = Status.APPROVED.value, self.clock.now(), signature.signer
        row.approval_signature_id, row.effective_from = signature.id, start
        after = {"status": row.status, "effective_from": start, "signature": signature.id}
        self.audit.record(
            session, actor=signature.signer, action="recipe.version.approved", entity=_entity(row),
            before=before, after=after, reason=reason,
        )  # fmt: skip
        return row

    def return_to_draft(self, session: Session, *, ref: str, actor: str, reason: str) -> RecipeVersion:
        """Send a version in review back to its author (a reason is required)."""
        self._require(session, actor, "recipe.approve")
        row = self._row(session, ref, lock=True)
        self._expect(row, Status.IN_REVIEW, "returned to draft")
        return self._set_status(session, row, Status.DRAFT, actor=actor, reason=_reason(reason), verb="returned")

    def obsolete(self, session: Session, *, ref: str, actor: str, reason: str) -> RecipeVersion:
        """Withdraw a version for good: it can no longer be approved or make a batch."""
        self._require(session, actor, "recipe.approve")
        row = self._row(session, ref, lock=True)
        if row.status in (Status.OBSOLETE, Status.SUPERSEDED):
            raise StateError(
                f"{row.label} is {row.status}; only draft, in_review or approved versions can be made obsolete"
            )
        row.retired_at, row.retired_by, row.retire_reason = self.clock.now(), actor, _reason(reason)
        return self._set_status(session, row, Status.OBSOLETE, actor=actor, reason=reason, verb="obsoleted")

    # -- reading -----------------------------------------------------------------------

    def get_effective(
        self, session: Session, name: str, version: int | str | None = None, at: dt.datetime | None = None
    ) -> tuple[RecipeVersion, Recipe]:
        """The version of ``name`` that is approved and effective at ``at`` (default now), and its recipe.

        With ``version``, that version must be the effective one. Raises
        :class:`NotEffective` otherwise; this is the only way to get a recipe for a batch.
        """
        moment = at or self.clock.now()
        candidates = session.scalars(
            select(RecipeVersion)
            .where(RecipeVersion.name == name, RecipeVersion.status.in_([Status.APPROVED, Status.SUPERSEDED]))
            .order_by(RecipeVersion.version.desc())
        ).all()
        effective = next(
            (
                r
                for r in candidates
                if r.effective_from is not None
                and r.effective_from <= moment
                and (r.retired_at is None or r.retired_at > moment)
            ),
            None,
        )
        if effective is None:
            raise NotEffective(
                f"recipe {name} has no approved version effective at {moment:%Y-%m-%d %H:%M} UTC; "
                "approve a version (or wait for its effective date) before making a batch"
            )
        if version is not None and str(version) != str(effective.version):
            raise NotEffective(
                f"{name}@{version} is not the effective version (effective: {effective.label}); "
                "only the approved, effective version can make a batch"
            )
        return effective, self.recipe_of(effective)

    def get(self, session: Session, ref: str) -> tuple[RecipeVersion, Recipe]:
        """Any version (``NAME@N``, or ``NAME`` for the latest) and its recipe, whatever its status."""
        row = self._row(session, ref)
        return row, self.recipe_of(row)

    @staticmethod
    def recipe_of(row: RecipeVersion) -> Recipe:
        """The recipe stored in ``row``, after checking it still hashes to ``row.content_hash``.

        Every use of a version's content (batch creation, export, display) reads it
        here, so content changed behind the application is refused at use, not only
        found by ``ebr audit verify --records``. Raises :class:`ContentMismatch`.
        """
        if sha256_hex(row.content.encode("utf-8")) != row.content_hash:
            raise ContentMismatch(
                f"recipe {row.label}: its stored content no longer matches its content hash "
                f"{row.content_hash[:16]}… (changed outside the application); it cannot be used. "
                "Run `ebr audit verify --records` to locate the change and restore the database from a backup"
            )
        return _parsed(row.content_hash, row.content)

    def list(self, session: Session, name: str | None = None) -> list[RecipeVersion]:
        """Every version (of ``name``, or of all recipes), by name then version."""
        query = select(RecipeVersion).order_by(RecipeVersion.name, RecipeVersion.version)
        if name is not None:
            query = query.where(RecipeVersion.name == name)
        return list(session.scalars(query))

    def diff(self, session: Session, a: str, b: str) -> str:
        """A readable unified diff between two versions (``NAME@N`` each)."""
        row_a, recipe_a = self.get(session, a)
        row_b, recipe_b = self.get(session, b)
        return diff_recipes(recipe_a, recipe_b, label_a=row_a.label, label_b=row_b.label)

    # -- helpers -----------------------------------------------------------------------

    def _require(self, session: Session, actor: str, action: str) -> None:
        require(self.users.get(session, actor).roles, action)

    def _row(self, session: Session, ref: str, *, lock: bool = False) -> RecipeVersion:
        name, version = parse_ref(ref)
        query = select(RecipeVersion).where(RecipeVersion.name == name)
        query = query.where(RecipeVersion.version == version) if version is not None else query
        query = query.order_by(RecipeVersion.version.desc()).limit(1)
        row = session.scalar(query.with_for_update() if lock else query)
        if row is None:
            raise NotFound(f"recipe {ref} does not exist; `ebr recipe list` shows the recipes and their versions")
        return row

    def _approved(self, session: Session, name: str) -> Sequence[RecipeVersion]:
        query = select(RecipeVersion).where(RecipeVersion.name == name, RecipeVersion.status == Status.APPROVED)
        return session.scalars(query.with_for_update()).all()

    @staticmethod
    def _expect(row: RecipeVersion, status: Status, doing: str) -> None:
        if row.status != status:
            raise StateError(f"{row.label} is {row.status}; only a version that is {status} can be {doing}")

    @staticmethod
    def _signed_content(row: RecipeVersion) -> dict[str, Any]:
        return {"recipe": row.name, "version": row.version, "title": row.title, "content_hash": row.content_hash}

    def _set_status(
        self, session: Session, row: RecipeVersion, status: Status, *, actor: str, reason: str, verb: str
    ) -> RecipeVersion:
        before = {"status": row.status}
        row.status = status.value
        self.audit.record(
            session, actor=actor, action=f"recipe.version.{verb}", entity=_entity(row),
            before=before, after={"status": row.status}, reason=reason,
        )  # fmt: skip
        return row


def _entity(row: RecipeVersion) -> Entity:
    return Entity("recipe_version", row.label)


def _reason(reason: str | None) -> str:
    if not reason or not reason.strip():
        raise RecipeError("a reason is required for this change; say why")
    return reason.strip()
