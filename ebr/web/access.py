"""Who is asking, and may they: every feature's one adapter to the signed-in user.

Every UI view is declared with :func:`requires` (a permission from the one table in
``signatures.permissions``) or :func:`public`. The action is stored on the view
function so the route × role test can derive the expected allow/deny for every
route from the same table that enforces it.

The browser's (signed, HttpOnly, SameSite) cookie holds only a random session token;
the session itself lives in the database (:mod:`signatures.sessions`), so logout and the
idle timeout really end it. Logging in and out are pages of ``ebr.accounts.web_auth``;
resolving the user lives here because every feature needs it (it was in the login module,
which made the shared access module import a page module and back: an import circle).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import flash, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue

from ebr.core.db import unit_of_work
from ebr.web import errors, registry
from signatures.errors import SessionExpired
from signatures.identity import User
from signatures.permissions import allowed, require

F = TypeVar("F", bound=Callable[..., Any])
SESSION_KEY = "ebr_token"  # the session cookie field holding the session token
_UNSET = object()


def wants_json() -> bool:
    """True for an API call or a client that prefers JSON (it gets a JSON error, not a redirect)."""
    if request.path.startswith("/api/") or request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json"


def current_user() -> User | None:
    """The signed-in user of this request (None when nobody is, or the session ended).

    Resolving it touches the session (idle timer); an idle or ended session is
    closed and the reason kept in ``g.ebr_session_ended`` for the login page.
    """
    cached = g.get("ebr_user", _UNSET)
    if cached is not _UNSET:
        return cached  # type: ignore[no-any-return]
    user: User | None = None
    token = session.get(SESSION_KEY)
    if token:
        services = registry.services()
        with unit_of_work(services.session_factory) as db:
            try:
                user_id = services.users.sessions.resume(db, token)
                user = services.users.get(db, user_id)
            except SessionExpired as exc:
                g.ebr_session_ended = exc.message  # committed: the end of the session is recorded
        if user is None:
            session.pop(SESSION_KEY, None)
    g.ebr_user = user
    return user


def must_change_password(user: User) -> bool:
    """The user's password expired (or was reset by an admin): only the password page is open."""
    return user.password_expired(registry.services().clock.now())


def _to_login(message: str | None) -> ResponseReturnValue:
    if wants_json():
        return errors.json_error("SessionExpired", message or "log in first", 401)
    if message:
        flash(message, "error")
    return redirect(url_for("auth.login", next=request.full_path if request.method == "GET" else None))


def login_required(view: F) -> F:
    """Only for a signed-in user whose password is current (else: login / password change)."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        user = current_user()
        if user is None:
            return _to_login(g.get("ebr_session_ended"))
        if must_change_password(user) and request.endpoint not in {"auth.password", "auth.logout"}:
            if wants_json():
                message = "change your password first (on the password page or with `ebr user password`)"
                return errors.json_error("PasswordExpired", message, 403)
            flash("Your password must be changed before you continue.", "error")
            return redirect(url_for("auth.password"))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def permission_required(action: str) -> Callable[[F], F]:
    """Signed in, and one of the user's roles allows ``action`` (else NotPermitted → 403)."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            assert user is not None  # login_required ran first
            require(user.roles, action)
            return view(*args, **kwargs)

        return login_required(wrapped)  # type: ignore[return-value]

    return decorate


ACTION_ATTR = "ebr_action"
PUBLIC = "public"


def requires(action: str) -> Callable[[F], F]:
    """Log-in and ``action`` are required; enforced by :func:`permission_required`."""

    def decorate(view: F) -> F:
        guarded: F = permission_required(action)(view)
        setattr(guarded, ACTION_ATTR, action)
        return guarded

    return decorate


def public(view: F) -> F:
    """Mark a view as reachable without log-in (health, static, login)."""
    setattr(view, ACTION_ATTR, PUBLIC)
    return view


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
