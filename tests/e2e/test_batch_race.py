"""Two people complete the same step at the same moment: exactly one wins, the other is told why."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import yaml
from flask import Flask
from sqlalchemy import func, select

from audit.models import AuditEvent
from ebr.bootstrap import Services
from tests.integration.execution import conftest as support
from tests.integration.execution.api_support import Api, approve_recipe
from tests.integration.execution.conftest import SIMPLE, Floor

floor = support.floor  # the shop-floor fixture of the execution tests


def _race(calls: list[Any]) -> list[Any]:
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.mark.requirement("URS-BAT-007")
@pytest.mark.parametrize("round_", range(3))
def test_two_completions_of_the_same_step_at_once_let_exactly_one_win(
    app: Flask, services: Services, floor: Floor, round_: int
) -> None:
    label = approve_recipe(services, yaml.safe_dump(SIMPLE, allow_unicode=True), "simple.yaml")
    sam = Api(app.test_client(), "sam")
    olga, otto = Api(app.test_client(), "olga"), Api(app.test_client(), "otto")
    number = sam.call("POST", "/api/batches", {"recipe": label, "size": "100", "order": f"PO-R{round_}"})["number"]
    sam.call("POST", f"/api/batches/{number}/release", {})
    olga.call("POST", f"/api/batches/{number}/start", {})
    olga.start(number, "UP1.OP1.PH1")
    version = olga.step(number, "UP1.OP1.PH1")["version"]

    def complete(person: Api) -> Any:
        response = person.client.post(
            f"/api/batches/{number}/steps/UP1.OP1.PH1/complete",
            json={"version": version, "signatures": [person.sig()]},
        )
        return response.status_code, response.json

    results = _race([lambda: complete(olga), lambda: complete(otto)])
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 409], results
    loser = next(body for status, body in results if status == 409)
    assert loser["error"] == "Conflict"
    assert "while you were working on it" in loser["message"]
    assert "reload it" in loser["message"]
    with services.session_factory() as session:
        completions = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "batch.step.completed", AuditEvent.entity_id == f"{number}/UP1.OP1.PH1")
        )
        signatures = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "signature.applied", AuditEvent.entity_id == f"{number}/UP1.OP1.PH1")
        )
    assert (completions, signatures) == (1, 1), "the loser left no trace: no completion, no signature"


def test_batches_created_at_the_same_moment_get_distinct_numbers(floor: Floor) -> None:
    from tests.integration.execution.conftest import recipe

    master = recipe(SIMPLE)

    def create(order: str) -> Any:
        return floor.work(
            lambda session: (
                floor.execution.create_from_recipe(
                    session, actor="sam", master=master, version="1", size="100", order=order
                ).number
            )
        )

    numbers = _race([lambda i=i: create(f"PO-{i}") for i in range(4)])
    assert len(set(numbers)) == 4, numbers
