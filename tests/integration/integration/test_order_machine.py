"""An ERP order as a state machine: versions in any order, repeats, cancels and a start on the floor.

Whatever arrives, the order holds the newest version sent before its batch started,
it has at most one live batch, a started batch is never touched by the ERP, and a
repeated message changes nothing.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import select

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.execution.models import Batch
from ebr.execution.service import build as build_execution
from ebr.integration.models import ProcessOrder
from ebr.integration.setup import Wiring
from tests.integration.integration.conftest import add_materials, example

TEMPLATE = example("v0701-sync-operations-schedule.xml")


def message(order_id: str, version: int, quantity: int, *, cancel: bool) -> bytes:
    data = TEMPLATE.replace(b"4711000002", order_id.encode()).replace(b"BOD-V0701-000001", uuid.uuid4().hex.encode())
    data = data.replace(b"<Version>1</Version>", f"<Version>{version}</Version>".encode())
    data = data.replace(
        b"<QuantityString>120</QuantityString>", f"<QuantityString>{quantity}</QuantityString>".encode()
    )
    if cancel:
        data = data.replace(
            b"<Sync/>", b'<Sync><ActionCriteria><ActionExpression actionCode="Delete"/></ActionCriteria></Sync>'
        )
    return data


def machine(erp: Wiring, services: Services) -> type[RuleBasedStateMachine]:
    execution = build_execution(services)

    class Order(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.order_id = f"M-{uuid.uuid4().hex[:12]}"
            self.applied: tuple[int, int, bool] | None = None  # version, quantity, cancelled
            self.started: str | None = None
            self.sent: list[bytes] = []

        def row(self) -> Any:
            with services.session_factory() as session:
                found = session.scalars(select(ProcessOrder).where(ProcessOrder.order_id == self.order_id)).first()
                if found is not None:
                    session.expunge(found)
                return found

        def batches(self) -> list[Any]:
            with services.session_factory() as session:
                rows = list(session.scalars(select(Batch).where(Batch.production_order == self.order_id)))
                session.expunge_all()
                return rows

        @rule(version=st.integers(1, 5), quantity=st.sampled_from([60, 120, 150, 400]), cancel=st.booleans())
        def erp_sends(self, version: int, quantity: int, cancel: bool) -> None:
            data = message(self.order_id, version, quantity, cancel=cancel)
            self.sent.append(data)
            erp.receive(data, channel="erp:machine")
            newer = self.applied is None or version > self.applied[0]
            if newer and self.started is None:
                self.applied = (version, quantity, cancel)

        @precondition(lambda self: self.sent)
        @rule(pick=st.integers(0, 100))
        def erp_repeats(self, pick: int) -> None:
            before = (self.row(), [(b.number, b.status) for b in self.batches()])
            receipt = erp.receive(self.sent[pick % len(self.sent)], channel="erp:machine")
            assert receipt.duplicate
            after = (self.row(), [(b.number, b.status) for b in self.batches()])
            assert before[1] == after[1]
            assert before[0].version == after[0].version

        @precondition(lambda self: self.started is None)
        @rule()
        def floor_starts(self) -> None:
            row = self.row()
            if row is None or row.status != "planned":
                return
            with unit_of_work(services.session_factory) as session:
                execution.release_to_floor(session, actor="sam", ref=row.batch_number)
            with unit_of_work(services.session_factory) as session:
                execution.start_batch(session, actor="olga", ref=row.batch_number)
            self.started = row.batch_number

        @invariant()
        def the_order_holds_the_newest_version_sent_before_start(self) -> None:
            row = self.row()
            if self.applied is None:
                assert row is None
                return
            version, quantity, cancelled = self.applied
            assert row.revision == str(version)
            if cancelled:
                assert row.status == "cancelled"
            elif 50 <= quantity <= 150:
                assert row.status == "planned"
                assert int(row.quantity) == quantity
            else:
                assert row.status == "held"
                assert "outside recipe SIMPLE" in row.hold_reason

        @invariant()
        def at_most_one_live_batch_and_a_started_one_untouched(self) -> None:
            live = [b for b in self.batches() if b.status != "aborted"]
            assert len(live) <= 1
            if self.started is not None:
                assert [(b.number, b.status) for b in live] == [(self.started, "in_execution")]

    return Order


@pytest.mark.requirement("URS-INT-003")
def test_an_order_keeps_its_newest_version_and_never_touches_a_started_batch(erp: Wiring, services: Services) -> None:
    add_materials(services, "API-1")
    run_state_machine_as_test(
        machine(erp, services),
        settings=settings(
            max_examples=int(os.environ.get("EBR_MACHINE_EXAMPLES", "8")),
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
