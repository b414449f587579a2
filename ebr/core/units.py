"""The one unit registry of the system: recipes, plant files and readings share it (foundation).

Built on pint with rational arithmetic (``UnitRegistry(non_int_type=Fraction)``), so a
conversion is exact and comes back as a Decimal (``1.5 m³/h`` is exactly ``25 L/min``),
never a float; only a non-terminating result (``1/3``) is rounded, to 28 digits.

pint knows thousands of units; a batch record must not: a unit is accepted only
when it is written in plain symbols (ASCII plus ``° ³ ² µ ·``) and every unit it
is made of is one a process plant uses (mass, volume, time, temperature,
pressure, amount, fractions, rotation, pH, pieces).
So ``furlong``, ``mℓ``, mojibake such as ``Â°C`` and emoji are refused with one
line that names the unit and what to write instead, while ``L/s``, ``m³/h``,
``mg/mL`` and ``kg/h`` are understood and converted.

``pH`` and ``pcs`` are defined here as units of their own (pint would read them as
picohenry and parsec).
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction
from functools import cache

import pint

from ebr.core.errors import ValidationError

#: The pint names of the units a plant may use, alone or combined (``kg/h``).
ALLOWED_UNITS = frozenset(
    {
        "microgram", "milligram", "gram", "kilogram", "metric_ton",
        "microliter", "milliliter", "centiliter", "deciliter", "liter", "hectoliter", "kiloliter", "meter",
        "millisecond", "second", "minute", "hour", "day",
        "degree_Celsius", "kelvin",
        "millibar", "bar", "pascal", "hectopascal", "kilopascal", "megapascal", "millipascal",
        "micromole", "millimole", "mole",
        "percent", "ppm", "revolutions_per_minute", "pH", "piece",
    }
)  # fmt: skip

_CHARACTERS = re.compile(r"^[A-Za-z0-9°³²µ·*/^ %()._-]+$")


@cache
def registry() -> pint.UnitRegistry:  # type: ignore[type-arg]
    """The shared registry (built once, on first use)."""
    units: pint.UnitRegistry = pint.UnitRegistry(non_int_type=Fraction)  # type: ignore[type-arg]
    units.define("pH = [acidity]")
    units.define("piece = [count] = pcs")
    return units


def _pint_text(symbol: str) -> str:
    """How pint reads what people write: ``m3`` → ``m³``, ``mPa·s`` → ``mPa*s``, ``°C`` → ``degC``."""
    text = re.sub(r"(?<![A-Za-z])m([23])(?![0-9])", lambda m: "m" + "²³"[int(m.group(1)) - 2], symbol.strip())
    return text.replace("·", "*").replace("°C", "degC")


@cache
def parse(symbol: str) -> pint.Unit:
    """The pint unit for ``symbol``; ValidationError naming the unit when it is not a plant unit."""
    if not isinstance(symbol, str) or not symbol.strip():
        raise ValidationError("a unit is empty: write a unit such as kg, L, L/min or °C")
    if not _CHARACTERS.match(symbol):
        raise ValidationError(
            f"unit {symbol!r} has characters a unit cannot have: write it in plain symbols such as mL, °C or m³/h"
        )
    try:
        unit = registry().parse_units(_pint_text(symbol))
    # pint's expression parser raises whatever its tokenizer meets (AssertionError on
    # ``m**``, TokenError on ``((``, DivisionByZero on ``1/0``): all mean "not a unit".
    except Exception as exc:
        raise ValidationError(f"unit {symbol!r} is not a known unit: write one such as kg, L, L/min or °C") from exc
    if not unit._units:
        raise ValidationError(f"unit {symbol!r} is a number, not a unit: write one such as kg, L, L/min or °C")
    unknown = sorted(name for name in unit._units if name not in ALLOWED_UNITS)
    if unknown:
        raise ValidationError(
            f"unit {symbol!r} is not a process unit ({', '.join(unknown)}): use mass, volume, time,"
            " temperature, pressure, amount, %, rpm, pH or pcs units"
        )
    return unit


def check(symbol: str) -> str:
    """``symbol`` unchanged when it is a plant unit; ValidationError otherwise."""
    parse(symbol)
    return symbol


def dimension(symbol: str) -> str:
    """A readable name of what ``symbol`` measures (``[mass] / [time]``, ``[length] ** 3``)."""
    # pint's own formatting fails on the Fraction exponents of a rational registry.
    items = [(name, Fraction(str(power))) for name, power in sorted(parse(symbol).dimensionality.items())]
    up = [name if power == 1 else f"{name} ** {power}" for name, power in items if power > 0]
    down = [name if power == -1 else f"{name} ** {-power}" for name, power in items if power < 0]
    text = " * ".join(up) or ("1" if down else "dimensionless")
    return text + "".join(f" / {d}" for d in down)


def compatible(a: str, b: str) -> bool:
    """True when quantities in ``a`` and ``b`` measure the same thing."""
    return a == b or parse(a).dimensionality == parse(b).dimensionality


def convert(value: Decimal, source: str, target: str) -> Decimal:
    """``value`` in ``source`` expressed in ``target``, exactly; ValidationError on a mismatch."""
    if source == target:
        return value
    if not compatible(source, target):
        raise ValidationError(f"cannot convert {source} to {target}: they measure different things")
    magnitude = Fraction(registry().Quantity(Fraction(value), parse(source)).to(parse(target)).magnitude)
    return Decimal(magnitude.numerator) / Decimal(magnitude.denominator)
