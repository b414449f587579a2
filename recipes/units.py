"""Units of measure that recipes use: dimension, conversion factor and rounding precision (pure).

A unit mismatch is a use of a unit of a different dimension (mL where kg is
expected). Units not in the table are accepted but compatible only with
themselves, so a plant-specific unit cannot be silently converted.

The precision is the resolution to which a scaled quantity is rounded, chosen as
what the plant can weigh or meter in that unit (a formula parameter or a material
line can state its own). Rounding is ``ROUND_HALF_UP`` (the rule taught in
pharmacy and used on paper batch records).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True)
class Unit:
    """A unit: its dimension, its factor to the dimension's base unit and its default precision."""

    symbol: str
    dimension: str
    factor: Decimal
    precision: Decimal


def _units(dimension: str, rows: list[tuple[str, str, str]]) -> dict[str, Unit]:
    return {s: Unit(s, dimension, Decimal(f), Decimal(p)) for s, f, p in rows}


UNITS: dict[str, Unit] = {
    **_units("mass", [("mg", "0.000001", "0.1"), ("g", "0.001", "0.01"), ("kg", "1", "0.001"), ("t", "1000", "0.001")]),
    **_units("volume", [("mL", "0.001", "0.1"), ("L", "1", "0.01"), ("m3", "1000", "0.0001")]),
    **_units("time", [("s", "1", "1"), ("min", "60", "0.1"), ("h", "3600", "0.01")]),
    **_units("temperature", [("°C", "1", "0.1")]),
    **_units("pressure", [("mbar", "0.001", "1"), ("bar", "1", "0.01"), ("kPa", "0.01", "0.1")]),
    **_units("mass_flow", [("kg/h", "1", "0.1"), ("kg/min", "60", "0.01"), ("g/min", "0.06", "0.1")]),
    **_units("volume_flow", [("L/h", "1", "0.1"), ("L/min", "60", "0.01"), ("mL/min", "0.06", "0.1")]),
    **_units("rotation", [("rpm", "1", "1")]),
    **_units("fraction", [("%", "1", "0.01")]),
    **_units("acidity", [("pH", "1", "0.01")]),
    **_units("viscosity", [("mPa·s", "1", "0.1")]),
    **_units("density", [("kg/L", "1", "0.0001"), ("g/mL", "1", "0.0001")]),
    **_units("count", [("pcs", "1", "1")]),
}


def dimension(symbol: str) -> str:
    """The dimension of ``symbol``; an unknown unit is its own dimension."""
    unit = UNITS.get(symbol)
    return unit.dimension if unit else f"unit:{symbol}"


def compatible(a: str, b: str) -> bool:
    """True when quantities in ``a`` and ``b`` measure the same thing."""
    return a == b or dimension(a) == dimension(b)


def convert(value: Decimal, source: str, target: str) -> Decimal:
    """``value`` in ``source`` expressed in ``target``; raises ValueError on a mismatch."""
    if source == target:
        return value
    if not compatible(source, target) or source not in UNITS or target not in UNITS:
        raise ValueError(f"cannot convert {source} to {target}: they measure different things")
    return value * UNITS[source].factor / UNITS[target].factor


def default_precision(symbol: str) -> Decimal:
    """The rounding resolution for ``symbol`` (``0.001`` for units not in the table)."""
    unit = UNITS.get(symbol)
    return unit.precision if unit else Decimal("0.001")


def round_to(value: Decimal, precision: Decimal) -> Decimal:
    """``value`` rounded half-up to a multiple of ``precision`` (e.g. 0.001 or 0.5)."""
    if precision <= 0:
        raise ValueError(f"precision must be positive, got {precision}")
    steps = (value / precision).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return (steps * precision).quantize(precision)
