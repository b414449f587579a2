"""Forced sequencing on one level of the step graph (pure)."""

from __future__ import annotations

import pytest

from ebr.execution.graph import progress, waiting_for
from recipes.model import Transition

KIDS = ("A", "B", "C", "D")


def t(sources: str, targets: str, when: str | None = None) -> Transition:
    return Transition(tuple(sources.split(",")), tuple(targets.split(",")), when)


@pytest.mark.requirement("URS-BAT-002")
def test_without_transitions_the_steps_run_in_order_and_the_level_ends_with_the_last() -> None:
    assert progress(KIDS, (), completed=None, active=(), done=()).activate == ("A",)
    after_a = progress(KIDS, (), completed="A", active={"A"}, done={"A"})
    assert (after_a.activate, after_a.complete) == (("B",), False)
    last = progress(KIDS, (), completed="D", active={"D"}, done=set(KIDS))
    assert (last.activate, last.complete) == ((), True)


def test_a_parallel_split_starts_both_branches_and_the_join_waits_for_both() -> None:
    graph = (t("A", "B,C"), t("B,C", "D"))
    assert progress(KIDS, graph, completed="A", active={"A"}, done={"A"}).activate == ("B", "C")
    half = progress(KIDS, graph, completed="B", active={"B", "C"}, done={"A", "B"})
    assert (half.activate, half.complete) == ((), False)
    assert progress(KIDS, graph, completed="C", active={"C"}, done={"A", "B", "C"}).activate == ("D",)


def test_a_condition_chooses_the_branch_and_the_untaken_branch_never_runs() -> None:
    graph = (t("A", "B", "x > 5"), t("A", "C", "x <= 5"))
    chosen = progress(KIDS, graph, completed="A", active={"A"}, done={"A"}, condition=lambda e: e == "x <= 5")
    assert chosen.activate == ("C",)
    end = progress(KIDS, graph, completed="C", active={"C"}, done={"A", "C"}, condition=lambda e: True)
    assert end.complete


def test_a_loop_brings_an_earlier_step_back() -> None:
    graph = (t("A", "B"), t("B", "A", "again"), t("B", "C", "not again"))
    back = progress(
        ("A", "B", "C"), graph, completed="B", active={"B"}, done={"A", "B"}, condition=lambda e: e == "again"
    )
    assert back.activate == ("A",)


@pytest.mark.requirement("URS-BAT-002")
def test_an_out_of_sequence_step_names_what_it_waits_for() -> None:
    assert waiting_for(KIDS, (), "C", done={"A"}) == ["B"]
    assert waiting_for(KIDS, (t("B,C", "D"),), "D", done={"B"}) == ["C"]
