"""Tables of the application layer (materials, lots, batches, execution).

The tables live next to their services (``ebr.materials.models``,
``ebr.execution.models``); importing this module registers them all on ``Base``.
"""

from __future__ import annotations

from ebr.core.db import Base
from ebr.execution.models import Batch, BatchStep, Deviation, RecordSignature, StepEntry
from ebr.materials.models import Container, Lot, LotStatusChange, Material, MaterialConsumption

__all__ = [
    "Base",
    "Batch",
    "BatchStep",
    "Container",
    "Deviation",
    "Lot",
    "LotStatusChange",
    "Material",
    "MaterialConsumption",
    "RecordSignature",
    "StepEntry",
]
