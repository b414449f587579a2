"""What the operator typed, made ready for the engine: the decimal comma of the plant's locale.

An out-of-limit value is stored only when the operator confirms it ("record as
deviation"); the engine refuses it otherwise (``phases.OutOfLimitsUnconfirmed``, the
same rule as the API's ``confirm_out_of_limit``) and the panel asks to re-enter it or
record it as a deviation, so a typo costs neither a deviation nor a correction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from ebr.execution import numbers
from ebr.execution.phases import OutOfLimitsUnconfirmed
from ebr.execution.service import Execution
from recipes.phases import DataEntry, EntryKind

CONFIRM_FIELD = "out_of_limits"
CONFIRM_VALUE = "record as deviation"

# The question the panel asks (kept under its old name for the views and templates).
OutOfLimits = OutOfLimitsUnconfirmed


def prepare(
    session: Session, ex: Execution, *, number: str, path: str, values: Mapping[str, Any], locale: str
) -> dict[str, Any]:
    """``values`` with a numeric entry's decimal comma (in a comma locale) turned into a point."""
    prepared = dict(values)
    params = ex.ctx.plan(session, ex.batch(session, number)).phase(path).params
    if not isinstance(params, DataEntry) or params.kind is not EntryKind.NUMERIC or "value" not in prepared:
        return prepared
    prepared["value"] = numbers.normalize(str(prepared["value"]), locale, label=params.prompt)
    return prepared
