"""In-process samples and their QC results (``wait_for_result``).

A sample step records the scanned sample id (source ``scan``) and the label and
quantity the system generates (source ``system``). When its phase says
``wait_for_result``, the step cannot complete until QC has entered a result for
every test, so the steps after it wait. Each result is checked against its
specification: the one declared on the sample phase (``specifications: [{test, low,
high, unit}]``), or else, as before, the limits of the data-entry step that follows
the sample in the recipe and carries the test's name (``pH`` → the step named "pH"
with its low/high); a test with neither has no specification and QA judges it at
review.

A result outside its specification opens an ``out_of_spec`` deviation (major) and
holds the sample step, so the path that depends on it stops; the deviation must be
commented and verified before a supervisor restarts the step. Every result and its
audit event commit together.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.chain import Entity
from ebr.core.errors import NotFound, StateError, ValidationError
from ebr.core.ids import new_id
from ebr.execution import deviations, rules
from ebr.execution.context import Context
from ebr.execution.models import Batch, BatchStep, SampleResult, StepEntry
from ebr.execution.plan import Plan
from ebr.execution.rules import BatchStatus, DeviationKind, Severity
from ebr.execution.stepstate import change
from recipes.phases import DataEntry, EntryKind, Sample
from recipes.states import State

HELD_BY_SAMPLE = "sample"


def _entity(batch: Batch, step: BatchStep) -> Entity:
    return Entity("batch_step", f"{batch.number}/{step.path}")


@dataclass(frozen=True)
class Spec:
    """A test's specification: limits and unit (both limits None: no specification in the recipe)."""

    test: str
    low: Decimal | None
    high: Decimal | None
    unit: str | None

    @property
    def defined(self) -> bool:
        return self.low is not None or self.high is not None

    def describe(self) -> str:
        if not self.defined:
            return "no specification in the recipe"
        unit = f" {self.unit}" if self.unit else ""
        if self.low is not None and self.high is not None:
            return f"{self.low}–{self.high}{unit}"
        return f"≥ {self.low}{unit}" if self.low is not None else f"≤ {self.high}{unit}"


@dataclass(frozen=True)
class PendingSample:
    """A sample whose step waits for QC: where it was taken, its tests and the results so far."""

    batch: Batch
    step: BatchStep
    sample_id: str
    specs: tuple[Spec, ...]
    results: dict[str, SampleResult]

    @property
    def missing(self) -> list[str]:
        return [s.test for s in self.specs if s.test not in self.results]


def _following(plan: Plan, path: str) -> list[str]:
    """The phases that come right after ``path`` in its operation (its transitions, else the next phase)."""
    parent = plan.node(path.rsplit(".", 1)[0])
    after = [t for tr in parent.transitions if path in tr.sources for t in tr.targets]
    if after or parent.transitions:
        return after
    siblings = list(parent.children)
    index = siblings.index(path)
    return siblings[index + 1 : index + 2]


def specifications(plan: Plan, path: str) -> tuple[Spec, ...]:
    """Each test of sample step ``path`` with its specification: declared on the phase, else borrowed."""
    params = plan.phase(path).params
    if not isinstance(params, Sample):
        raise ValidationError(f"{path} is not a sample step")
    entries = {}
    for nxt in _following(plan, path):
        phase = plan.phase(nxt)
        if isinstance(phase.params, DataEntry) and phase.params.kind is EntryKind.NUMERIC:
            entries[phase.name.strip().lower()] = phase.params
    declared = {spec.test: spec for spec in params.specifications}
    specs = []
    for test in params.tests:
        entry = entries.get(test.strip().lower())
        if test in declared:
            own = declared[test]
            specs.append(Spec(test, own.low, own.high, own.unit))
        elif entry is None:
            specs.append(Spec(test, None, None, None))
        else:
            low = None if entry.low is None else Decimal(str(entry.low))
            high = None if entry.high is None else Decimal(str(entry.high))
            specs.append(Spec(test, low, high, entry.unit))
    return tuple(specs)


def waits_for_results(plan: Plan, step: BatchStep) -> bool:
    params = plan.phase(step.path).params
    return isinstance(params, Sample) and params.wait_for_result


def results_of(session: Session, step: BatchStep) -> dict[str, SampleResult]:
    rows = session.scalars(select(SampleResult).where(SampleResult.step_id == step.id))
    return {row.test: row for row in rows}


def missing_results(session: Session, plan: Plan, step: BatchStep) -> list[str]:
    """The tests still without a QC result (empty when the step does not wait for results)."""
    if not waits_for_results(plan, step):
        return []
    have = results_of(session, step)
    return [s.test for s in specifications(plan, step.path) if s.test not in have]


def _sample_id(session: Session, step: BatchStep) -> str | None:
    return session.scalars(
        select(StepEntry.value).where(
            StepEntry.step_id == step.id, StepEntry.name == "sample_id", StepEntry.superseded_at.is_(None)
        )
    ).first()


def pending(session: Session, ctx: Context) -> list[PendingSample]:
    """Samples of batches in execution whose step waits for at least one QC result, oldest first."""
    found = []
    query = (
        select(BatchStep, Batch)
        .join(Batch, BatchStep.batch_id == Batch.id)
        .where(Batch.status == BatchStatus.IN_EXECUTION.value, BatchStep.phase_type == "sample")
        .where(BatchStep.state.in_((State.RUNNING.value, State.HELD.value)))
        .order_by(BatchStep.started_at)
    )
    for step, batch in session.execute(query):
        plan = ctx.plan(session, batch)
        sample_id = _sample_id(session, step)
        if sample_id is None or not waits_for_results(plan, step):
            continue
        item = PendingSample(batch, step, sample_id, specifications(plan, step.path), results_of(session, step))
        if item.missing:
            found.append(item)
    return found


def find(session: Session, ctx: Context, ref: str) -> PendingSample:
    """The waiting sample with id ``ref`` (as scanned); NotFound or ValidationError when it is not one."""
    matches = [p for p in pending(session, ctx) if p.sample_id == ref.strip()]
    if not matches:
        raise NotFound(f"no sample {ref!r} waits for a result; check the sample id on its label")
    if len(matches) > 1:
        where = ", ".join(f"{m.batch.number} {m.step.path}" for m in matches)
        raise ValidationError(f"sample id {ref!r} is on several waiting samples ({where}); relabel one of them")
    return matches[0]


def enter_result(
    session: Session, ctx: Context, *, actor: str, ref: str, test: str, value: str, unit: str | None = None
) -> SampleResult:
    """Record QC's result of ``test`` on sample ``ref``; out of specification opens a deviation and holds the step.

    Raises NotFound for an unknown sample, ValidationError for an unknown test, a value
    that is not a number or a unit other than the specification's, StateError when the
    test has a result already.
    """
    sample = find(session, ctx, ref)
    batch = ctx.batch(session, sample.batch.number, lock=True)
    step = ctx.step(session, batch, sample.step.path)
    spec = next((s for s in sample.specs if s.test.lower() == test.strip().lower()), None)
    if spec is None:
        tests = ", ".join(s.test for s in sample.specs)
        raise ValidationError(f"sample {sample.sample_id} is not tested for {test!r}; its tests are: {tests}")
    if spec.test in sample.results:
        done = sample.results[spec.test]
        raise StateError(
            f"{spec.test} of sample {sample.sample_id} was entered by {done.entered_by} already ({done.value}); "
            "a wrong result is corrected through a deviation"
        )
    given_unit = (unit or "").strip() or spec.unit
    if spec.unit and given_unit != spec.unit:
        raise ValidationError(f"{spec.test} is specified in {spec.unit}; enter the result in {spec.unit}")
    number = rules.parse_decimal(spec.test, value)
    in_spec = rules.check_limits(number, spec.low, spec.high, spec.unit).in_limits if spec.defined else None
    row = SampleResult(
        id=new_id(),
        batch_id=batch.id,
        step_id=step.id,
        sample_id=sample.sample_id,
        test=spec.test,
        value=rules.decimal_text(number),
        unit=given_unit,
        low=spec.low,
        high=spec.high,
        in_spec=in_spec,
        entered_at=ctx.clock.now(),
        entered_by=actor,
    )
    session.add(row)
    if in_spec is False:
        row.deviation = _out_of_spec(session, ctx, batch, step, actor, sample.sample_id, spec, number)
    session.flush()
    ctx.record(
        session,
        actor=actor,
        action="sample.result.entered",
        entity=_entity(batch, step),
        after={
            "sample": sample.sample_id, "test": spec.test, "value": row.value, "unit": row.unit,
            "specification": spec.describe(), "in_spec": in_spec, "deviation": row.deviation,
        },
    )  # fmt: skip
    return row


def _out_of_spec(
    session: Session,
    ctx: Context,
    batch: Batch,
    step: BatchStep,
    actor: str,
    sample_id: str,
    spec: Spec,
    value: Decimal,
) -> str:
    unit = f" {spec.unit}" if spec.unit else ""
    dev = deviations.open_deviation(
        session,
        ctx,
        actor=actor,
        batch=batch,
        step_path=step.path,
        kind=DeviationKind.OUT_OF_SPEC,
        severity=Severity.MAJOR,
        description=f"sample {sample_id}: {spec.test} {value}{unit} is outside its specification {spec.describe()}",
    )
    if step.state == State.RUNNING.value:
        step.state = State.HELD.value
        change(step, held_by=HELD_BY_SAMPLE)
        session.flush()
        ctx.record(
            session,
            actor=actor,
            action="batch.step.held",
            entity=_entity(batch, step),
            before={"state": State.RUNNING.value},
            after={"state": step.state, "reason": "out-of-specification result", "deviation": dev.number},
        )
    return dev.number
