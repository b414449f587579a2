"""The step graph of one level of a recipe (pure): effective transitions and graph checks.

See ``recipes.model`` for the semantics. :func:`effective_transitions` gives the
execution engine one explicit list for every level (an implicit sequence becomes
one unconditional transition per step), :func:`initial_step` the step a level
starts with.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from recipes import formula
from recipes.model import Transition


def initial_step(ids: Sequence[str]) -> str:
    """The step a level starts with: the first one written."""
    return ids[0]


def effective_transitions(ids: Sequence[str], transitions: Sequence[Transition]) -> tuple[Transition, ...]:
    """``transitions``, or the implicit sequence ``ids[0] → ids[1] → …`` when there are none."""
    if transitions:
        return tuple(transitions)
    return tuple(Transition((a,), (b,)) for a, b in itertools.pairwise(ids))


def check_level(
    prefix: str,
    ids: Sequence[str],
    transitions: Sequence[Transition],
    unknown_names: Callable[[formula.Expression], list[str]],
) -> list[str]:
    """Problems of one level: duplicate ids, unknown steps, bad conditions, unreachable steps, endless loops."""
    problems = _duplicate_ids(prefix, ids)
    known = set(ids)
    for n, t in enumerate(transitions):
        where = f"{prefix}transitions[{n}]"
        for key, steps in (("from", t.sources), ("to", t.targets)):
            problems += [
                f"{where}.{key}: unknown step {s!r} (steps here: {', '.join(ids)})" for s in steps if s not in known
            ]
            problems += [f"{where}.{key}: step {s!r} is listed twice" for s in sorted(set(steps)) if steps.count(s) > 1]
        if t.condition is not None:
            try:
                expression = formula.parse(t.condition)
            except formula.ExpressionError as exc:
                problems.append(f"{where}.when: {exc}")
            else:
                problems += [f"{where}.when: unknown name {name!r}" for name in unknown_names(expression)]
    if not transitions or problems:
        return problems
    problems += _ambiguous(prefix, ids, transitions)
    problems += _unreachable(prefix, ids, transitions)
    return problems + _endless_loops(prefix, ids, transitions)


def _duplicate_ids(prefix: str, ids: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for step in ids:
        if step in seen:
            out.append(f"{prefix.rstrip('.') or '(recipe)'}: duplicate step id {step!r}")
        seen.add(step)
    return out


def _ambiguous(prefix: str, ids: Sequence[str], transitions: Sequence[Transition]) -> list[str]:
    out = []
    for step in ids:
        plain = [t for t in transitions if step in t.sources and t.condition is None]
        if len(plain) > 1:
            out.append(
                f"{prefix}transitions: step {step!r} has {len(plain)} transitions without a condition; "
                "make it one transition to several steps (parallel) or give each a condition"
            )
    return out


def _unreachable(prefix: str, ids: Sequence[str], transitions: Sequence[Transition]) -> list[str]:
    reached = {initial_step(ids)}
    frontier = [initial_step(ids)]
    while frontier:
        step = frontier.pop()
        for t in transitions:
            if step in t.sources:
                for target in t.targets:
                    if target not in reached:
                        reached.add(target)
                        frontier.append(target)
    return [
        f"{prefix}transitions: step {step!r} is unreachable from the initial step {initial_step(ids)!r}"
        for step in ids
        if step not in reached
    ]


def _endless_loops(prefix: str, ids: Sequence[str], transitions: Sequence[Transition]) -> list[str]:
    """Cycles made only of unconditional transitions: the loop could never be left."""
    edges: dict[str, list[str]] = {step: [] for step in ids}
    for t in transitions:
        if t.condition is None:
            for source in t.sources:
                edges[source].extend(t.targets)
    out: list[str] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(step: str) -> None:
        state[step] = 1
        path.append(step)
        for nxt in edges[step]:
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt]
                out.append(
                    f"{prefix}transitions: cycle {' → '.join(cycle)} has no transition with a condition; "
                    "it could never be left (add a 'when' to the transition that loops back)"
                )
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[step] = 2

    for step in ids:
        if step not in state:
            visit(step)
    return out
