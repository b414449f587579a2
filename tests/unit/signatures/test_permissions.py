"""The one permission table: who may do what."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ebr.core.errors import PermissionDenied, SignatureError
from signatures.errors import NotPermitted
from signatures.permissions import (
    ALL_ACTIONS,
    GMP_ROLES,
    MEANINGS,
    PERMISSIONS,
    Role,
    allowed,
    conflicts,
    incompatibility_rules,
    require,
    roles_for,
)

REQUIRED_ACTIONS = {
    "batch.view", "batch.create", "batch.execute", "batch.command.hold", "batch.command.restart",
    "batch.command.stop", "batch.command.abort", "batch.review", "batch.release", "deviation.handle",
    "entry.correct", "lot.manage", "lot.status.change", "material.manage", "recipe.view", "recipe.author",
    "recipe.approve", "equipment.view", "equipment.manage", "audit.view", "audit.export", "audit.verify",
    "user.manage", "user.unlock", "validation.run", "alarm.acknowledge", "equipment.clean",
}  # fmt: skip


@pytest.mark.requirement("URS-SEC-002")
def test_every_action_the_system_uses_is_granted_to_some_role() -> None:
    expected = REQUIRED_ACTIONS | {f"sign.{m}" for m in MEANINGS}
    assert expected <= ALL_ACTIONS
    assert all(roles_for(action) for action in expected)


@pytest.mark.requirement("URS-SEC-002")
def test_admins_manage_users_and_equipment_but_never_execute_or_sign() -> None:
    admin = PERMISSIONS[Role.admin]
    assert {"user.manage", "user.unlock", "equipment.manage"} <= admin
    assert "batch.execute" not in admin
    assert "equipment.clean" not in admin  # a cleaning record is the floor's GMP record
    assert not any(action.startswith("sign.") for action in admin)


@pytest.mark.requirement("URS-SEC-002")
def test_auditors_only_read() -> None:
    writes = [a for a in PERMISSIONS[Role.auditor] if not a.endswith((".view", ".export", ".verify"))]
    assert writes == []


@pytest.mark.requirement("URS-SIG-007")
@pytest.mark.parametrize(
    ("role", "meaning", "expected"),
    [
        (Role.operator, "performed", True),
        (Role.operator, "verified", False),
        (Role.supervisor, "verified", True),
        (Role.supervisor, "witnessed", True),
        (Role.qa, "released", True),
        (Role.qa, "reviewed", True),
        (Role.supervisor, "released", False),
        (Role.recipe_author, "authored", True),
        (Role.recipe_author, "approved", False),
        (Role.recipe_approver, "approved", True),
        (Role.auditor, "reviewed", False),
    ],
)
def test_the_meaning_a_role_may_sign(role: Role, meaning: str, expected: bool) -> None:
    assert allowed([role], f"sign.{meaning}") is expected


@pytest.mark.requirement("URS-SEC-002")
def test_a_refusal_names_the_action_and_the_roles_that_may_do_it() -> None:
    with pytest.raises(NotPermitted) as caught:
        require(["operator"], "batch.release")
    assert "'batch.release'" in caught.value.message
    assert "needs one of: qa" in caught.value.message
    assert "operator" in caught.value.message
    assert isinstance(caught.value, PermissionDenied)
    assert isinstance(caught.value, SignatureError)


def test_unknown_roles_grant_nothing_and_no_roles_allow_nothing() -> None:
    assert not allowed(["superuser"], "batch.view")
    assert not allowed([], "batch.view")
    require(["superuser", "auditor"], "batch.view")


@pytest.mark.requirement("URS-SEC-002")
def test_operators_and_supervisors_acknowledge_alarms_and_correct_values_but_no_one_else() -> None:
    for action in ("alarm.acknowledge", "entry.correct"):
        assert roles_for(action) == [Role.operator, Role.supervisor]


def test_the_printed_matrix_is_the_enforced_table() -> None:
    from signatures.permissions import matrix_markdown

    text = matrix_markdown()
    row = next(line for line in text.splitlines() if line.startswith("| `batch.release` |"))
    cells = [c.strip() for c in row.strip("|").split("|")][1:]
    assert [r.value for r, c in zip(Role, cells, strict=True) if c] == ["qa"]


@pytest.mark.requirement("URS-SEC-009")
@given(st.sets(st.sampled_from(list(Role))))
def test_a_person_with_admin_and_any_gmp_role_may_do_only_what_admin_alone_may(roles: set[Role]) -> None:
    clash = conflicts(roles)
    assert bool(clash) == (Role.admin in roles and bool(roles & GMP_ROLES))
    for action in sorted(ALL_ACTIONS):
        if clash:
            assert allowed(roles, action) == (action in PERMISSIONS[Role.admin])
        else:
            assert allowed(roles, action) == any(action in PERMISSIONS[r] for r in roles)


@pytest.mark.requirement("URS-SEC-009")
def test_a_refusal_for_incompatible_roles_says_so_and_what_to_do() -> None:
    with pytest.raises(NotPermitted, match=r"one person may not combine \(admin \+ qa: .*ask another administrator"):
        require(["admin", "qa"], "sign.released")
    require(["admin", "qa"], "user.manage")  # the admin part still works, so the conflict can be removed
    rules = incompatibility_rules()
    assert sum("admin cannot be combined with" in r for r in rules) == len(GMP_ROLES)
