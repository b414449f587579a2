"""Roles and the one permission table (role → actions), read by code, tests and validation.

Pure: no database, no web framework. An action is a dotted string such as
``batch.execute`` or ``sign.verified`` (signing with a meaning needs ``sign.<meaning>``).
Admins manage users and equipment but never execute batches or sign GMP records;
auditors only read. That holds for the *person*, not only the role: :data:`INCOMPATIBLE`
lists the roles one person may not hold together (:func:`conflicts`), and a user who
holds such a pair anyway (an installation older than the rule) is refused every GMP
action until an administrator removes one of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType

from signatures.errors import NotPermitted


class Role(StrEnum):
    """The roles a user can hold."""

    operator = "operator"
    supervisor = "supervisor"
    qa = "qa"
    auditor = "auditor"
    recipe_author = "recipe_author"
    recipe_approver = "recipe_approver"
    admin = "admin"


MEANINGS: tuple[str, ...] = (
    "performed",
    "verified",
    "witnessed",
    "reviewed",
    "approved",
    "released",
    "rejected",
    "authored",
    # Batch commands that end or resume a batch against the plan (ebr.execution.commands).
    "stopped",
    "aborted",
    "restarted",
    # The trainee's own signature on a training record (ebr.training).
    "trained",
    # A calibration result (pass or fail, as found, as left) signed by who records it (ebr.maintenance).
    "calibrated",
)

# performance.view: the andon board, OEE and downtime (ebr.performance) are for everyone on site.
_READ = frozenset(
    {"batch.view", "recipe.view", "equipment.view", "material.view", "lot.view", "training.view", "performance.view"}
)
_AUDIT_READ = frozenset({"audit.view", "audit.export", "audit.verify"})
# Process analytics (control charts, capability, annual review) read by QA and auditors;
# QA assesses trend notifications (signed) and manages parameters, baselines and golden batches.
_ANALYTICS_READ = frozenset({"analytics.view"})
_ANALYTICS_QA = frozenset({"analytics.assess", "analytics.manage"})
# Calibration and maintenance records (ebr.maintenance) are GMP records: the supervisor and QA
# write them, not the administrator. A trainer (supervisor or QA) records a training; QA keeps
# the curricula and which steps require them; every person who may be trained signs "trained".
_CALIBRATION = frozenset({"equipment.calibrate", "equipment.maintain", "sign.calibrated"})
_TRAINEE = frozenset({"sign.trained"})
# A cleaning record is the floor's own GMP record (who cleaned, by which SOP): the operator
# and supervisor who clean record it; the administrator does not (segregation of duties).
_CLEANING = frozenset({"equipment.clean"})

PERMISSIONS: Mapping[Role, frozenset[str]] = MappingProxyType(
    {
        # ISA-18.2: the operator at the panel acknowledges an alarm; the held phase and its
        # deviation still need the supervisor (restart, signed assessment).
        Role.operator: _READ
        | _TRAINEE
        | _CLEANING
        | {
            "alarm.acknowledge",
            "batch.execute",
            "deviation.raise",
            "downtime.assign",
            "entry.correct",
            "sign.performed",
        },
        Role.supervisor: _READ
        | _CALIBRATION
        | _CLEANING
        | _TRAINEE
        | {
            "training.record",
            "alarm.acknowledge",
            "audit.view",
            "batch.create",
            "batch.execute",
            "batch.command.hold",
            "batch.command.restart",
            "batch.command.stop",
            "batch.command.abort",
            "deviation.raise",
            "deviation.handle",
            "downtime.assign",  # a reason for a stop, from the tablet (ebr.performance)
            "performance.state.set",  # planned downtime or down set by hand, with a reason
            "entry.correct",
            "sign.performed",
            "sign.verified",
            "sign.witnessed",
            "sign.stopped",
            "sign.aborted",
            "sign.restarted",
        },
        Role.qa: _READ
        | _CALIBRATION
        | _TRAINEE
        | {"training.record", "training.manage"}
        | _AUDIT_READ
        | _ANALYTICS_READ
        | _ANALYTICS_QA
        | {
            "batch.review",
            "batch.release",
            "deviation.raise",
            "deviation.handle",
            "lot.manage",
            "lot.status.change",
            "material.manage",
            "sample.result.enter",  # QC's in-process results (ebr.execution.samples)
            "validation.run",
            "sign.reviewed",
            "sign.approved",
            "sign.released",
            "sign.rejected",
        },
        Role.auditor: _READ | _AUDIT_READ | _ANALYTICS_READ,
        Role.recipe_author: _READ | _TRAINEE | {"recipe.author", "sign.authored"},
        Role.recipe_approver: _READ | _TRAINEE | {"recipe.approve", "sign.approved"},
        Role.admin: _READ
        | {"audit.view", "equipment.manage", "integration.manage", "user.manage", "user.unlock", "validation.run"},
    }
)

ALL_ACTIONS: frozenset[str] = frozenset().union(*PERMISSIONS.values())

# Roles that sign or execute GMP records (granting one needs a reason, and a second
# administrator's confirmation when EBR_ROLE_GRANT_CONFIRMATION is on).
GMP_ROLES: frozenset[Role] = frozenset(
    {Role.operator, Role.supervisor, Role.qa, Role.recipe_author, Role.recipe_approver}
)

# Pairs of roles that one person may never hold together, with why (segregation of duties).
INCOMPATIBLE: tuple[tuple[Role, Role, str], ...] = tuple(
    (Role.admin, role, "an administrator manages users and roles, so could grant itself the right to sign")
    for role in sorted(GMP_ROLES, key=list(Role).index)
)

# What a person holding an incompatible pair may still do: what the admin role alone may.
_WITHOUT_GMP = PERMISSIONS[Role.admin]


def conflicts(roles: Iterable[str | Role]) -> list[str]:
    """Every incompatible pair among ``roles``, as one sentence each (empty: none)."""
    held = _roles(roles)
    return [f"{a.value} + {b.value}: {why}" for a, b, why in INCOMPATIBLE if a in held and b in held]


def require_compatible(roles: list[Role], user_id: str) -> list[Role]:
    """``roles`` unchanged, or ValidationError listing each incompatible pair (one per problem)."""
    from ebr.core.errors import ValidationError

    clash = conflicts(roles)
    if clash:
        raise ValidationError(
            f"{user_id!r} cannot hold these roles together (segregation of duties); give them to two "
            "different people (`ebr user permissions` lists the rules)",
            clash,
        )
    return roles


def incompatibility_rules() -> list[str]:
    """The segregation-of-duties rules as printed by ``ebr user permissions``."""
    return [f"{a.value} cannot be combined with {b.value}: {why}" for a, b, why in INCOMPATIBLE] + [
        "nobody can change their own roles",
        "granting operator, supervisor, qa, recipe_author or recipe_approver needs a reason (audited with "
        "the old and new roles)",
    ]


def _roles(roles: Iterable[str | Role]) -> set[Role]:
    known = set()
    for role in roles:
        try:
            known.add(Role(role))
        except ValueError:
            continue  # an unknown role (e.g. from an old directory mapping) grants nothing
    return known


def allowed(roles: Iterable[str | Role], action: str) -> bool:
    """True when any of ``roles`` may perform ``action``.

    A person holding incompatible roles (:data:`INCOMPATIBLE`) may do only what the
    admin role alone allows: never execute or sign a GMP record.
    """
    held = _roles(roles)
    if conflicts(held) and action not in _WITHOUT_GMP:
        return False
    return any(action in PERMISSIONS[role] for role in held)


def roles_for(action: str) -> list[Role]:
    """The roles that may perform ``action``, in table order."""
    return [role for role, actions in PERMISSIONS.items() if action in actions]


def require(roles: Iterable[str | Role], action: str) -> None:
    """Raise :class:`NotPermitted` unless one of ``roles`` allows ``action``."""
    held = sorted(str(r) for r in roles)
    if allowed(held, action):
        return
    clash = conflicts(held)
    if clash and any(action in PERMISSIONS[r] for r in _roles(held)):
        raise NotPermitted(
            f"'{action}' is refused: you hold roles that one person may not combine ({'; '.join(clash)}); "
            "ask another administrator to remove one of them"
        )
    who = ", ".join(str(r) for r in roles_for(action)) or "no role"
    mine = ", ".join(held) or "no roles"
    raise NotPermitted(f"'{action}' is not permitted with your roles ({mine}); it needs one of: {who}")


def parse_roles(names: Iterable[str]) -> list[Role]:
    """Turn role names into :class:`Role` values; raise ValidationError naming a bad one."""
    from ebr.core.errors import ValidationError

    result: list[Role] = []
    bad = []
    for name in names:
        try:
            result.append(Role(name.strip()))
        except ValueError:
            bad.append(name)
    if bad:
        valid = ", ".join(r.value for r in Role)
        raise ValidationError(f"unknown role(s) {', '.join(map(repr, bad))}; valid roles are: {valid}")
    return sorted(set(result), key=list(Role).index)


def matrix_markdown() -> str:
    """The permission table as a Markdown role × action matrix (for validation documents)."""
    roles = list(Role)
    lines = ["| action | " + " | ".join(r.value for r in roles) + " |", "|---" * (len(roles) + 1) + "|"]
    for action in sorted(ALL_ACTIONS):
        marks = " | ".join("✔" if action in PERMISSIONS[r] else "" for r in roles)
        lines.append(f"| `{action}` | {marks} |")
    return "\n".join(lines)
