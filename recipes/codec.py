"""Dataclass ⇄ JSON-able dict, driven by type hints (pure).

Decimals become plain-notation strings that keep their digits (``ebr.core.canonical``),
enums their values, tuples lists, :class:`ParamRef` ``{"param": name}``. A field
may carry ``metadata={"key": "from"}`` to use another key in the dict. Phases are
flat: the phase's own fields and its parameters side by side, the parameter class
chosen by ``type``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any

from ebr.core.canonical import decimal_text
from recipes.phases import PARAMS_CLASS, ParamRef, PhaseType

PHASE_COMMON = ("id", "name", "type", "signatures", "instructions")
"""The fields of a phase itself; every other key of a phase dict is a parameter."""


def key_of(f: dataclasses.Field[Any]) -> str:
    """The dict key of dataclass field ``f``."""
    return str(f.metadata.get("key", f.name))


@cache
def hints(cls: type) -> dict[str, Any]:
    """Resolved type hints of a dataclass (cached)."""
    return typing.get_type_hints(cls)


def encode(value: Any, *, decimal: Callable[[Decimal], Any] = decimal_text, compact: bool = False) -> Any:
    """A JSON-able form of ``value`` (dataclass, Decimal, enum, tuple, scalar).

    ``decimal`` renders each Decimal (default: its plain-notation string);
    ``compact`` leaves out dataclass fields that hold their default (for people to read).
    """

    def again(item: Any) -> Any:
        return encode(item, decimal=decimal, compact=compact)

    if isinstance(value, Decimal):
        return decimal(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, ParamRef):
        return {"param": value.param}
    if isinstance(value, tuple | list):
        return [again(v) for v in value]
    if isinstance(value, dict):
        return {str(k): again(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        phase: Any = value
        is_phase = type(value).__name__ == "Phase"
        out = {
            key_of(f): again(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not (is_phase and f.name == "params") and not (compact and _at_default(f, getattr(value, f.name)))
        }
        if is_phase:
            out.update(again(phase.params))
        return out
    return value


def _at_default(f: dataclasses.Field[Any], value: Any) -> bool:
    return f.default is not dataclasses.MISSING and value == f.default


def decode(hint: Any, value: Any) -> Any:
    """Rebuild a value of type ``hint`` from its JSON-able form; raises ValueError/TypeError/KeyError."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _decode_union(typing.get_args(hint), value)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if not isinstance(value, list | tuple):
            raise TypeError(f"expected a list, got {type(value).__name__}")
        return tuple(decode(item, v) for v in value)
    if hint is Decimal:
        if isinstance(value, float | bool):
            raise TypeError("a quantity must be a decimal string, not a float")
        return Decimal(str(value))
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return decode_dataclass(hint, value)
    if hint in (str, int, bool) and not isinstance(value, hint):
        raise TypeError(f"expected {hint.__name__}, got {type(value).__name__}")
    return value


def _decode_union(args: tuple[Any, ...], value: Any) -> Any:
    if value is None and type(None) in args:
        return None
    if ParamRef in args and isinstance(value, ParamRef):
        return value
    if ParamRef in args and isinstance(value, dict):
        return ParamRef(str(value["param"]))
    for arg in args:
        if arg is not type(None) and arg is not ParamRef:
            return decode(arg, value)
    raise TypeError(f"cannot decode {value!r}")


def decode_dataclass(cls: type, data: Any) -> Any:
    """An instance of dataclass ``cls`` from its dict form; absent keys take the field defaults."""
    if not isinstance(data, dict):
        raise TypeError(f"expected an object for {cls.__name__}, got {type(data).__name__}")
    if cls.__name__ == "Phase":
        return _decode_phase(cls, data)
    type_hints = hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        # Marshmallow hands back attribute names; documents use the keys.
        key = key_of(f) if key_of(f) in data else f.name
        if key in data:
            kwargs[f.name] = decode(type_hints[f.name], data[key])
    return cls(**kwargs)


def _decode_phase(cls: type, data: dict[str, Any]) -> Any:
    phase_type = PhaseType(data["type"])
    params = decode_dataclass(PARAMS_CLASS[phase_type], {k: v for k, v in data.items() if k not in PHASE_COMMON})
    common = {k: v for k, v in data.items() if k in PHASE_COMMON}
    type_hints = hints(cls)
    kwargs = {name: decode(type_hints[name], value) for name, value in common.items()}
    return cls(params=params, **kwargs)
