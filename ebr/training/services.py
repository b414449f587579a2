"""Training and qualification service: curricula, requirements, training records, the check.

Every change appends its audit event in the caller's transaction (the caller commits).
A training record is signed "trained" by the trainee (the signing ceremony of
``signatures``) in that same transaction: the record and its signature exist together
or not at all. Who may record a training is the permission table's ``training.record``
(supervisors and QA: a trainer records it), curricula and requirements
``training.manage`` (QA); nobody records their own training.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from audit.chain import Entity
from audit.trail import AuditTrail
from ebr.core.clock import Clock
from ebr.core.errors import NotFound
from ebr.core.ids import new_id
from ebr.training import rules
from ebr.training.errors import NotQualified, TrainingRefused
from ebr.training.models import Curriculum, Requirement, TrainingRecord
from signatures.signing import SigningService
from signatures.users import UserService

TRAINED = "trained"
# A training entered later than this after it took place is refused: the record would be
# written from memory, and dating it back must not look like a contemporaneous record.
LATE_ENTRY_DAYS = 30
NAME_LENGTH = 100


@dataclass(frozen=True)
class PersonStanding:
    """One person's standing on every curriculum (the supervisor's qualification matrix row)."""

    user_id: str
    full_name: str
    roles: tuple[str, ...]
    standings: dict[str, rules.Qualification]


def _text(value: str, what: str, *, limit: int = NAME_LENGTH) -> str:
    value = (value or "").strip()
    if not value:
        raise TrainingRefused(f"{what} is empty: give it")
    if len(value) > limit:
        raise TrainingRefused(f"{what} is longer than {limit} characters: shorten it")
    return value


class TrainingService:
    """Curricula, requirements, training records and the qualification check."""

    def __init__(
        self, *, audit: AuditTrail, clock: Clock, signing: SigningService, users: UserService, timezone: str = "UTC"
    ) -> None:
        self.audit = audit
        self.clock = clock
        self.signing = signing
        self.users = users
        self.zone = zoneinfo.ZoneInfo(timezone)

    def today(self, at: dt.datetime | None = None) -> dt.date:
        """The plant date of ``at`` (default now)."""
        return (at or self.clock.now()).astimezone(self.zone).date()

    # -- curricula -------------------------------------------------------------------

    def add_curriculum(
        self,
        session: Session,
        *,
        actor: str,
        name: str,
        description: str = "",
        sops: Sequence[str] = (),
        validity_days: int | None = None,
    ) -> Curriculum:
        """A new curriculum (audited ``training.curriculum.added``); TrainingRefused for a taken name."""
        name = _text(name, "the curriculum's name")
        clean_sops = [_text(s, "an SOP reference", limit=200) for s in sops]
        if validity_days is not None and not 1 <= validity_days <= 36500:
            raise TrainingRefused(f"validity of {validity_days} days: give a number of days from 1 to 36500, or none")
        if session.scalars(select(Curriculum).where(Curriculum.name == name)).first() is not None:
            raise TrainingRefused(f"curriculum {name!r} exists already; choose another name")
        row = Curriculum(
            id=new_id(), name=name, description=description.strip(), sops=clean_sops, validity_days=validity_days,
            created_at=self.clock.now(), created_by=actor,
        )  # fmt: skip
        session.add(row)
        session.flush()
        after = {"name": name, "description": row.description, "sops": clean_sops, "validity_days": validity_days}
        self.audit.record(
            session, actor=actor, action="training.curriculum.added", entity=Entity("curriculum", name), after=after
        )
        return row

    def curricula(self, session: Session) -> list[Curriculum]:
        return list(session.scalars(select(Curriculum).order_by(Curriculum.name)))

    def curriculum(self, session: Session, name: str) -> Curriculum:
        """The curriculum called ``name``; raises NotFound."""
        row = session.scalars(select(Curriculum).where(Curriculum.name == name.strip())).first()
        if row is None:
            raise NotFound(f"no curriculum {name!r}; `ebr training curriculum list` shows them")
        return row

    # -- requirements ----------------------------------------------------------------

    def add_requirement(
        self, session: Session, *, actor: str, curriculum: str, kind: str, target: str, unit: str | None = None
    ) -> Requirement:
        """``kind`` ``target`` (optionally on ``unit``) requires ``curriculum`` (audited)."""
        try:
            parsed = rules.RequirementKind(str(kind).strip())
        except ValueError:
            kinds = ", ".join(k.value for k in rules.RequirementKind)
            raise TrainingRefused(f"requirement kind {kind!r} is not one of: {kinds}") from None
        target = _text(target, f"the {parsed.value.replace('_', ' ')}")
        unit = _text(unit, "the unit", limit=64) if unit and unit.strip() else None
        if unit is not None and parsed is not rules.RequirementKind.PHASE_TYPE:
            raise TrainingRefused("only a phase-type requirement can be narrowed to a unit; leave the unit empty")
        cur = self.curriculum(session, curriculum)
        same = select(Requirement).where(
            Requirement.curriculum_id == cur.id,
            Requirement.kind == parsed.value,
            Requirement.target == target,
            Requirement.unit.is_(None) if unit is None else Requirement.unit == unit,
        )
        if session.scalars(same).first() is not None:
            raise TrainingRefused(f"{rules.Need(cur.name, parsed, target, unit).what()} already requires {cur.name!r}")
        row = Requirement(
            id=new_id(), curriculum_id=cur.id, kind=parsed.value, target=target, unit=unit,
            created_at=self.clock.now(), created_by=actor,
        )  # fmt: skip
        session.add(row)
        session.flush()
        after = {"curriculum": cur.name, "kind": parsed.value, "target": target, "unit": unit}
        self.audit.record(
            session, actor=actor, action="training.requirement.added", entity=Entity("training_requirement", row.id),
            after=after,
        )  # fmt: skip
        return row

    def remove_requirement(self, session: Session, *, actor: str, requirement_id: str, reason: str) -> None:
        """Remove a requirement with a reason (audited with what it was)."""
        row = session.get(Requirement, requirement_id)
        if row is None:
            raise NotFound(f"no requirement {requirement_id!r}; `ebr training requirement list` shows them")
        reason = _text(reason, "the reason", limit=2000)
        before = self._requirement_json(session, row)
        session.delete(row)
        self.audit.record(
            session, actor=actor, action="training.requirement.removed",
            entity=Entity("training_requirement", requirement_id), before=before, reason=reason,
        )  # fmt: skip

    def requirements(self, session: Session) -> list[tuple[Requirement, Curriculum]]:
        query = select(Requirement, Curriculum).join(Curriculum, Curriculum.id == Requirement.curriculum_id)
        rows = session.execute(query.order_by(Requirement.kind, Requirement.target, Curriculum.name)).all()
        return [(r, c) for r, c in rows]

    def _requirement_json(self, session: Session, row: Requirement) -> dict[str, Any]:
        cur = session.get(Curriculum, row.curriculum_id)
        return {"curriculum": cur.name if cur else None, "kind": row.kind, "target": row.target, "unit": row.unit}

    # -- training records ------------------------------------------------------------

    def record_training(
        self,
        session: Session,
        *,
        actor: str,
        curriculum: str,
        trainee: str,
        trained_on: dt.date,
        signer: str,
        password: str,
        trainer: str | None = None,
        expires_on: dt.date | None = None,
        comment: str = "",
    ) -> TrainingRecord:
        """Record that ``trainee`` was trained on ``curriculum``, signed "trained" by the trainee.

        ``actor`` (who records it) and the trainer (default: the actor) may not be the trainee;
        ``signer`` must be the trainee (nobody signs for another). The date may not be in the
        future nor more than LATE_ENTRY_DAYS ago. Raises TrainingRefused, NotFound, or the
        signing ceremony's errors (wrong password, locked account…).
        """
        trainee = _text(trainee, "the trainee's user id").lower()
        trainer = _text(trainer or actor, "the trainer", limit=200)
        if trainee == actor.lower():
            raise TrainingRefused(
                f"{actor} cannot record their own training: the trainer or a supervisor records it, the trainee signs"
            )
        if trainer.lower() == trainee:
            raise TrainingRefused(f"{trainee} cannot be their own trainer: name the person who trained them")
        if signer.strip().lower() != trainee:
            raise TrainingRefused(
                f"the trainee signs their own training record: {signer.strip() or 'nobody'} cannot sign for {trainee}"
            )
        person = self.users.get(session, trainee)
        if not person.active:
            raise TrainingRefused(f"{trainee} is deactivated: a training cannot be recorded for them")
        cur = self.curriculum(session, curriculum)
        today = self.today()
        if trained_on > today:
            raise TrainingRefused(f"the training date {trained_on} is in the future; record it once it took place")
        if trained_on < today - dt.timedelta(days=LATE_ENTRY_DAYS):
            raise TrainingRefused(
                f"the training date {trained_on} is more than {LATE_ENTRY_DAYS} days ago: a late training record "
                "cannot be dated back; train again, or raise a deviation for the paper record"
            )
        try:
            expires = rules.expiry(trained_on, cur.validity_days, expires_on, curriculum=cur.name)
        except ValueError as exc:
            raise TrainingRefused(f"{exc}; correct the expiry or leave it empty") from None
        if expires is not None and expires <= today:
            raise TrainingRefused(f"this training would be expired already (on {expires}); give a later expiry")
        record_id = new_id()
        content = {
            "id": record_id, "curriculum": cur.name, "sops": list(cur.sops), "trainee": trainee, "trainer": trainer,
            "trained_on": trained_on.isoformat(), "expires_on": expires.isoformat() if expires else None,
            "recorded_by": actor, "comment": comment,
        }  # fmt: skip
        signature = self.signing.sign(
            session,
            subject=Entity("training_record", record_id),
            content=content,
            meaning=TRAINED,
            reason=f"trained on {cur.name}",
            user_id=trainee,
            password=password,
            not_by={actor: "recorded this training"},
        )
        row = TrainingRecord(
            id=record_id, curriculum_id=cur.id, trainee=trainee, trainer=trainer, trained_on=trained_on,
            expires_on=expires, recorded_at=signature.ts, recorded_by=actor, signature_id=signature.id,
            comment=comment,
        )  # fmt: skip
        session.add(row)
        session.flush()
        self.audit.record(
            session, actor=actor, action="training.recorded", entity=Entity("training_record", record_id),
            after=content | {"signature_id": signature.id},
        )  # fmt: skip
        return row

    def records(self, session: Session, *, trainee: str | None = None) -> list[tuple[TrainingRecord, Curriculum]]:
        """Training records (of ``trainee``), newest first, with their curriculum."""
        query = select(TrainingRecord, Curriculum).join(Curriculum, Curriculum.id == TrainingRecord.curriculum_id)
        if trainee is not None:
            query = query.where(TrainingRecord.trainee == trainee.strip().lower())
        rows = session.execute(query.order_by(TrainingRecord.recorded_at.desc())).all()
        return [(r, c) for r, c in rows]

    def _held(self, session: Session, people: Iterable[str]) -> dict[str, list[rules.Held]]:
        wanted = sorted({p.lower() for p in people})
        query = (
            select(TrainingRecord.trainee, Curriculum.name, TrainingRecord.recorded_at, TrainingRecord.expires_on)
            .join(Curriculum, Curriculum.id == TrainingRecord.curriculum_id)
            .where(TrainingRecord.trainee.in_(wanted))
        )
        found: dict[str, list[rules.Held]] = {p: [] for p in wanted}
        for trainee, name, signed_at, expires_on in session.execute(query):
            found[trainee].append(rules.Held(name, signed_at, expires_on))
        return found

    def _needs(self, session: Session) -> list[rules.Need]:
        return [
            rules.Need(c.name, rules.RequirementKind(r.kind), r.target, r.unit) for r, c in self.requirements(session)
        ]

    # -- the check -------------------------------------------------------------------

    def configured(self, session: Session) -> bool:
        """True when any requirement exists (with none, nothing is checked)."""
        return bool(session.scalar(select(exists().where(Requirement.id.is_not(None)))))

    def check(
        self,
        session: Session,
        *,
        people: Iterable[str],
        phase_type: str | None,
        recipe: str | None,
        units: Iterable[str],
    ) -> None:
        """Raise NotQualified naming every missing or expired curriculum of ``people`` for the step."""
        if not self.configured(session):
            return
        needs = rules.applicable(self._needs(session), phase_type=phase_type, recipe=recipe, units=units)
        if not needs:
            return
        now = self.clock.now()
        held = self._held(session, people)
        found = []
        for person in dict.fromkeys(p.lower() for p in people):
            found += rules.gaps(person, needs, held.get(person, []), at=now, today=self.today(now))
        if found:
            raise NotQualified(found)

    def standing_of(self, session: Session, user_ids: Sequence[str]) -> list[PersonStanding]:
        """Each user's standing on every curriculum (the qualification matrix)."""
        names = [c.name for c in self.curricula(session)]
        now = self.clock.now()
        held = self._held(session, user_ids)
        out = []
        for user_id in user_ids:
            user = self.users.get(session, user_id)
            standings = {
                n: rules.standing(n, held.get(user_id.lower(), []), at=now, today=self.today(now)) for n in names
            }
            out.append(PersonStanding(user.user_id, user.full_name, tuple(str(r) for r in user.roles), standings))
        return out

    def expiring(self, session: Session, *, within_days: int) -> list[tuple[TrainingRecord, Curriculum]]:
        """The newest record of each person and curriculum that expires within ``within_days`` (or has
        expired) and is not followed by a newer one."""
        latest: dict[tuple[str, str], tuple[TrainingRecord, Curriculum]] = {}
        for record, cur in self.records(session):
            key = (record.trainee, cur.id)
            seen = latest.get(key)
            if seen is None or _later(record, seen[0]):
                latest[key] = (record, cur)
        horizon = self.today() + dt.timedelta(days=within_days)
        due = [(r, c) for r, c in latest.values() if r.expires_on is not None and r.expires_on <= horizon]
        return sorted(due, key=lambda rc: (rc[0].expires_on or dt.date.max, rc[0].trainee))


def _later(a: TrainingRecord, b: TrainingRecord) -> bool:
    if a.expires_on is None:
        return b.expires_on is not None or a.recorded_at > b.recorded_at
    if b.expires_on is None:
        return False
    return (a.expires_on, a.recorded_at) > (b.expires_on, b.recorded_at)


def build(services: Any) -> TrainingService:
    """The installation's :class:`TrainingService`, built once from the composition root's services."""
    existing = services.extras.get("training")
    if isinstance(existing, TrainingService):
        return existing
    made = TrainingService(
        audit=services.audit,
        clock=services.clock,
        signing=services.signing,
        users=services.users,
        timezone=services.settings.plant_timezone,
    )
    services.extras["training"] = made
    return made
