"""Administration: users, roles (and the grants waiting for a second administrator), unlock,
deactivate, password reset, and the identity check (21 CFR 11.100(b)) at creation or later.

Every change goes through ``services.users`` (which audits it with the reason) and
redirects back (post/redirect/get: a reload never repeats the change).
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ebr.web import access
from ebr.web.helpers import field, read, services, work
from signatures.permissions import Role
from signatures.users import UserService

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")


def _users() -> UserService:
    return services().users


@bp.get("/users")
@access.requires("user.manage")
def users() -> ResponseReturnValue:
    """Every user with status, roles and the actions an admin can take."""
    with read() as session:
        people = _users().list(session)
        waiting = _users().grants.pending(session)
    return render_template("admin/users.html", users=people, roles=list(Role), grants=waiting, me=access.user_id())


@bp.post("/users")
@access.requires("user.manage")
def create_user() -> ResponseReturnValue:
    """Create a local user; the temporary password is shown once and must be changed at first login.

    How the administrator checked the person's identity is recorded as ``ebr user add
    --identity-checked`` records it; left empty, the user cannot sign until it is recorded.
    """
    roles = request.form.getlist("roles")
    how = field("identity_check", "How you verified the identity", required=False) or None
    with work() as session:
        user = _users().create(
            session,
            actor=access.user_id(),
            user_id=field("user_id", "User id"),
            full_name=field("full_name", "Full name"),
            roles=roles,
            identity_check=how,
        )
        temporary = _users().reset_password(session, actor=access.user_id(), user_id=user.user_id, reason="new user")
    flash(f"User {user.user_id} created. Temporary password (shown once): {temporary}")
    if how is None:
        flash(f"The identity of {user.user_id} is not yet verified: record how before they sign.")
    if sorted(str(r) for r in user.roles) != sorted(set(roles)):
        flash(f"The GMP roles of {user.user_id} wait for a second administrator to confirm them.")
    return redirect(url_for("admin.users"))


@bp.post("/users/<user_id>/unlock")
@access.requires("user.unlock")
def unlock(user_id: str) -> ResponseReturnValue:
    """Unlock a locked account, with a reason."""
    with work() as session:
        _users().unlock(session, actor=access.user_id(), user_id=user_id, reason=field("reason", "Reason"))
    flash(f"User {user_id} unlocked.")
    return redirect(url_for("admin.users"))


@bp.post("/users/<user_id>/deactivate")
@access.requires("user.manage")
def deactivate(user_id: str) -> ResponseReturnValue:
    """Deactivate an account (never deleted: ids are not reused); ends its sessions."""
    with work() as session:
        _users().deactivate(session, actor=access.user_id(), user_id=user_id, reason=field("reason", "Reason"))
    flash(f"User {user_id} deactivated.")
    return redirect(url_for("admin.users"))


@bp.post("/users/<user_id>/identity")
@access.requires("user.manage")
def verify_identity(user_id: str) -> ResponseReturnValue:
    """Record that the administrator verified the person's identity, and how (11.100(b))."""
    with work() as session:
        _users().verify_identity(
            session, actor=access.user_id(), user_id=user_id, how=field("how", "How you verified the identity")
        )
    flash(f"Identity of {user_id} recorded as verified.")
    return redirect(url_for("admin.users"))


@bp.post("/users/<user_id>/roles")
@access.requires("user.manage")
def set_roles(user_id: str) -> ResponseReturnValue:
    """Replace a user's roles, with a reason."""
    wanted = request.form.getlist("roles")
    with work() as session:
        user = _users().set_roles(
            session, actor=access.user_id(), user_id=user_id, roles=wanted, reason=field("reason", "Reason")
        )
    if sorted(str(r) for r in user.roles) != sorted(set(wanted)):
        flash(f"The roles of {user_id} wait for a second administrator to confirm them.")
    else:
        flash(f"Roles of {user_id} changed.")
    return redirect(url_for("admin.users"))


@bp.post("/grants/<grant_id>/confirm")
@access.requires("user.manage")
def confirm_grant(grant_id: str) -> ResponseReturnValue:
    """A second administrator confirms a grant of a GMP role (four eyes)."""
    with work() as session:
        user = _users().grants.confirm(session, actor=access.user_id(), grant_id=grant_id)
    flash(f"Roles of {user.user_id} changed: {', '.join(user.roles)}.")
    return redirect(url_for("admin.users"))


@bp.post("/users/<user_id>/reset-password")
@access.requires("user.manage")
def reset_password(user_id: str) -> ResponseReturnValue:
    """Set a one-time password the user must change at the next login."""
    with work() as session:
        temporary = _users().reset_password(
            session, actor=access.user_id(), user_id=user_id, reason=field("reason", "Reason")
        )
    flash(f"Temporary password for {user_id} (shown once): {temporary}")
    return redirect(url_for("admin.users"))
