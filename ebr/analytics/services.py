"""Process analytics services: each call takes a Session and does one unit of work.

Reads: the values of a declared parameter across released batches of its product
(:func:`parameter_values`), its control chart with rules and capability
(:func:`control_chart`). Writes — each with its audit event in the caller's
transaction: :func:`declare_parameter`, :func:`set_baseline`. Trend notifications and
QA's signed assessment are in :mod:`ebr.analytics.trends`, golden batches in
:mod:`ebr.analytics.golden`.

A batch counts from the moment QA released it (the ``released`` signature's time).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import and_, false, or_, select
from sqlalchemy.orm import Session

from audit.chain import Entity
from audit.trail import AuditTrail
from ebr.analytics import stats
from ebr.analytics.models import ALL_VERSIONS, Parameter, ParameterSource
from ebr.core.clock import Clock
from ebr.core.errors import Conflict, EbrError, NotFound, ValidationError
from ebr.core.ids import new_id
from ebr.execution.models import Batch, BatchStep, RecordSignature, StepEntry
from ebr.execution.plan import build_plan
from ebr.execution.rules import BatchStatus
from recipes.model import Recipe

PARAMETER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")


@dataclass(frozen=True)
class SourceSpec:
    """Where a parameter is recorded: recipe, version (``*`` for all), step path, entry name."""

    recipe_name: str
    step_path: str
    entry_name: str
    recipe_version: str = ALL_VERSIONS


@dataclass(frozen=True)
class Point:
    """One released batch's recorded value(s) of a parameter."""

    batch_id: str
    batch_number: str
    recipe_version: str
    released_at: dt.datetime
    values: tuple[Decimal, ...]
    unit: str | None
    lsl: Decimal | None
    usl: Decimal | None

    @property
    def value(self) -> Decimal:
        """The value that counts for the batch: the last one recorded."""
        return self.values[-1]


@dataclass(frozen=True)
class RuleBreak:
    """A rule broken on the chart, with the batches that break it."""

    rule: int
    description: str
    batch: str
    batches: tuple[str, ...]


@dataclass
class Chart:
    """An individuals / moving-range chart of a parameter with its rules and capability."""

    parameter: Parameter
    points: list[Point]
    limits: stats.ImrLimits | None
    baseline: list[str]
    breaks: list[RuleBreak]
    capability: stats.Capability | None
    lsl: Decimal | None
    usl: Decimal | None
    xbar_r: stats.XbarRLimits | None = None
    notes: list[str] = field(default_factory=list)

    def breaks_of(self, batch_number: str) -> list[RuleBreak]:
        """The rules completed by ``batch_number``'s point."""
        return [b for b in self.breaks if b.batch == batch_number]


# -- declarations --------------------------------------------------------------------------


def _decimal(value: Any, what: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValidationError(f"{what} {value!r} is not a number; give a decimal such as 4.5") from None
    if not number.is_finite():
        raise ValidationError(f"{what} {value!r} is not a finite number; give a decimal such as 4.5")
    return number


def get_parameter(session: Session, parameter_id: str) -> Parameter:
    """The declared parameter; NotFound naming the way to list them."""
    found = session.get(Parameter, parameter_id)
    if found is None:
        raise NotFound(f"no analytics parameter {parameter_id!r}; /analytics/ lists the declared parameters")
    return found


def sources_of(session: Session, parameter_id: str) -> list[ParameterSource]:
    query = select(ParameterSource).where(ParameterSource.parameter_id == parameter_id)
    return list(session.scalars(query.order_by(ParameterSource.recipe_name, ParameterSource.recipe_version)))


def declare_parameter(
    session: Session,
    audit: AuditTrail,
    clock: Clock,
    *,
    actor: str,
    parameter_id: str,
    product_code: str,
    title: str,
    sources: Sequence[SourceSpec],
    unit: str | None = None,
    critical: bool = False,
    lsl: Any = None,
    usl: Any = None,
    ruleset: str = "nelson",
    reason: str,
) -> Parameter:
    """Declare a parameter (or change its declaration: title, limits, sources), audited."""
    problems = []
    if not PARAMETER_ID.match(parameter_id or ""):
        problems.append(f"parameter id {parameter_id!r}: use letters, digits, '.', '_' or '-' (at most 100)")
    if not (product_code or "").strip():
        problems.append("product code: enter the product the parameter belongs to")
    if not (title or "").strip():
        problems.append("title: enter what the parameter is")
    if not sources:
        problems.append("sources: give at least one recipe, step path and entry name")
    if ruleset not in stats.RULESETS:
        problems.append(f"rule set {ruleset!r}: use one of {', '.join(stats.RULESETS)}")
    if not (reason or "").strip():
        problems.append("reason: say why the parameter is declared or changed")
    keys = [(s.recipe_name, s.recipe_version) for s in sources]
    if len(set(keys)) != len(keys):
        problems.append("sources: one source per recipe and version")
    for s in sources:
        if not (s.recipe_name.strip() and s.step_path.strip() and s.entry_name.strip()):
            problems.append(f"source {s}: recipe, step path and entry name are all required")
    low, high = _decimal(lsl, "lower specification limit"), _decimal(usl, "upper specification limit")
    if low is not None and high is not None and low >= high:
        problems.append(f"specification limits: the lower limit {low} must be below the upper limit {high}")
    if problems:
        raise ValidationError(f"parameter {parameter_id!r} cannot be declared", problems)
    row = session.get(Parameter, parameter_id)
    before = None if row is None else _declaration(row, sources_of(session, parameter_id))
    if row is None:
        row = Parameter(id=parameter_id, created_at=clock.now(), created_by=actor, baseline=None)
        session.add(row)
    elif row.product_code != product_code:
        raise ValidationError(f"parameter {parameter_id!r} belongs to {row.product_code}; declare a new id instead")
    row.product_code, row.title, row.unit, row.critical = product_code, title.strip(), unit, critical
    row.lsl, row.usl, row.ruleset = low, high, ruleset
    for old in sources_of(session, parameter_id):
        session.delete(old)
    session.flush()
    for s in sources:
        session.add(
            ParameterSource(
                id=new_id(),
                parameter_id=parameter_id,
                recipe_name=s.recipe_name.strip(),
                recipe_version=s.recipe_version.strip() or ALL_VERSIONS,
                step_path=s.step_path.strip(),
                entry_name=s.entry_name.strip(),
            )
        )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="analytics.parameter.declared" if before is None else "analytics.parameter.changed",
        entity=Entity("analytics_parameter", parameter_id),
        before=before,
        after=_declaration(row, sources_of(session, parameter_id)),
        reason=reason,
    )
    return row


def _declaration(row: Parameter, sources: Iterable[ParameterSource]) -> dict[str, Any]:
    return {
        "product": row.product_code,
        "title": row.title,
        "unit": row.unit,
        "critical": row.critical,
        "lsl": None if row.lsl is None else str(row.lsl),
        "usl": None if row.usl is None else str(row.usl),
        "ruleset": row.ruleset,
        "baseline": row.baseline,
        "sources": [[s.recipe_name, s.recipe_version, s.step_path, s.entry_name] for s in sources],
    }


def set_baseline(
    session: Session,
    audit: AuditTrail,
    *,
    actor: str,
    parameter_id: str,
    batches: Sequence[str],
    reason: str,
    version: int | None = None,
) -> Parameter:
    """Fix the control limits of a parameter to the values of ``batches`` (released ones), audited."""
    row = get_parameter(session, parameter_id)
    if version is not None and version != row.version:
        raise Conflict(f"parameter {parameter_id} was changed meanwhile (version {row.version}); reload it")
    if not (reason or "").strip():
        raise ValidationError("a baseline needs a reason (e.g. 'validation batches PV-1 to PV-3')")
    wanted = list(dict.fromkeys(b.strip() for b in batches if b.strip()))
    found = {p.batch_number for p in parameter_values(session, row, batches=wanted)}
    missing = [b for b in wanted if b not in found]
    if missing:
        raise ValidationError(
            f"the baseline of {parameter_id} must be released batches with a value",
            [f"batch {b}: not released, not of {row.product_code}, or without a value" for b in missing],
        )
    if len(wanted) < stats.MIN_BASELINE:
        raise ValidationError(f"a baseline needs at least {stats.MIN_BASELINE} batches, got {len(wanted)}")
    before = row.baseline
    row.baseline = wanted
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="analytics.baseline.set",
        entity=Entity("analytics_parameter", parameter_id),
        before={"baseline": before},
        after={"baseline": wanted},
        reason=reason,
    )
    return row


# -- reading values ------------------------------------------------------------------------


def _source_filter(sources: Sequence[ParameterSource]) -> Any:
    specific = {(s.recipe_name, s.recipe_version) for s in sources if s.recipe_version != ALL_VERSIONS}
    conditions = []
    for s in sources:
        where = [Batch.recipe_name == s.recipe_name, BatchStep.path == s.step_path, StepEntry.name == s.entry_name]
        if s.recipe_version != ALL_VERSIONS:
            where.append(Batch.recipe_version == s.recipe_version)
        else:
            own = [v for name, v in specific if name == s.recipe_name]
            if own:
                where.append(Batch.recipe_version.not_in(own))
        conditions.append(and_(*where))
    return or_(*conditions) if conditions else false()


def parameter_values(
    session: Session,
    parameter: Parameter,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    last: int | None = None,
    batches: Sequence[str] | None = None,
) -> list[Point]:
    """The parameter's values in released batches of its product, oldest release first.

    ``since``/``until`` bound the release time, ``last`` keeps the last N batches,
    ``batches`` restricts to those batch numbers. Values that are not numbers are
    left out (a text entry under a numeric parameter id is a declaration error).
    """
    query = (
        select(
            Batch.id,
            Batch.number,
            Batch.recipe_version,
            Batch.control_recipe_hash,
            RecordSignature.signed_at,
            BatchStep.path,
            StepEntry.value,
            StepEntry.unit,
        )
        .join(BatchStep, BatchStep.batch_id == Batch.id)
        .join(StepEntry, StepEntry.step_id == BatchStep.id)
        .join(
            RecordSignature,
            and_(
                RecordSignature.batch_id == Batch.id,
                RecordSignature.subject_type == "batch",
                RecordSignature.subject_id == Batch.number,
                RecordSignature.meaning == BatchStatus.RELEASED.value,
            ),
        )
        .where(
            Batch.status == BatchStatus.RELEASED.value,
            Batch.product_code == parameter.product_code,
            StepEntry.superseded_at.is_(None),
            _source_filter(sources_of(session, parameter.id)),
        )
        .order_by(RecordSignature.signed_at, Batch.number, StepEntry.recorded_at)
    )
    if since is not None:
        query = query.where(RecordSignature.signed_at >= since)
    if until is not None:
        query = query.where(RecordSignature.signed_at < until)
    if batches is not None:
        query = query.where(Batch.number.in_(list(batches)))
    grouped: dict[str, list[Any]] = {}
    for row in session.execute(query):
        grouped.setdefault(row.number, []).append(row)
    limits = _SpecLimits(session, parameter)
    points = []
    for number, rows in grouped.items():
        numbers = tuple(v for v in (_number(r.value) for r in rows) if v is not None)
        if not numbers:
            continue
        first = rows[0]
        lsl, usl = limits.of(first.id, first.control_recipe_hash, first.path)
        points.append(Point(first.id, number, first.recipe_version, first.signed_at, numbers, rows[-1].unit, lsl, usl))
    return points[-last:] if last else points


def _number(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError):
        return None
    return value if value.is_finite() else None


class _SpecLimits:
    """Specification limits per control recipe (loaded once per recipe hash), or the declared ones."""

    def __init__(self, session: Session, parameter: Parameter) -> None:
        self.session, self.parameter = session, parameter
        self.cache: dict[tuple[str, str], tuple[Decimal | None, Decimal | None]] = {}

    def of(self, batch_id: str, recipe_hash: str, path: str) -> tuple[Decimal | None, Decimal | None]:
        declared = (self.parameter.lsl, self.parameter.usl)
        if declared != (None, None):
            return declared
        key = (recipe_hash, path)
        if key not in self.cache:
            control = self.session.scalar(select(Batch.control_recipe).where(Batch.id == batch_id))
            self.cache[key] = phase_limits(control or {}, path)
        return self.cache[key]


def phase_limits(control_recipe: dict[str, Any], path: str) -> tuple[Decimal | None, Decimal | None]:
    """The limits the control recipe sets on the phase at ``path``: low/high, or target ± tolerance."""
    try:
        params = build_plan(Recipe.from_dict(control_recipe)).phase(path).params
    except (EbrError, KeyError, ValueError, TypeError, AttributeError):
        # A control recipe this version cannot read (or a path not in it): no limits, not a failed chart.
        return None, None
    low, high = getattr(params, "low", None), getattr(params, "high", None)
    if isinstance(low, Decimal) or isinstance(high, Decimal):
        return (low if isinstance(low, Decimal) else None, high if isinstance(high, Decimal) else None)
    target, tolerance = getattr(params, "target", None), getattr(params, "tolerance", None)
    if isinstance(target, Decimal) and isinstance(tolerance, Decimal):
        band = target * tolerance / 100 if getattr(params, "tolerance_unit", "") == "%" else tolerance
        return target - band, target + band
    return None, None


# -- the chart -----------------------------------------------------------------------------


def control_chart(
    session: Session,
    parameter_id: str,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    last: int | None = None,
) -> Chart:
    """The I-MR chart of a parameter over the chosen released batches, with rules and capability.

    Control limits come from the parameter's baseline batches when it has one, else
    from the batches shown (a note says so).
    """
    parameter = get_parameter(session, parameter_id)
    points = parameter_values(session, parameter, since=since, until=until, last=last)
    notes: list[str] = []
    if parameter.baseline:
        base_points = parameter_values(session, parameter, batches=parameter.baseline)
        baseline = [p.batch_number for p in base_points]
    else:
        base_points, baseline = points, []
        notes.append("no baseline set: the control limits come from the batches shown")
    limits = stats.imr_limits([p.value for p in base_points]) if len(base_points) >= stats.MIN_BASELINE else None
    if limits is None:
        notes.append(f"{len(base_points)} batch(es) with a value: a control chart needs at least {stats.MIN_BASELINE}")
    breaks: list[RuleBreak] = []
    if limits is not None:
        numbers = [p.batch_number for p in points]
        ruleset = parameter.ruleset if parameter.ruleset in stats.RULESETS else "nelson"
        for v in stats.nelson_rules([p.value for p in points], limits.center, limits.sigma, ruleset=ruleset):  # type: ignore[arg-type]
            breaks.append(RuleBreak(v.rule, v.description, numbers[v.index], tuple(numbers[i] for i in v.points)))
    lsl, usl = (points[-1].lsl, points[-1].usl) if points else (parameter.lsl, parameter.usl)
    capability = stats.capability([p.value for p in points], lsl=lsl, usl=usl) if len(points) >= 1 else None
    sizes = {len(p.values) for p in points}
    xbar_r = None
    if len(points) >= stats.MIN_BASELINE and len(sizes) == 1 and sizes.pop() in stats.CONSTANTS:
        xbar_r = stats.xbar_r_limits([list(p.values) for p in points])
    return Chart(parameter, points, limits, baseline, breaks, capability, lsl, usl, xbar_r, notes)


def parameters_of(session: Session, product_code: str | None = None) -> list[Parameter]:
    """The declared parameters, of one product or all, by product and id."""
    query = select(Parameter).order_by(Parameter.product_code, Parameter.id)
    if product_code:
        query = query.where(Parameter.product_code == product_code)
    return list(session.scalars(query))
