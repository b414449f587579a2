"""Modbus register codec: 16-bit registers ⇄ numbers with byte and word order, scale, bits.

Pure functions shared by the driver and the simulated scale, so both sides agree
on exactly one definition of "float32, low word first".
"""

from __future__ import annotations

import struct

from equipment.config import ModbusAddress

_FORMATS = {"float32": "f", "int32": "i", "uint32": "I", "int16": "h", "uint16": "H"}


def _to_words(raw: bytes, address: ModbusAddress) -> list[int]:
    words = [raw[i : i + 2] for i in range(0, len(raw), 2)]
    if address.word_order == "little":
        words.reverse()
    if address.byte_order == "little":
        words = [w[::-1] for w in words]
    return [int.from_bytes(w, "big") for w in words]


def _from_words(registers: list[int], address: ModbusAddress) -> bytes:
    words = [r.to_bytes(2, "big") for r in registers]
    if address.byte_order == "little":
        words = [w[::-1] for w in words]
    if address.word_order == "little":
        words.reverse()
    return b"".join(words)


def decode(registers: list[int], address: ModbusAddress) -> float | int | bool:
    """The engineering value of ``registers`` (``raw * scale + offset``; a bit as bool)."""
    if len(registers) != address.count:
        raise ValueError(f"{address.data_type} needs {address.count} registers, got {len(registers)}")
    if address.data_type == "bool":
        return bool(registers[0])
    (raw,) = struct.unpack(">" + _FORMATS[address.data_type], _from_words(registers, address))
    if address.bit is not None:
        return bool((int(raw) >> address.bit) & 1)
    if address.scale == 1.0 and address.offset == 0.0 and address.data_type != "float32":
        return int(raw)
    return float(raw) * address.scale + address.offset


def encode(value: float | int | bool, address: ModbusAddress) -> list[int]:
    """The registers that :func:`decode` turns back into ``value``."""
    if address.data_type == "bool":
        return [1 if value else 0]
    raw = (float(value) - address.offset) / address.scale
    number: float | int = raw if address.data_type == "float32" else round(raw)
    return _to_words(struct.pack(">" + _FORMATS[address.data_type], number), address)
