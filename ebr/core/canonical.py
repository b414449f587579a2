"""Canonical JSON (RFC 8785) — the one function everyone uses to hash or sign.

Hashed content contains no floats: integers (|n| < 2^53), strings, booleans,
null, lists and objects. ``Decimal`` values become plain-notation strings that
keep their significant digits and aware datetimes become RFC 3339 UTC strings
with microseconds, via :func:`jsonable`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
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


def jsonable(value: Any) -> Any:
    """Turn Decimals and aware datetimes into their canonical string forms, recursively."""
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


def canon(value: Any) -> bytes:
    """RFC 8785 canonical UTF-8 bytes of ``value``; floats and unsafe integers are refused."""
    _check(value, "$")
    return rfc8785.dumps(value)


def sha256_hex(data: bytes) -> str:
    """``H(b)`` of the audit spec: SHA-256 as 64 lowercase hex characters."""
    return hashlib.sha256(data).hexdigest()


def content_hash(value: Any) -> str:
    """``H(canon(value))``."""
    return sha256_hex(canon(value))
