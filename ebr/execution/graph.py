"""Forced sequencing along the step graph of one level (pure).

A level is the ordered children of a procedure, unit procedure or operation with
the level's transitions. Without transitions the children run in order. With
transitions the first child is the initial step; when a child completes, every
transition that has it among its sources fires if all its sources are complete
and its condition holds, activating its targets: one source to several targets
is a parallel split, several sources to one target a join, conditional
transitions an alternative, a transition back to an earlier step a loop (the
step runs again). A level is complete when a completion fires nothing and no
other child is still active. Each call looks at one level only, so the cost of a
step transition does not grow with the size of the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from recipes.model import Transition

Condition = Callable[[str], bool]


@dataclass(frozen=True)
class Progress:
    """What a level's state implies: children to activate now, and whether the level is done."""

    activate: tuple[str, ...]
    complete: bool


def _always(_expression: str) -> bool:
    return True


def progress(
    children: Sequence[str],
    transitions: Sequence[Transition],
    *,
    completed: str | None,
    active: Collection[str],
    done: Collection[str],
    condition: Condition = _always,
) -> Progress:
    """The children to activate after ``completed`` finished (None: the level starts)."""
    if not children:
        return Progress((), True)
    if completed is None:
        return Progress((children[0],), False)
    if not transitions:
        index = list(children).index(completed)
        following = tuple(children[index + 1 : index + 2])
        return Progress(following, not following and not (set(active) - {completed}))
    targets: list[str] = []
    for t in transitions:
        if completed not in t.sources or not all(s in done or s == completed for s in t.sources):
            continue
        if t.condition is None or condition(t.condition):
            targets += [x for x in t.targets if x not in targets]
    ordered = tuple(c for c in children if c in targets)
    return Progress(ordered, not ordered and not (set(active) - {completed}))


def waiting_for(
    children: Sequence[str], transitions: Sequence[Transition], child: str, done: Collection[str]
) -> list[str]:
    """The steps ``child`` still waits for (to name them in an out-of-sequence error)."""
    if not transitions:
        index = list(children).index(child)
        return [] if index == 0 or children[index - 1] in done else [children[index - 1]]
    sources = {s for t in transitions if child in t.targets for s in t.sources}
    return sorted(s for s in sources if s not in done) or sorted(sources)
