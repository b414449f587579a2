"""The execution view: a batch's steps, the current step's instruction and entry fields,
live equipment values, and the signing dialog.

Views parse, authorize, call one engine function in one unit of work and render the
step panel again (htmx swaps it: no full page reload while executing). Every form
carries the step's optimistic ``version``: a second submission of the same form, or a
colleague's change in between, is refused by the engine (Conflict) and shown in the
panel; nothing is recorded twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from ebr.core.clock import to_rfc3339
from ebr.core.errors import EbrError, ValidationError
from ebr.execution import commands, deviations, engine, numbers, readiness, refusals, rules, samples
from ebr.execution import view_recording as recording
from ebr.execution.context import Context
from ebr.execution.models import Batch, BatchStep, Deviation, RecordSignature, SampleResult, StepEntry
from ebr.execution.service import Execution
from ebr.execution.stepstate import TimedHoldState, state_of
from ebr.execution.turn import current_of
from ebr.execution.view_entries import EntryHistory, history
from ebr.execution.view_weighing import ContainerChoice, containers_to_scan
from ebr.materials.services import Credentials
from ebr.web import access, helpers
from ebr.web.errors import status_for
from ebr.web.helpers import execution, read, version_field, work
from recipes.model import Phase
from recipes.phases import Sample, TimedHold, WeighDispense
from recipes.states import Command, State

bp = Blueprint("execute", __name__, url_prefix="/batches", template_folder="templates")


@bp.app_template_filter("num")
def plant_number(value: object) -> str:
    """A number on the operator's pages in the plant's locale (``24,5`` under de_DE); see ``numbers.display``."""
    return "" if value is None else numbers.display(value, helpers.services().settings.plant_locale)


@bp.app_template_filter("entry_value")
def entry_value(entry: StepEntry) -> str:
    """A recorded value as the operator reads it: measured quantities in the plant's locale, ids and text as stored."""
    if entry.unit or entry.in_limits is not None:
        return plant_number(entry.value)
    return entry.value


# Values a form may send to ``engine.record``, per phase type (anything else is ignored).
RECORD_FIELDS = ("value", "container", "tare", "weigh", "sample_id", "confirmed")
BATCH_COMMANDS = ("hold", "restart", "stop", "abort")
CLOSED_STATES = (State.COMPLETE.value, State.ABORTED.value, State.STOPPED.value)


@dataclass
class StepView:
    """Everything the step panel shows."""

    batch: Batch
    step: BatchStep
    phase: Phase
    entries: dict[str, StepEntry]
    signatures: list[RecordSignature]
    deviations: list[Deviation]
    meanings: tuple[str, ...]
    error: EbrError | None = None
    notice: str = ""
    content: dict[str, Any] = field(default_factory=dict)
    history: EntryHistory = field(default_factory=EntryHistory)
    results: list[tuple[samples.Spec, SampleResult | None]] = field(default_factory=list)
    confirm: recording.OutOfLimits | None = None
    blockers: list[str] = field(default_factory=list)
    containers: list[ContainerChoice] = field(default_factory=list)

    @property
    def phase_ref(self) -> str:
        return f"{self.batch.id}:{self.step.path}"

    @property
    def commands(self) -> list[str]:
        """The commands this phase's state allows (ISA-88 table), lower case."""
        return [c.value.lower() for c in commands.allowed_phase_commands(self.step)]

    @property
    def restart_needs_signature(self) -> bool:
        """A phase held by the equipment (trip, alarm) restarts only with a supervisor's signature."""
        return commands.needs_restart_signature(self.step)

    @property
    def hold_ends_at(self) -> str:
        """When a running timed hold reaches its minimum (RFC 3339), for the countdown."""
        params = self.phase.params
        if not isinstance(params, TimedHold):
            return ""
        started = state_of(self.step, TimedHoldState).hold_started_at
        if started is None:
            return ""
        seconds = rules.hold_seconds(Decimal(str(params.min_duration)), params.unit)
        return to_rfc3339(started + dt.timedelta(milliseconds=int(seconds * 1000)))


def step_view(session: Session, ctx: Context, number: str, path: str) -> StepView:
    """The panel of step ``path`` of batch ``number`` (loading the batch and the step)."""
    batch = ctx.batch(session, number)
    return panel(session, ctx, batch, ctx.step(session, batch, path), deviations.for_batch(session, batch))


def panel(session: Session, ctx: Context, batch: Batch, step: BatchStep, batch_deviations: list[Deviation]) -> StepView:
    """The panel of ``step`` from rows the caller loaded once for the whole page (batch, deviations)."""
    path = step.path
    plan = ctx.plan(session, batch)
    phase = plan.phase(path)
    lines = history(session, batch, step)
    # The step's current entries from the same rows the history shows (one query, the engine's rule).
    entries = current_of(step, (line.entry for line in lines.lines))
    view = StepView(
        batch,
        step,
        phase,
        entries,
        ctx.signatures_of(session, "batch_step", step.id),
        [d for d in batch_deviations if d.step_path == path],
        engine.required_meanings(phase),
        history=lines,
    )
    if isinstance(phase.params, Sample) and phase.params.wait_for_result:
        have = samples.results_of(session, step)
        view.results = [(spec, have.get(spec.test)) for spec in samples.specifications(plan, path)]
    view.blockers = readiness.completion_blockers(session, ctx, batch, step, phase)
    if isinstance(phase.params, WeighDispense) and "container" not in entries:
        view.containers = containers_to_scan(session, phase.params.material, ctx.clock.now().date())
    # Exactly what the engine signs, shown in the dialog before signing.
    view.content = engine.signed_content(batch, step, {e.name: e.value for e in entries.values()})
    return view


def batch_tree(session: Session, batch: Batch) -> list[BatchStep]:
    """All steps of the batch in procedural order (by path, numerically)."""
    rows = list(session.scalars(select(BatchStep).where(BatchStep.batch_id == batch.id)))
    return sorted(rows, key=lambda r: [int(p) if p.isdigit() else p for p in r.path.split(".")])


def work_area(
    session: Session,
    ctx: Context,
    number: str,
    *,
    path: str = "",
    error: EbrError | None = None,
    notice: str = "",
    confirm: recording.OutOfLimits | None = None,
) -> dict[str, Any]:
    """The batch's working area: step list, panels of ready or running phases, deviations."""
    found = ctx.batch(session, number)
    steps = batch_tree(session, found)
    devs = deviations.for_batch(session, found)
    # The batch, its steps and its deviations are read once for every panel on the page.
    active = [
        panel(session, ctx, found, s, devs)
        for s in steps
        if s.level == "phase" and s.ready and s.state not in CLOSED_STATES
    ]
    for view in active:
        if view.step.path == path:
            view.error, view.notice, view.confirm = error, notice, confirm
    # A step that just completed has no panel any more: its message goes above the panels.
    placed = any(v.step.path == path for v in active)
    return {
        "batch": found,
        "batch_commands": [c.value.lower() for c in commands.allowed_batch_commands(found)],
        "steps": steps,
        "active": active,
        "deviations": devs,
        "error": None if placed else error,
        "notice": "" if placed else notice,
    }


def _work(
    number: str,
    path: str,
    *,
    error: EbrError | None = None,
    notice: str = "",
    confirm: recording.OutOfLimits | None = None,
) -> ResponseReturnValue:
    with read() as session:
        area = work_area(session, execution().ctx, number, path=path, error=error, notice=notice, confirm=confirm)
    if confirm is not None and not request.headers.get("HX-Request"):
        return render_template("execute/batch.html", **area)
    return render_template("execute/_work.html", oob=True, **area), status_for(error) if error else 200


def _act(
    number: str,
    path: str,
    action: Callable[[Session, Execution], Any],
    notice: str | Callable[[Any], str],
    values: dict[str, str] | None = None,
    *,
    panel_only: Callable[[Any], bool] | None = None,
) -> ResponseReturnValue:
    """Run ``action`` in one unit of work; answer with the re-rendered work area (with the refusal, if any).

    ``notice`` is the success message, or a function of the action's result that words it.
    An equipment or material refusal is audited afterwards, in its own transaction.
    ``panel_only`` says from the result when nothing but the step's own panel changed:
    then only that panel is rendered and swapped.
    """
    try:
        with work() as session:
            result = action(session, execution())
            if callable(notice):
                notice = notice(result)
            only_the_panel = panel_only is not None and panel_only(result)
    except EbrError as error:
        if isinstance(error, recording.OutOfLimits):
            raise  # not a refusal: the record view asks "re-enter or record as deviation"
        if (kind := refusals.kind_of(error, values)) is not None:
            with work() as session:
                execution().record_refusal(
                    session, actor=access.user_id(), ref=number, path=path, kind=kind, message=error.message
                )
        if not request.headers.get("HX-Request"):
            raise
        return _work(number, path, error=error)
    if not request.headers.get("HX-Request"):
        # A plain form post (a scanner's Enter before htmx took the new form over, or no
        # JavaScript): the same action, then the whole page with the same message.
        flash(notice)
        return redirect(url_for("execute.batch", number=number, _anchor=f"step-{path}"))
    if only_the_panel:
        return _panel(number, path, notice)
    return _work(number, path, notice=notice)


def _panel(number: str, path: str, notice: str) -> ResponseReturnValue:
    """Only the step's own panel, swapped in place of the work area (htmx's ``HX-Retarget``).

    For an action that changed nothing outside the step (a value recorded, no deviation,
    the step still running): the step list, the other panels and the deviations stay as
    they are on the page, and the server renders one panel instead of the whole batch.
    """
    with read() as session:
        view = step_view(session, execution().ctx, number, path)
    view.notice = notice
    retarget = {"HX-Retarget": f"#step-{path.replace('.', '-')}", "HX-Reswap": "outerHTML"}
    return render_template("execute/_step.html", v=view), 200, retarget


@bp.get("/<number>")
@access.requires("batch.view")
def batch(number: str) -> ResponseReturnValue:
    """The batch: header, commands, the step list and the panels of the steps that are ready or running."""
    with work() as session:
        # Automated phases and holds are brought up to date first (as the batch_sync job does).
        execution().sync(session, number)
    if request.headers.get("HX-Request"):
        return _work(number, "")
    with read() as session:
        area = work_area(session, execution().ctx, number)
    return render_template("execute/batch.html", **area)


@bp.get("/<number>/steps/<path:path>")
@access.requires("batch.view")
def step(number: str, path: str) -> ResponseReturnValue:
    """One step on its own page: its entries, signatures and deviations (a link target from reviews)."""
    with read() as session:
        view = step_view(session, execution().ctx, number, path)
    return render_template("execute/step_page.html", v=view)


@bp.post("/<number>/start")
@access.requires("batch.execute")
def start_batch(number: str) -> ResponseReturnValue:
    """Start a batch released to the floor."""
    with work() as session:
        execution().start_batch(session, actor=access.user_id(), ref=number, version=version_field())
    return redirect(url_for("execute.batch", number=number))


PAST = {"hold": "held", "restart": "restarted", "stop": "stopped", "abort": "aborted"}
RESULT = {
    "hold": "its running steps are held; restart the batch to continue",
    "restart": "its steps held with it run again",
    "stop": "it has ended and goes to QA review as a stopped batch",
    "abort": "it has ended and goes to QA, who can only reject it",
}


def command_signature(command: str, what: str) -> Credentials | None:
    """The command form's confirmation and e-signature (stop and abort need both; restart may carry one)."""
    meaning = commands.SIGNED_MEANING.get(Command(command.capitalize()))
    if meaning is not None:
        if (request.form.get("confirm") or "").strip() != what:
            raise ValidationError(f"tick the box that confirms you {command} {what}, then sign")
    elif command == "restart" and request.form.get("sig_password"):
        meaning = commands.RESTART_MEANING
    if meaning is None:
        return None
    return Credentials(
        user_id=helpers.field("sig_user", "User id").lower(),
        password=helpers.field("sig_password", "Password"),
        meaning=meaning,
    )


def _command_view(command: str) -> Callable[[str], ResponseReturnValue]:
    def view(number: str) -> ResponseReturnValue:
        reason = (request.form.get("reason") or "").strip()
        signature = command_signature(command, f"batch {number}")
        with work() as session:
            execution().command_batch(
                session,
                actor=access.user_id(),
                ref=number,
                command=command,
                version=version_field(),
                reason=reason or None,
                signature=signature,
            )
        flash(f"Batch {number} {PAST[command]}{f' ({reason})' if reason else ''}: {RESULT[command]}.")
        return redirect(url_for("execute.batch", number=number))

    view.__name__ = f"command_{command}"
    view.__doc__ = f"{command.capitalize()} the batch (its running phases follow)."
    return view


for _command in BATCH_COMMANDS:
    bp.add_url_rule(
        f"/<number>/{_command}",
        endpoint=f"command_{_command}",
        view_func=access.requires(f"batch.command.{_command}")(_command_view(_command)),
        methods=["POST"],
    )


@bp.post("/<number>/steps/<path:path>/start")
@access.requires("batch.execute")
def start_step(number: str, path: str) -> ResponseReturnValue:
    """Start a ready step."""
    version = version_field()

    def action(session: Session, ex: Execution) -> Any:
        return ex.start_step(session, actor=access.user_id(), ref=number, path=path, version=version)

    return _act(number, path, action, "Step started.")


@bp.post("/<number>/steps/<path:path>/record")
@access.requires("batch.execute")
def record(number: str, path: str) -> ResponseReturnValue:
    """Record values on a running step (an entry, a scanned container, tare, weigh, sample id)."""
    values = {name: request.form[name].strip() for name in RECORD_FIELDS if name in request.form}
    version = version_field()
    confirmed = request.form.get(recording.CONFIRM_FIELD) == recording.CONFIRM_VALUE
    locale = helpers.services().settings.plant_locale

    def action(session: Session, ex: Execution) -> Any:
        ready = recording.prepare(session, ex, number=number, path=path, values=values, locale=locale)
        return ex.record(
            session, actor=access.user_id(), ref=number, path=path, values=ready, version=version, confirmed=confirmed
        )

    def only_the_step(outcome: engine.StepOutcome) -> bool:
        return not outcome.deviations and outcome.step.state == State.RUNNING.value

    try:
        return _act(number, path, action, "Recorded.", values, panel_only=only_the_step)
    except recording.OutOfLimits as question:
        return _work(number, path, confirm=question)


def credentials_from_form(meanings: tuple[str, ...] | list[str]) -> list[Credentials]:
    """The signing dialog's user id and password for each meaning."""
    given = []
    for meaning in meanings:
        user_id = (request.form.get(f"sig_{meaning}_user") or "").strip().lower()
        password = request.form.get(f"sig_{meaning}_password") or ""
        if user_id and password:
            given.append(Credentials(user_id=user_id, password=password, meaning=meaning))
        elif meaning == engine.LATER and (user_id or password):
            # Half a verification is not "verify later": say so instead of completing without it.
            raise ValidationError(
                "the 'verified' signature needs both the verifier's user id and password; "
                "or leave both empty to have a supervisor verify later from the verification queue"
            )
    return given


@bp.post("/<number>/steps/<path:path>/complete")
@access.requires("batch.execute")
def complete(number: str, path: str) -> ResponseReturnValue:
    """Complete a running step with its signatures (the engine runs the signing ceremony)."""
    version = version_field()
    meanings = request.form.getlist("meaning")

    def action(session: Session, ex: Execution) -> Any:
        signatures = credentials_from_form(meanings)
        return ex.complete_step(
            session, actor=access.user_id(), ref=number, path=path, version=version, signatures=signatures
        )

    def notice(outcome: engine.StepOutcome) -> str:
        if outcome.completed and engine.pending_verification(outcome.step) is not None:
            return "Step completed and signed; it now waits in the verification queue for a supervisor's verification."
        return "Step completed and signed."

    return _act(number, path, action, notice)


def _phase_command_view(command: str) -> Callable[[str, str], ResponseReturnValue]:
    def view(number: str, path: str) -> ResponseReturnValue:
        reason = (request.form.get("reason") or "").strip() or None
        version = version_field()

        def action(session: Session, ex: Execution) -> Any:
            return ex.command_phase(
                session, actor=access.user_id(), ref=number, path=path, command=command, version=version,
                reason=reason, signature=command_signature(command, f"step {path} of batch {number}"),
            )  # fmt: skip

        return _act(number, path, action, f"Step {path} {PAST[command]}{f' ({reason})' if reason else ''}.")

    view.__name__ = f"step_{command}"
    view.__doc__ = f"{command.capitalize()} one phase (a held dosing is restarted here after its cause is fixed)."
    return view


for _command in BATCH_COMMANDS:
    bp.add_url_rule(
        f"/<number>/steps/<path:path>/{_command}",
        endpoint=f"step_{_command}",
        view_func=access.requires(f"batch.command.{_command}")(_phase_command_view(_command)),
        methods=["POST"],
    )
