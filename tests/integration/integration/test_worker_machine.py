"""The delivery worker as a state machine: whatever the transport and the clock do, every message is
delivered once under its id, in the order written per channel (dead letters aside), or is a dead letter."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import delete, select

from ebr.bootstrap import Services
from ebr.core.clock import UTC, FixedClock
from ebr.core.db import unit_of_work
from ebr.integration.models import OutboxMessage
from ebr.integration.outbox import Outbox
from ebr.integration.settings import IntegrationSettings
from ebr.integration.transports import DeliveryError, Message
from ebr.integration.worker import DeliveryWorker, retry

CHANNELS = ("erp", "lims")


class Wire:
    """A transport per channel that refuses while its channel is down and records what it took."""

    def __init__(self, channel: str, log: list[tuple[str, str]], down: dict[str, bool]) -> None:
        self.channel, self.log, self.down = channel, log, down

    def send(self, message: Message) -> None:
        if self.down[self.channel]:
            raise DeliveryError(f"{self.channel} unreachable")
        self.log.append((self.channel, message.message_id))

    def close(self) -> None:
        return None


def machine(services: Services) -> type[RuleBasedStateMachine]:
    class Delivery(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.clock = FixedClock(dt.datetime(2026, 12, 5, 8, 0, tzinfo=UTC))
            self.settings = IntegrationSettings(max_attempts=3, backoff_seconds=1.0, backoff_cap_seconds=8.0)
            self.outbox = Outbox(clock=self.clock, settings=self.settings)
            self.log: list[tuple[str, str]] = []
            self.down = dict.fromkeys(CHANNELS, False)
            self.written: dict[str, list[str]] = {c: [] for c in CHANNELS}
            self.ever_dead: set[str] = set()
            with unit_of_work(services.session_factory) as session:
                session.execute(delete(OutboxMessage))
            self.worker = DeliveryWorker(
                session_factory=services.session_factory,
                clock=self.clock,
                settings=self.settings,
                transports={c: Wire(c, self.log, self.down) for c in CHANNELS},
            )

        def rows(self) -> list[Any]:
            with services.session_factory() as session:
                return list(
                    session.execute(select(OutboxMessage.message_id, OutboxMessage.status, OutboxMessage.attempts))
                )

        @rule(channel=st.sampled_from(CHANNELS), n=st.integers(1, 3))
        def write(self, channel: str, n: int) -> None:
            with unit_of_work(services.session_factory) as session:
                for _ in range(n):
                    row = self.outbox.enqueue(session, channel=channel, kind="order_status", body="<x/>")
                    self.written[channel].append(row.message_id)
                self.clock.advance(microseconds=1)

        @rule(channel=st.sampled_from(CHANNELS), down=st.booleans())
        def network(self, channel: str, down: bool) -> None:
            self.down[channel] = down

        @rule(seconds=st.sampled_from([0.5, 1, 3, 10]))
        def wait(self, seconds: float) -> None:
            self.clock.advance(seconds=seconds)

        @rule()
        def deliver(self) -> None:
            self.worker.run_once()
            self.ever_dead |= {mid for mid, status, _ in self.rows() if status == "dead"}

        @rule()
        def admin_retries_dead_letters(self) -> None:
            for mid, status, _ in self.rows():
                if status == "dead":
                    with unit_of_work(services.session_factory) as session:
                        retry(
                            session, audit=services.audit, clock=self.clock, actor="admin", message_id=mid, reason="t"
                        )

        @invariant()
        def delivered_once_under_a_known_id(self) -> None:
            ids = [mid for _, mid in self.log]
            assert len(ids) == len(set(ids))
            sent = {mid for mid, status, _ in self.rows() if status == "sent"}
            assert set(ids) == sent

        @invariant()
        def in_order_per_channel(self) -> None:
            for channel in CHANNELS:
                order = [mid for c, mid in self.log if c == channel and mid not in self.ever_dead]
                written = [mid for mid in self.written[channel] if mid in set(order)]
                assert order == written

        @invariant()
        def dead_only_after_the_last_attempt(self) -> None:
            for _mid, status, attempts in self.rows():
                assert status != "dead" or attempts >= self.settings.max_attempts
                assert status != "pending" or attempts < self.settings.max_attempts

        def teardown(self) -> None:
            # Liveness: with the network back and time passing, everything gets through.
            self.down.update(dict.fromkeys(CHANNELS, False))
            self.admin_retries_dead_letters()
            for _ in range(5):
                self.clock.advance(seconds=60)
                self.worker.run_once()
            assert {mid for _, mid in self.log} == {m for ids in self.written.values() for m in ids}

    return Delivery


@pytest.mark.requirement("URS-INT-004")
def test_the_delivery_worker_never_loses_doubles_or_reorders(services: Services) -> None:
    run_state_machine_as_test(
        machine(services),
        settings=settings(
            max_examples=int(os.environ.get("EBR_MACHINE_EXAMPLES", "12")),
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
