"""Pages under /training/: curricula and requirements, the qualification matrix (who on the
shift is qualified for what), a person's trainings, and the training record form, which the
trainer fills in and the trainee signs ("trained") with their own password.

Reading needs ``training.view``; recording ``training.record`` (supervisor, QA); curricula and
requirements ``training.manage`` (QA).
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ebr.core.errors import ValidationError
from ebr.training import rules
from ebr.training.services import LATE_ENTRY_DAYS, TrainingService, build
from ebr.web import access
from ebr.web.helpers import field, read, services, work
from signatures.permissions import Role

bp = Blueprint("training", __name__, url_prefix="/training", template_folder="templates")

# The people the matrix shows by default: those who execute and verify steps.
SHIFT_ROLES = (Role.operator.value, Role.supervisor.value)


def training() -> TrainingService:
    return build(services())


def _day(name: str, label: str, *, required: bool) -> dt.date | None:
    raw = field(name, label, required=required)
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ValidationError(f"{label} {raw!r} is not a date; use YYYY-MM-DD") from None


@bp.get("/")
@access.requires("training.view")
def index() -> ResponseReturnValue:
    """Curricula, requirements and the newest training records."""
    svc = training()
    with read() as session:
        curricula = svc.curricula(session)
        requirements = svc.requirements(session)
        recent = svc.records(session)[:50]
        expiring = svc.expiring(session, within_days=30)
    return render_template(
        "training/index.html", curricula=curricula, requirements=requirements, recent=recent, expiring=expiring,
        kinds=[k.value for k in rules.RequirementKind], today=svc.today(),
    )  # fmt: skip


@bp.get("/matrix")
@access.requires("training.view")
def matrix() -> ResponseReturnValue:
    """Who is qualified for what: active operators and supervisors (``?role=`` another role) by curriculum."""
    role = request.args.get("role") or ""
    roles = (role,) if role else SHIFT_ROLES
    svc = training()
    with read() as session:
        people = [u.user_id for u in services().users.list(session) if u.active and set(roles) & set(u.roles)]
        rows = svc.standing_of(session, people)
        curricula = svc.curricula(session)
        requirements = svc.requirements(session)
    needed_for: dict[str, list[str]] = {}
    for r, c in requirements:
        needed_for.setdefault(c.name, []).append(
            rules.Need(c.name, rules.RequirementKind(r.kind), r.target, r.unit).what()
        )
    return render_template(
        "training/matrix.html", rows=rows, curricula=curricula, needed_for=needed_for, role=role,
        roles=[r.value for r in Role],
    )  # fmt: skip


@bp.get("/people/<user_id>")
@access.requires("training.view")
def person(user_id: str) -> ResponseReturnValue:
    """One person's standing on every curriculum and their training records."""
    svc = training()
    with read() as session:
        standing = svc.standing_of(session, [user_id.lower()])[0]
        records = svc.records(session, trainee=user_id)
    return render_template("training/person.html", p=standing, records=records)


@bp.get("/records/new")
@access.requires("training.record")
def record_form() -> ResponseReturnValue:
    """The training record form: the trainer fills it in, the trainee signs."""
    svc = training()
    with read() as session:
        curricula = svc.curricula(session)
        people = [u for u in services().users.list(session) if u.active]
    return render_template(
        "training/record_form.html", curricula=curricula, people=people, me=access.user_id(), today=svc.today(),
        late_days=LATE_ENTRY_DAYS, chosen=request.args.get("curriculum", ""), trainee=request.args.get("trainee", ""),
    )  # fmt: skip


@bp.post("/records")
@access.requires("training.record")
def record() -> ResponseReturnValue:
    """Record the training with the trainee's "trained" signature (audited)."""
    trainee = field("trainee", "Trainee").lower()
    curriculum = field("curriculum", "Curriculum")
    with work() as session:
        training().record_training(
            session,
            actor=access.user_id(),
            curriculum=curriculum,
            trainee=trainee,
            trainer=field("trainer", "Trainer", required=False) or None,
            trained_on=_day("trained_on", "Training date", required=True) or dt.date.min,
            expires_on=_day("expires_on", "Expires on", required=False),
            comment=field("comment", "Comment", required=False),
            signer=field("sig_user", "Trainee's user id").lower(),
            password=request.form.get("sig_password") or "",
        )
    flash(f"Training of {trainee} on {curriculum} recorded and signed by {trainee}.")
    return redirect(url_for("training.person", user_id=trainee))


@bp.post("/curricula")
@access.requires("training.manage")
def add_curriculum() -> ResponseReturnValue:
    """Add a curriculum (QA)."""
    raw_days = field("validity_days", "Valid for (days)", required=False)
    if raw_days and not raw_days.isdigit():
        raise ValidationError(f"Valid for {raw_days!r} is not a number of days; leave it empty for no expiry")
    sops = [s.strip() for s in field("sops", "SOPs", required=False).replace(",", "\n").splitlines() if s.strip()]
    name = field("name", "Name")
    with work() as session:
        training().add_curriculum(
            session, actor=access.user_id(), name=name, description=field("description", "Description", required=False),
            sops=sops, validity_days=int(raw_days) if raw_days else None,
        )  # fmt: skip
    flash(f"Curriculum {name} added.")
    return redirect(url_for("training.index"))


@bp.post("/requirements")
@access.requires("training.manage")
def add_requirement() -> ResponseReturnValue:
    """Require a curriculum for a phase type (optionally on a unit), a recipe or a unit (QA)."""
    with work() as session:
        training().add_requirement(
            session, actor=access.user_id(), curriculum=field("curriculum", "Curriculum"), kind=field("kind", "Kind"),
            target=field("target", "Phase type, recipe or unit"), unit=field("unit", "Unit", required=False) or None,
        )  # fmt: skip
    flash("Requirement added.")
    return redirect(url_for("training.index"))


@bp.post("/requirements/<requirement_id>/removal")
@access.requires("training.manage")
def remove_requirement(requirement_id: str) -> ResponseReturnValue:
    """Remove a requirement with a reason (QA)."""
    with work() as session:
        training().remove_requirement(
            session, actor=access.user_id(), requirement_id=requirement_id, reason=field("reason", "Reason")
        )
    flash("Requirement removed.")
    return redirect(url_for("training.index"))
