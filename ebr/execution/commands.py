"""ISA-88 commands on a batch and on one phase, with propagation.

Holding the batch holds its running phases; restarting it restarts the phases it
held; stop and abort end the batch and every active phase. Automated phases get
the matching command in the equipment runtime's command table in the same
transaction. Transient states (Holding, Restarting, Stopping, Aborting) finish at
once for manual phases; the audit event records both the command and where it
landed. Who may give which command is in ``signatures.permissions``
(``batch.command.<command>``), enforced by the web and CLI layers.

What each command needs (checked after the ISA-88 table has allowed it, before anything changes):

* hold and pause: a reason;
* stop and abort: a reason and the commander's own e-signature with the meaning
  ``stopped`` / ``aborted``, over content that names the batch (and the phase);
* restart of a phase held by the equipment (an interlock trip or alarm, lost
  communication): a supervisor's signature with the meaning ``restarted``.

Which commands a batch or a phase offers comes from the same table
(:func:`allowed_batch_commands`, :func:`allowed_phase_commands`).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.chain import Entity
from ebr.core.errors import StateError, ValidationError
from ebr.execution import deviations
from ebr.execution.context import Context, check_version
from ebr.execution.engine import entity
from ebr.execution.models import Batch, BatchStep
from ebr.execution.rules import BatchStatus
from ebr.execution.stepstate import change, state_of
from ebr.materials.services import Credentials
from equipment import commands as runtime
from recipes.states import FINAL_STATES, TRANSIENT_STATES, TRANSITIONS, Command, State, apply, complete

# The runtime knows no pause: a paused dosing is held there and resumed by a restart.
RUNTIME_COMMANDS = {
    Command.HOLD: runtime.CommandKind.HOLD,
    Command.PAUSE: runtime.CommandKind.HOLD,
    Command.RESUME: runtime.CommandKind.RESTART,
    Command.RESTART: runtime.CommandKind.RESTART,
    Command.STOP: runtime.CommandKind.STOP,
    Command.ABORT: runtime.CommandKind.ABORT,
}
BATCH_COMMANDS = frozenset({Command.HOLD, Command.RESTART, Command.STOP, Command.ABORT, Command.PAUSE, Command.RESUME})
# The commands people give from the batch and step pages, main ones first, destructive ones last.
OFFERED = (Command.HOLD, Command.RESTART, Command.STOP, Command.ABORT)
DESTRUCTIVE = frozenset({Command.STOP, Command.ABORT})
NEEDS_REASON = frozenset({Command.HOLD, Command.PAUSE, Command.STOP, Command.ABORT})
SIGNED_MEANING = {Command.STOP: "stopped", Command.ABORT: "aborted"}
RESTART_MEANING = "restarted"
EQUIPMENT_HOLD = "equipment"


def allowed_batch_commands(batch: Batch) -> list[Command]:
    """The offered commands the ISA-88 table allows in the batch's state (none unless it is in execution)."""
    if batch.status != BatchStatus.IN_EXECUTION.value:
        return []
    return [c for c in OFFERED if (State(batch.state), c) in TRANSITIONS]


def allowed_phase_commands(step: BatchStep) -> list[Command]:
    """The offered commands the ISA-88 table allows in the phase's state."""
    return [c for c in OFFERED if (State(step.state), c) in TRANSITIONS]


def needs_restart_signature(step: BatchStep) -> bool:
    """True when the phase was held by the equipment (trip, alarm, lost communication)."""
    return step.state == State.HELD.value and state_of(step).held_by == EQUIPMENT_HOLD


def _check_reason(cmd: Command, reason: str | None, what: str) -> None:
    if cmd in NEEDS_REASON and not (reason or "").strip():
        raise ValidationError(f"a reason is required to {cmd.value.lower()} {what}; say why")


def _sign_command(
    session: Session,
    ctx: Context,
    *,
    batch: Batch,
    cmd: Command,
    actor: str,
    meaning: str,
    signature: Credentials | None,
    reason: str | None,
    step: BatchStep | None = None,
) -> None:
    """The e-signature a stop, an abort or a restart after an equipment hold needs."""
    what = f"phase {step.path} of batch {batch.number}" if step else f"batch {batch.number}"
    verb = cmd.value.lower()
    if signature is None:
        raise ValidationError(f"to {verb} {what} sign with your user id and password (meaning {meaning!r})")
    if signature.meaning != meaning:
        raise ValidationError(
            f"the signature's meaning must be {meaning!r} to {verb} {what}, not {signature.meaning!r}"
        )
    if meaning != RESTART_MEANING and signature.user_id.strip().lower() != actor:
        raise ValidationError(f"the person who gives the {verb} signs it: sign as {actor}")
    content = {
        "batch": batch.number,
        "recipe": f"{batch.recipe_name} {batch.recipe_version}",
        "command": cmd.value,
        "state": (step or batch).state,
        "reason": reason,
    }
    if step is not None:
        content |= {"phase": step.path, "step": step.name}
    ctx.sign(
        session,
        batch=batch,
        subject_type="batch_step" if step else "batch",
        subject_id=step.id if step else batch.number,
        label=f"{batch.number}/{step.path}" if step else None,
        content=content,
        credentials=signature,
        reason=reason,
    )


def parse_command(name: str) -> Command:
    """``"hold"`` → ``Command.HOLD``; ValidationError naming the valid commands."""
    try:
        return Command(name.capitalize())
    except ValueError:
        valid = ", ".join(c.value.lower() for c in Command)
        raise ValidationError(f"unknown command {name!r}; use one of: {valid}") from None


def settle(state: State) -> State:
    """A transient state's landing state (Holding → Held …); others are returned unchanged."""
    return complete(state) if state in TRANSIENT_STATES else state


def _runtime_command(
    session: Session, ctx: Context, batch: Batch, step: BatchStep, command: Command, actor: str
) -> None:
    kind = RUNTIME_COMMANDS.get(command)
    if step.phase_type != "dosing" or kind is None:
        return
    snapshot = runtime.latest_state(session, f"{batch.id}:{step.path}")
    if snapshot is None or snapshot.state.final:
        return  # nothing runs in the plant for this phase
    command_id = runtime.submit_command(
        session, actor=actor, kind=kind, phase_ref=f"{batch.id}:{step.path}", unit=snapshot.unit, clock=ctx.clock
    )
    # Until the runtime has taken this command, its old report (e.g. Held) is not news.
    change(step, runtime_command=command_id)


def command_phase(
    session: Session,
    ctx: Context,
    *,
    actor: str,
    ref: str,
    path: str,
    command: str | Command,
    version: int | None = None,
    reason: str | None = None,
    signature: Credentials | None = None,
) -> BatchStep:
    """Give one phase an ISA-88 command (hold, restart, stop, abort, pause, resume).

    Raises StateError for a command the phase's state does not allow, ValidationError
    for a missing reason or signature (see the module's rules).
    """
    cmd = command if isinstance(command, Command) else parse_command(command)
    batch = ctx.batch(session, ref, lock=True)
    step = ctx.step(session, batch, path)
    check_version(step, version, f"step {path} of batch {batch.number}")
    if step.level != "phase":
        raise ValidationError(f"{path} is a {step.level}; give commands to the batch or to a phase")
    if cmd is Command.RESTART and batch.state != State.RUNNING.value:
        raise StateError(f"batch {batch.number} is {batch.state}; restart the batch before its phases")
    if cmd is Command.RESTART and (open_devs := deviations.blocking(session, ctx, batch, path)):
        names = ", ".join(d.number for d in open_devs)
        raise StateError(f"{path} cannot restart before deviation {names} has a comment and a verified signature")
    before = step.state
    landed = settle(apply(State(step.state), cmd))
    _check_reason(cmd, reason, f"phase {path}")
    meaning = SIGNED_MEANING.get(cmd) or (
        RESTART_MEANING if cmd is Command.RESTART and needs_restart_signature(step) else None
    )
    if meaning is not None:
        _sign_command(
            session, ctx, batch=batch, cmd=cmd, actor=actor, meaning=meaning, signature=signature, reason=reason,
            step=step,
        )  # fmt: skip
    _runtime_command(session, ctx, batch, step, cmd, actor)
    step.state = landed.value
    if cmd is Command.RESTART:
        change(step, held_by=None)
    if landed in FINAL_STATES:
        step.ended_at, step.ended_by = ctx.clock.now(), actor
    session.flush()
    ctx.record(
        session,
        actor=actor,
        action=f"batch.step.{cmd.value.lower()}",
        entity=entity(batch, path),
        before={"state": before},
        after={"state": step.state},
        reason=reason,
    )
    return step


def command_batch(
    session: Session,
    ctx: Context,
    *,
    actor: str,
    ref: str,
    command: str | Command,
    version: int | None = None,
    reason: str | None = None,
    signature: Credentials | None = None,
) -> Batch:
    """Give the batch a command and propagate it to its active phases.

    Raises StateError for a command the batch's state does not allow, ValidationError
    for a missing reason or signature (see the module's rules).
    """
    cmd = command if isinstance(command, Command) else parse_command(command)
    if cmd not in BATCH_COMMANDS:
        raise ValidationError(
            f"{cmd.value} is not a batch command here; use start (batch start) or one of "
            f"{', '.join(sorted(c.value.lower() for c in BATCH_COMMANDS))}"
        )
    batch = ctx.batch(session, ref, lock=True)
    check_version(batch, version, f"batch {batch.number}")
    if batch.status != BatchStatus.IN_EXECUTION.value:
        raise StateError(f"batch {batch.number} is {batch.status}; commands apply only to a batch in execution")
    before = batch.state
    landed = settle(apply(State(batch.state), cmd))
    _check_reason(cmd, reason, f"batch {batch.number}")
    if (meaning := SIGNED_MEANING.get(cmd)) is not None:
        _sign_command(
            session, ctx, batch=batch, cmd=cmd, actor=actor, meaning=meaning, signature=signature, reason=reason
        )
    affected = _propagate(session, ctx, batch, cmd, actor)
    batch.state = landed.value
    if landed in (State.STOPPED, State.ABORTED):
        batch.status = BatchStatus.ABORTED.value if landed is State.ABORTED else BatchStatus.COMPLETE.value
        batch.ended_at = ctx.clock.now()
    session.flush()
    ctx.record(
        session,
        actor=actor,
        action=f"batch.command.{cmd.value.lower()}",
        entity=Entity("batch", batch.number),
        before={"state": before},
        after={"state": batch.state, "status": batch.status, "phases": affected},
        reason=reason,
    )
    return batch


def _propagate(session: Session, ctx: Context, batch: Batch, cmd: Command, actor: str) -> dict[str, str]:
    query = select(BatchStep).where(
        BatchStep.batch_id == batch.id,
        BatchStep.level == "phase",
        BatchStep.state.not_in([State.IDLE.value, *FINAL_STATES]),
    )
    affected: dict[str, str] = {}
    for step in session.scalars(query):
        if cmd is Command.RESTART and state_of(step).held_by != "batch":
            continue  # a phase held on its own (e.g. after a trip) is restarted on its own
        if (State(step.state), cmd) not in TRANSITIONS:
            continue
        _runtime_command(session, ctx, batch, step, cmd, actor)
        step.state = settle(apply(State(step.state), cmd)).value
        if cmd is Command.HOLD:
            change(step, held_by="batch")
        elif cmd is Command.RESTART:
            change(step, held_by=None)
        affected[step.path] = step.state
    return affected
