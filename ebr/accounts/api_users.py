"""``/api/users``: the administrator's operations on people (list, create, roles, deactivate).

The same rules as the CLI and the admin pages, enforced by ``signatures.users``:
nobody changes their own roles, roles one person may not hold together are refused
(segregation of duties), a GMP role may wait for a second administrator's
confirmation, every change has a reason and is audited, ids are never reused.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from ebr.api.common import actor, blueprint, services, work
from ebr.api.schemas import Strict
from ebr.web import access
from signatures.permissions import Role
from signatures.users import User

blp = blueprint("api_users", "/api/users", "Users and roles (administrators)")

ROLE_NAMES = [r.value for r in Role]


class PersonOut(ma.Schema):
    user_id = fields.String()
    full_name = fields.String()
    roles = fields.List(fields.String())
    source = fields.String()
    active = fields.Boolean()
    locked = fields.Boolean()
    must_change_password = fields.Boolean()
    pending_roles = fields.Boolean(
        dump_default=False, metadata={"description": "true when GMP roles wait for a second administrator"}
    )


class CreatedOut(PersonOut):
    temporary_password = fields.String(metadata={"description": "shown once; to be changed at first log-in"})


class CreateIn(Strict):
    user_id = fields.String(required=True, validate=validate.Length(min=2, max=64))
    full_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    roles = fields.List(fields.String(validate=validate.OneOf(ROLE_NAMES)), load_default=list)


class RolesIn(Strict):
    roles = fields.List(fields.String(validate=validate.OneOf(ROLE_NAMES)), required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class ReasonIn(Strict):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


def _person(user: User, wanted: list[str] | None = None) -> dict[str, Any]:
    roles = [str(r) for r in user.roles]
    pending = wanted is not None and sorted(roles) != sorted(set(wanted))
    return {
        "user_id": user.user_id,
        "full_name": user.full_name,
        "roles": roles,
        "source": user.source,
        "active": user.active,
        "locked": user.locked,
        "must_change_password": user.must_change_password,
        "pending_roles": pending,
    }


@blp.route("", methods=["GET"])
@access.requires("user.manage")
@blp.response(200, PersonOut(many=True))
def list_() -> list[dict[str, Any]]:
    """Every user, active or not, by id."""
    with work() as session:
        return [_person(u) for u in services().users.list(session)]


@blp.route("", methods=["POST"])
@access.requires("user.manage")
@blp.arguments(CreateIn)
@blp.response(201, CreatedOut)
def create(data: dict[str, Any]) -> dict[str, Any]:
    """Create a local user with a one-time password (returned once) to change at first log-in."""
    users = services().users
    with work() as session:
        user = users.create(
            session, actor=actor(), user_id=data["user_id"], full_name=data["full_name"], roles=data["roles"]
        )
        temporary = users.reset_password(session, actor=actor(), user_id=user.user_id, reason="new user")
        return {**_person(users.get(session, user.user_id), data["roles"]), "temporary_password": temporary}


@blp.route("/<user_id>", methods=["GET"])
@access.requires("user.manage")
@blp.response(200, PersonOut)
def get(user_id: str) -> dict[str, Any]:
    """One user."""
    with work() as session:
        return _person(services().users.get(session, user_id.strip().lower()))


@blp.route("/<user_id>/roles", methods=["PUT"])
@access.requires("user.manage")
@blp.arguments(RolesIn)
@blp.response(200, PersonOut)
def set_roles(data: dict[str, Any], user_id: str) -> dict[str, Any]:
    """Replace a user's roles, with a reason (never your own; incompatible roles refused)."""
    with work() as session:
        user = services().users.set_roles(
            session, actor=actor(), user_id=user_id.strip().lower(), roles=data["roles"], reason=data["reason"]
        )
        return _person(user, data["roles"])


@blp.route("/<user_id>/deactivate", methods=["POST"])
@access.requires("user.manage")
@blp.arguments(ReasonIn)
@blp.response(200, PersonOut)
def deactivate(data: dict[str, Any], user_id: str) -> dict[str, Any]:
    """Deactivate a user for good (the id stays reserved) and end their sessions."""
    with work() as session:
        return _person(
            services().users.deactivate(session, actor=actor(), user_id=user_id.strip().lower(), reason=data["reason"])
        )
