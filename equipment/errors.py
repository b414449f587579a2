"""Errors of the equipment package.

::

    EquipmentError (ebr.core.errors)         root of this package
    ├── EquipmentNotFound              no equipment with that tag
    ├── EquipmentNotUsable             check_usable refused the equipment
    │   ├── EquipmentDirty             not clean (dirty, or in use by another batch)
    │   ├── CleanHoldExpired           cleaned too long ago: clean it again
    │   ├── CalibrationOverdue         never calibrated, failed, or past its due date
    │   └── OutOfService               in maintenance or out of service
    ├── StatusChangeRefused            a status change that the rules do not allow
    ├── PlantConfigError               the plant configuration file is wrong (``problems``)
    ├── DriverError                    a driver cannot connect, read or write
    │   └── CommunicationLost          the connection to the plant is gone
    ├── CommandRefused                 a command to the runtime is malformed or not allowed
    └── PermissiveFailed               a start was refused by an interlock permissive
"""

from __future__ import annotations

from collections.abc import Iterable

from ebr.core.errors import EquipmentError


class EquipmentNotFound(EquipmentError):
    """No equipment with that tag is registered."""


class EquipmentNotUsable(EquipmentError):
    """The equipment may not be used now; the message says why and what to do."""

    def __init__(self, message: str, *, tag: str) -> None:
        super().__init__(message)
        self.tag = tag


class EquipmentDirty(EquipmentNotUsable):
    """The equipment is not clean."""


class CleanHoldExpired(EquipmentNotUsable):
    """The last cleaning is older than the clean-hold time."""


class CalibrationOverdue(EquipmentNotUsable):
    """No valid calibration covers the time of use."""


class OutOfService(EquipmentNotUsable):
    """The equipment is in maintenance or out of service."""


class StatusChangeRefused(EquipmentError):
    """The requested status change is not allowed."""


class PlantConfigError(EquipmentError):
    """The plant configuration is invalid; ``problems`` names every bad path."""

    def __init__(self, message: str, problems: Iterable[str] = ()) -> None:
        self.problems = list(problems)
        full = message if not self.problems else message + "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(full)


class DriverError(EquipmentError):
    """A driver could not connect, read or write."""


class CommunicationLost(DriverError):
    """The connection to the plant was lost."""


class CommandRefused(EquipmentError):
    """A command to the equipment runtime is malformed or not allowed in the phase's state."""


class PermissiveFailed(EquipmentError):
    """A start was refused because a permissive does not hold."""

    def __init__(self, message: str, *, failed: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.failed = list(failed)
