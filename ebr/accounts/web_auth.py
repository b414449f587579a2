"""Login, logout, password change and the accountability statement; who is signed in.

Other blueprints use :func:`login_required`, :func:`permission_required` and
:func:`current_user`. The browser's (signed, HttpOnly, SameSite) cookie holds only
a random session token; the session itself lives in the database
(:mod:`signatures.sessions`), so logout and the idle timeout really end it, and a
new token is issued at every login (no session fixation).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

from ebr.app import services_of
from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.core.errors import EbrError, SignatureError
from ebr.web import errors
from signatures.accountability import STATEMENT, STATEMENT_VERSION
from signatures.errors import AccountabilityNotAccepted, PasswordRejected, SessionExpired, TooManyAttempts
from signatures.permissions import require
from signatures.users import User

bp = Blueprint("auth", __name__, url_prefix="/auth", template_folder="templates")

F = TypeVar("F", bound=Callable[..., Any])
SESSION_KEY = "ebr_token"  # the session cookie field holding the session token
_UNSET = object()


def _services() -> Services:
    return services_of(current_app)


def _wants_json() -> bool:
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
        services = _services()
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


def _must_change(user: User) -> bool:
    return user.password_expired(_services().clock.now())


def _to_login(message: str | None) -> ResponseReturnValue:
    if _wants_json():
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
        if _must_change(user) and request.endpoint not in {"auth.password", "auth.logout"}:
            if _wants_json():
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


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect would let a phishing link land on our login.
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target.rstrip("?") or "/"
    return "/"


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Log in with user id and password; a new session token every time."""
    if request.method != "POST":
        return render_template("auth/login.html", next=request.args.get("next", ""))
    user_id = (request.form.get("user_id") or "").strip().lower()
    password = request.form.get("password") or ""
    services = _services()
    try:
        with unit_of_work(services.session_factory) as db:
            user = services.users.authenticate(db, user_id, password)
            token = services.users.sessions.start(db, user_id=user.user_id)
    except TooManyAttempts as exc:
        page = render_template("auth/login.html", next=request.form.get("next", ""), error=exc.message)
        return page, 429, {"Retry-After": str(exc.retry_after)}
    except SignatureError as exc:
        # One status and (for every credential failure) one message: nothing tells who exists.
        return render_template("auth/login.html", next=request.form.get("next", ""), error=exc.message), 401
    session.clear()
    session[SESSION_KEY] = token
    g.ebr_user = user
    if _must_change(user):
        flash("Your password must be changed before you continue.", "error")
        return redirect(url_for("auth.password"))
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End the session here and in the database."""
    services = _services()
    with unit_of_work(services.session_factory) as db:
        services.users.sessions.end(db, session.get(SESSION_KEY))
    session.clear()
    flash("You are signed out.", "ok")
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password() -> ResponseReturnValue:
    """Change one's own password (also forced after an admin reset or when it expired)."""
    user = current_user()
    assert user is not None
    if request.method != "POST":
        return render_template("auth/password.html", user=user)
    new = request.form.get("new_password") or ""
    if new != (request.form.get("confirm_password") or ""):
        return render_template("auth/password.html", user=user, error="The two new passwords differ."), 422
    services = _services()
    try:
        with unit_of_work(services.session_factory) as db:
            services.users.change_password(
                db, user_id=user.user_id, old_password=request.form.get("current_password") or "", new_password=new
            )
    except TooManyAttempts as exc:
        page = render_template("auth/password.html", user=user, error=exc.message)
        return page, 429, {"Retry-After": str(exc.retry_after)}
    except (PasswordRejected, SignatureError, EbrError) as exc:
        return render_template("auth/password.html", user=user, error=exc.message), 422
    flash("Your password was changed.", "ok")
    return redirect("/")


@bp.route("/accountability", methods=["GET", "POST"])
@login_required
def accountability() -> ResponseReturnValue:
    """The accountability statement, accepted once before the first signature (21 CFR 11.10(j))."""
    user = current_user()
    assert user is not None
    target = _safe_next(request.values.get("next"))
    if request.method != "POST":
        return render_template(
            "auth/accountability.html", user=user, statement=STATEMENT, version=STATEMENT_VERSION, next=target
        )
    if request.form.get("accept") != "yes":
        error = "Tick the box to accept the statement, or go back."
        return render_template(
            "auth/accountability.html",
            user=user,
            statement=STATEMENT,
            version=STATEMENT_VERSION,
            next=target,
            error=error,
        ), 422
    services = _services()
    with unit_of_work(services.session_factory) as db:
        services.users.accept_accountability(db, user_id=user.user_id)
    flash("Accountability statement accepted.", "ok")
    return redirect(target)


@bp.app_errorhandler(AccountabilityNotAccepted)
def _needs_statement(error: AccountabilityNotAccepted) -> ResponseReturnValue:
    """A signature refused for the missing statement sends the user to accept it, then back."""
    back = _safe_next(urlsplit(request.referrer or "/").path)
    target = url_for("auth.accountability", next=back)
    if _wants_json():
        return errors.json_error(type(error).__name__, error.message, 403, accountability_url=target)
    if request.headers.get("HX-Request"):
        return "", 403, {"HX-Redirect": target}  # htmx follows this with a full page load
    flash(error.message, "error")
    return redirect(target)


@bp.app_context_processor
def _auth_context() -> dict[str, Any]:
    # Our pages extend the UI's base template when the UI shell is installed.
    has_shell = "ui.static" in current_app.view_functions
    return {"auth_base": "base.html" if has_shell else "auth/minimal.html"}
