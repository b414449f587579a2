"""Fixtures: the execution tests' shop floor (people, a clean calibrated plant, recipes)."""

from __future__ import annotations

from tests.integration.execution.conftest import floor

__all__ = ["floor"]
