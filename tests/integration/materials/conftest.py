"""The execution floor (people, plant) is the materials tests' world too."""

from __future__ import annotations

from tests.integration.execution.conftest import floor

__all__ = ["floor"]
