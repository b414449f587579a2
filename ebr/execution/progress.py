"""Advancing the step graph after a completion, and the values conditions and calculations read.

``advance`` works one level at a time (operation, unit procedure, procedure): it
activates what follows the completed element, and when a level is done completes
it and moves up. A loop brings a completed element back (Reset, then run again).
The end of a unit procedure marks its equipment dirty; the end of the procedure
completes the batch, makes its output lot and judges its yields and reconciliation
(``ebr.execution.yields``: a deviation for each outside its limits).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.chain import Entity
from ebr.execution import graph, yields
from ebr.execution.context import Context
from ebr.execution.models import Batch, BatchStep, StepEntry
from ebr.execution.plan import Plan, parent_of
from ebr.execution.rules import BatchStatus
from ebr.execution.stepstate import EquipmentCheckState, change, state_of
from recipes import formula
from recipes.states import Command, State, apply, complete


def environment(session: Session, batch: Batch, plan: Plan, scope: str) -> dict[str, Any]:
    """Formula parameters and the main value of each phase, for calculations and conditions.

    Values are keyed by full path (``UP1.OP4.PH2``) and, for the phases of the
    operation ``scope``, by their own id (``PH2``); a later run of a step wins.
    """
    env: dict[str, Any] = {p.name: p.value for p in plan.recipe.formula.parameters}
    query = (
        select(StepEntry, BatchStep.path)
        .join(BatchStep, StepEntry.step_id == BatchStep.id)
        .where(
            StepEntry.batch_id == batch.id,
            StepEntry.superseded_at.is_(None),
            StepEntry.name.in_(("value", "net", "actual", "result")),
        )
        .order_by(StepEntry.recorded_at)
    )
    # Ordered by time: a step run again by a loop overwrites its earlier value.
    for entry, path in session.execute(query):
        try:
            value: Any = Decimal(entry.value)
        except ArithmeticError:
            value = entry.value
        env[path] = value
        if parent_of(path) == scope:
            env[path.rpartition(".")[2]] = value
    return env


def _condition(session: Session, batch: Batch, plan: Plan, scope: str) -> graph.Condition:
    def holds(expression: str) -> bool:
        return bool(formula.evaluate(expression, environment(session, batch, plan, scope)))

    return holds


def advance(session: Session, ctx: Context, batch: Batch, plan: Plan, path: str, actor: str) -> list[str]:
    """After ``path`` completed: activate what follows on its level, and complete levels that are done."""
    changed: list[str] = []
    completed, parent = path, parent_of(path)
    while True:
        rows = ctx.children(session, batch, parent)
        node = plan.node(parent)
        done = {r.path for r in rows if r.state == State.COMPLETE.value}
        active = {r.path for r in rows if r.ready and r.path not in done}
        condition = _condition(session, batch, plan, parent)
        progress = graph.progress(
            node.children, node.transitions, completed=completed, active=active, done=done, condition=condition
        )
        by_path = {r.path: r for r in rows}
        for child in progress.activate:
            changed += _activate(session, ctx, batch, plan, by_path[child], actor)
        if not progress.complete:
            return changed
        if parent == "":
            _finish_batch(session, ctx, batch, plan, actor)
            return [*changed, "procedure"]
        level = ctx.step(session, batch, parent)
        level.state = complete(State(level.state)).value
        level.ended_at, level.ended_by = ctx.clock.now(), actor
        changed.append(f"{parent}:complete")
        if level.level == "unit_procedure":
            _release_units(session, ctx, batch, level, actor)
        completed, parent = parent, parent_of(parent)


def _activate(session: Session, ctx: Context, batch: Batch, plan: Plan, row: BatchStep, actor: str) -> list[str]:
    if row.state == State.COMPLETE.value:
        _rerun(session, ctx, batch, row)
    row.ready = True
    if row.level == "phase":
        return [f"{row.path}:ready"]
    row.state = apply(State(row.state), Command.START).value
    row.started_at, row.started_by = ctx.clock.now(), actor
    return [f"{row.path}:running", *activate_children(session, ctx, batch, plan, row.path, actor)]


def _rerun(session: Session, ctx: Context, batch: Batch, row: BatchStep) -> None:
    """A loop brings a completed step back: Reset it (and what it contains) to run again."""
    row.state = apply(State(row.state), Command.RESET).value
    # Counts the passes of a loop; entries of earlier passes stay (current_entries reads this pass's).
    change(row, run=(state_of(row).run or 1) + 1)
    if row.level != "phase":
        query = select(BatchStep).where(BatchStep.batch_id == batch.id, BatchStep.path.like(f"{row.path}.%"))
        for inner in session.scalars(query):
            inner.state, inner.ready = State.IDLE.value, False


def activate_children(session: Session, ctx: Context, batch: Batch, plan: Plan, parent: str, actor: str) -> list[str]:
    """Activate the initial children of ``parent`` (recursively down to the phases)."""
    node = plan.node(parent)
    rows = {r.path: r for r in ctx.children(session, batch, parent)}
    progress = graph.progress(node.children, node.transitions, completed=None, active=(), done=())
    changed: list[str] = []
    for child in progress.activate:
        changed += _activate(session, ctx, batch, plan, rows[child], actor)
    return changed


def _release_units(session: Session, ctx: Context, batch: Batch, level: BatchStep, actor: str) -> None:
    """When a unit procedure ends, the equipment it used becomes dirty."""
    query = select(BatchStep).where(
        BatchStep.batch_id == batch.id,
        BatchStep.path.like(f"{level.path}.%"),
        BatchStep.phase_type == "equipment_check",
    )
    units = {u for r in session.scalars(query) if (u := state_of(r, EquipmentCheckState).in_use)}
    for unit in sorted(units):
        ctx.equipment.mark_dirty(
            session, actor=actor, unit=unit, reason=f"used by {batch.number}", reference=batch.number
        )


def _finish_batch(session: Session, ctx: Context, batch: Batch, plan: Plan, actor: str) -> None:
    batch.state = complete(State(batch.state)).value
    batch.status = BatchStatus.COMPLETE.value
    batch.ended_at = ctx.clock.now()
    lot = ctx.materials.record_output(
        session,
        actor=actor,
        batch_id=batch.id,
        number=batch.number,
        product=batch.product_code,
        quantity=yields.produced(session, batch, plan.recipe),
        unit=batch.size_unit,
    )
    batch.output_lot_id = lot.id
    ctx.record(
        session,
        actor=actor,
        action="batch.completed",
        entity=Entity("batch", batch.number),
        before={"status": BatchStatus.IN_EXECUTION.value},
        after={"status": batch.status, "state": batch.state, "output_lot": lot.lot_number},
    )
    yields.evaluate(session, ctx, batch, plan.recipe, actor)
