"""What the operator typed, made ready for the engine: decimal comma, and a confirmation before an out-of-limit value.

An out-of-limit value is stored only when the operator confirms it ("record as
deviation"); otherwise the panel asks to re-enter it or record it as a deviation,
so a typo costs neither a deviation nor a correction. The API stores at once (the
client decides), as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from ebr.execution import phases
from ebr.execution.service import Execution
from ebr.web import numbers
from recipes.phases import DataEntry, EntryKind

CONFIRM_FIELD = "out_of_limits"
CONFIRM_VALUE = "record as deviation"


@dataclass
class OutOfLimits(Exception):
    """The typed value is outside its limits and was not confirmed: ask before storing it."""

    path: str
    value: str
    unit: str | None
    message: str


def prepare(
    session: Session, ex: Execution, *, number: str, path: str, values: Mapping[str, Any], locale: str, confirmed: bool
) -> dict[str, Any]:
    """``values`` with a numeric entry normalized; raises OutOfLimits for an unconfirmed out-of-limit value."""
    prepared = dict(values)
    params = ex.ctx.plan(session, ex.batch(session, number)).phase(path).params
    if not isinstance(params, DataEntry) or params.kind is not EntryKind.NUMERIC or "value" not in prepared:
        return prepared
    prepared["value"] = numbers.normalize(str(prepared["value"]), locale, label=params.prompt)
    entry, deviation = phases.check_value(params, prepared["value"])
    if deviation is not None and not confirmed:
        raise OutOfLimits(path, entry.value, params.unit, deviation.description)
    return prepared
