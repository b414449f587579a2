"""Login, logout, password change and the accountability statement.

Who is signed in (:func:`current_user`, :func:`login_required`, :func:`permission_required`)
is ``ebr.web.access``, shared by every feature; this module only starts, changes and ends
sessions. A new token is issued at every login (no session fixation).
"""

from __future__ import annotations

from typing import Any
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

from ebr.core.db import unit_of_work
from ebr.core.errors import EbrError, SignatureError
from ebr.web import errors, registry
from ebr.web.access import SESSION_KEY, current_user, login_required, must_change_password, wants_json
from signatures.accountability import STATEMENT, STATEMENT_VERSION
from signatures.errors import AccountabilityNotAccepted, PasswordRejected, TooManyAttempts

bp = Blueprint("auth", __name__, url_prefix="/auth", template_folder="templates")


def safe_next(target: str | None) -> str:
    """``target`` when it is a path on this site, else ``"/"``.

    An open redirect would let a phishing link land on our login or statement page and go on
    to another site. Browsers read ``\\`` as ``/`` and drop tabs and newlines, so ``/\\host``
    and ``/\t/host`` are another host to them: any backslash or control character is refused.
    """
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and target.isprintable()
        and not urlsplit(target).netloc
    ):
        return target.rstrip("?") or "/"
    return "/"


@bp.app_template_global()
def here() -> str:
    """The page the user is looking at, as a local path: a signing form carries it as ``next``.

    A fragment loaded by htmx is rendered for another URL; htmx names the page in the
    ``HX-Current-URL`` header (the Referer is never sent: ``Referrer-Policy: no-referrer``).
    """
    current = request.headers.get("HX-Current-URL") if request.headers.get("HX-Request") else None
    if current:
        parts = urlsplit(current)
        return safe_next(parts.path + (f"?{parts.query}" if parts.query else ""))
    return safe_next(request.full_path)


def _way_back() -> str:
    # The page the signing form was on: its ``next`` field, else (htmx) the page htmx names,
    # else the page itself when it was a GET.
    sent = request.values.get("next")
    if sent:
        return safe_next(sent)
    if request.headers.get("HX-Request") or request.method == "GET":
        return here()
    return "/"


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Log in with user id and password; a new session token every time."""
    if request.method != "POST":
        return render_template("auth/login.html", next=request.args.get("next", ""))
    user_id = (request.form.get("user_id") or "").strip().lower()
    password = request.form.get("password") or ""
    services = registry.services()
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
    if must_change_password(user):
        flash("Your password must be changed before you continue.", "error")
        return redirect(url_for("auth.password"))
    return redirect(safe_next(request.form.get("next")))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End the session here and in the database."""
    services = registry.services()
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
    services = registry.services()
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
    target = safe_next(request.values.get("next"))
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
    services = registry.services()
    with unit_of_work(services.session_factory) as db:
        services.users.accept_accountability(db, user_id=user.user_id)
    flash("Accountability statement accepted.", "ok")
    return redirect(target)


@bp.app_errorhandler(AccountabilityNotAccepted)
def _needs_statement(error: AccountabilityNotAccepted) -> ResponseReturnValue:
    """A signature refused for the missing statement sends the user to accept it, then back.

    When the statement missing is a co-signer's, the person signed in cannot accept it for
    them: the refusal is shown as it is, naming the co-signer, who accepts it at their own login.
    """
    user = current_user()
    if error.user_id is not None and (user is None or user.user_id != error.user_id):
        return errors.ebr_error(error)
    target = url_for("auth.accountability", next=_way_back())
    if wants_json():
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
