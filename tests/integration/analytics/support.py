"""Released batches of the SIMPLE recipe made through the execution and release services.

Every batch is run the way people would: started, each step completed and signed,
reviewed by one QA person and released by another (``ebr.review.services.decide``). The
temperature of step UP1.OP1.PH3 (limits 15–30 °C) is the value under study.
"""

from __future__ import annotations

import copy
from typing import Any

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.execution.service import Execution, build
from ebr.materials.services import Credentials
from ebr.review import services as release
from tests.integration.execution.conftest import PASSWORD, SIMPLE, make_people, make_plant, recipe

TEMPERATURE = "UP1.OP1.PH3"


def sig(user: str, meaning: str = "performed") -> Credentials:
    return Credentials(user_id=user, password=PASSWORD, meaning=meaning)


def moved_recipe() -> dict[str, Any]:
    """SIMPLE with an extra phase in front of the temperature: version 2 records it at UP1.OP1.PH4."""
    data = copy.deepcopy(SIMPLE)
    phases = data["unit_procedures"][0]["operations"][0]["phases"]
    phases[2] = dict(phases[2], id="PH4")
    phases.insert(2, {"id": "PH3", "name": "Gown up", "type": "instruction", "text": "Put on gloves."})
    data["unit_procedures"][0]["operations"][1]["phases"][1]["expression"] = "UP1.OP1.PH4 * factor"
    return data


class Plant:
    """People, a clean R-101 and the execution services, ready to make released batches."""

    def __init__(self, services: Services) -> None:
        make_people(services)
        make_plant(services, {"R-101": "unit"})
        self.services = services
        self.ex: Execution = build(services)
        self.count = 0

    def work(self, fn: Any, /, **kwargs: Any) -> Any:
        with unit_of_work(self.services.session_factory) as session:
            return fn(session, **kwargs)

    def released_batch(self, temperature: str, *, version: str = "1") -> str:
        """Make, run, review and release one batch recording ``temperature``; its number."""
        self.count += 1
        master = recipe(SIMPLE if version == "1" else moved_recipe())
        temp_path = TEMPERATURE if version == "1" else "UP1.OP1.PH4"
        number: str = self.work(
            lambda session: (
                self.ex.create_from_recipe(
                    session, actor="sam", master=master, version=version, size="100", order=f"PO-{self.count}"
                ).number
            )
        )
        self.work(self.ex.release_to_floor, actor="sam", ref=number)
        self.work(self.ex.start_batch, actor="olga", ref=number)
        steps: list[tuple[str, dict[str, str] | None, list[Credentials]]] = [
            ("UP1.OP1.PH1", None, [sig("olga")]),
            ("UP1.OP1.PH2", None, [sig("olga"), sig("sam", "verified")]),
        ]
        if version != "1":
            steps.append(("UP1.OP1.PH3", None, [sig("olga")]))
        steps += [
            (temp_path, {"value": temperature}, [sig("olga")]),
            ("UP1.OP2.PH1", {"sample_id": f"S-{self.count}"}, [sig("olga")]),
            ("UP1.OP2.PH2", None, [sig("olga")]),
            ("UP1.OP2.PH3", None, [sig("olga"), sig("sue", "verified")]),
        ]
        for path, values, signers in steps:
            self.work(self.ex.start_step, actor="olga", ref=number, path=path)
            self.work(self.ex.complete_step, actor="olga", ref=number, path=path, values=values, signatures=signers)
        for user, decision in (("quinn", "reviewed"), ("queenie", "released")):
            self.work(
                lambda session, user=user, decision=decision: release.decide(
                    session, self.ex.ctx, actor=user, ref=number, decision=decision, signature=sig(user, decision)
                )
            )
        self.work(self.services.equipment.record_cleaning, actor="olga", unit="R-101", method="SOP-CLN-001")
        return number
