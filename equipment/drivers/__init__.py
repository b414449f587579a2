"""Drivers: one small interface (:class:`EquipmentDriver`), one implementation per protocol."""

from equipment.drivers.base import ConnectionListener, EquipmentDriver, Quality, TagValue, ValueCallback

__all__ = ["ConnectionListener", "EquipmentDriver", "Quality", "TagValue", "ValueCallback"]
