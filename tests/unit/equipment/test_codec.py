"""Modbus register codec: byte and word order, scale, bits."""

from __future__ import annotations

import pytest

from equipment.config import ModbusAddress
from equipment.drivers.codec import decode, encode


@pytest.mark.parametrize("word_order", ["big", "little"])
@pytest.mark.parametrize("byte_order", ["big", "little"])
def test_float32_round_trips_in_every_byte_and_word_order(byte_order: str, word_order: str) -> None:
    address = ModbusAddress(register=0, data_type="float32", byte_order=byte_order, word_order=word_order)
    assert decode(encode(12.5, address), address) == 12.5


def test_low_word_first_float_matches_the_known_register_pair() -> None:
    address = ModbusAddress(register=0, data_type="float32", word_order="little")
    # 12.5 is 0x41480000: high word 0x4148, low word 0x0000; low word first.
    assert encode(12.5, address) == [0x0000, 0x4148]


def test_an_int32_in_grams_reads_as_kilograms_with_its_scale() -> None:
    address = ModbusAddress(register=2, data_type="int32", scale=0.001)
    assert encode(12.345, address) == [0, 12345]
    assert decode([0, 12345], address) == pytest.approx(12.345)


def test_a_status_bit_reads_as_a_boolean() -> None:
    address = ModbusAddress(register=4, data_type="uint16", bit=3)
    assert decode([0b1000], address) is True
    assert decode([0b0111], address) is False


def test_the_wrong_number_of_registers_is_an_error() -> None:
    with pytest.raises(ValueError, match="needs 2 registers"):
        decode([1], ModbusAddress(register=0, data_type="float32"))
