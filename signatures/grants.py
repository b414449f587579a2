"""Role changes: segregation of duties for people, and four eyes on a grant of a GMP role.

Every change is checked (nobody changes their own roles; no incompatible pair, see
:data:`signatures.permissions.INCOMPATIBLE`; a reason is required) and audited as
``user.roles_changed`` with the old and new roles.

With ``EBR_ROLE_GRANT_CONFIRMATION`` (off by default) an administrator who gives
someone a role that executes or signs GMP records (operator, supervisor, qa,
recipe_author, recipe_approver) only *requests* it: the grant waits in
``role_grant`` until a second administrator — neither the requester nor the person
concerned — confirms it. Request and confirmation are
audited (``user.roles_grant_requested``, then ``user.roles_changed`` naming both
administrators). A newer request for the same person supersedes a pending one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from audit.chain import Entity
from ebr.core.errors import Conflict, NotFound, ValidationError
from ebr.core.ids import new_id
from signatures.identity import User, UserRecords, required_reason
from signatures.models import RoleGrant, UserAccount
from signatures.permissions import GMP_ROLES, Role, conflicts, parse_roles, require_compatible

PENDING, CONFIRMED, SUPERSEDED = "pending", "confirmed", "superseded"


@dataclass(frozen=True)
class PendingGrant:
    """A role change waiting for a second administrator."""

    id: str
    user_id: str
    roles: tuple[str, ...]
    reason: str
    requested_by: str
    requested_at: dt.datetime


def adds_gmp_role(before: Iterable[str], after: Iterable[Role]) -> bool:
    """True when ``after`` gives a GMP role that ``before`` did not have."""
    return bool({r for r in after if r in GMP_ROLES} - {Role(r) for r in before if r in set(Role)})


def _view(row: RoleGrant) -> PendingGrant:
    return PendingGrant(row.id, row.user_id, tuple(row.roles.split()), row.reason, row.requested_by, row.requested_at)


class RoleGrants:
    """Role changes, requests and confirmations of GMP role grants (``services.users.grants``)."""

    def __init__(self, users: UserRecords) -> None:
        self.users = users

    def conflicts(self, session: Session) -> dict[str, list[str]]:
        """Active users holding roles one person may not combine (from before the rule), by id."""
        rows = session.scalars(select(UserAccount).where(UserAccount.active.is_(True)).order_by(UserAccount.user_id))
        found = {row.user_id: conflicts(row.roles.split()) for row in rows}
        return {user_id: clash for user_id, clash in found.items() if clash}

    def change(self, session: Session, *, actor: str, row: UserAccount, roles: Iterable[str], reason: str) -> User:
        """Replace ``row``'s roles (audited with the reason and the old and new roles).

        Raises ValidationError when the actor changes their own roles, when the roles
        may not be held by one person or when no reason is given. With four eyes on, a
        change that gives a GMP role is only requested: the returned user still has the
        old roles until a second administrator confirms (:meth:`confirm`).
        """
        if actor.strip().lower() == row.user_id:
            raise ValidationError(
                f"{actor!r} cannot change their own roles; another administrator must do it (segregation of duties)"
            )
        parsed = require_compatible(parse_roles(roles), row.user_id)
        reason = required_reason(reason, "changing roles")
        if self.users.grant_confirmation and adds_gmp_role(row.roles.split(), parsed):
            self.request(session, actor=actor, row=row, roles=parsed, reason=reason)
            return self.users.view(row)
        return self.apply(session, actor=actor, row=row, roles=[r.value for r in parsed], reason=reason)

    def apply(
        self,
        session: Session,
        *,
        actor: str,
        row: UserAccount,
        roles: Iterable[str],
        reason: str,
        requested_by: str | None = None,
    ) -> User:
        """Write a checked role change and its ``user.roles_changed`` event (old and new roles)."""
        parsed = require_compatible(parse_roles(roles), row.user_id)
        if not row.active:
            raise Conflict(f"user {row.user_id!r} is deactivated; their roles cannot change")
        before = row.roles.split()
        row.roles = " ".join(r.value for r in parsed)
        after: dict[str, Any] = {"roles": [r.value for r in parsed]}
        if requested_by is not None:
            after |= {"requested_by": requested_by, "confirmed_by": actor}
        self.users.audit.record(
            session,
            actor=actor,
            action="user.roles_changed",
            entity=Entity("user", row.user_id),
            before={"roles": before},
            after=after,
            reason=reason,
        )
        return self.users.view(row)

    def request(
        self, session: Session, *, actor: str, row: UserAccount, roles: list[Role], reason: str
    ) -> PendingGrant:
        """Record that ``actor`` asks to give ``row`` the role set ``roles`` (audited)."""
        session.execute(
            update(RoleGrant)
            .where(RoleGrant.user_id == row.user_id, RoleGrant.status == PENDING)
            .values(status=SUPERSEDED, decided_by=actor, decided_at=self.users.clock.now())
        )
        grant = RoleGrant(
            id=new_id(),
            user_id=row.user_id,
            roles=" ".join(r.value for r in roles),
            reason=reason,
            requested_by=actor,
            requested_at=self.users.clock.now(),
            status=PENDING,
            decided_by=None,
            decided_at=None,
        )
        session.add(grant)
        session.flush()
        self.users.audit.record(
            session,
            actor=actor,
            action="user.roles_grant_requested",
            entity=Entity("user", row.user_id),
            before={"roles": row.roles.split()},
            after={"roles": [r.value for r in roles], "grant": grant.id},
            reason=reason,
        )
        return _view(grant)

    def pending(self, session: Session) -> list[PendingGrant]:
        """Every grant waiting for a second administrator, oldest first."""
        rows = session.scalars(select(RoleGrant).where(RoleGrant.status == PENDING).order_by(RoleGrant.requested_at))
        return [_view(r) for r in rows]

    def confirm(self, session: Session, *, actor: str, grant_id: str) -> User:
        """A second administrator confirms a pending grant: the roles change (audited with both names).

        Raises NotFound, Conflict (not pending any more) or ValidationError (the requester
        or the person concerned tries to confirm, or the roles are no longer compatible).
        """
        grant = session.get(RoleGrant, grant_id)
        if grant is None:
            raise NotFound(f"no role grant {grant_id!r}; `ebr user grants` lists the pending ones")
        if grant.status != PENDING:
            raise Conflict(f"role grant {grant_id!r} is {grant.status}, not pending; nothing to confirm")
        who = actor.strip().lower()
        if who in {grant.requested_by.strip().lower(), grant.user_id}:
            raise ValidationError(
                f"{actor!r} cannot confirm this grant: a second administrator, neither {grant.requested_by!r} "
                f"nor {grant.user_id!r}, must confirm it (four eyes)"
            )
        row = self.users.row(session, grant.user_id)
        user = self.apply(
            session,
            actor=actor,
            row=row,
            roles=grant.roles.split(),
            reason=grant.reason,
            requested_by=grant.requested_by,
        )
        grant.status, grant.decided_by, grant.decided_at = CONFIRMED, actor, self.users.clock.now()
        return user
