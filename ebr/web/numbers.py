"""Numbers as people type them at the plant: the decimal comma where the plant's locale uses it.

Babel gives the locale's decimal and grouping symbols. A typed value is turned into
the engine's form (``"24,5"`` → ``"24.5"`` under ``de_DE``); a decimal point is
accepted everywhere. Thousands separators are refused rather than guessed: in a
comma locale ``1.234`` could mean either, and a wrong guess would be a wrong record.
"""

from __future__ import annotations

from babel.numbers import get_decimal_symbol, get_group_symbol

from ebr.errors import ValidationError


def normalize(text: str, locale: str, *, label: str = "value") -> str:
    """``text`` with the locale's decimal symbol replaced by a point; ValidationError for grouped digits."""
    raw = text.strip()
    decimal, group = get_decimal_symbol(locale), get_group_symbol(locale)
    if decimal == "." or decimal not in raw:
        return raw
    if "." in raw or (group and group in raw and group != decimal):
        raise ValidationError(
            f"{label}: {raw!r} mixes separators; type the number without thousands separators, e.g. 1234{decimal}5"
        )
    if raw.count(decimal) > 1:
        raise ValidationError(f"{label}: {raw!r} has more than one decimal {decimal!r}; type one, e.g. 24{decimal}5")
    return raw.replace(decimal, ".")
