"""Users: ids, password history, lockout at login, refusals that survive the caller's rollback."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from audit.chain import Entity
from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.core.errors import Conflict, ValidationError
from signatures import errors
from tests.integration.signatures.conftest import PASSWORD, MakeUser


def _events(svc: Services, action: str) -> list[dict[str, object]]:
    with svc.session_factory() as session:
        rows = session.scalars(select(AuditEvent.canonical).where(AuditEvent.action == action))
        return [json.loads(r) for r in rows]


@pytest.mark.requirement("URS-SEC-001")
def test_a_user_id_must_be_well_formed_and_the_printed_name_present(svc: Services) -> None:
    with pytest.raises(ValidationError) as caught, svc.session_factory.begin() as session:
        svc.users.create(session, actor="root", user_id="system:x", full_name=" ", roles=["operator"])
    assert any("user id" in p for p in caught.value.problems)
    assert any("printed name" in p for p in caught.value.problems)
    with pytest.raises(ValidationError, match="unknown role"), svc.session_factory.begin() as session:
        svc.users.create(session, actor="root", user_id="olga", full_name="Olga", roles=["superuser"])


@pytest.mark.requirement("URS-SEC-001")
def test_a_deactivated_users_id_stays_reserved(svc: Services, make_user: MakeUser) -> None:
    make_user("olga", "operator")
    with svc.session_factory.begin() as session:
        svc.users.deactivate(session, actor="root", user_id="olga", reason="left")
    with pytest.raises(Conflict, match="never reused"), svc.session_factory.begin() as session:
        svc.users.create(session, actor="root", user_id="OLGA", full_name="Another Olga", roles=["qa"])
    with svc.session_factory() as session:
        assert [u.user_id for u in svc.users.list(session)] == ["olga"]


@pytest.mark.requirement("URS-SEC-003")
def test_recent_passwords_cannot_be_reused(svc: Services, make_user: MakeUser) -> None:
    make_user("olga", "operator")
    with svc.session_factory.begin() as session:
        svc.users.change_password(session, user_id="olga", old_password=PASSWORD, new_password="Second-Pass-Word-2")
    with pytest.raises(errors.PasswordRejected, match="used before"), svc.session_factory.begin() as session:
        svc.users.change_password(session, user_id="olga", old_password="Second-Pass-Word-2", new_password=PASSWORD)


@pytest.mark.requirement("URS-SEC-004")
def test_failed_logins_are_audited_and_lock_the_account(svc: Services, make_user: MakeUser) -> None:
    make_user("olga", "operator")
    for _ in range(svc.settings.lockout_attempts):
        with pytest.raises(errors.WrongPassword), svc.session_factory.begin() as session:
            svc.users.authenticate(session, "olga", "guess-Guess-1")
    with pytest.raises(errors.CredentialsRefused), svc.session_factory.begin() as session:
        svc.users.authenticate(session, "olga", PASSWORD)  # locked: the same answer as a wrong password
    assert len(_events(svc, "auth.login_failed")) == svc.settings.lockout_attempts + 1
    assert _events(svc, "auth.login_failed")[-1]["after"]["error"] == "AccountLocked"  # type: ignore[index]
    locked = _events(svc, "auth.locked")
    assert locked[0]["after"] == {"locked": True, "failed_attempts": 5, "limit": 5}
    with pytest.raises(ValidationError, match="reason"), svc.session_factory.begin() as session:
        svc.users.unlock(session, actor="root", user_id="olga", reason=" ")


@pytest.mark.requirement("URS-SEC-004")
def test_a_success_resets_the_count_of_consecutive_failures(svc: Services, make_user: MakeUser) -> None:
    make_user("olga", "operator")
    for _ in range(svc.settings.lockout_attempts - 1):
        with pytest.raises(errors.WrongPassword), svc.session_factory.begin() as session:
            svc.users.authenticate(session, "olga", "guess-Guess-1")
    with svc.session_factory.begin() as session:
        svc.users.authenticate(session, "olga", PASSWORD)
    with pytest.raises(errors.WrongPassword), svc.session_factory.begin() as session:
        svc.users.authenticate(session, "olga", "guess-Guess-1")
    with svc.session_factory() as session:
        assert svc.users.get(session, "olga").failed_attempts == 1
        assert not svc.users.get(session, "olga").locked


@pytest.mark.requirement("URS-AUD-001")
def test_a_refusal_is_recorded_even_when_the_caller_already_holds_the_audit_chain(
    svc: Services, make_user: MakeUser
) -> None:
    # The batch engine appends its own event, then asks for a signature in the same
    # transaction: the refusal must wait for that transaction instead of deadlocking.
    make_user("sam", "supervisor")
    with pytest.raises(errors.SegregationOfDuties), svc.session_factory.begin() as session:
        svc.audit.record(session, actor="sam", action="batch.step.completed", entity=Entity("batch_step", "1"))
        svc.signing.sign(
            session,
            subject=Entity("batch_step", "1"),
            content={"v": "1"},
            meaning="verified",
            reason=None,
            user_id="sam",
            password=PASSWORD,
            not_by={"sam": "performed this step"},
        )
    assert _events(svc, "batch.step.completed") == []
    refused = _events(svc, "signature.refused")
    assert len(refused) == 1
    assert refused[0]["actor"] == "sam"
    assert refused[0]["after"]["error"] == "SegregationOfDuties"  # type: ignore[index]


@pytest.mark.requirement("URS-AUD-001")
def test_a_refusal_caught_by_the_caller_is_recorded_after_its_commit(svc: Services, make_user: MakeUser) -> None:
    make_user("olga", "operator")
    with svc.session_factory.begin() as session:
        svc.audit.record(session, actor="olga", action="batch.comment.added", entity=Entity("batch", "B-1"))
        with pytest.raises(errors.WrongPassword):
            svc.users.authenticate(session, "olga", "guess-Guess-1")
    with svc.session_factory() as session:
        actions = list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
    business = [a for a in actions if not a.startswith("records.")]  # row images follow each commit (docs/audit.md)
    assert business[-2:] == ["batch.comment.added", "auth.login_failed"]


@pytest.mark.requirement("URS-SEC-002")
def test_role_changes_are_audited_with_the_reason(svc: Services, make_user: MakeUser) -> None:
    make_user("olga", "operator")
    with svc.session_factory.begin() as session:
        user = svc.users.set_roles(
            session, actor="root", user_id="olga", roles=["operator", "supervisor"], reason="promoted"
        )
    assert [str(r) for r in user.roles] == ["operator", "supervisor"]
    event = _events(svc, "user.roles_changed")[0]
    assert event["before"] == {"roles": ["operator"]}
    assert event["reason"] == "promoted"


@pytest.mark.requirement("URS-SIG-008")
def test_the_identity_check_is_recorded_with_who_when_and_how(svc: Services) -> None:
    with svc.session_factory.begin() as session:
        created = svc.users.create(
            session, actor="root", user_id="olga", full_name="Olga", roles=["operator"], identity_check=None
        )
        assert created.identity_verified_at is None
        with pytest.raises(ValidationError, match="say how"):
            svc.users.verify_identity(session, actor="root", user_id="olga", how="")
        user = svc.users.verify_identity(session, actor="root", user_id="olga", how="passport seen in person")
    assert user.identity_verified_by == "root"
    assert user.identity_verified_at == svc.clock.now()
    event = _events(svc, "user.identity_verified")[0]
    assert event["after"]["identity_check"] == "passport seen in person"  # type: ignore[index]
    assert event["actor"] == "root"


@pytest.mark.requirement("URS-SEC-008")
def test_an_admin_reset_deauthorizes_the_old_password_and_sessions_at_once(svc: Services, make_user: MakeUser) -> None:
    from signatures.errors import SessionExpired

    make_user("olga", "operator")
    with svc.session_factory.begin() as session:
        svc.users.authenticate(session, "olga", PASSWORD)
        token = svc.users.sessions.start(session, user_id="olga")
    with svc.session_factory.begin() as session:
        temporary = svc.users.reset_password(session, actor="root", user_id="olga", reason="password seen by others")
    with pytest.raises(SessionExpired), svc.session_factory.begin() as session:
        svc.users.sessions.resume(session, token)
    with pytest.raises(errors.WrongPassword), svc.session_factory.begin() as session:
        svc.users.authenticate(session, "olga", PASSWORD)
    with pytest.raises(errors.PasswordExpired, match="must be changed"), svc.session_factory.begin() as session:
        svc.signing.sign(
            session,
            subject=Entity("batch_step", "1"),
            content={"v": "1"},
            meaning="performed",
            reason=None,
            user_id="olga",
            password=temporary,
        )
    reset = _events(svc, "user.password_reset")[0]
    assert reset["reason"] == "password seen by others"
