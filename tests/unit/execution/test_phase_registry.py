"""One behaviour per phase type, found by ``PhaseType``: the engine never tests a phase's class itself."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ebr.core.errors import ValidationError
from ebr.execution import phases
from recipes.model import Phase
from recipes.phases import PARAMS_CLASS, DataEntry, EntryKind, Instruction, PhaseType, SignOff

ROOT = Path(__file__).parents[3]
ENGINE = ("engine.py", "automation.py", "automated.py", "progress.py", "plan.py", "readiness.py")


def test_every_phase_type_of_the_library_has_a_behaviour() -> None:
    assert set(phases.REGISTRY) == set(PhaseType)
    assert set(PARAMS_CLASS) == set(PhaseType)


def test_only_dosing_and_timed_holds_are_followed_while_they_run() -> None:
    assert set(phases.FOLLOWED) == {"dosing", "timed_hold"}


@pytest.mark.parametrize("module", ENGINE)
def test_the_engine_does_not_dispatch_on_phase_parameter_classes(module: str) -> None:
    tree = ast.parse((ROOT / "ebr" / "execution" / module).read_text(encoding="utf-8"))
    params = {cls.__name__ for cls in PARAMS_CLASS.values()}
    found = [
        f"{module}:{node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "isinstance"
        and {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)} & params
    ]
    assert not found, f"isinstance on phase parameters (use phases.behaviour(phase)): {found}"


def _turn(phase: Phase) -> Any:
    step = SimpleNamespace(path="UP1.OP1.PH1", data={}, phase_type=phase.type.value, level="phase")
    return phases.Turn(None, None, None, step, phase, "olga", {})  # type: ignore[arg-type]


def test_a_sign_off_lists_its_own_meanings_and_other_phases_their_signatures() -> None:
    sign_off = Phase("PH1", "Release line", PhaseType.SIGN_OFF, SignOff(("performed", "verified")))
    note = Phase("PH2", "Read", PhaseType.INSTRUCTION, Instruction("read"), signatures=("performed",))
    assert phases.behaviour(sign_off).meanings(sign_off) == ("performed", "verified")
    assert phases.behaviour(note).meanings(note) == ("performed",)


def test_an_instruction_records_only_its_confirmation() -> None:
    note = Phase("PH2", "Read", PhaseType.INSTRUCTION, Instruction("read"))
    result = phases.behaviour(note).record(_turn(note), {"confirmed": "yes"}, confirmed=True)
    assert [(e.name, e.value) for e in result.entries] == [("confirmed", "yes")]
    with pytest.raises(ValidationError, match="takes no recorded values"):
        phases.behaviour(note).record(_turn(note), {"value": "3"}, confirmed=True)


def test_a_behaviour_given_parameters_of_another_type_says_so() -> None:
    wrong = Phase("PH3", "Temperature", PhaseType.WEIGH_DISPENSE, DataEntry(EntryKind.NUMERIC, "T"))
    with pytest.raises(TypeError, match="has DataEntry parameters"):
        phases.behaviour(wrong).start(_turn(wrong))
