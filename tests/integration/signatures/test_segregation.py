"""Segregation of duties for people: an administrator never also executes or signs GMP records.

Tried as the issue's attacker did: an admin giving itself QA (web, CLI, service), an
admin changing its own roles, and an installation that already has such a person.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from audit.chain import Entity
from audit.models import AuditEvent
from ebr.app import create_app
from ebr.bootstrap import Services, build_services
from ebr.cli import main
from ebr.core.clock import FixedClock
from ebr.core.config import Settings
from ebr.core.errors import Conflict, ValidationError
from signatures import errors
from signatures.models import UserAccount
from tests.integration.signatures.conftest import PASSWORD, MakeUser
from tests.support.auth import csrf_token, login
from validation.iq import check_role_segregation


def _events(svc: Services, action: str) -> list[dict[str, object]]:
    with svc.session_factory() as session:
        rows = session.scalars(select(AuditEvent.canonical).where(AuditEvent.action == action))
        return [json.loads(r) for r in rows]


def _force_roles(svc: Services, user_id: str, roles: str) -> None:
    """What an installation from before the rule may hold (written behind the service's back)."""
    with svc.session_factory.begin() as session:
        session.execute(update(UserAccount).where(UserAccount.user_id == user_id).values(roles=roles))


@pytest.mark.requirement("URS-SEC-009")
@pytest.mark.parametrize("gmp_role", ["operator", "supervisor", "qa", "recipe_author", "recipe_approver"])
def test_no_one_is_created_or_made_admin_together_with_a_gmp_role(
    svc: Services, make_user: MakeUser, gmp_role: str
) -> None:
    refused = pytest.raises(ValidationError, match="cannot hold these roles together")
    with refused as caught, svc.session_factory.begin() as session:
        svc.users.create(session, actor="root", user_id="mixed", full_name="Mixed", roles=["admin", gmp_role])
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(f"admin + {gmp_role}: ")
    make_user("worker", gmp_role)
    with pytest.raises(ValidationError, match="segregation of duties"), svc.session_factory.begin() as session:
        svc.users.set_roles(session, actor="root", user_id="worker", roles=[gmp_role, "admin"], reason="help out")
    with svc.session_factory() as session:
        assert [str(r) for r in svc.users.get(session, "worker").roles] == [gmp_role]
        assert session.get(UserAccount, "mixed") is None
    assert _events(svc, "user.roles_changed") == []


@pytest.mark.requirement("URS-SEC-009")
def test_nobody_changes_their_own_roles_and_a_grant_is_audited_with_reason_old_and_new(
    svc: Services, make_user: MakeUser
) -> None:
    make_user("root", "admin")
    make_user("olga", "operator")
    with pytest.raises(ValidationError, match="cannot change their own roles"), svc.session_factory.begin() as s:
        svc.users.set_roles(s, actor="root", user_id="root", roles=["admin", "auditor"], reason="why not")
    with pytest.raises(ValidationError, match="reason"), svc.session_factory.begin() as session:
        svc.users.set_roles(session, actor="root", user_id="olga", roles=["operator", "supervisor"], reason=" ")
    with svc.session_factory.begin() as session:
        svc.users.set_roles(
            session, actor="root", user_id="olga", roles=["operator", "supervisor"], reason="shift lead"
        )
    [event] = _events(svc, "user.roles_changed")
    assert (event["actor"], event["reason"]) == ("root", "shift lead")
    assert (event["before"], event["after"]) == ({"roles": ["operator"]}, {"roles": ["operator", "supervisor"]})


@pytest.mark.requirement("URS-SEC-009")
def test_a_person_who_already_holds_admin_and_qa_can_sign_nothing_and_is_reported(
    svc: Services, make_user: MakeUser
) -> None:
    make_user("quinn", "qa")
    _force_roles(svc, "quinn", "qa admin")
    with pytest.raises(errors.NotPermitted, match="one person may not combine"), svc.session_factory.begin() as s:
        svc.signing.sign(
            s,
            subject=Entity("batch", "B-1"),
            content={"batch": "B-1"},
            meaning="released",
            reason=None,
            user_id="quinn",
            password=PASSWORD,
        )
    with svc.session_factory() as session:
        assert svc.users.role_conflicts(session) == {"quinn": [svc_conflict("qa")]}
    result = check_role_segregation(svc.engine)
    assert not result.passed
    assert any("'quinn' holds admin + qa" in f and "ebr user roles quinn" in f for f in result.findings)
    # An administrator removes one of the roles: the installation is clean again.
    make_user("root", "admin")
    with svc.session_factory.begin() as session:
        svc.users.set_roles(session, actor="root", user_id="quinn", roles=["qa"], reason="SoD clean-up")
    assert check_role_segregation(svc.engine).passed


def svc_conflict(role: str) -> str:
    from signatures.permissions import conflicts

    return conflicts(["admin", role])[0]


@pytest.fixture
def web(svc: Services) -> Flask:
    return create_app(services=svc)


@pytest.mark.requirement("URS-SEC-009")
def test_the_issues_attack_an_admin_giving_itself_qa_on_the_web_is_refused(
    web: Flask, svc: Services, make_user: MakeUser
) -> None:
    make_user("root", "admin")
    make_user("second", "admin")
    browser: FlaskClient = web.test_client()
    login(browser, "root", PASSWORD)
    token = csrf_token(browser, "/admin/users")
    form = {"roles": ["admin", "qa"], "reason": "release batches myself", "csrf_token": token}
    own = browser.post("/admin/users/root/roles", data=form, headers={"Accept": "text/html"})
    assert own.status_code == 422
    assert "cannot change their own roles" in own.get_data(as_text=True)
    other = browser.post("/admin/users/second/roles", data=form, headers={"Accept": "text/html"})
    assert other.status_code == 422
    assert "admin + qa" in other.get_data(as_text=True)
    with svc.session_factory() as session:
        assert {u.user_id: [str(r) for r in u.roles] for u in svc.users.list(session)} == {
            "root": ["admin"],
            "second": ["admin"],
        }


@pytest.mark.requirement("URS-SEC-009")
def test_healthz_names_a_user_with_incompatible_roles(web: Flask, svc: Services, make_user: MakeUser) -> None:
    make_user("quinn", "qa")
    check = web.test_client().get("/healthz").get_json()["checks"]["segregation_of_duties"]
    assert check["ok"] is True
    _force_roles(svc, "quinn", "qa admin")
    body = web.test_client().get("/healthz").get_json()
    assert body["checks"]["segregation_of_duties"]["users"] == [{"user": "quinn", "conflicts": [svc_conflict("qa")]}]
    assert "segregation_of_duties" in body["degraded"]


def _run(args: list[str], env: dict[str, str], stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, args, env=env, input=stdin, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.requirement("URS-SEC-009")
def test_the_cli_refuses_admin_with_qa_and_prints_the_rules(database_url: str, tmp_path: Path) -> None:
    env = {"EBR_DATABASE_URL": database_url, "EBR_DATA_DIR": str(tmp_path / "data"), "EBR_ADMIN_PASSWORD": ""}
    code, out = _run(["user", "add", "xavier", "--name", "Xavier Person", "--role", "admin", "--role", "qa"], env)
    assert code == 2
    assert "admin + qa" in out
    _run(["user", "add", "olga", "--name", "Olga Operator", "--role", "operator"], env)
    code, out = _run(["user", "roles", "olga", "--role", "operator", "--role", "admin", "--reason", "x"], env)
    assert code == 2
    assert "admin + operator" in out
    code, out = _run(["user", "roles", "olga", "--role", "supervisor", "--reason", "promoted"], env)
    assert (code, out.strip()) == (0, "roles of 'olga': supervisor")
    code, out = _run(["user", "permissions"], env)
    assert code == 0
    for role in ("operator", "supervisor", "qa", "recipe_author", "recipe_approver"):
        assert re.search(rf"admin cannot be combined with {role}\b", out), out
    assert "nobody can change their own roles" in out


@pytest.fixture
def four_eyes(settings: Settings, clock: FixedClock) -> Iterator[Services]:
    built = build_services(settings.with_overrides(role_grant_confirmation=True), clock=clock)
    yield built
    built.close()


@pytest.mark.requirement("URS-SEC-009")
def test_with_four_eyes_a_gmp_grant_waits_for_a_second_administrator(four_eyes: Services) -> None:
    svc = four_eyes
    with svc.session_factory.begin() as session:
        for user_id, roles in (("root", ["admin"]), ("second", ["admin"]), ("olga", ["auditor"])):
            svc.users.create(
                session, actor="system:test", user_id=user_id, full_name=user_id.title(), roles=roles,
                password=PASSWORD, must_change=False,
            )  # fmt: skip
        waiting = svc.users.set_roles(session, actor="root", user_id="olga", roles=["qa"], reason="joins QA")
    assert [str(r) for r in waiting.roles] == ["auditor"]
    with svc.session_factory() as session:
        [grant] = svc.users.grants.pending(session)
    assert (grant.user_id, grant.roles, grant.requested_by) == ("olga", ("qa",), "root")
    for who, match in (("root", "second administrator"), ("olga", "second administrator")):
        with pytest.raises(ValidationError, match=match), svc.session_factory.begin() as session:
            svc.users.grants.confirm(session, actor=who, grant_id=grant.id)
    with svc.session_factory.begin() as session:
        confirmed = svc.users.grants.confirm(session, actor="second", grant_id=grant.id)
    assert [str(r) for r in confirmed.roles] == ["qa"]
    with pytest.raises(Conflict, match="not pending"), svc.session_factory.begin() as session:
        svc.users.grants.confirm(session, actor="second", grant_id=grant.id)
    [requested] = _events(svc, "user.roles_grant_requested")
    assert (requested["before"], requested["after"]["roles"]) == ({"roles": ["auditor"]}, ["qa"])  # type: ignore[index]
    [changed] = _events(svc, "user.roles_changed")
    assert changed["actor"] == "second"
    assert changed["after"] == {"roles": ["qa"], "requested_by": "root", "confirmed_by": "second"}
    assert changed["reason"] == "joins QA"
    # Taking a GMP role away, or giving a non-GMP one, needs no second administrator.
    with svc.session_factory.begin() as session:
        user = svc.users.set_roles(session, actor="root", user_id="olga", roles=["auditor"], reason="back to audit")
    assert [str(r) for r in user.roles] == ["auditor"]


@pytest.mark.requirement("URS-SEC-009")
def test_with_four_eyes_a_new_users_gmp_roles_wait_and_are_confirmed_on_the_web(four_eyes: Services) -> None:
    svc = four_eyes
    with svc.session_factory.begin() as session:
        for user_id in ("root", "second"):
            svc.users.create(
                session, actor="system:test", user_id=user_id, full_name=user_id.title(), roles=["admin"],
                password=PASSWORD, must_change=False,
            )  # fmt: skip
    app = create_app(services=svc)
    root, second = app.test_client(), app.test_client()
    login(root, "root", PASSWORD)
    form = {"user_id": "olga", "full_name": "Olga Operator", "roles": ["operator"]}
    page = root.post(
        "/admin/users", data=form | {"csrf_token": csrf_token(root, "/admin/users")}, follow_redirects=True
    )
    assert "wait for a second administrator" in page.get_data(as_text=True)
    with svc.session_factory() as session:
        assert svc.users.get(session, "olga").roles == ()
        [grant] = svc.users.grants.pending(session)
    assert "another administrator confirms" in root.get("/admin/users").get_data(as_text=True)
    refused = root.post(f"/admin/grants/{grant.id}/confirm", data={"csrf_token": csrf_token(root, "/admin/users")})
    assert refused.status_code == 422
    login(second, "second", PASSWORD)
    token = csrf_token(second, "/admin/users")
    assert second.post(f"/admin/grants/{grant.id}/confirm", data={"csrf_token": token}).status_code == 302
    with svc.session_factory() as session:
        assert [str(r) for r in svc.users.get(session, "olga").roles] == ["operator"]
