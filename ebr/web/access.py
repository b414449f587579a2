"""Who is asking, and may they: the UI's one adapter to ``ebr.accounts.web_auth``.

Every UI view is declared with :func:`requires` (a permission from the one table in
``signatures.permissions``) or :func:`public`. The action is stored on the view
function so the route × role test can derive the expected allow/deny for every
route from the same table that enforces it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from signatures.permissions import allowed

F = TypeVar("F", bound=Callable[..., Any])

ACTION_ATTR = "ebr_action"
PUBLIC = "public"


def requires(action: str) -> Callable[[F], F]:
    """Log-in and ``action`` are required; enforced by ``ebr.accounts.web_auth.permission_required``."""
    from ebr.accounts import web_auth as auth

    def decorate(view: F) -> F:
        guarded: F = auth.permission_required(action)(view)
        setattr(guarded, ACTION_ATTR, action)
        return guarded

    return decorate


def public(view: F) -> F:
    """Mark a view as reachable without log-in (health, static, login)."""
    setattr(view, ACTION_ATTR, PUBLIC)
    return view


def current_user() -> Any | None:
    """The signed-in user (``UserAccount``-like: ``user_id``, ``full_name``, ``roles``) or None."""
    from ebr.accounts import web_auth as auth

    return auth.current_user()


def role_names(user: Any | None) -> list[str]:
    """The user's role names, whatever shape the roles come in."""
    if user is None:
        return []
    roles: str | Iterable[Any] = getattr(user, "roles", "") or ""
    if isinstance(roles, str):
        return roles.split()
    return [str(r) for r in roles]


def can(action: str) -> bool:
    """True when the signed-in user's roles allow ``action`` (for showing controls)."""
    return allowed(role_names(current_user()), action)


def user_id() -> str:
    """The signed-in user's id; views behind :func:`requires` always have one."""
    user = current_user()
    if user is None:  # pragma: no cover - permission_required redirects before this
        raise RuntimeError("no user signed in")
    return str(user.user_id)
