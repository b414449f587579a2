"""The control recipe of a batch as an index of its procedural elements (pure, cached).

Steps are addressed by path: ``UP1`` (unit procedure), ``UP1.OP1`` (operation) and
``UP1.OP1.PH1`` (phase); the procedure itself is the empty path. The index gives
each element's children and transitions, so the engine works on one level at a
time. Parsing a control recipe is linear in its size, so plans are cached by the
hash of the frozen control recipe (which never changes for a batch).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from recipes.model import Operation, Phase, Recipe, Transition, UnitProcedure

Element = UnitProcedure | Operation | Phase


@dataclass(frozen=True)
class Node:
    """One procedural element: its path, level, children (paths) and the level's transitions."""

    path: str
    level: str
    element: Element | None
    children: tuple[str, ...]
    transitions: tuple[Transition, ...]
    unit: str | None


@dataclass
class Plan:
    """Every element of a control recipe by path."""

    recipe: Recipe
    nodes: dict[str, Node] = field(default_factory=dict)

    def node(self, path: str) -> Node:
        return self.nodes[path]

    def phase(self, path: str) -> Phase:
        element = self.nodes[path].element
        if not isinstance(element, Phase):
            raise KeyError(f"{path} is not a phase")
        return element


def _prefixed(transitions: tuple[Transition, ...], prefix: str) -> tuple[Transition, ...]:
    def full(ids: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(f"{prefix}{i}" for i in ids)

    return tuple(Transition(full(t.sources), full(t.targets), t.condition) for t in transitions)


def build_plan(recipe: Recipe) -> Plan:
    """Index ``recipe``'s unit procedures, operations and phases by path."""
    plan = Plan(recipe)
    # Transitions name sibling ids; prefixed with the parent's path they match the step rows.
    ups = tuple(up.id for up in recipe.unit_procedures)
    plan.nodes[""] = Node("", "procedure", None, ups, _prefixed(recipe.transitions, ""), None)
    for up in recipe.unit_procedures:
        unit = up.equipment.unit
        ops = tuple(f"{up.id}.{op.id}" for op in up.operations)
        plan.nodes[up.id] = Node(up.id, "unit_procedure", up, ops, _prefixed(up.transitions, f"{up.id}."), unit)
        for op in up.operations:
            op_path = f"{up.id}.{op.id}"
            phases = tuple(f"{op_path}.{ph.id}" for ph in op.phases)
            plan.nodes[op_path] = Node(op_path, "operation", op, phases, _prefixed(op.transitions, f"{op_path}."), unit)
            for ph in op.phases:
                path = f"{op_path}.{ph.id}"
                plan.nodes[path] = Node(path, "phase", ph, (), (), unit)
    return plan


def parent_of(path: str) -> str:
    """``UP1.OP1.PH1`` → ``UP1.OP1``; ``UP1`` → ``""`` (the procedure)."""
    return path.rpartition(".")[0]


class PlanCache:
    """A small LRU of plans keyed by control recipe hash."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._plans: OrderedDict[str, Plan] = OrderedDict()

    # Keyed by the control recipe's hash, which never changes for a batch: no invalidation needed.
    def get(self, key: str, load: Mapping[str, Any] | None = None) -> Plan | None:
        plan = self._plans.get(key)
        if plan is not None:
            self._plans.move_to_end(key)
        return plan

    def put(self, key: str, plan: Plan) -> Plan:
        self._plans[key] = plan
        while len(self._plans) > self.size:
            self._plans.popitem(last=False)
        return plan
