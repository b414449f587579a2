"""Mutations of the runtime's safety rules, to show that the stateful test catches each one.

A test that still passes with the rule it proves switched off proves nothing. Each mutation
here switches one rule off (by patching the class, for the duration of a ``with``):

- ``overdose``: no overdose detection (``DosingPhase._check_overdose`` does nothing);
- ``guard``: no safe-state guard (``OutputGuard.reconcile`` neither reads nor writes);
- ``guard_write``: a guard that keeps its books (unconfirmed, alarms) but never writes the
  safe state (``OutputGuard._write`` does nothing): caught on the device, not in the books;
- ``discontinuity``: no totalizer-discontinuity handling (every step of the meter, also one
  back or an impossible jump, is added to the delivered amount as it is).

``tests/unit/equipment/test_safety_stateful.py`` runs the machine under each one and expects
it to fail; ``EBR_SAFETY_MUTATION=<name>`` applies one to the whole test module by hand.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from unittest import mock

from equipment.dosing import DosingPhase, _meter
from equipment.drivers.base import TagValue
from equipment.safety import OutputGuard


def _no_overdose_check(self: DosingPhase) -> None:
    return None


async def _no_reconcile(self: OutputGuard) -> dict[str, bool]:
    self.last_pass = time.monotonic()
    return {}


async def _no_write(self: OutputGuard, output: object) -> str:
    return ""


def _count_every_step(self: DosingPhase, item: TagValue) -> None:
    if not item.good:
        return
    value, last = _meter(item), self._last_total
    self._last_total, self._last_total_at = value, time.monotonic()
    if last is not None:
        self._delivered += value - last
        self._check_overdose()


MUTATIONS: dict[str, Callable[[], AbstractContextManager[object]]] = {
    "overdose": lambda: mock.patch.object(DosingPhase, "_check_overdose", _no_overdose_check),
    "guard": lambda: mock.patch.object(OutputGuard, "reconcile", _no_reconcile),
    "guard_write": lambda: mock.patch.object(OutputGuard, "_write", _no_write),
    "discontinuity": lambda: mock.patch.object(DosingPhase, "_count", _count_every_step),
}


@contextmanager
def mutated(name: str) -> Iterator[None]:
    """The runtime with the safety rule ``name`` switched off ("" or "none": unchanged)."""
    if name in ("", "none"):
        yield
        return
    if name not in MUTATIONS:
        raise ValueError(f"unknown mutation {name!r}; one of {', '.join(MUTATIONS)}")
    with MUTATIONS[name]():
        yield
