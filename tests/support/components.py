"""Real components the tests need. Missing in CI (``CI=true``) is a failure, never a skip."""

from __future__ import annotations

import os
import shutil

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(component: str, how_to_fix: str) -> None:
    """Skip locally, fail in CI: a missing real part must never pass silently there."""
    message = f"{component} is not available: {how_to_fix}"
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def require_executable(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing(name, f"install the Debian package {package!r} (make test does it as root)")
        raise AssertionError("unreachable")
    return path
