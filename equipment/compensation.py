"""Valve travel compensation, pure: how long before the target the inlet valve must close.

Product keeps flowing while the valve travels shut and while the stop write and the meter's
next notification are under way. The dosing closes early by ``flow × lead``: ``lead`` starts
from the configured valve travel time (plus one scan) and is learned from each completed
dosing's own in-flight amount (what the meter counted after the close was decided, divided by
the flow at that moment), smoothed so one odd dosing does not swing it.
"""

from __future__ import annotations

from dataclasses import dataclass

SCAN_S = 0.05  # one physics/PLC scan of product, always in flight
ALPHA = 0.5  # weight of the newest observation
MAX_LEAD_S = 5.0


@dataclass
class StopLead:
    """The lead time of one unit's inlet valve (seconds), configured then learned."""

    travel_s: float = 0.0
    learned_s: float | None = None
    observations: int = 0

    def seconds(self) -> float:
        """The lead to use now."""
        return self.learned_s if self.learned_s is not None else self.travel_s + SCAN_S

    def in_flight(self, flow_per_s: float) -> float:
        """The amount still to come after a close decided now at ``flow_per_s``."""
        return max(0.0, flow_per_s) * self.seconds()

    def learn(self, in_flight: float, flow_per_s: float) -> None:
        """Fold in one dosing: ``in_flight`` counted after the close was decided at ``flow_per_s``."""
        if flow_per_s <= 0 or in_flight < 0:
            return
        observed = min(MAX_LEAD_S, in_flight / flow_per_s)
        self.learned_s = observed if self.learned_s is None else ALPHA * observed + (1 - ALPHA) * self.learned_s
        self.observations += 1
