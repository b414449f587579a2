"""Numbers as people type them at the plant: the decimal comma where the plant's locale uses it.

Babel gives the locale's decimal and grouping symbols. A typed value is turned into
the engine's form (``"24,5"`` → ``"24.5"`` under ``de_DE``); a decimal point is
accepted everywhere. Thousands separators are refused rather than guessed: in a
comma locale ``1.234`` could mean either, and a wrong guess would be a wrong record.

Shown on the operator's pages, a number uses the same symbol (:func:`display`); the
PDF record, BatchML and exports stay canonical (a point, as stored), because they are
read by other systems and auditors anywhere and must not depend on the plant's locale.
"""

from __future__ import annotations

import re
from decimal import Decimal

from babel.numbers import get_decimal_symbol, get_group_symbol

from ebr.core.errors import ValidationError


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


_PLAIN = re.compile(r"-?\d+(\.\d+)?")


def display(value: object, locale: str) -> str:
    """``value`` as the plant reads it: a plain decimal with the locale's decimal symbol (``24.50`` → ``24,50``).

    Only the symbol changes, every digit stays (a recorded ``24.50`` is not shown as
    ``24,5``), and no grouping is added, so what is shown reads back through
    :func:`normalize` to the same value. Anything that is not a plain decimal (a
    sample id, a container, free text) is shown as it is.
    """
    text = format(value, "f") if isinstance(value, Decimal) else str(value)
    if not _PLAIN.fullmatch(text):
        return text
    decimal = get_decimal_symbol(locale)
    return text if decimal == "." else text.replace(".", decimal)
