"""Changing a material of the master (creating one is :meth:`MaterialService.create_material`).

A change is audited ``material.changed`` with the fields before and after and the
reason. The base unit and *potency applies* decide how a batch weighs the material
(targets, conversions, the lots' quantities), so they cannot change while the
material is in use — the caller says whether it is, and why (:func:`update_material`'s
``in_use``): recipes and lots are known to other packages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from audit.chain import Entity
from ebr.core import units
from ebr.core.errors import ValidationError
from ebr.materials.models import Material
from ebr.materials.services import MAX_RETEST_DAYS, MaterialService

CHANGEABLE = frozenset(
    {"name", "unit", "hazardous", "allergen", "hazard_note", "storage", "retest_interval_days",
     "potency_applies", "label_text"}
)  # fmt: skip
"""The master fields a change may set."""
MEANING = frozenset({"unit", "potency_applies"})
"""Fields that change what a batch's quantities mean: refused while the material is in use."""


def update_material(
    svc: MaterialService,
    session: Session,
    *,
    actor: str,
    code: str,
    changes: Mapping[str, Any],
    reason: str,
    in_use: str | None = None,
) -> Material:
    """Apply ``changes`` (field → new value) to material ``code``; returns it.

    Raises NotFound for an unknown code, ValidationError for an unknown field or a
    wrong value, and for a change of the unit or *potency applies* when ``in_use``
    says why the material is in use (nothing is changed then).
    """
    material = svc.material(session, code)
    unknown = sorted(set(changes) - CHANGEABLE)
    if unknown:
        raise ValidationError(f"material {code}: {', '.join(unknown)} cannot be changed; change only the master fields")
    changed = {k: v for k, v in changes.items() if getattr(material, k) != v}
    blocked = sorted(MEANING & set(changed))
    if blocked and in_use:
        what = ", ".join(f"{k} {getattr(material, k)!r} → {changed[k]!r}" for k in blocked)
        raise ValidationError(
            f"material {code}: {what} refused — {in_use}; a batch's quantities would change meaning. "
            "Create a new material code instead"
        )
    if "unit" in changed:
        units.check(changed["unit"])
    days = changed.get("retest_interval_days")
    if days is not None and not 0 < days <= MAX_RETEST_DAYS:
        raise ValidationError(f"retest interval {days} days: give 1 to {MAX_RETEST_DAYS} days or none")
    if not changed:
        return material
    before = {k: getattr(material, k) for k in changed}
    for key, value in changed.items():
        setattr(material, key, value)
    session.flush()
    svc.audit.record(
        session,
        actor=actor,
        action="material.changed",
        entity=Entity("material", code),
        before=before,
        after=dict(changed),
        reason=reason,
    )
    return material
