"""Four eyes on a grant of a GMP role (``EBR_ROLE_GRANT_CONFIRMATION``, off by default).

When on, an administrator who gives someone a role that executes or signs GMP
records (operator, supervisor, qa, recipe_author, recipe_approver) only *requests*
it: the grant waits in ``role_grant`` until a second administrator — neither the
requester nor the person concerned — confirms it. Request and confirmation are
audited (``user.roles_grant_requested``, then ``user.roles_changed`` naming both
administrators). A newer request for the same person supersedes a pending one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from audit.chain import Entity
from ebr.errors import Conflict, NotFound, ValidationError
from ebr.ids import new_id
from signatures.models import RoleGrant, UserAccount
from signatures.permissions import GMP_ROLES, Role

if TYPE_CHECKING:
    from signatures.users import User, UserService

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
    """Requests and confirmations of GMP role grants; used by :class:`signatures.users.UserService`."""

    def __init__(self, users: UserService) -> None:
        self.users = users

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
        user = self.users.apply_roles(
            session,
            actor=actor,
            row=row,
            roles=grant.roles.split(),
            reason=grant.reason,
            requested_by=grant.requested_by,
        )
        grant.status, grant.decided_by, grant.decided_at = CONFIRMED, actor, self.users.clock.now()
        return user
