"""Fixtures for the signatures tests: services on a controllable clock, users ready to sign."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest

from ebr.bootstrap import Services, build_services
from ebr.core.clock import UTC, FixedClock
from ebr.core.config import Settings
from signatures.users import User
from tests.support.slapd import GROUPS, PEOPLE, ROLE_MAP, SERVICE_DN, SERVICE_PW, Slapd

PASSWORD = "Correct-Horse-42"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(dt.datetime(2026, 11, 24, 20, 15, 59, 123456, tzinfo=UTC))


@pytest.fixture
def svc(settings: Settings, clock: FixedClock) -> Iterator[Services]:
    """Services whose clock the test moves."""
    built = build_services(settings, clock=clock)
    yield built
    built.close()


MakeUser = Callable[..., User]


@pytest.fixture
def make_user(svc: Services) -> MakeUser:
    """Create a user with a password they chose (no forced change) who accepted the statement."""

    def make(user_id: str, *roles: str, name: str | None = None, password: str = PASSWORD, accept: bool = True) -> User:
        with svc.session_factory.begin() as session:
            user = svc.users.create(
                session,
                actor="system:test",
                user_id=user_id,
                full_name=name or user_id.title() + " Example",
                roles=roles,
                password=password,
                must_change=False,
            )
            if accept:
                user = svc.users.accept_accountability(session, user_id=user_id)
        return user

    return make


@pytest.fixture(scope="session")
def slapd() -> Iterator[Slapd]:
    """A real OpenLDAP server with its own users and groups, for the whole run."""
    server = Slapd()
    try:
        yield server.start()
    finally:
        server.stop()


def ldap_settings(settings: Settings, slapd: Slapd, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "ldap_url": slapd.url,
        "ldap_user_base": PEOPLE,
        "ldap_group_base": GROUPS,
        "ldap_role_map": ROLE_MAP,
        "ldap_bind_dn": SERVICE_DN,  # the directory refuses anonymous reads
        "ldap_bind_password": SERVICE_PW,
    }
    values.update(overrides)
    return settings.with_overrides(**values)


@pytest.fixture
def ldap_svc(settings: Settings, slapd: Slapd, clock: FixedClock) -> Iterator[Services]:
    """Services that authenticate against the real slapd."""
    built = build_services(ldap_settings(settings, slapd), clock=clock)
    yield built
    built.close()
