"""The login throttle as a state machine against the real table: failures, time passing, checks.

A model keeps, per key, when its window started and how many failures it holds;
hypothesis drives failures from a few clients for a few ids, moves the clock, and
checks that the throttle refuses exactly when the model says, with the right wait.
"""

from __future__ import annotations

import datetime as dt
import math
import os

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from ebr.bootstrap import Services
from ebr.core.clock import UTC, FixedClock
from signatures.errors import TooManyAttempts
from signatures.throttle import Limit, Throttle, client_address

CLIENTS = ("10.0.0.1", "10.0.0.2", None)
USERS = ("olga", "ghost")
PER_CLIENT = Limit(3, 60)
PER_ACCOUNT = Limit(4, 90)
STEPS = int(os.environ.get("EBR_STATEFUL_STEPS", "50"))


@pytest.mark.requirement("URS-SEC-010")
def test_the_throttle_refuses_exactly_when_a_window_is_full(services: Services) -> None:
    class ThrottleMachine(RuleBasedStateMachine):
        @initialize()
        def start(self) -> None:
            from sqlalchemy import delete

            from signatures.models import AuthThrottle

            with services.session_factory.begin() as session:
                session.execute(delete(AuthThrottle))
            self.clock = FixedClock(dt.datetime(2026, 12, 5, 8, 0, tzinfo=UTC))
            self.throttle = Throttle(per_client=PER_CLIENT, per_account=PER_ACCOUNT, clock=self.clock)
            self.model: dict[str, tuple[dt.datetime, int]] = {}

        def _keys(self, client: str | None, user: str) -> list[tuple[str, Limit]]:
            keys = [(f"client:{client}", PER_CLIENT)] if client else []
            return [*keys, (f"account:{user}", PER_ACCOUNT)]

        @rule(client=st.sampled_from(CLIENTS), user=st.sampled_from(USERS))
        def fail(self, client: str | None, user: str) -> None:
            with services.session_factory.begin() as session:
                self.throttle.count_failure(session, user, client)
            now = self.clock.now()
            for key, limit in self._keys(client, user):
                start, count = self.model.get(key, (now, 0))
                if now - start >= dt.timedelta(seconds=limit.seconds):
                    start, count = now, 0
                self.model[key] = (start, count + 1)

        @rule(seconds=st.integers(min_value=1, max_value=45))
        def wait(self, seconds: int) -> None:
            self.clock.advance(seconds=seconds)

        @rule(client=st.sampled_from(CLIENTS), user=st.sampled_from(USERS))
        def check(self, client: str | None, user: str) -> None:
            now = self.clock.now()
            waits = []
            for key, limit in self._keys(client, user):
                start, count = self.model.get(key, (now, 0))
                ends = start + dt.timedelta(seconds=limit.seconds)
                if count >= limit.attempts and now < ends:
                    waits.append(math.ceil((ends - now).total_seconds()))
            refused: int | None = None
            token = client_address.set(client)
            try:
                with services.session_factory() as session:
                    self.throttle.check(session, user)
            except TooManyAttempts as exc:
                refused = exc.retry_after
            finally:
                client_address.reset(token)
            if waits:
                assert refused in waits, f"allowed although a window is full (wait {waits} s)"
            else:
                assert refused is None, "refused although no window is full"

    run_state_machine_as_test(
        ThrottleMachine, settings=settings(max_examples=15, stateful_step_count=STEPS, deadline=None)
    )
