"""Directory users against a real OpenLDAP slapd: bind as the user, groups → roles, TLS, outages."""

from __future__ import annotations

import base64
import gc
import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from audit.chain import Entity
from audit.models import AuditEvent
from ebr.bootstrap import Services, build_services
from ebr.core.clock import FixedClock
from ebr.core.config import Settings
from signatures import errors
from signatures.signing import verify_record
from tests.integration.signatures.conftest import ldap_settings
from tests.support.slapd import PEOPLE, Slapd, free_port

LENA = ("lena", "Directory-Pass-11")


def _login(svc: Services, user_id: str, password: str) -> object:
    with svc.session_factory.begin() as session:
        return svc.users.authenticate(session, user_id, password)


def _actions(svc: Services) -> list[str]:
    with svc.session_factory() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    # The directory, not the database, is under test here: one backend is enough.
    name: str = request.param
    return name


@pytest.mark.requirement("URS-SEC-006")
def test_a_directory_user_is_found_by_the_service_account_and_gets_roles_from_groups(ldap_svc: Services) -> None:
    user = _login(ldap_svc, "quentin", "Directory-Pass-22")
    assert user.full_name == "Quentin Quality"  # type: ignore[attr-defined]
    assert [str(r) for r in user.roles] == ["operator", "qa"]  # type: ignore[attr-defined]
    assert user.source == "ldap"  # type: ignore[attr-defined]
    assert _actions(ldap_svc)[:2] == ["user.created", "auth.login"]


@pytest.mark.requirement("URS-SEC-006")
def test_a_directory_user_in_no_mapped_group_is_refused_and_no_account_is_made(ldap_svc: Services) -> None:
    with pytest.raises(errors.NotPermitted, match="ask IT to add you to the group"):
        _login(ldap_svc, "nogroup", "Directory-Pass-33")
    with ldap_svc.session_factory() as session:
        assert [u.user_id for u in ldap_svc.users.list(session)] == []
    assert _actions(ldap_svc) == ["auth.login_failed"]


@pytest.mark.requirement("URS-SEC-006")
def test_without_the_service_account_a_directory_that_refuses_anonymous_reads_finds_nobody(
    settings: Settings, slapd: Slapd, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    anonymous = build_services(ldap_settings(settings, slapd, ldap_bind_dn=None, ldap_bind_password=None), clock=clock)
    wrong = build_services(ldap_settings(settings, slapd, ldap_bind_password="not-the-secret"), clock=clock)
    try:
        with pytest.raises(errors.CredentialsRefused):
            _login(anonymous, *LENA)
        assert "set EBR_LDAP_BIND_DN" in caplog.text  # the operator's hint, in the log only
        with pytest.raises(errors.DirectoryUnavailable, match="EBR_LDAP_BIND_DN") as caught:
            _login(wrong, *LENA)
        assert "not-the-secret" not in str(caught.value)
        assert "not-the-secret" not in repr(wrong.users.auth.directory)
    finally:
        anonymous.close()
        wrong.close()


@pytest.mark.requirement("URS-SEC-006")
def test_a_dn_template_binds_as_the_user_without_any_search(
    settings: Settings, slapd: Slapd, clock: FixedClock
) -> None:
    # No service account at all: the user's own bind reads their entry and groups.
    svc = build_services(
        ldap_settings(
            settings,
            slapd,
            ldap_bind_dn=None,
            ldap_bind_password=None,
            ldap_user_base=None,
            ldap_user_dn_template=f"uid={{username}},{PEOPLE}",
        ),
        clock=clock,
    )
    try:
        user = _login(svc, "quentin", "Directory-Pass-22")
        assert (user.full_name, [str(r) for r in user.roles]) == ("Quentin Quality", ["operator", "qa"])  # type: ignore[attr-defined]
        with pytest.raises(errors.CredentialsRefused):
            _login(svc, "quentin", "Directory-Pass-99")
        with pytest.raises(errors.CredentialsRefused):
            _login(svc, "nobody", "Directory-Pass-99")
    finally:
        svc.close()


@pytest.mark.requirement("URS-SEC-006")
@pytest.mark.parametrize("mode", ["search", "memberof"])
def test_active_directory_style_groups_from_member_of_follow_nesting(
    settings: Settings, slapd: Slapd, clock: FixedClock, mode: str
) -> None:
    # nina is in qa-lab, and qa-lab is a member of qa: only memberOf with nesting gives her qa.
    svc = build_services(ldap_settings(settings, slapd, ldap_group_mode=mode), clock=clock)
    try:
        if mode == "memberof":
            assert [str(r) for r in _login(svc, "nina", "Directory-Pass-44").roles] == ["qa"]  # type: ignore[attr-defined]
            assert [str(r) for r in _login(svc, *LENA).roles] == ["operator"]  # type: ignore[attr-defined]
        else:
            with pytest.raises(errors.NotPermitted, match="none of the directory groups"):
                _login(svc, "nina", "Directory-Pass-44")
    finally:
        svc.close()


@pytest.mark.requirement("URS-SEC-009")
def test_a_directory_user_whose_groups_give_incompatible_roles_is_refused(ldap_svc: Services) -> None:
    with pytest.raises(errors.NotPermitted, match="admin \\+ qa"):
        _login(ldap_svc, "adam", "Directory-Pass-55")
    with ldap_svc.session_factory() as session:
        assert ldap_svc.users.list(session) == []


@pytest.mark.requirement("URS-SEC-006")
def test_a_wrong_directory_password_and_an_unknown_user_get_the_same_answer(ldap_svc: Services) -> None:
    _login(ldap_svc, *LENA)
    answers = []
    for user_id, password in (("lena", "Directory-Pass-99"), ("lena", ""), ("nobody", "whatever-Pass-1")):
        with pytest.raises(errors.CredentialsRefused) as caught:
            _login(ldap_svc, user_id, password)
        answers.append(caught.value.message)
    assert len(set(answers)) == 1
    with ldap_svc.session_factory() as session:
        assert ldap_svc.users.get(session, "lena").failed_attempts == 2
    refused = [a for a in _actions(ldap_svc) if a == "auth.login_failed"]
    assert len(refused) == 3  # the audit trail keeps the real reason of each


@pytest.mark.requirement("URS-SEC-006")
def test_an_unreachable_directory_refuses_login_even_for_a_known_user(
    settings: Settings, slapd: Slapd, clock: FixedClock
) -> None:
    svc = build_services(ldap_settings(settings, slapd), clock=clock)
    down = build_services(ldap_settings(settings, slapd, ldap_url=f"ldap://127.0.0.1:{free_port()}"), clock=clock)
    try:
        _login(svc, *LENA)  # known, with a stored key and hash-free local row
        with pytest.raises(errors.DirectoryUnavailable, match="cannot be reached"):
            _login(down, *LENA)
        assert _actions(down)[-1] == "auth.login_failed"
    finally:
        svc.close()
        down.close()


@pytest.mark.requirement("URS-SEC-006")
@pytest.mark.parametrize("mode", ["ldaps", "starttls"])
# ldap3 2.9.1 does not close its raw socket when the LDAPS handshake is refused.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_the_directory_is_reached_over_tls_with_a_verified_certificate(
    settings: Settings, slapd: Slapd, clock: FixedClock, mode: str
) -> None:
    tls = {"ldap_url": slapd.ldaps_url} if mode == "ldaps" else {"ldap_start_tls": True}
    good = build_services(ldap_settings(settings, slapd, ldap_ca_file=slapd.ca_file, **tls), clock=clock)
    untrusted = build_services(ldap_settings(settings, slapd, **tls), clock=clock)
    try:
        assert _login(good, *LENA).user_id == "lena"  # type: ignore[attr-defined]
        with pytest.raises(errors.DirectoryUnavailable):
            _login(untrusted, *LENA)  # a certificate from an unknown CA is not accepted
        gc.collect()  # finalize ldap3's leaked socket inside this test's warning filter
    finally:
        good.close()
        untrusted.close()


@pytest.mark.requirement("URS-SIG-005")
def test_a_directory_password_change_rotates_the_key_at_the_next_signature(
    ldap_svc: Services, slapd: Slapd, clock: FixedClock
) -> None:
    _login(ldap_svc, *LENA)
    with ldap_svc.session_factory.begin() as session:
        ldap_svc.users.verify_identity(session, actor="root", user_id="lena", how="badge checked in person")
        ldap_svc.users.accept_accountability(session, user_id="lena")

    def sign(password: str) -> object:
        with ldap_svc.session_factory.begin() as session:
            return ldap_svc.signing.sign(
                session,
                subject=Entity("batch_step", "B-1/1"),
                content={"value": "1.0"},
                meaning="performed",
                reason=None,
                user_id="lena",
                password=password,
            )

    first = sign(LENA[1])
    clock.advance(minutes=5)
    slapd.set_password("lena", "Directory-Pass-44")
    try:
        with pytest.raises(errors.WrongPassword):
            sign(LENA[1])
        second = sign("Directory-Pass-44")
    finally:
        slapd.set_password("lena", LENA[1])
    assert second.key_id != first.key_id  # type: ignore[attr-defined]
    assert "user.signing_key_rotated" in _actions(ldap_svc)
    with ldap_svc.session_factory() as session:
        keys = {k["key_id"]: k for k in ldap_svc.signing.public_keys(session)["lena"]}
    for signed in (first, second):
        record = signed.record  # type: ignore[attr-defined]
        assert verify_record(record, base64.b64decode(keys[record["key_id"]]["public_key"]))
    assert keys[first.key_id]["valid_to"] is not None  # type: ignore[attr-defined]
    rotated = [json.loads(e) for e in _canonical(ldap_svc, "user.signing_key_rotated")]
    assert rotated[0]["reason"] == "password changed in the directory"


def _canonical(svc: Services, action: str) -> Iterator[bytes]:
    with svc.session_factory() as session:
        yield from session.scalars(select(AuditEvent.canonical).where(AuditEvent.action == action))


@pytest.mark.requirement("URS-SIG-008")
def test_a_directory_user_cannot_sign_until_an_admin_records_the_identity_check(ldap_svc: Services) -> None:
    _login(ldap_svc, *LENA)
    with ldap_svc.session_factory.begin() as session:
        ldap_svc.users.accept_accountability(session, user_id="lena")
    refused = pytest.raises(errors.IdentityNotVerified, match="ebr user verify-identity lena")
    with refused, ldap_svc.session_factory.begin() as session:
        ldap_svc.signing.sign(
            session,
            subject=Entity("batch_step", "B-1/1"),
            content={"value": "1.0"},
            meaning="performed",
            reason=None,
            user_id="lena",
            password=LENA[1],
        )
    assert _actions(ldap_svc)[-1] == "signature.refused"


@pytest.mark.requirement("URS-SEC-006")
def test_roles_follow_directory_group_changes_at_the_next_login(ldap_svc: Services, slapd: Slapd) -> None:
    assert [str(r) for r in _login(ldap_svc, *LENA).roles] == ["operator"]  # type: ignore[attr-defined]
    slapd.set_member("qa", "lena", member=True)
    try:
        assert [str(r) for r in _login(ldap_svc, *LENA).roles] == ["operator", "qa"]  # type: ignore[attr-defined]
    finally:
        slapd.set_member("qa", "lena", member=False)
    assert "user.synchronized" in _actions(ldap_svc)


@pytest.mark.requirement("URS-SEC-004")
def test_a_locally_locked_directory_user_is_refused_without_asking_the_directory(ldap_svc: Services) -> None:
    _login(ldap_svc, "quentin", "Directory-Pass-22")  # known here from the first login on
    for _ in range(ldap_svc.settings.lockout_attempts):
        with pytest.raises(errors.AuthenticationFailed):
            _login(ldap_svc, "quentin", "wrong-Pass-000")
    with pytest.raises(errors.CredentialsRefused):
        _login(ldap_svc, "quentin", "Directory-Pass-22")  # locked: the right password changes nothing
