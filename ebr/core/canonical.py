r"""Canonical JSON (RFC 8785) — the one function everyone uses to hash or sign.

Hashed content contains no floats: integers (|n| < 2^53), strings, booleans,
null, lists and objects. ``Decimal`` values become plain-notation strings that
keep their significant digits and aware datetimes become RFC 3339 UTC strings
with microseconds, via :func:`jsonable`.

:func:`canon` writes with the standard library's C JSON encoder (sorted keys, no
spaces, UTF-8 unescaped), which gives exactly RFC 8785's bytes for such content as
long as no character is at or above U+D800: string escaping is the same
(``\"``, ``\\``, ``\b \f \n \r \t``, ``\u00xx`` lowercase for other controls), safe
integers print the same, and below U+D800 code-point order is UTF-16 order (the
order RFC 8785 sorts keys in). Anything else (surrogates, U+E000 and above, which
includes every character outside the BMP) is written by the ``rfc8785`` package.
A test holds the two to the same bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import rfc8785

from ebr.core.clock import to_rfc3339
from ebr.core.errors import ValidationError

MAX_SAFE_INTEGER = 2**53 - 1
ZERO_HASH = "0" * 64


def decimal_text(value: Decimal) -> str:
    """Plain notation that keeps significant digits: ``Decimal('1.250E+1')`` → ``'12.50'``."""
    if not value.is_finite():
        raise ValidationError(f"{value} is not a finite quantity")
    return format(value, "f")


_LEAVES = frozenset({str, int, bool, float, type(None)})
"""Types :func:`jsonable` returns as they are (exact types: checked without a call per leaf)."""


def jsonable(value: Any) -> Any:
    """Turn Decimals and aware datetimes into their canonical string forms, recursively."""
    kind = type(value)
    if kind in _LEAVES:
        return value
    if kind is dict:
        return {
            key if type(key) is str else str(key): item if type(item) in _LEAVES else jsonable(item)
            for key, item in value.items()
        }
    if kind is list or kind is tuple:
        return [item if type(item) in _LEAVES else jsonable(item) for item in value]
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, dt.datetime):
        return to_rfc3339(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _check(value: Any, path: str) -> None:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, float):
        raise ValidationError(f"{path}: float {value!r} in hashed content; use a Decimal string")
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise ValidationError(f"{path}: integer {value} exceeds 2^53; store it as a string")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(f"{path}: object key {key!r} is not a string")
            _check(item, f"{path}.{key}")
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]")
        return
    raise ValidationError(f"{path}: {type(value).__name__} cannot be canonicalized; convert it with jsonable()")


def _plain(value: Any) -> bool:
    """True when ``value`` is built of exactly dict, list, tuple, str, safe int, bool and None."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER)
    if kind is dict:
        return all(type(key) is str and (type(item) in _SCALARS or _plain(item)) for key, item in value.items())
    if kind is list or kind is tuple:
        return all(type(item) in _SCALARS or _plain(item) for item in value)
    return False


_SCALARS = frozenset({str, bool, type(None)})  # always plain (an int is checked for its size)


_ENCODE = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False).encode
_NOT_UTF16_ORDERED = re.compile("[\ud800-\U0010ffff]")


def canon(value: Any) -> bytes:
    """RFC 8785 canonical UTF-8 bytes of ``value``; floats and unsafe integers are refused."""
    if not _plain(value):
        _check(value, "$")  # raises ValidationError naming the path, or lets subclasses (StrEnum, …) through
    try:
        text = _ENCODE(value)
    except (TypeError, ValueError):  # a Mapping that is no dict, …: rfc8785 accepts or refuses it
        return rfc8785.dumps(value)
    if _NOT_UTF16_ORDERED.search(text) is None:
        return text.encode("utf-8")
    return rfc8785.dumps(value)


def sha256_hex(data: bytes) -> str:
    """``H(b)`` of the audit spec: SHA-256 as 64 lowercase hex characters."""
    return hashlib.sha256(data).hexdigest()


def content_hash(value: Any) -> str:
    """``H(canon(value))``."""
    return sha256_hex(canon(value))
