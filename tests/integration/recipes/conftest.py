"""Fixtures for the recipe lifecycle tests: services on a controllable clock, an author and an approver."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from ebr.bootstrap import Services, build_services
from ebr.core.clock import UTC, FixedClock
from ebr.core.config import Settings

PASSWORD = "Correct-Horse-42"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(dt.datetime(2026, 11, 24, 21, 0, tzinfo=UTC))


@pytest.fixture
def svc(settings: Settings, clock: FixedClock) -> Iterator[Services]:
    built = build_services(settings, clock=clock)
    yield built
    built.close()


@pytest.fixture
def people(svc: Services) -> dict[str, str]:
    """Users ready to sign: an author, two approvers (one also an author) and an operator."""
    roles = {
        "anna": ("recipe_author",),
        "paul": ("recipe_approver",),
        "vera": ("recipe_approver", "recipe_author"),
        "otto": ("operator",),
    }
    with svc.session_factory.begin() as session:
        for user_id, held in roles.items():
            svc.users.create(
                session,
                actor="system:test",
                user_id=user_id,
                full_name=f"{user_id.title()} Example",
                roles=held,
                password=PASSWORD,
                must_change=False,
            )
            svc.users.accept_accountability(session, user_id=user_id)
    return dict.fromkeys(roles, PASSWORD)
