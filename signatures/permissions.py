"""Roles and the one permission table (role → actions), read by code, tests and validation.

Pure: no database, no web framework. An action is a dotted string such as
``batch.execute`` or ``sign.verified`` (signing with a meaning needs ``sign.<meaning>``).
Admins manage users and equipment but never execute batches or sign GMP records;
auditors only read.
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
)

_READ = frozenset({"batch.view", "recipe.view", "equipment.view", "material.view", "lot.view"})
_AUDIT_READ = frozenset({"audit.view", "audit.export", "audit.verify"})

PERMISSIONS: Mapping[Role, frozenset[str]] = MappingProxyType(
    {
        # ISA-18.2: the operator at the panel acknowledges an alarm; the held phase and its
        # deviation still need the supervisor (restart, signed assessment).
        Role.operator: _READ
        | {"alarm.acknowledge", "batch.execute", "deviation.raise", "entry.correct", "sign.performed"},
        Role.supervisor: _READ
        | {
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
            "entry.correct",
            "sign.performed",
            "sign.verified",
            "sign.witnessed",
            "sign.stopped",
            "sign.aborted",
            "sign.restarted",
        },
        Role.qa: _READ
        | _AUDIT_READ
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
        Role.auditor: _READ | _AUDIT_READ,
        Role.recipe_author: _READ | {"recipe.author", "sign.authored"},
        Role.recipe_approver: _READ | {"recipe.approve", "sign.approved"},
        Role.admin: _READ | {"audit.view", "equipment.manage", "user.manage", "user.unlock", "validation.run"},
    }
)

ALL_ACTIONS: frozenset[str] = frozenset().union(*PERMISSIONS.values())


def _roles(roles: Iterable[str | Role]) -> set[Role]:
    known = set()
    for role in roles:
        try:
            known.add(Role(role))
        except ValueError:
            continue  # an unknown role (e.g. from an old directory mapping) grants nothing
    return known


def allowed(roles: Iterable[str | Role], action: str) -> bool:
    """True when any of ``roles`` may perform ``action``."""
    return any(action in PERMISSIONS[role] for role in _roles(roles))


def roles_for(action: str) -> list[Role]:
    """The roles that may perform ``action``, in table order."""
    return [role for role, actions in PERMISSIONS.items() if action in actions]


def require(roles: Iterable[str | Role], action: str) -> None:
    """Raise :class:`NotPermitted` unless one of ``roles`` allows ``action``."""
    held = sorted(str(r) for r in roles)
    if allowed(held, action):
        return
    who = ", ".join(str(r) for r in roles_for(action)) or "no role"
    mine = ", ".join(held) or "no roles"
    raise NotPermitted(f"'{action}' is not permitted with your roles ({mine}); it needs one of: {who}")


def parse_roles(names: Iterable[str]) -> list[Role]:
    """Turn role names into :class:`Role` values; raise ValidationError naming a bad one."""
    from ebr.errors import ValidationError

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
