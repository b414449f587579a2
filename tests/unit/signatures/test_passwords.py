"""Password policy and Argon2id hashing."""

from __future__ import annotations

import datetime as dt

import pytest

from signatures.passwords import PasswordPolicy, check_password, hash_password, one_time_password


@pytest.mark.requirement("URS-SEC-003")
def test_the_policy_lists_every_broken_rule() -> None:
    policy = PasswordPolicy(min_length=12, min_classes=3)
    problems = policy.problems("olga", user_id="olga")
    assert any("at least 12" in p for p in problems)
    assert any("kind(s) of character" in p for p in problems)
    assert any("user id" in p for p in problems)
    assert policy.problems("Correct-Horse-42", user_id="olga") == []


@pytest.mark.requirement("URS-SEC-003")
def test_passwords_are_stored_as_salted_argon2id_hashes() -> None:
    first, second = hash_password("Correct-Horse-42"), hash_password("Correct-Horse-42")
    assert first.startswith("$argon2id$")
    assert first != second  # salted
    assert check_password(first, "Correct-Horse-42")
    assert not check_password(first, "Correct-Horse-43")
    assert not check_password(None, "anything")
    assert not check_password("garbage", "anything")


@pytest.mark.requirement("URS-SEC-003")
def test_a_password_expires_after_the_maximum_age() -> None:
    set_at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert PasswordPolicy(max_age_days=90).expires_at(set_at) == dt.datetime(2026, 4, 1, tzinfo=dt.UTC)


def test_one_time_passwords_satisfy_the_default_policy_and_differ() -> None:
    made = {one_time_password() for _ in range(20)}
    assert len(made) == 20
    assert all(PasswordPolicy().problems(p, user_id="olga") == [] for p in made)
