"""Units of measure in recipes: validity, dimension, conversion and rounding precision (pure).

Which units exist and how they convert is the shared registry's (``ebr.core.units``,
pint with exact rational arithmetic): the recipes, the plant configuration and
the readings use one registry. A unit it refuses (``furlong``, ``mℓ``, ``Â°C``)
is a problem of the recipe (:func:`problem`); :func:`dimension` still names it
``unit:<symbol>`` so that the other checks can go on without repeating it.

The precision is the resolution to which a scaled quantity is rounded, chosen as
what the plant can weigh or meter in that unit (a formula parameter or a material
line can state its own). Rounding is ``ROUND_HALF_UP`` (the rule taught in
pharmacy and used on paper batch records).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import cache

from ebr.core import units as registry
from ebr.core.errors import ValidationError

PRECISION: dict[str, Decimal] = {
    symbol: Decimal(precision)
    for symbol, precision in (
        ("mg", "0.1"), ("g", "0.01"), ("kg", "0.001"), ("t", "0.001"),
        ("mL", "0.1"), ("L", "0.01"), ("kL", "0.001"), ("m3", "0.0001"), ("m³", "0.0001"),
        ("s", "1"), ("min", "0.1"), ("h", "0.01"),
        ("°C", "0.1"),
        ("mbar", "1"), ("bar", "0.01"), ("kPa", "0.1"),
        ("kg/h", "0.1"), ("kg/min", "0.01"), ("g/min", "0.1"),
        ("L/h", "0.1"), ("L/min", "0.01"), ("mL/min", "0.1"),
        ("rpm", "1"), ("%", "0.01"), ("pH", "0.01"), ("mPa·s", "0.1"),
        ("kg/L", "0.0001"), ("g/mL", "0.0001"), ("pcs", "1"),
    )
}  # fmt: skip
"""Default rounding resolution per unit symbol (what a plant can weigh or meter)."""

NAMES = {
    "[mass]": "mass",
    "[length] ** 3": "volume",
    "[time]": "time",
    "[temperature]": "temperature",
    "[mass] / [length] / [time] ** 2": "pressure",
    "[mass] / [time]": "mass_flow",
    "[length] ** 3 / [time]": "volume_flow",
    "1 / [time]": "rotation",
    "dimensionless": "fraction",
    "[acidity]": "acidity",
    "[mass] / [length] / [time]": "viscosity",
    "[mass] / [length] ** 3": "density",
    "[count]": "count",
    "[substance]": "amount",
}
"""Our names of the dimensions recipes check against (a weighing is in a ``mass``)."""


def problem(symbol: str) -> str | None:
    """Why ``symbol`` is not a unit a recipe may use, or None when it is one."""
    try:
        registry.check(symbol)
    except ValidationError as exc:
        return str(exc)
    return None


@cache
def dimension(symbol: str) -> str:
    """What ``symbol`` measures (``mass``, ``volume_flow``, …); ``unit:<symbol>`` for a unit we refuse."""
    try:
        text = registry.dimension(symbol)
    except ValidationError:
        return f"unit:{symbol}"
    return NAMES.get(text, text)


def compatible(a: str, b: str) -> bool:
    """True when quantities in ``a`` and ``b`` measure the same thing."""
    return a == b or dimension(a) == dimension(b)


def convert(value: Decimal, source: str, target: str) -> Decimal:
    """``value`` in ``source`` expressed in ``target``, exactly; raises ValueError on a mismatch."""
    if source == target:
        return value
    if not compatible(source, target) or dimension(source).startswith("unit:"):
        raise ValueError(f"cannot convert {source} to {target}: they measure different things")
    return registry.convert(value, source, target)


def default_precision(symbol: str) -> Decimal:
    """The rounding resolution for ``symbol`` (``0.001`` for units not in :data:`PRECISION`)."""
    return PRECISION.get(symbol, Decimal("0.001"))


def round_to(value: Decimal, precision: Decimal) -> Decimal:
    """``value`` rounded half-up to a multiple of ``precision`` (e.g. 0.001 or 0.5)."""
    if precision <= 0:
        raise ValueError(f"precision must be positive, got {precision}")
    steps = (value / precision).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return (steps * precision).quantize(precision)
