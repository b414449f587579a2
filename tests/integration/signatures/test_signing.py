"""The signing ceremony: re-authentication, meaning, SoD, records verifiable with the public key only."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import select, text

from audit.chain import Entity
from audit.models import AuditEvent
from ebr.bootstrap import Services
from ebr.core.canonical import canon, content_hash
from ebr.core.clock import FixedClock
from signatures import errors
from signatures.models import Signature
from signatures.signing import verify_record
from tests.integration.signatures.conftest import PASSWORD, MakeUser

STEP = Entity("batch_step", "B-7/step-3")
CONTENT = {"step": "charge water", "value": "250.0", "unit": "kg"}


def _events(svc: Services, action: str) -> list[dict[str, object]]:
    with svc.session_factory() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq))
        return [json.loads(r.canonical) for r in rows]


def _public_key(svc: Services, user_id: str, key_id: str) -> bytes:
    with svc.session_factory() as session:
        keys = svc.signing.public_keys(session)[user_id]
    return base64.b64decode(next(k["public_key"] for k in keys if k["key_id"] == key_id))


def _sign(svc: Services, user_id: str, password: str = PASSWORD, **kwargs: object) -> object:
    args: dict[str, object] = {
        "subject": STEP,
        "content": CONTENT,
        "meaning": "performed",
        "reason": None,
        "user_id": user_id,
        "password": password,
    }
    args.update(kwargs)
    with svc.session_factory.begin() as session:
        return svc.signing.sign(session, **args)  # type: ignore[arg-type]


@pytest.mark.requirement("URS-SIG-003")
def test_a_signature_record_has_exactly_the_spec_keys_and_verifies_with_the_public_key_only(
    svc: Services, make_user: MakeUser
) -> None:
    make_user("olga", "operator", name="Olga Operator")
    signed = _sign(svc, "olga")
    record = signed.record  # type: ignore[attr-defined]
    assert set(record) == {
        "id", "signer", "printed_name", "meaning", "ts", "subject", "content_hash", "reason", "key_id", "sig"
    }  # fmt: skip
    assert record["printed_name"] == "Olga Operator"
    assert record["ts"] == "2026-11-24T20:15:59.123456Z"
    assert record["subject"] == {"type": "batch_step", "id": "B-7/step-3"}
    assert record["content_hash"] == content_hash(CONTENT)
    key = _public_key(svc, "olga", record["key_id"])
    assert verify_record(record, key)
    # Bound to the content: the same signature on other content, or another record, fails.
    assert not verify_record({**record, "content_hash": content_hash({**CONTENT, "value": "251.0"})}, key)
    assert not verify_record({**record, "subject": {"type": "batch_step", "id": "B-8/step-3"}}, key)


@pytest.mark.requirement("URS-SIG-003")
def test_the_signature_and_its_audit_event_are_written_together(svc: Services, make_user: MakeUser) -> None:
    make_user("olga", "operator")
    signed = _sign(svc, "olga", reason="step done")
    events = _events(svc, "signature.applied")
    assert len(events) == 1
    assert events[0]["after"] == signed.record  # type: ignore[attr-defined]
    assert events[0]["entity"] == STEP.as_json()
    assert events[0]["actor"] == "olga"
    with svc.session_factory() as session:
        row = session.get(Signature, signed.id)  # type: ignore[attr-defined]
        assert row is not None
        assert row.record == canon(signed.record)  # type: ignore[attr-defined]
        assert svc.signing.signed_content(session, row.id) == CONTENT
        assert [s.id for s in svc.signing.list_for_subject(session, STEP)] == [row.id]


@pytest.mark.requirement("URS-SIG-003")
def test_a_rolled_back_business_change_takes_its_signature_with_it(svc: Services, make_user: MakeUser) -> None:
    make_user("olga", "operator")
    with pytest.raises(RuntimeError), svc.session_factory.begin() as session:
        svc.signing.sign(
            session, subject=STEP, content=CONTENT, meaning="performed", reason=None, user_id="olga", password=PASSWORD
        )
        raise RuntimeError("the step could not be completed")
    with svc.session_factory() as session:
        assert session.scalars(select(Signature)).all() == []
    assert _events(svc, "signature.applied") == []


@pytest.mark.requirement("URS-AUD-002")
def test_the_database_refuses_to_change_or_delete_a_signature(svc: Services, make_user: MakeUser) -> None:
    make_user("olga", "operator")
    _sign(svc, "olga")
    for statement in ("UPDATE signature SET meaning = 'verified'", "DELETE FROM signature"):
        with pytest.raises(Exception, match="append-only"), svc.session_factory.begin() as session:
            session.execute(text(statement))


@pytest.mark.requirement("URS-SIG-001")
def test_a_wrong_password_refuses_the_signature_stores_nothing_but_the_failed_attempt(
    svc: Services, make_user: MakeUser
) -> None:
    make_user("olga", "operator")
    with pytest.raises(errors.CredentialsRefused, match="user id or password is not accepted"):
        _sign(svc, "olga", password="not-my-password")
    with svc.session_factory() as session:
        assert session.scalars(select(Signature)).all() == []
        assert svc.users.get(session, "olga").failed_attempts == 1
    refused = _events(svc, "signature.refused")
    assert len(refused) == 1
    assert refused[0]["after"]["error"] == "WrongPassword"  # type: ignore[index]
    assert refused[0]["after"]["meaning"] == "performed"  # type: ignore[index]


@pytest.mark.requirement("URS-SIG-001")
def test_an_unknown_user_is_refused_and_the_attempt_is_audited(svc: Services) -> None:
    with pytest.raises(errors.CredentialsRefused, match="user id or password is not accepted"):
        _sign(svc, "mallory")
    refused = _events(svc, "signature.refused")
    assert [e["entity"] for e in refused] == [{"type": "user", "id": "mallory"}]
    assert refused[0]["after"]["error"] == "UnknownUser"  # type: ignore[index]


@pytest.mark.requirement("URS-SEC-004")
def test_failed_signatures_lock_the_account_raise_an_alert_and_only_an_admin_unlocks(
    svc: Services, make_user: MakeUser
) -> None:
    make_user("olga", "operator")
    for _ in range(svc.settings.lockout_attempts):
        with pytest.raises(errors.WrongPassword):
            _sign(svc, "olga", password="guess-guess-1A")
    with pytest.raises(errors.CredentialsRefused):
        _sign(svc, "olga")  # even the right password is refused now, in the same words
    assert _events(svc, "signature.refused")[-1]["after"]["error"] == "AccountLocked"  # type: ignore[index]
    locked = _events(svc, "auth.locked")
    assert len(locked) == 1
    assert svc.users.notifier.sent[-1][0] == "auth.locked"  # type: ignore[attr-defined]
    with svc.session_factory.begin() as session:
        svc.users.unlock(session, actor="root-admin", user_id="olga", reason="user confirmed identity by phone")
    assert _sign(svc, "olga").signer == "olga"  # type: ignore[attr-defined]
    assert _events(svc, "user.unlocked")[0]["reason"] == "user confirmed identity by phone"


@pytest.mark.requirement("URS-SIG-007")
def test_a_role_without_the_meaning_cannot_sign_it_and_admins_sign_nothing(svc: Services, make_user: MakeUser) -> None:
    make_user("olga", "operator")
    make_user("root", "admin")
    with pytest.raises(errors.NotPermitted, match=r"'sign.released'.*needs one of: qa"):
        _sign(svc, "olga", meaning="released")
    with pytest.raises(errors.NotPermitted, match=r"sign\.performed"):
        _sign(svc, "root")
    assert len(_events(svc, "signature.refused")) == 2
    with svc.session_factory() as session:
        assert svc.users.get(session, "olga").failed_attempts == 1  # a refused signature attempt counts


@pytest.mark.requirement("URS-SEC-004")
def test_repeated_refused_signatures_lock_the_account_like_wrong_passwords(svc: Services, make_user: MakeUser) -> None:
    make_user("sam", "supervisor")
    for _ in range(svc.settings.lockout_attempts):
        with pytest.raises(errors.SegregationOfDuties):
            _sign(svc, "sam", meaning="verified", not_by={"sam": "performed this step"})
    with pytest.raises(errors.CredentialsRefused):
        _sign(svc, "sam", meaning="verified")
    assert len(_events(svc, "auth.locked")) == 1


@pytest.mark.requirement("URS-SIG-004")
def test_the_performer_cannot_verify_their_own_step_and_the_refusal_says_why(
    svc: Services, make_user: MakeUser
) -> None:
    make_user("sam", "supervisor")
    _sign(svc, "sam", meaning="performed")
    with pytest.raises(errors.SegregationOfDuties, match=r"'sam' may not sign 'verified'.*performed this step"):
        _sign(svc, "sam", meaning="verified", not_by={"sam": "performed this step"})
    make_user("vera", "supervisor")
    verified = _sign(svc, "vera", meaning="verified", not_by={"sam": "performed this step"})
    assert verified.meaning == "verified"  # type: ignore[attr-defined]


@pytest.mark.requirement("URS-SIG-006")
def test_the_first_signature_needs_the_accountability_statement_accepted(svc: Services, make_user: MakeUser) -> None:
    make_user("olga", "operator", accept=False)
    with pytest.raises(errors.AccountabilityNotAccepted, match="accountability statement"):
        _sign(svc, "olga")
    with svc.session_factory.begin() as session:
        svc.users.accept_accountability(session, user_id="olga")
    assert _sign(svc, "olga").signer == "olga"  # type: ignore[attr-defined]
    accepted = _events(svc, "user.accountability_accepted")
    assert accepted[0]["actor"] == "olga"
    assert accepted[0]["after"]["statement_version"] == "1"  # type: ignore[index]


@pytest.mark.requirement("URS-SEC-003")
def test_an_expired_password_refuses_the_signature(svc: Services, make_user: MakeUser, clock: FixedClock) -> None:
    make_user("olga", "operator")
    clock.advance(days=svc.settings.password_max_age_days + 1)
    with pytest.raises(errors.PasswordExpired, match="expired"):
        _sign(svc, "olga")


@pytest.mark.requirement("URS-SEC-001")
def test_a_disabled_user_cannot_sign(svc: Services, make_user: MakeUser) -> None:
    make_user("olga", "operator")
    with svc.session_factory.begin() as session:
        svc.users.deactivate(session, actor="root", user_id="olga", reason="left the company")
    with pytest.raises(errors.AccountDisabled, match="deactivated"):
        _sign(svc, "olga")


@pytest.mark.requirement("URS-SIG-005")
def test_a_password_change_rotates_the_key_and_old_signatures_still_verify(
    svc: Services, make_user: MakeUser, clock: FixedClock
) -> None:
    make_user("olga", "operator")
    first = _sign(svc, "olga")
    clock.advance(hours=1)
    with svc.session_factory.begin() as session:
        svc.users.change_password(session, user_id="olga", old_password=PASSWORD, new_password="Brand-New-Pass-77")
    clock.advance(hours=1)
    with pytest.raises(errors.WrongPassword):
        _sign(svc, "olga")
    second = _sign(svc, "olga", password="Brand-New-Pass-77")
    assert first.key_id != second.key_id  # type: ignore[attr-defined]
    with svc.session_factory() as session:
        keys = svc.signing.public_keys(session)["olga"]
    assert [k["valid_to"] is None for k in keys] == [False, True]
    assert keys[0]["valid_to"] == keys[1]["valid_from"]
    for signed in (first, second):
        record = signed.record  # type: ignore[attr-defined]
        assert verify_record(record, _public_key(svc, "olga", record["key_id"]))


@pytest.mark.requirement("URS-SYS-006")
def test_an_unknown_meaning_or_float_content_is_refused_before_anything_is_written(
    svc: Services, make_user: MakeUser
) -> None:
    from ebr.core.errors import ValidationError

    make_user("olga", "operator")
    with pytest.raises(ValidationError, match="'signed off' is not one of: performed"):
        _sign(svc, "olga", meaning="signed off")
    with pytest.raises(ValidationError, match="float"):
        _sign(svc, "olga", content={"value": 12.5})
    with svc.session_factory() as session:
        assert session.scalars(select(Signature)).all() == []
    assert _events(svc, "signature.refused") == []


@pytest.mark.requirement("URS-SIG-002")
def test_the_record_renders_its_manifestation_in_the_plant_time_zone(svc: Services, make_user: MakeUser) -> None:
    make_user("olga", "operator", name="Olga Operator")
    signed = _sign(svc, "olga")
    assert signed.manifestation("Europe/Berlin") == (  # type: ignore[attr-defined]
        "Olga Operator — 2026-11-24 21:15:59 CET (UTC+01:00) — performed"
    )
